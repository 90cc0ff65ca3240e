"""The Explorer's trade analysis tables: round trips, gain/loss per symbol, stat cards (pure).

Without Streamlit. A run stores its round trips (``round_trips.parquet``, :mod:`quant_core.
analytics.round_trips`) and their statistics (``trade_stats.json``); a run stored before has
neither, and :func:`trips_of_run` computes them from its trades (open trips marked at the close
of the run's last trading session: the last close its files hold). :func:`trips_view` filters
and labels the trips for the table, :func:`gain_loss_view` the per-symbol table, and
:func:`stat_cards` gives the figures the page shows as metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from quant_core.analytics.round_trips import backtest_fills, round_trips
from quant_core.analytics.trade_stats import exposure_adjusted_return, gain_loss, trade_stats
from quant_core.cockpit import format as fmt

NO_TRADES = "This run made no trade: there is no round trip to analyse."
RECOMPUTED = (
    "This run was stored before runs kept their round trips: they are computed from its trades, "
    "the trips still open marked at the close of {date}, the last session it traded."
)
# (stat, label, help) of the metric cards, in the order shown.
CARDS: tuple[tuple[str, str, str], ...] = (
    ("win_rate", "Win rate (trades)", "Closed trades with a positive pnl / closed trades."),
    (
        "profit_factor",
        "Profit factor",
        "Sum of the winning trades' pnl / minus the sum of the losing trades' pnl.",
    ),
    ("avg_win", "Average win", "Mean pnl of the winning trades (after costs)."),
    ("avg_loss", "Average loss", "Mean pnl of the losing trades (after costs)."),
    ("expectancy", "Expectancy", "Mean pnl per closed trade (after costs)."),
    ("best", "Best trade", "The largest pnl of a closed trade."),
    ("worst", "Worst trade", "The smallest pnl of a closed trade."),
    (
        "avg_r",
        "Average R",
        "Mean R-multiple: pnl / (risk.stop_loss x entry value); none without a stop loss.",
    ),
    (
        "exposure_adjusted_return",
        "Exposure-adjusted return",
        "Total return / mean gross exposure: the return per unit of time invested.",
    ),
    ("avg_sessions", "Average holding", "Mean sessions from entry to exit of a closed trade."),
)
PERCENT = {"win_rate", "exposure_adjusted_return", "avg_pnl_pct"}
MONEY = {"avg_win", "avg_loss", "expectancy", "best", "worst", "total_pnl", "open_pnl"}
# Round trip column -> header (units in the header).
TRIP_LABELS = {
    "symbol": "Symbol",
    "side": "Side",
    "status": "Status",
    "exit_reason": "Exit reason",
    "entry_date": "Entry",
    "exit_date": "Exit (or mark)",
    "sessions": "Sessions",
    "shares": "Shares (peak)",
    "entry_price": "Entry price ($)",
    "exit_price": "Exit price ($)",
    "pnl": "P&L ($)",
    "pnl_pct": "P&L (%)",
    "r_multiple": "R",
    "costs": "Costs ($)",
    "commission": "Commission ($)",
    "slippage": "Slippage ($)",
}
GAIN_LOSS_LABELS = {
    "symbol": "Symbol",
    "trades": "Trades",
    "winners": "Winners",
    "win_rate": "Win rate (%)",
    "pnl": "P&L ($)",
    "gross_pnl": "Gross P&L ($)",
    "costs": "Costs ($)",
    "best": "Best ($)",
    "worst": "Worst ($)",
}


def format_stat(name: str, value: Any) -> str:
    """Return one trade statistic for people (``-`` when unknown)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if name in PERCENT:
        return fmt.pct(float(value))
    if name in MONEY:
        return fmt.money(float(value))
    if name == "avg_sessions":
        return f"{value:,.1f} sessions"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def stat_cards(stats: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Return (label, value, help) of each metric card; a profit factor without loser says so."""
    cards = []
    for name, label, note in CARDS:
        value = format_stat(name, stats.get(name))
        if name == "profit_factor" and stats.get(name) is None and stats.get("trades"):
            value = "no loser"
        cards.append((label, value, note))
    return cards


def stats_line(stats: Mapping[str, Any]) -> str:
    """Return one line: closed trades, winners and losers, costs, the open trips' pnl."""
    if not stats:
        return ""
    line = (
        f"{stats.get('trades', 0):,} closed trades ({stats.get('winners', 0):,} won, "
        f"{stats.get('losers', 0):,} lost): pnl {format_stat('total_pnl', stats.get('total_pnl'))}"
        f" after {fmt.money(stats.get('total_costs'))} of costs"
    )
    if not stats.get("open_trips"):
        return f"{line}; none still open."
    return (
        f"{line}; {stats['open_trips']:,} still open, marked at the last close: pnl "
        f"{format_stat('open_pnl', stats.get('open_pnl'))}."
    )


def trips_of_run(
    trades: pd.DataFrame,
    positions: pd.DataFrame,
    curve: pd.DataFrame,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any], pd.Timestamp | None]:
    """Return the round trips, their statistics and the marks' date of a run stored before.

    Open trips are marked at the last close the run's files hold: the close recorded with the
    positions after its last trading session (``positions.parquet``). ``risk.stop_loss`` of the
    run's config gives the R-multiples; ``sessions`` counts the curve's sessions.
    """
    fills = backtest_fills(trades)
    marks, when = None, None
    if len(positions):
        when = pd.Timestamp(pd.to_datetime(positions["date"]).max())
        last = positions[pd.to_datetime(positions["date"]) == when]
        marks = pd.Series(last["close"].to_numpy(float), index=last["symbol"].astype(str))
    stop = (config.get("risk") or {}).get("stop_loss")
    trips = round_trips(
        fills,
        marks=marks,
        mark_date=when,
        sessions=pd.DatetimeIndex(curve.index),
        stop_loss=float(stop) if stop else None,
    )
    stats: dict[str, Any] = dict(trade_stats(trips))
    stats["exposure_adjusted_return"] = exposure_adjusted_return(
        metrics.get("total_return"), metrics.get("exposure")
    )
    return trips, stats, when


def reason_counts(trips: pd.DataFrame) -> dict[str, int]:
    """Return how many trips ended by each exit reason, the most frequent first."""
    counts = trips["exit_reason"].value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def trips_view(
    trips: pd.DataFrame,
    symbols: Iterable[str] | None = None,
    reasons: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Return the trips of ``symbols`` and ``reasons`` (None or empty: all), labelled for the table.

    Newest exit first; a ``status`` column says ``open`` (marked, not closed) or ``closed``;
    ``pnl_pct`` in percent.
    """
    keep = np.ones(len(trips), dtype=bool)
    if symbols:
        keep &= trips["symbol"].isin(list(symbols)).to_numpy()
    if reasons:
        keep &= trips["exit_reason"].isin(list(reasons)).to_numpy()
    view = trips.loc[keep].assign(
        status=np.where(trips.loc[keep, "is_open"].to_numpy(bool), "open", "closed"),
        pnl_pct=trips.loc[keep, "pnl_pct"].astype(float) * 100,
    )
    view = view.sort_values(["exit_date", "symbol"], ascending=[False, True], kind="stable")
    return view.loc[:, list(TRIP_LABELS)].rename(columns=TRIP_LABELS).reset_index(drop=True)


def gain_loss_view(trips: pd.DataFrame) -> pd.DataFrame:
    """Return the gain and loss per symbol, labelled for the table (win rate in percent)."""
    table = gain_loss(trips)
    table = table.assign(win_rate=table["win_rate"].astype(float) * 100)
    return table.rename(columns=GAIN_LOSS_LABELS)


def distribution_values(trips: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """Return the closed trips' R-multiples and pnl (``"r"``); with no stop, pnl_pct (``"pct"``)."""
    closed = trips.loc[~trips["is_open"].to_numpy(bool)]
    pnl = closed["pnl"].to_numpy(float)
    r = closed["r_multiple"].to_numpy(float)
    if np.isfinite(r).any():
        kept = np.isfinite(r)
        return r[kept], pnl[kept], "r"
    pct = closed["pnl_pct"].to_numpy(float)
    kept = np.isfinite(pct)
    return pct[kept], pnl[kept], "pct"
