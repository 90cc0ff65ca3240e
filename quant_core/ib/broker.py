"""The Broker protocol over TWS / IB Gateway.

IB objects are mapped to our frozen types (``quant_core.broker``) here and nowhere else. Every
order carries our order reference (``orderRef``), so the worker recognises its own orders after
a restart. IB's error codes are kept and sorted into families (:data:`FAMILIES`): a lost link
(1100, 1101) and pacing (162) become :class:`TemporaryBrokerError` for the worker to back off
on and re-sync after, refused orders (103, 110, 200, 201) are reported with IB's reason, a
client id in use (326) is a :class:`ConfigError` naming the setting, and the rest is logged.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from config.schema import IBConfig
from quant_core.broker import Account, Fill, Order, OrderStatus, OrderType, Position, Side
from quant_core.errors import ConfigError, TemporaryBrokerError
from quant_core.ib.client import ibapi

logger = logging.getLogger(__name__)

INFORMATIONAL = range(2100, 2200)
MAX_KEPT_ERRORS = 200
COMMISSION_GRACE_S = 5.0  # how long a fill waits for its commission report
# What each IB code means for us; unknown codes are errors, logged with IB's text.
FAMILIES: dict[int, str] = {
    103: "order_refused",  # duplicate order id
    110: "order_refused",  # price does not conform to the minimum tick
    200: "order_refused",  # no security definition (on history: no such symbol)
    201: "order_refused",  # order rejected, with IB's reason
    202: "cancelled",  # order cancelled: the answer to our own cancel
    162: "pacing",  # historical data pacing violation
    321: "bad_request",  # error validating a request: our bug, logged as such
    326: "config",  # client id in use
    354: "no_subscription",  # market data not subscribed (delayed data is the fallback)
    1100: "link_lost",  # TWS lost its link to IB
    1101: "link_lost",  # link restored, data lost: positions and orders must be read again
    1102: "info",  # link restored, data maintained
}
UNSET_DOUBLE = 1.7976931348623157e308  # IB's "no value"
ACCOUNT_TOTALS = {"NetLiquidation", "TotalCashValue", "BuyingPower"}
ACCOUNT_CURRENCY = "USD"  # the worker's money unit: US stocks, priced in dollars
LINK_STATUS = {1100, 1101, 1102}  # TWS's link to IB: lost, restored (data lost), restored (kept)
QUOTE_BATCH = 50  # snapshot quotes asked at once (each holds one of ~100 market data lines)
LINK_WAIT_S = 1.0  # how long a reconnect attempt listens for TWS restoring its link
FLUSH_POLL_S, FLUSH_TIMEOUT_S = 0.05, 30.0  # place(): waiting for the client's paced queue
# Codes that, on an order id, mean IB refused the order: rejected (201), duplicate id (103),
# price not on the tick grid (110), no security definition (200).
ORDER_REFUSALS = {c for c, f in FAMILIES.items() if f == "order_refused"}
BACK_OFF = {c for c, f in FAMILIES.items() if f in {"link_lost", "pacing"}}
OUR_REFS = ("qc:", "flat:")
STATUS = {
    "PendingSubmit": OrderStatus.PENDING,
    "ApiPending": OrderStatus.PENDING,
    "PreSubmitted": OrderStatus.SUBMITTED,
    "Submitted": OrderStatus.SUBMITTED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "ApiCancelled": OrderStatus.CANCELLED,
    "PendingCancel": OrderStatus.SUBMITTED,
    "Inactive": OrderStatus.REJECTED,
}


class IBBroker:
    """A connection to TWS / IB Gateway, seen through our Broker protocol.

    Parameters
    ----------
    cfg
        The ``ib`` config section: host, port, client id, account, trading mode.
    timeout_s
        Connect timeout, seconds.
    """

    def __init__(self, cfg: IBConfig, timeout_s: float = 10.0) -> None:
        self.cfg = cfg
        self.timeout_s = timeout_s
        self.ib = ibapi.IB()
        if cfg.tws_timezone:  # for execution times TWS sends without naming its zone
            self.ib.TimezoneTWS = cfg.tws_timezone
        self.ib.errorEvent += self._on_error
        # The latest errors (request id, code, text); older ones only matter in the log.
        self.errors: deque[tuple[int, int, str]] = deque(maxlen=MAX_KEPT_ERRORS)
        self._fatal: ConfigError | None = None
        self._was_connected = False  # a 326 on a reconnect is TWS not yet freeing our id
        self._reported: set[str] = set()  # execution ids already handed out by settle()
        self._account = cfg.account or ""
        self._rejected: list[Order] = []
        self._pnl: Any = None
        self._unpriced: dict[str, float] = {}  # exec id -> when first seen without commission
        # 1100: TWS is up but has lost its link to IB, until 1101 (data lost) or 1102 (kept).
        self.link_down = False
        self._link_message = ""
        self.quote_batch = QUOTE_BATCH
        self._contracts: dict[str, Any] = {}  # symbol -> IB's contract, for this connection

    # ----------------------------------------------------------------------- connection

    def connect(self) -> None:
        """Connect and select the account; a client id in use is a ConfigError.

        Always afresh: positions, open orders and executions are all read again. While TWS
        reports its link to IB lost (1100), a reconnect would only read stale data: this waits
        for TWS to restore it (1101 or 1102) and raises TemporaryBrokerError until then.
        """
        if self.link_down and self.ib.isConnected():
            self.wait(LINK_WAIT_S)  # the messages that restore it arrive here
            if self.link_down:
                raise TemporaryBrokerError(
                    "TWS has lost its connection to IB; waiting for it to restore it", 1100
                )
        self._fatal = None
        self.errors.clear()
        if self.ib.isConnected():  # after 1100/1101 the socket is up but the data is stale
            self.ib.disconnect()
        try:
            self.ib.connect(
                self.cfg.host,
                self.cfg.port,
                clientId=self.cfg.client_id,
                timeout=self.timeout_s,
                account=self.cfg.account or "",
            )
        except (ConnectionError, TimeoutError, OSError) as exc:
            if self._fatal is not None and not self._was_connected:
                raise self._fatal from None
            if self._fatal is not None:  # TWS still holds our last session: it frees it soon
                raise TemporaryBrokerError(str(self._fatal)) from None
            raise TemporaryBrokerError(
                f"cannot reach TWS / IB Gateway at {self.cfg.host}:{self.cfg.port}: {exc!r}"
            ) from None
        self._was_connected = True
        self._contracts.clear()
        self.link_down = False  # a new session: TWS says 1100 again if its link is still down
        accounts = self.ib.managedAccounts()
        self._account = self.cfg.account or (accounts[0] if accounts else "")
        if self.cfg.account and self.cfg.account not in accounts:
            self.ib.disconnect()
            raise ConfigError(
                f"ib.account {self.cfg.account!r} is not among this login's accounts: {accounts}"
            )
        # The consent is checked against the account really reached, not only the settings:
        # IB's paper accounts are DU... (DF... for advisors); anything else trades real money.
        paper = self._account.startswith("D")
        if paper != (self.cfg.trading_mode == "paper"):
            self.ib.disconnect()
            kind = "a paper" if paper else "a LIVE"
            raise ConfigError(
                f"{self.cfg.host}:{self.cfg.port} is {kind} account ({self._account}) but "
                f"ib.trading_mode is {self.cfg.trading_mode}; check ib.port and ib.trading_mode"
            )
        # Money has one unit here, the dollar: an account kept in another currency would mix
        # its cash with dollar prices.
        values = self.ib.accountValues(self._account)
        base = {v.currency for v in values if v.tag == "NetLiquidation"}
        if base - {ACCOUNT_CURRENCY}:
            self.ib.disconnect()
            raise ConfigError(
                f"account {self._account} is kept in {', '.join(sorted(base))}; the worker "
                f"accounts in {ACCOUNT_CURRENCY} (US stocks) and needs a {ACCOUNT_CURRENCY} account"
            )
        # Every open order of the login, not only this client id's (see open_orders).
        self.ib.reqAllOpenOrders()
        # Today's P&L as IB computes it (reqPnL), kept live; one subscription per connection.
        live_pnl = self.ib.pnl(self._account)
        self._pnl = live_pnl[0] if live_pnl else self.ib.reqPnL(self._account)
        logger.info(
            "Connected to IB (server version %s), accounts %s",
            self.ib.client.serverVersion(),
            accounts,
        )

    def disconnect(self) -> None:
        """Close the connection."""
        self.ib.disconnect()

    def is_connected(self) -> bool:
        """Return whether the socket is up."""
        return bool(self.ib.isConnected())

    def wait(self, seconds: float) -> None:
        """Let the client library process messages for ``seconds``."""
        try:
            self.ib.sleep(seconds)
        except ConnectionError as exc:  # ib_async raises it when the socket closes meanwhile
            raise TemporaryBrokerError(f"the connection to TWS dropped: {exc}") from None

    @property
    def account_id(self) -> str:
        """Return the account traded: the configured one, or the login's (kept from connect)."""
        return self._account

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        if code in LINK_STATUS:
            self.link_down = code == 1100
            self._link_message = message
        family = family_of(code)
        if family == "info":  # farm status (2100-2199) is noise; 1102 is worth a line
            logger.log(
                logging.DEBUG if code in INFORMATIONAL else logging.INFO, "IB %d: %s", code, message
            )
            return
        self.errors.append((req_id, code, message))
        if code in ORDER_REFUSALS:
            for trade in self.ib.trades():
                if trade.order.orderId == req_id and self._is_mine(trade):  # ids are per client
                    refused = self._order(trade)
                    reason = f"IB {code}: {message}"
                    self._rejected.append(
                        replace(refused, status=OrderStatus.REJECTED, reason=reason)
                    )
        if code == 326:
            self._fatal = ConfigError(
                f"[IB 326] client id {self.cfg.client_id} is already in use at "
                f"{self.cfg.host}:{self.cfg.port}; set another ib.client_id"
            )
        level = logging.INFO if family == "cancelled" else logging.WARNING
        logger.log(level, "IB %d %s (request %d): %s", code, family, req_id, message)

    def raise_pending(self) -> None:
        """Raise what the last calls reported: connectivity loss or pacing, to back off on."""
        if not self.ib.isConnected():
            raise TemporaryBrokerError(f"the connection to {self.cfg.host}:{self.cfg.port} is lost")
        if self.link_down:  # until TWS says 1101 / 1102, whatever else was cleared meanwhile
            self.errors.clear()
            raise TemporaryBrokerError(self._link_message, 1100)
        for _, code, message in self.errors:
            if code in BACK_OFF:
                self.errors.clear()
                raise TemporaryBrokerError(message, code)

    # -------------------------------------------------------------------- the protocol

    def account(self) -> Account:
        """Return NetLiquidation, TotalCashValue, BuyingPower and the PnL, in USD."""
        values = {  # TWS reports these totals once each, in the account's base currency
            v.tag: float(v.value)
            for v in self.ib.accountValues(self.account_id)
            if v.tag in ACCOUNT_TOTALS and v.currency != "BASE" and _is_number(v.value)
        }
        portfolio = self.ib.portfolio(self.account_id)
        # IB's account P&L (reqPnL) when it has one: the portfolio list drops a position once
        # it is closed, and its realized P&L with it.
        realized = _number_or_none(self._pnl.realizedPnL if self._pnl is not None else None)
        unrealized = _number_or_none(self._pnl.unrealizedPnL if self._pnl is not None else None)
        return Account(
            # Not reported yet (the account download under way): unknown, never a 100% loss.
            net_liquidation=values.get("NetLiquidation", math.nan),
            cash=values.get("TotalCashValue", 0.0),
            buying_power=values.get("BuyingPower", 0.0),
            realized_pnl=realized
            if realized is not None
            else sum(item.realizedPNL for item in portfolio),
            unrealized_pnl=unrealized
            if unrealized is not None
            else sum(item.unrealizedPNL for item in portfolio),
            daily_pnl=_number_or_none(self._pnl.dailyPnL if self._pnl is not None else None),
        )

    def positions(self) -> list[Position]:
        """Return every non-zero position with its market price."""
        prices = {i.contract.conId: i.marketPrice for i in self.ib.portfolio(self.account_id)}
        return [
            Position(
                p.contract.symbol,
                float(p.position),
                float(p.avgCost),
                float(prices.get(p.contract.conId, float("nan"))),
            )
            for p in self.ib.positions(self.account_id)
            if p.position
        ]

    def _order(self, trade: Any) -> Order:
        return _order(trade, self.cfg.client_id)

    def open_orders(self) -> list[Order]:
        """Return every order of the login not yet done, whichever API client placed it.

        IB shows a client only its own orders unless asked for all (connect() asks): a worker
        restarted under another ``ib.client_id`` must still see what it sent before, or it would
        send it again. Another client's order has the id ``<client id>/<order id>``; this
        client can see it, not cancel it.
        """
        trades = self.ib.openTrades()
        if any(not self._is_mine(t) for t in trades):
            # IB keeps a client posted on its own orders only: the others' are a snapshot, so
            # ask again, and drop those no longer open (filled or cancelled meanwhile).
            still_open = {t.order.permId for t in self.ib.reqAllOpenOrders()}
            trades = [
                t for t in self.ib.openTrades() if self._is_mine(t) or t.order.permId in still_open
            ]
        return [self._order(t) for t in trades]

    @contextmanager
    def _sending(self) -> Iterator[None]:
        # ib_async notices a closed socket only when its loop runs: run it, and refuse to send
        # into a dead connection (the orders would be lost, yet look sent).
        self.wait(0)
        self.raise_pending()
        try:
            yield
        except (ConnectionError, OSError) as exc:
            raise TemporaryBrokerError(f"the connection to TWS dropped: {exc}") from None

    def place(self, orders: list[Order]) -> list[Order]:
        """Send orders to IB, each tagged with its reference; return them as accepted.

        Returns once the client has written them all: it paces requests (about 45 a second)
        and queues the rest, which a worker stopped just after would otherwise never send.
        """
        with self._sending():
            placed = [self._place_one(order) for order in orders]
            deadline = time.monotonic() + FLUSH_TIMEOUT_S
            while getattr(self.ib.client, "_msgQ", None) and time.monotonic() < deadline:
                self.wait(FLUSH_POLL_S)
        return placed

    def _place_one(self, order: Order) -> Order:
        contract = ibapi.Stock(order.symbol, "SMART", "USD")
        ib_order: Any
        if order.order_type is OrderType.LIMIT:
            if order.limit_price is None:
                raise ConfigError(f"limit order {order.ref} has no limit price")
            ib_order = ibapi.LimitOrder(order.side.value, order.quantity, order.limit_price)
        else:
            ib_order = ibapi.MarketOrder(order.side.value, order.quantity)
            if order.order_type is OrderType.MARKET_ON_OPEN:
                ib_order.tif = "OPG"
        ib_order.orderRef = order.ref
        ib_order.account = self.account_id
        return self._order(self.ib.placeOrder(contract, ib_order))

    def cancel(self, order_id: str) -> None:
        """Cancel one open order by its IB order id."""
        if "/" in order_id:
            logger.error(
                "Cannot cancel order %s: another API client placed it; cancel it in TWS, or "
                "connect with ib.client_id %s",
                order_id,
                order_id.split("/")[0],
            )
            return
        with self._sending():
            for trade in self.ib.openTrades():
                if str(trade.order.orderId) == order_id and self._is_mine(trade):
                    self.ib.cancelOrder(trade.order)
                    return

    def cancel_all(self) -> None:
        """Cancel our open orders; every order of the login with ``ib.cancel_scope: all``."""
        with self._sending():
            if self.cfg.cancel_scope == "all":
                self.ib.reqGlobalCancel()  # type: ignore[no-untyped-call]
                return
            for trade in self.ib.openTrades():
                if not trade.order.orderRef.startswith(OUR_REFS):
                    continue
                if self._is_mine(trade):
                    self.ib.cancelOrder(trade.order)
                else:
                    self.cancel(self._order(trade).order_id)  # says why it cannot

    def _is_mine(self, trade: Any) -> bool:
        return bool(trade.order.clientId == self.cfg.client_id)

    def settle(self, seconds: float) -> list[Fill]:
        """Process IB's messages for ``seconds``; return executions not reported before."""
        self.wait(seconds)
        self.raise_pending()
        now = time.monotonic()
        new = []
        for fill, priced in self._fills():
            if fill.exec_id in self._reported:
                continue
            if not priced:  # IB sends the commission in a message of its own, a moment later
                first_seen = self._unpriced.setdefault(fill.exec_id, now)
                if now - first_seen < COMMISSION_GRACE_S:
                    continue
                logger.warning(
                    "No commission report for execution %s after %.0f s: recorded without one",
                    fill.exec_id,
                    COMMISSION_GRACE_S,
                )
            new.append(fill)
            self._reported.add(fill.exec_id)
        return new

    def quotes(
        self, symbols: list[str], on_batch: Callable[[], None] | None = None
    ) -> dict[str, float]:
        """Return a current price per symbol (a snapshot); delayed data without a subscription.

        Without live market data IB answers 354; from then on this connection asks for delayed
        data (15-20 minutes late) and says so in the log, once. Symbols IB does not know, or
        has no price for, are left out. Contracts are looked up once per connection. A large
        universe takes a while (IB answers a batch of snapshots at a time): ``on_batch`` is
        called after each, so the caller can keep its heartbeat.
        """
        # _sending: a lost link is reported first, and a socket dropping meanwhile (the library
        # raises ConnectionError) becomes TemporaryBrokerError: the worker reconnects.
        with self._sending():
            contracts = self._contracts_of(symbols)
            self.raise_pending()  # a link lost meanwhile stops here, before any order goes out
            self._forget(354)
            tickers = self._snapshot(contracts, on_batch)
            if any(code == 354 for _, code, _ in self.errors):
                logger.warning("No live market data subscription (IB 354): using delayed data")
                self.ib.reqMarketDataType(3)
                self._forget(354)
                tickers = self._snapshot(contracts, on_batch)
            self.raise_pending()
        prices = {}
        for ticker in tickers:
            price = _number_or_none(ticker.marketPrice())
            if price is not None and price > 0:
                prices[ticker.contract.symbol] = price
        return prices

    def _forget(self, code: int) -> None:
        kept = [e for e in self.errors if e[1] != code]
        self.errors.clear()
        self.errors.extend(kept)

    def _contracts_of(self, symbols: list[str]) -> list[Any]:
        # US stocks routed SMART; IB's answer (its conId) is kept for the connection's life.
        unknown = [s for s in symbols if s not in self._contracts]
        stocks = [ibapi.Stock(s, "SMART", "USD") for s in unknown]
        for contract in self.ib.qualifyContracts(*stocks):
            if contract is not None and contract.conId:
                self._contracts[contract.symbol] = contract
        # Fresh copies: the library keeps one ticker per contract object, and a ticker reused
        # across snapshots could show an older snapshot's price where a newer one has none.
        return [copy.copy(self._contracts[s]) for s in symbols if s in self._contracts]

    def _snapshot(
        self, contracts: list[Any], on_batch: Callable[[], None] | None = None
    ) -> list[Any]:
        # A snapshot holds a market data line until it is answered, and an account has about
        # 100 lines: ask in batches, not 500 at once (error 101, max tickers reached). A batch
        # that times out is left out (its symbols keep their fallback price); the rest stay.
        tickers: list[Any] = []
        for start in range(0, len(contracts), self.quote_batch):
            batch = contracts[start : start + self.quote_batch]
            try:
                tickers += ibapi.util.run(self.ib.reqTickersAsync(*batch), timeout=self.timeout_s)
            except TimeoutError:
                names = ", ".join(c.symbol for c in batch[:5])
                message = "No quotes within %.0f s for %d symbol(s) (%s...)"
                logger.warning(message, self.timeout_s, len(batch), names)
            if on_batch is not None:
                on_batch()
        return tickers

    def rejections(self) -> list[Order]:
        """Return the orders IB refused since the last call (201 and kin), with IB's reason."""
        out, self._rejected = self._rejected, []
        return out

    def fills(self) -> list[Fill]:
        """Return this session's executions with their commissions."""
        return [fill for fill, _ in self._fills()]

    def _fills(self) -> list[tuple[Fill, bool]]:
        # Each execution, and whether its commission report has arrived.
        out = []
        for fill in self.ib.fills():
            ex = fill.execution
            report = fill.commissionReport
            priced = bool(report and report.execId)
            out.append(
                (
                    Fill(
                        order_id=str(ex.orderId),
                        ref=ex.orderRef or "",
                        symbol=fill.contract.symbol,
                        side=Side.BUY if ex.side == "BOT" else Side.SELL,
                        quantity=float(ex.shares),
                        price=float(ex.price),
                        commission=float(report.commission if report else 0.0),
                        time=ex.time
                        if isinstance(ex.time, dt.datetime)
                        else dt.datetime.now(dt.UTC),
                        exec_id=ex.execId,
                    ),
                    priced,
                )
            )
        return out


def _order(trade: Any, own_client: int) -> Order:
    o, status = trade.order, trade.orderStatus
    kind = OrderType.LIMIT if o.orderType == "LMT" else OrderType.MARKET
    ours = STATUS.get(status.status, OrderStatus.SUBMITTED)
    if ours is OrderStatus.SUBMITTED and status.filled > 0:
        ours = OrderStatus.PARTIALLY_FILLED
    if o.tif == "OPG":
        kind = OrderType.MARKET_ON_OPEN
    # Order ids are per client: another client's order is named "<client>/<id>" (see open_orders).
    order_id = str(o.orderId) if o.clientId == own_client else f"{o.clientId}/{o.orderId}"
    return Order(
        order_id=order_id,
        ref=o.orderRef or "",
        symbol=trade.contract.symbol,
        side=Side(o.action),
        quantity=float(o.totalQuantity),
        order_type=kind,
        limit_price=float(o.lmtPrice) if kind is OrderType.LIMIT else None,
        status=ours,
        filled=float(status.filled),
        reason=status.status,
    )


def family_of(code: int) -> str:
    """Return what IB error ``code`` means for us (see :data:`FAMILIES`)."""
    if code in INFORMATIONAL:
        return "info"
    return FAMILIES.get(code, "error")


def _number_or_none(value: Any) -> float | None:
    # IB sends no value (NaN, or the library's UNSET_DOUBLE) until it has computed one.
    if value is None or not math.isfinite(value) or abs(value) >= UNSET_DOUBLE:
        return None
    return float(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
