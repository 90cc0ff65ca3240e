"""The Live Dashboard's history tables: every fill with its slippage, and the portfolio window.

From the frames of :mod:`quant_core.cockpit.models.live_reports` and
:mod:`~quant_core.cockpit.models.live_portfolio`. Slippage (implementation shortfall) is the
worker's, in dollars, positive = a cost: ``signed shares x (price - reference)``, the reference
being the decision price (the close of T-1 the order was sized from) or the arrival price (the
execution session's open). In basis points it is ``1e4 x slippage / (|shares| x reference)``;
over many fills, ``1e4 x sum(slippage) / sum(|shares| x reference)`` (fills with a known
reference only). Times are shown in UTC.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from quant_core.cockpit.format import fmt_time, money, signed_money
from quant_core.cockpit.models.live_reports import TODAY, has_slippage, shortfall_bps

FILL_FORMATS = {
    "Shares": "localized",
    "Price": "dollar",
    "Value": "dollar",
    "Commission": "dollar",
    "Decision price": "dollar",
    "Arrival price": "dollar",
    "Slippage vs decision ($)": "dollar",
    "vs decision (bps)": "%.1f",
    "Slippage vs arrival ($)": "dollar",
    "vs arrival (bps)": "%.1f",
}
SLIPPAGE_COLUMNS = tuple(name for name in FILL_FORMATS if "decision" in name or "arrival" in name)
PORTFOLIO_FORMATS = {
    "Position": "localized",
    "Avg cost": "dollar",
    "Market price": "dollar",
    "Market value": "dollar",
    "Unrealised P&L": "dollar",
    "Realised P&L": "dollar",
}
TOTAL = "Total"


def fills_history_table(fills: pd.DataFrame, slippage: bool) -> pd.DataFrame:
    """Return the fills newest first: session, time, symbol, side, shares, price, value, costs.

    ``slippage``: add the reference prices and the slippage columns (dollars and bps).
    ``From`` says where a fill was read: the session report, or the worker's state (today).
    """
    newest = fills.iloc[::-1]
    quantity = newest["quantity"]
    table = pd.DataFrame(
        {
            "Session": newest["session"].dt.strftime("%Y-%m-%d").fillna("-").to_numpy(),
            "Time (UTC)": newest["ts"]
            .dt.tz_convert("UTC")
            .dt.strftime("%Y-%m-%d %H:%M:%S")
            .fillna("-")
            .to_numpy(),
            "Symbol": newest["symbol"].to_numpy(),
            "Side": newest["side"].to_numpy(),
            "Shares": quantity.to_numpy(),
            "Price": newest["price"].to_numpy(),
            "Value": (quantity.abs() * newest["price"]).to_numpy(),
            "Commission": newest["commission"].to_numpy(),
        }
    )
    if slippage:
        for name, reference, slip in (
            ("decision", "decision_price", "slippage_decision"),
            ("arrival", "arrival_price", "slippage_arrival"),
        ):
            table[f"{name.capitalize()} price"] = newest[reference].to_numpy()
            table[f"Slippage vs {name} ($)"] = newest[slip].to_numpy()
            bps = shortfall_bps(newest[slip], quantity, newest[reference])
            table[f"vs {name} (bps)"] = bps.to_numpy()
        order = ["Decision price", "Arrival price", "Slippage vs decision ($)"]
        order += ["vs decision (bps)", "Slippage vs arrival ($)", "vs arrival (bps)"]
        table = table[[*table.columns[:8], *order]]
    table["Reason"] = newest["reason"].to_numpy()
    table["Order id"] = newest["order_id"].to_numpy()
    table["Ref"] = newest["ref"].to_numpy()
    sources = newest["source"].to_numpy()
    table["From"] = np.where(sources == TODAY, "today (state)", "session report")
    return table


def fills_formats(slippage: bool) -> dict[str, str]:
    """Return the number formats of the fills table's columns."""
    if slippage:
        return FILL_FORMATS
    return {k: v for k, v in FILL_FORMATS.items() if k not in SLIPPAGE_COLUMNS}


def fills_summary(fills: pd.DataFrame) -> str:
    """Return one line: fills, sessions, symbols, bought and sold, commission, shortfall."""
    if fills.empty:
        return "No fill in these sessions for these symbols."
    value = fills["quantity"].abs() * fills["price"]
    buys = fills["quantity"] > 0
    line = (
        f"{len(fills)} fill(s) in {fills['session'].nunique()} session(s), "
        f"{fills['symbol'].nunique()} symbol(s): bought {money(float(value[buys].sum()))}, "
        f"sold {money(float(value[~buys].sum()))}, commission "
        f"{money(float(fills['commission'].sum()))}"
    )
    if not has_slippage(fills):
        return line + "; no decision or arrival price recorded: no implementation shortfall."
    parts = [
        _shortfall(fills, "slippage_decision", "decision_price", "the decision price"),
        _shortfall(fills, "slippage_arrival", "arrival_price", "the arrival price"),
    ]
    return f"{line}. Implementation shortfall (+ = cost): {'; '.join(parts)}."


def _shortfall(fills: pd.DataFrame, slip: str, reference: str, name: str) -> str:
    known = fills[slip].notna() & (fills[reference] > 0)
    if not known.any():
        return f"vs {name}: not recorded"
    dollars = float(fills.loc[known, slip].sum())
    base = float((fills.loc[known, "quantity"].abs() * fills.loc[known, reference]).sum())
    return (
        f"vs {name} {signed_money(dollars)} ({1e4 * dollars / base:+.1f} bps of "
        f"{money(base)}, {int(known.sum())} fill(s))"
    )


def portfolio_table(positions: pd.DataFrame) -> pd.DataFrame:
    """Return TWS's portfolio window: one row per symbol, then a ``Total`` row.

    The total sums market value, unrealised and realised P&L; its other cells are empty.
    """
    table = pd.DataFrame(
        {
            "Symbol": positions["symbol"].to_numpy(),
            "Position": positions["quantity"].to_numpy(),
            "Avg cost": positions["avg_cost"].to_numpy(),
            "Market price": positions["market_price"].to_numpy(),
            "Market value": positions["market_value"].to_numpy(),
            "Unrealised P&L": positions["unrealized_pnl"].to_numpy(),
            "Realised P&L": positions["realized_pnl"].to_numpy(),
        }
    )
    total = dict.fromkeys(PORTFOLIO_FORMATS, np.nan)
    for name in ("Market value", "Unrealised P&L", "Realised P&L"):
        total[name] = float(table[name].sum(min_count=1))
    totals = pd.DataFrame([{"Symbol": TOTAL, **total}], columns=table.columns)
    if table.empty:
        return totals
    return pd.concat([table, totals], ignore_index=True)


def portfolio_caption(
    written: dt.datetime | None,
    state_as_of: dt.datetime | None,
    state_newer: bool,
    positions: pd.DataFrame,
    realised: float | None = None,
) -> str:
    """Return where the window's figures come from, what today's fills realised, and in all.

    ``realised``: the P&L realised over every reported session (``models.live_reports.
    realised_since_start``); today's unreported fills are added to it.
    """
    today = float(positions["today"].sum()) if not positions.empty else 0.0
    source = (
        f"reports/positions.parquet, written {fmt_time(written)} at the last session close"
        if written is not None
        else "no session report yet (reports/positions.parquet is missing)"
    )
    live = (
        f"; shares, cost and price from the worker's state as of {fmt_time(state_as_of)}"
        if state_newer
        else ""
    )
    gained = (
        f"; realised P&L includes {signed_money(today)} from today's fills not yet reported"
        if round(today, 2) != 0
        else ""
    )
    overall = (
        f" Realised since the worker's start, every symbol: {signed_money(realised + today)}."
        if realised is not None
        else ""
    )
    return (
        "Average-cost method, commissions included, as TWS shows it: the positions held at the "
        f"last close and those closed that session. From {source}{live}{gained}.{overall}"
    )
