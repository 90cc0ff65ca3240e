"""IB's objects mapped to our value types (``quant_core.broker``) and back, and nowhere else.

Trades, executions, positions, portfolio items, account values and contract details come in;
orders and contracts go out. Order ids are per API client: an order another client of the same
login placed is named ``"<client id>/<order id>"`` (:func:`order_id`), built and read here only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from quant_core.broker import Account, Fill, Order, OrderStatus, OrderType, Position, Side
from quant_core.errors import ConfigError
from quant_core.ib.client import ibapi

UNSET_DOUBLE = 1.7976931348623157e308  # IB's "no value"
ACCOUNT_TOTALS = {"NetLiquidation", "TotalCashValue", "BuyingPower"}
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


def stock(symbol: str) -> Any:
    """Return IB's contract for a US stock, routed SMART."""
    return ibapi.Stock(symbol, "SMART", "USD")


def reference(symbol: str, details: Any) -> dict[str, str | None]:
    """Return the reference data of IB ``ContractDetails``: name, sector and industry.

    IB classifies by industry, category and subcategory: ``longName`` is the name,
    ``industry`` the sector and ``category`` the industry (None where IB gives none).
    """
    return {
        "symbol": symbol,
        "name": details.longName or None,
        "sector": details.industry or None,
        "industry": details.category or None,
    }


def ib_order(order: Order, account: str) -> Any:
    """Return IB's order for ``order``, tagged with our reference, for ``account``.

    Raises
    ------
    ConfigError
        A limit order without a limit price.
    """
    out: Any
    if order.order_type is OrderType.LIMIT:
        if order.limit_price is None:
            raise ConfigError(f"limit order {order.ref} has no limit price")
        out = ibapi.LimitOrder(order.side.value, order.quantity, order.limit_price)
    else:
        out = ibapi.MarketOrder(order.side.value, order.quantity)
    # Always a time in force: without one, newer TWS versions apply the order preset's and say
    # so with 10349, which ib_async 2.1 takes for a refusal (it marks the live order Cancelled).
    out.tif = "OPG" if order.order_type is OrderType.MARKET_ON_OPEN else "DAY"
    out.orderRef = order.ref
    out.account = account
    return out


def order_id(client_id: int, ib_order_id: int, own_client: int) -> str:
    """Return our id of IB order ``ib_order_id`` placed by ``client_id``.

    Order ids are per client: this client's own orders keep IB's id, another client's are
    ``"<client id>/<order id>"`` (``Order.other_client``).
    """
    return str(ib_order_id) if client_id == own_client else f"{client_id}/{ib_order_id}"


def client_of(our_order_id: str) -> int | None:
    """Return the client id that placed an order of another client; None for our own."""
    if "/" not in our_order_id:
        return None
    return int(our_order_id.split("/")[0])


def placed_by(trade: Any, client_id: int) -> bool:
    """Return whether API client ``client_id`` placed IB trade ``trade`` (it alone may cancel)."""
    return bool(trade.order.clientId == client_id)


def order(trade: Any, own_client: int) -> Order:
    """Return IB trade ``trade`` (order and status) as our :class:`Order`.

    Parameters
    ----------
    trade
        The client library's ``Trade``.
    own_client
        This connection's client id: another client's order gets a ``"<client>/<id>"`` id.
    """
    o, status = trade.order, trade.orderStatus
    kind = OrderType.LIMIT if o.orderType == "LMT" else OrderType.MARKET
    ours = STATUS.get(status.status, OrderStatus.SUBMITTED)
    if ours is OrderStatus.SUBMITTED and status.filled > 0:
        ours = OrderStatus.PARTIALLY_FILLED
    if o.tif == "OPG":
        kind = OrderType.MARKET_ON_OPEN
    return Order(
        order_id=order_id(o.clientId, o.orderId, own_client),
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


def fill(ib_fill: Any) -> tuple[Fill, bool]:
    """Return IB execution ``ib_fill`` as our :class:`Fill`, and whether its commission came.

    IB sends the commission in a report of its own, a moment after the execution; until then
    the fill's commission is 0 and the flag False.
    """
    ex = ib_fill.execution
    report = ib_fill.commissionReport
    priced = bool(report and report.execId)
    mapped = Fill(
        order_id=str(ex.orderId),
        ref=ex.orderRef or "",
        symbol=ib_fill.contract.symbol,
        side=Side.BUY if ex.side == "BOT" else Side.SELL,
        quantity=float(ex.shares),
        price=float(ex.price),
        commission=float(report.commission if report else 0.0),
        time=ex.time if isinstance(ex.time, dt.datetime) else dt.datetime.now(dt.UTC),
        exec_id=ex.execId,
    )
    return mapped, priced


def session_open(bars: Iterable[Any], session: dt.date) -> float | None:
    """Return the open of ``session`` among IB's daily bars, None without a positive one."""
    for bar in bars:
        day = bar.date.date() if isinstance(bar.date, dt.datetime) else bar.date
        if day == session:
            price = number_or_none(bar.open)
            return price if price is not None and price > 0 else None
    return None


def traded(contract: Any) -> bool:
    """Return whether ``contract`` is one the worker trades: a stock in US dollars.

    Orders go out as ``stock(symbol)``; an option, a future or a listing in another currency
    that shares the ticker is another instrument, not shares of the strategy's symbol.
    """
    return bool(contract.secType == "STK" and contract.currency == "USD")


def positions(ib_positions: Iterable[Any], portfolio: Iterable[Any]) -> list[Position]:
    """Return every non-zero IB position the worker trades (:func:`traded`), marked.

    Marked at the portfolio's market price (NaN if none); see :func:`untraded` for the rest.
    """
    prices = {i.contract.conId: i.marketPrice for i in portfolio}
    return [
        Position(
            p.contract.symbol,
            float(p.position),
            float(p.avgCost),
            float(prices.get(p.contract.conId, float("nan"))),
        )
        for p in ib_positions
        if p.position and traded(p.contract)
    ]


def untraded(ib_positions: Iterable[Any]) -> dict[int, str]:
    """Return the non-zero positions the worker does not trade, by contract id, described.

    E.g. ``{777001: "10 AAPL OPT AAPL  261218C00200000 (USD)"}``.
    """
    return {
        int(p.contract.conId): (
            f"{float(p.position):g} {p.contract.symbol} {p.contract.secType} "
            f"{p.contract.localSymbol} ({p.contract.currency})"
        )
        for p in ib_positions
        if p.position and not traded(p.contract)
    }


def account(values: Iterable[Any], portfolio: list[Any], pnl: Any) -> Account:
    """Return IB's account values, portfolio and P&L as our :class:`Account`.

    Parameters
    ----------
    values
        The account's ``AccountValue`` rows (``ib.accountValues``).
    portfolio
        The account's ``PortfolioItem`` rows (``ib.portfolio``).
    pnl
        IB's account P&L (``reqPnL``), or None without one.
    """
    totals = {  # TWS reports these totals once each, in the account's base currency
        v.tag: float(v.value)
        for v in values
        if v.tag in ACCOUNT_TOTALS and v.currency != "BASE" and _is_number(v.value)
    }
    # IB's account P&L (reqPnL) when it has one: the portfolio list drops a position once
    # it is closed, and its realized P&L with it.
    realized = number_or_none(pnl.realizedPnL if pnl is not None else None)
    unrealized = number_or_none(pnl.unrealizedPnL if pnl is not None else None)
    return Account(
        # Not reported yet (the account download under way): unknown, never a 100% loss.
        net_liquidation=totals.get("NetLiquidation", math.nan),
        cash=totals.get("TotalCashValue", 0.0),
        buying_power=totals.get("BuyingPower", 0.0),
        realized_pnl=realized
        if realized is not None
        else sum(item.realizedPNL for item in portfolio),
        unrealized_pnl=unrealized
        if unrealized is not None
        else sum(item.unrealizedPNL for item in portfolio),
        daily_pnl=number_or_none(pnl.dailyPnL if pnl is not None else None),
    )


def number_or_none(value: Any) -> float | None:
    """Return ``value`` as a float; None for IB's "no value" (None, NaN, UNSET_DOUBLE)."""
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
