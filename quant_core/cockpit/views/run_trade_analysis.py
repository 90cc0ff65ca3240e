"""The Strategy Explorer's trade analysis of one stored run (called by the Explorer page).

The run's round trips (flat to flat, per symbol: :mod:`quant_core.analytics.round_trips`) and
their statistics, by trades not by sessions: win rate, profit factor, average win and loss, best
and worst, expectancy, average R and the exposure-adjusted return as metrics; the trips in a
table filtered by symbol and exit reason (open trips marked as open); the gain and loss per
symbol; the spread of the R-multiples (of the trip returns without a stop loss). A run stored
before runs kept their round trips gets them computed from its trades
(:func:`quant_core.cockpit.tables.round_trips.trips_of_run`), and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from quant_core.backtest.results import StoredRun, load_round_trips, load_trade_stats
from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts.trade_figures import distribution_figure
from quant_core.cockpit.tables import round_trips as tables

CARDS_PER_ROW = 5
MONEY_COLUMNS = ("Entry price ($)", "Exit price ($)", "P&L ($)", "Costs ($)")
TRIP_COLUMNS: dict[str, Any] = {
    "Entry": st.column_config.DateColumn("Entry", format="YYYY-MM-DD"),
    "Exit (or mark)": st.column_config.DateColumn(
        "Exit (or mark)", format="YYYY-MM-DD", help="An open trip: the date of its mark."
    ),
    "Shares (peak)": st.column_config.NumberColumn(format="%,.0f"),
    **{name: st.column_config.NumberColumn(format="dollar") for name in MONEY_COLUMNS},
    "Commission ($)": st.column_config.NumberColumn(format="dollar"),
    "Slippage ($)": st.column_config.NumberColumn(format="dollar"),
    "P&L (%)": st.column_config.NumberColumn(format="%.2f%%"),
    "R": st.column_config.NumberColumn(format="%.2f", help="pnl / (risk.stop_loss x entry value)"),
}
GAIN_LOSS_COLUMNS: dict[str, Any] = {
    **{
        name: st.column_config.NumberColumn(format="dollar")
        for name in ("P&L ($)", "Gross P&L ($)", "Costs ($)", "Best ($)", "Worst ($)")
    },
    "Win rate (%)": st.column_config.NumberColumn(format="%.1f%%"),
}


@st.cache_data(max_entries=32, show_spinner=False)
def _stored(folder: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    # A stored run never changes once written, so its folder is a safe key.
    return load_round_trips(Path(folder)), load_trade_stats(Path(folder))


def _trips(folder: Path, run: StoredRun) -> tuple[pd.DataFrame, dict[str, Any]]:
    # The stored trips; a run stored before has none: computed from its trades, said so.
    if (folder / "round_trips.parquet").is_file():
        return _stored(str(folder))
    trips, stats, when = tables.trips_of_run(
        run.trades, run.positions, run.curve, run.config, run.metrics
    )
    if len(trips):
        day = "-" if when is None else str(when.date())
        st.caption(fmt.md(tables.RECOMPUTED.format(date=day)))
    return trips, stats


def _cards(stats: dict[str, Any]) -> None:
    cards = tables.stat_cards(stats)
    for start in range(0, len(cards), CARDS_PER_ROW):
        row = cards[start : start + CARDS_PER_ROW]
        for column, (label, value, note) in zip(st.columns(CARDS_PER_ROW), row, strict=False):
            column.metric(label, value, help=note, border=True)


def render(folder: Path, run: StoredRun) -> None:
    """Draw the trade analysis of the run stored in ``folder`` (``run``: the run read back)."""
    st.subheader("Trade analysis")
    trips, stats = _trips(folder, run)
    if trips.empty:
        st.info(tables.NO_TRADES)
        return
    _cards(stats)
    st.caption(fmt.md(tables.stats_line(stats)))
    st.markdown("**Round trips** (flat to flat, per symbol)")
    left, right = st.columns(2)
    symbols = left.multiselect(
        "Symbols",
        sorted(trips["symbol"].astype(str).unique()),
        key="trade_symbols",
        placeholder="All symbols",
    )
    counts = tables.reason_counts(trips)
    reasons = right.multiselect(
        "Exit reasons",
        list(counts),
        key="trade_reasons",
        format_func=lambda r: f"{r} ({counts[r]:,})",
        placeholder="All exit reasons",
        help="signal: the strategy's trade; stop_loss, take_profit, trailing_stop: a stop; "
        "halt: an account limit closed the book; delisting: the symbol left the data; "
        "open: still held, marked at the last close.",
    )
    view = tables.trips_view(trips, symbols, reasons)
    st.dataframe(view, key="round_trips", hide_index=True, height=360, column_config=TRIP_COLUMNS)
    left, right = st.columns(2)
    values, pnl, kind = tables.distribution_values(trips)
    if values.size:
        figure = distribution_figure(values, pnl, kind)
        left.plotly_chart(figure, key="trade_distribution_chart", theme=None)
    else:
        left.info("No closed trade yet: no distribution to draw.")
    right.markdown("**Gain and loss per symbol** (closed and open trips, best first)")
    right.dataframe(
        tables.gain_loss_view(trips),
        key="gain_loss",
        hide_index=True,
        height=320,
        column_config=GAIN_LOSS_COLUMNS,
    )
