"""The Live Dashboard's figures and tables: account metrics, positions, orders, fills, log.

Daily PnL is the worker's figure (the broker's own, or net liquidation against the session's
opening equity). Total PnL is realized + unrealized, as the broker reports them. The headline
figures are whole dollars (the cents are in their help), so a seven-figure account fits its box.
A position's market value and weight (market value over net liquidation) are the worker's, from
its row; a row without them (an unknown price or NAV when written, or a hand-written file) gets
them from its shares, price and the account's NAV. Its unrealised PnL is
``(market_price - avg_cost) x quantity``. Times are shown in UTC.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.backtest import metrics, risk
from quant_core.cockpit.format import fmt_time, money, signed_money
from quant_core.cockpit.models.dashboard_commands import detail_text
from quant_core.live.state import AccountSummary, DashboardState
from quant_core.live.state_fields import finite

POSITION_FORMATS = {
    "Shares": "localized",
    "Avg cost": "dollar",
    "Price": "dollar",
    "Market value": "dollar",
    "Weight (%)": "%.2f%%",
    "Unrealised PnL": "dollar",
    "Unrealised (%)": "%.2f%%",
}
ORDER_FORMATS = {"Shares": "localized", "Filled": "localized", "Remaining": "localized"}
FILL_FORMATS = {"Shares": "localized", "Price": "dollar", "Value": "dollar", "Commission": "dollar"}


@dataclass(frozen=True, slots=True)
class Metric:
    """One headline figure."""

    label: str
    value: str
    delta: str | None
    help: str


def account_metrics(state: DashboardState | None) -> list[Metric]:
    """Return Net liquidation, Cash, Daily PnL and Total PnL in whole dollars (cents in help)."""
    account = state.account if state is not None else AccountSummary(*[None] * 6)
    nav = finite(account.net_liquidation)
    cash = finite(account.cash)
    daily = finite(account.daily_pnl)
    total = total_pnl(account)
    realized = signed_money(finite(account.realized_pnl))
    unrealized = signed_money(finite(account.unrealized_pnl))
    return [
        Metric(
            "Net liquidation",
            money(nav, 0),
            None,
            f"{money(nav)}: the account's value at the latest marks",
        ),
        Metric(
            "Cash",
            money(cash, 0),
            None,
            f"{money(cash)}; buying power {money(finite(account.buying_power))}",
        ),
        Metric(
            "Daily PnL",
            signed_money(daily, 0),
            _return(daily, nav),
            f"{signed_money(daily)} today: the broker's own figure, or net liquidation against "
            "the session's opening equity. The delta: the same as a % of that opening equity.",
        ),
        Metric(
            "Total PnL",
            signed_money(total, 0),
            _return(total, nav),
            f"{signed_money(total)} = realized {realized} + unrealized {unrealized}, as the "
            "broker reports them. The delta: the same as a % of the equity before it.",
        ),
    ]


def total_pnl(account: AccountSummary) -> float | None:
    """Return realized + unrealized PnL (a missing part counts 0; None if both are missing)."""
    realized = finite(account.realized_pnl)
    unrealized = finite(account.unrealized_pnl)
    if realized is None and unrealized is None:
        return None
    return (realized or 0.0) + (unrealized or 0.0)


def _return(pnl: float | None, nav: float | None) -> str | None:
    # No delta for a zero PnL: "+0.00%" would show as a green arrow up.
    if pnl is None or nav is None or nav - pnl <= 0 or round(pnl, 2) == 0:
        return None
    return f"{pnl / (nav - pnl):+.2%}"


def unrealized_pnl(
    quantity: float | None, avg_cost: float | None, price: float | None
) -> float | None:
    """Return ``(price - avg_cost) x quantity`` in dollars (shorts gain as the price falls)."""
    if quantity is None or avg_cost is None or price is None:
        return None
    return (price - avg_cost) * quantity


def weight(market_value: float | None, nav: float | None) -> float | None:
    """Return a position's share of net liquidation (a fraction), or None without a NAV."""
    if market_value is None or nav is None or nav == 0:
        return None
    return market_value / nav


def net_liquidation(state: DashboardState | None) -> float | None:
    """Return the account's net liquidation from the state, or None."""
    return finite(state.account.net_liquidation) if state is not None else None


def positions_table(state: DashboardState | None) -> pd.DataFrame:
    """Return the positions, largest first: shares, cost, price, value, weight, unrealised PnL.

    Market value and weight are the row's; where the row has none, computed (module docstring).
    """
    nav = net_liquidation(state)
    rows = []
    for p in state.positions if state is not None else ():
        qty, cost, price = finite(p.quantity), finite(p.avg_cost), finite(p.market_price)
        value = finite(p.market_value)
        if value is None and qty is not None and price is not None:
            value = qty * price
        share = finite(p.weight)
        if share is None:
            share = weight(value, nav)
        pnl = unrealized_pnl(qty, cost, price)
        basis = abs(qty * cost) if qty is not None and cost is not None else 0.0
        rows.append(
            {
                "Symbol": p.symbol,
                "Shares": qty,
                "Avg cost": cost,
                "Price": price,
                "Market value": value,
                "Weight (%)": _percent(share),
                "Unrealised PnL": pnl,
                "Unrealised (%)": _percent(pnl / basis if pnl is not None and basis else None),
            }
        )
    frame = pd.DataFrame(rows, columns=["Symbol", *POSITION_FORMATS])
    if frame.empty:
        return frame
    order = frame["Market value"].abs().fillna(0.0).sort_values(ascending=False).index
    return frame.loc[order].reset_index(drop=True)


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def positions_summary(table: pd.DataFrame, nav: float | None) -> str:
    """Return one line: how many positions, gross exposure ($ and % of NAV), unrealised PnL."""
    if table.empty:
        return "No positions."
    gross, net = metrics.book_exposure(table["Market value"])
    share = weight(gross, nav)
    pnl = float(table["Unrealised PnL"].sum())
    share_text = f" ({share:.1%} of net liquidation)" if share is not None else ""
    return (
        f"{len(table)} position(s) · gross {money(gross)}{share_text} · net {money(net)} · "
        f"unrealised {signed_money(pnl)}"
    )


def orders_table(state: DashboardState | None) -> pd.DataFrame:
    """Return the open orders: id, our reference, symbol, side, shares, filled, remaining."""
    rows = [
        {
            "Order id": o.order_id,
            "Ref": o.ref,
            "Symbol": o.symbol,
            "Side": o.side.value,
            "Shares": o.quantity,
            "Filled": o.filled,
            "Remaining": o.remaining,
            "Status": o.status.value,
        }
        for o in (state.open_orders if state is not None else ())
    ]
    columns = ["Order id", "Ref", "Symbol", "Side", *ORDER_FORMATS, "Status"]
    return pd.DataFrame(rows, columns=columns)


def fills_table(state: DashboardState | None) -> pd.DataFrame:
    """Return today's fills, newest first, with their value and commission in dollars."""
    rows = [
        {
            "Time (UTC)": fmt_time(f.time, suffix=False),
            "Symbol": f.symbol,
            "Side": f.side.value,
            "Shares": f.quantity,
            "Price": f.price,
            "Value": f.quantity * f.price,
            "Commission": finite(f.commission),
            "Order id": f.order_id,
        }
        for f in (state.fills_today if state is not None else ())
    ]
    columns = ["Time (UTC)", "Symbol", "Side", *FILL_FORMATS, "Order id"]
    return pd.DataFrame(rows[::-1], columns=columns)


def commands_table(state: DashboardState | None) -> pd.DataFrame:
    """Return the worker's acknowledgements, newest first: when, what, id, accepted, result."""
    rows = [
        {
            "At (UTC)": fmt_time(a.at, suffix=False),
            "Command": a.command or "-",
            "Id": a.id or "-",
            "Accepted": a.accepted,
            "Result": a.result,
            "Detail": detail_text(a.detail),
        }
        for a in (state.commands if state is not None else ())
    ]
    columns = ["At (UTC)", "Command", "Id", "Accepted", "Result", "Detail"]
    return pd.DataFrame(rows[::-1], columns=columns)


def errors_table(state: DashboardState | None) -> pd.DataFrame:
    """Return the worker's recent errors, newest first."""
    rows = [
        {"At (UTC)": fmt_time(e.at, suffix=False), "Message": e.message}
        for e in (state.errors if state is not None else ())
    ]
    return pd.DataFrame(rows[::-1], columns=["At (UTC)", "Message"])


VOL_SESSIONS = 63  # sessions of daily equity returns the realised volatility is measured over


def daily_equity(state: DashboardState | None) -> list[float]:
    """Return the state's net liquidation at each day's last point (UTC days), oldest first.

    The Live equity chart's points: a replay's are session dates, a live worker's are sampled
    times (the last of each day stands for its close).
    """
    last: dict[dt.date, tuple[dt.datetime | dt.date, float]] = {}
    for point in state.equity if state is not None else ():
        value = finite(point.value)
        if value is None:
            continue
        at = point.at
        day = at.astimezone(dt.UTC).date() if isinstance(at, dt.datetime) else at
        key = at if isinstance(at, dt.datetime) else dt.datetime.combine(at, dt.time(), dt.UTC)
        if day not in last or key >= _as_time(last[day][0]):
            last[day] = (key, value)
    return [last[day][1] for day in sorted(last)]


def _as_time(at: dt.datetime | dt.date) -> dt.datetime:
    return at if isinstance(at, dt.datetime) else dt.datetime.combine(at, dt.time(), dt.UTC)


def realised_vol(state: DashboardState | None, sessions: int = VOL_SESSIONS) -> float | None:
    """Return the annualised volatility of the last ``sessions`` daily equity returns.

    Sample deviation (ddof=1) of the simple returns, times sqrt(252); None with fewer than
    ``sessions + 1`` daily points (or a missing or non-positive equity among them). The points
    are the session closes the worker recorded (the state's ``daily``); a state without them
    (an older worker) falls back on the last equity point of each day.
    """
    recorded = [math.nan if r.equity is None else r.equity for r in state.daily] if state else []
    closes = np.asarray((recorded or daily_equity(state))[-(sessions + 1) :], dtype=float)
    if len(closes) < sessions + 1 or not (closes[:-1] > 0).all() or not np.isfinite(closes).all():
        return None
    # The stored run's own formula (backtest/risk.py), on the last window.
    return float(risk.realised_vol(pd.Series(closes), sessions).iloc[-1])


def vol_line(state: DashboardState | None, vol_target: float | None) -> str:
    """Return realised against target volatility, with the book's ex-ante volatility."""
    realised = realised_vol(state)
    book = state.book_risk if state is not None else None
    ex_ante = book.ex_ante_vol if book is not None else None
    shown = (
        f"{realised:.2%}"
        if realised is not None
        else f"not enough history (needs {VOL_SESSIONS + 1} session closes)"
    )
    return (
        f"Realised volatility ({VOL_SESSIONS} sessions, annualised): {shown}; target "
        f"(portfolio.vol_target): {f'{vol_target:.2%}' if vol_target is not None else 'none'}; "
        f"book ex-ante: {f'{ex_ante:.2%}' if ex_ante is not None else '-'}"
    )


def last_rebalance_lines(state: DashboardState | None) -> tuple[list[str], str | None]:
    """Return the "Last rebalance" block: its bindings and names left out, and a fallback warning.

    The warning (None: no fallback) says the construction method failed and ``inverse_vol``
    gave the weights.
    """
    last = state.last_decision if state is not None else None
    if last is None:
        return ["No rebalance on record yet."], None
    lines = [f"Session {last.session}"]
    if last.bindings:
        lines += [f"Binding: {b.constraint}: {b.detail}" for b in last.bindings]
    else:
        lines.append("No constraint bound")
    if last.left_out:
        names = ", ".join(last.left_out_names)
        more = last.left_out - len(last.left_out_names)
        lines.append(
            f"Left out: {last.left_out} name(s): {names}" + (f" and {more} more" if more else "")
        )
    warning = (
        f"Construction fell back to inverse_vol: {last.fallback}"
        if last.fallback is not None
        else None
    )
    return lines, warning
