"""IB's error codes sorted into our error families (``quant_core.errors``).

IB answers every request, and reports every event of the connection, with a numbered message.
Each code is given a family (:data:`FAMILIES`): a lost link (1100, 1101) and pacing (162) become
:class:`TemporaryBrokerError` for the worker to back off on and re-sync after, 1100 precisely
:class:`BrokerLinkDown` (TWS restores its link by itself: poll, don't back off); refused orders
(103, 110, 200, 201, and any other error on which the client library ends an order) are handed
back as rejected orders with IB's reason; a notice the library takes for an order's end though
the order is live (10349) is undone (:func:`revive`); a client id in use (326) is a
:class:`ConfigError` naming the setting; the rest is logged. IB's code is kept on every error
raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from quant_core.broker import Order, OrderStatus
from quant_core.errors import BrokerLinkDown, ConfigError, TemporaryBrokerError
from quant_core.ib import mapping

logger = logging.getLogger(__name__)

INFORMATIONAL = range(2100, 2200)
# What each IB code means for us; unknown codes are errors, logged with IB's text.
FAMILIES: dict[int, str] = {
    103: "order_refused",  # duplicate order id
    110: "order_refused",  # price does not conform to the minimum tick
    200: "no_security",  # no security definition: on an order a refusal, on history no symbol
    201: "order_refused",  # order rejected, with IB's reason
    202: "cancelled",  # order cancelled: the answer to our own cancel
    162: "pacing",  # historical data pacing violation
    321: "bad_request",  # error validating a request: our bug, logged as such
    326: "config",  # client id in use
    354: "no_subscription",  # market data not subscribed (delayed data is the fallback)
    1100: "link_lost",  # TWS lost its link to IB
    1101: "link_lost",  # link restored, data lost: positions and orders must be read again
    1102: "info",  # link restored, data maintained
    10349: "info",  # the order's time in force set by the TWS order preset: the order is live
}
# Notices on an order id that leave the order live, though ib_async 2.1 marks it Cancelled.
LIVE_ORDER_NOTICES = {10349}
# Codes on an order id that refuse nothing: the answer to our own cancel (202), a cancel of an
# order already gone (10147, 10148, 161).
NOT_REFUSALS = {202, 10147, 10148, 161}
LINK_LOST = 1100  # TWS is up but has lost its link to IB, until 1101 (data lost) or 1102 (kept)
LINK_STATUS = {1100, 1101, 1102}  # TWS's link to IB: lost, restored (data lost), restored (kept)
CLIENT_ID_IN_USE = 326
NO_SUBSCRIPTION = 354
# Codes that, on an order id, mean IB refused the order: rejected (201), duplicate id (103),
# price not on the tick grid (110), no security definition (200).
ORDER_REFUSALS = {c for c, f in FAMILIES.items() if f in {"order_refused", "no_security"}}
BACK_OFF = {c for c, f in FAMILIES.items() if f in {"link_lost", "pacing"}}


def family_of(code: int) -> str:
    """Return what IB error ``code`` means for us (see :data:`FAMILIES`).

    Parameters
    ----------
    code
        IB's error code.

    Returns
    -------
    str
        The family: ``info``, ``order_refused``, ``pacing``, ``link_lost``, ... or ``error``.
    """
    if code in INFORMATIONAL:
        return "info"
    return FAMILIES.get(code, "error")


def log(req_id: int, code: int, message: str) -> None:
    """Log one IB message at the level its family deserves.

    Farm status (2100-2199) is noise, logged at debug; 1102 is worth an info line, and so is
    IB's answer to our own cancel (202); the rest are warnings naming their family.
    """
    family = family_of(code)
    if family == "info":
        level = logging.DEBUG if code in INFORMATIONAL else logging.INFO
        logger.log(level, "IB %d: %s", code, message)
        return
    level = logging.INFO if family == "cancelled" else logging.WARNING
    logger.log(level, "IB %d %s (request %d): %s", code, family, req_id, message)


def temporary(code: int, message: str) -> TemporaryBrokerError:
    """Return the error to back off on for IB ``code``: :class:`BrokerLinkDown` for 1100.

    The code is kept on the error (``code``), 1100 included, so a caller that reads it and one
    that tests for :class:`BrokerLinkDown` agree.
    """
    if code == LINK_LOST:
        return BrokerLinkDown(message, code)
    return TemporaryBrokerError(message, code)


def first_back_off(errors: Iterable[tuple[int, int, str]]) -> TemporaryBrokerError | None:
    """Return the error to back off on for the first lost link or pacing among ``errors``.

    Parameters
    ----------
    errors
        IB's messages as ``(request id, code, text)``, oldest first.

    Returns
    -------
    TemporaryBrokerError or None
        None when none of them calls for backing off.
    """
    for _, code, message in errors:
        if code in BACK_OFF:
            return temporary(code, message)
    return None


def client_id_in_use(client_id: int, host: str, port: int) -> ConfigError:
    """Return the error for IB 326: ``client_id`` is taken at ``host:port``."""
    return ConfigError(
        f"[IB {CLIENT_ID_IN_USE}] client id {client_id} is already in use at "
        f"{host}:{port}; set another ib.client_id"
    )


def refused_orders(
    trades: Iterable[Any], req_id: int, code: int, message: str, own_client: int
) -> list[Order]:
    """Return this client's orders that IB message ``code`` on ``req_id`` refuses, as REJECTED.

    Parameters
    ----------
    trades
        The client library's trades (``ib.trades()``).
    req_id, code, message
        IB's message: for an order, ``req_id`` is its order id, which is per client.
    own_client
        This connection's client id.

    Returns
    -------
    list of Order
        Each with IB's reason. Refused: by one of :data:`ORDER_REFUSALS`, or by any other code
        that is no notice (:data:`NOT_REFUSALS`, informational, a lost link or pacing) on which
        the client library ended the order (e.g. 383, a size over TWS's precautionary limit):
        IB has cancelled it, and it would otherwise only vanish from the open orders.
    """
    if family_of(code) == "info" or code in NOT_REFUSALS | BACK_OFF | LINK_STATUS:
        return []
    reason = f"IB {code}: {message}"
    return [
        replace(mapping.order(trade, own_client), status=OrderStatus.REJECTED, reason=reason)
        for trade in trades
        if trade.order.orderId == req_id
        and mapping.placed_by(trade, own_client)
        and (code in ORDER_REFUSALS or _ended_by(trade, code))
    ]


def _ended_by(trade: Any, code: int) -> bool:
    # Whether the client library ended ``trade`` on IB message ``code`` (its last log entry).
    return bool(trade.isDone() and trade.log and getattr(trade.log[-1], "errorCode", 0) == code)


def revive(trades: Iterable[Any], req_id: int, code: int) -> None:
    """Undo the client library's end of the order ``req_id`` on a notice that leaves it live.

    ib_async 2.1 marks an order Cancelled on any message it does not know for a warning, 10349
    ("TIF set to DAY based on order preset") among them, though the order is live at IB: it
    would then be missing from the open orders, and neither CANCEL nor FLAT would cancel it.
    Its status is set back to the one before that message.
    """
    if code not in LIVE_ORDER_NOTICES:
        return
    for trade in trades:
        if trade.order.orderId != req_id or not _ended_by(trade, code):
            continue
        before = [e.status for e in trade.log[:-1] if e.status and not e.errorCode]
        trade.orderStatus.status = before[-1] if before else "Submitted"
        logger.info("IB %d on order %d: the order is live (%s)", code, req_id, before[-1:])
