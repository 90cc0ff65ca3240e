"""The Strategy Explorer's Sleeves section of a stored book run (called by ``explorer_run``).

Top to bottom: the sleeves' equity stacked with the account's on top; each sleeve's figures;
the allocation over time (and the allocations that fell back to equal weights); the
correlation of the sleeves' daily returns net of allocation flows; each scanner sleeve's
universe size and turnover; then one sleeve, picked: its figures, equity and drawdown, and its
part of each fill. The numbers are the run's stored frames
(:mod:`quant_core.cockpit.models.book_frames`); a plain run has no such section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from quant_core.backtest.results import StoredRun
from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts import book_figures as charts
from quant_core.cockpit.models import book_frames as frames
from quant_core.cockpit.models.backtests import equity_series
from quant_core.errors import DataError

PICK_KEY = "sleeve_pick"
FIGURE_COLUMNS: dict[str, Any] = {
    "sleeve": st.column_config.TextColumn("Sleeve"),
    "final_equity": st.column_config.NumberColumn("Final equity ($)", format="dollar"),
    "pnl": st.column_config.NumberColumn("P&L ($)", format="dollar"),
    "total_return": st.column_config.NumberColumn("Return (time-weighted)", format="percent"),
    "max_drawdown": st.column_config.NumberColumn("Max drawdown", format="percent"),
    "trades": st.column_config.NumberColumn("Fills", format="%d"),
    "weight": st.column_config.NumberColumn("Last weight", format="percent"),
}
TRADE_COLUMNS: dict[str, Any] = {
    "date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
    "symbol": st.column_config.TextColumn("Symbol"),
    "shares": st.column_config.NumberColumn("Shares", format="%.0f"),
    "price": st.column_config.NumberColumn("Fill price ($)", format="dollar"),
    "commission": st.column_config.NumberColumn("Commission ($)", format="dollar"),
    "cash": st.column_config.NumberColumn("Cash ($)", format="dollar"),
}
FALLBACK_COLUMNS: dict[str, Any] = {
    "date": st.column_config.DateColumn("Allocation date", format="YYYY-MM-DD"),
    "reason": st.column_config.TextColumn("Why equal weights", width="large"),
}


@st.cache_data(max_entries=32, show_spinner=False)
def _load(folder: str) -> frames.StoredBook:
    # A stored run never changes once written, so its folder is a safe key.
    return frames.read_book(Path(folder))


def _allocation(book: frames.StoredBook) -> None:
    weights = frames.allocation_weights(book.allocations, book.names)
    if weights.empty:
        st.info("The book never allocated: no sleeve got capital.")
        return
    st.plotly_chart(charts.allocation_figure(weights), key="sleeve_allocation_chart", theme=None)
    fell = frames.fallbacks(book.allocations, book.names)
    if fell.empty:
        st.caption(f"{len(weights)} allocations, each by the book's method.")
        return
    st.caption(
        f"{len(fell)} of {len(weights)} allocations fell back to equal weights (the method "
        "could not apply to the sessions it had):"
    )
    st.dataframe(
        fell,
        key="sleeve_fallbacks",
        hide_index=True,
        width="stretch",
        column_config=FALLBACK_COLUMNS,
    )


def _correlation(book: frames.StoredBook, returns: pd.DataFrame, where: Any) -> None:
    matrix, sessions = frames.correlation(returns)
    if len(book.names) < 2:
        where.info("One sleeve: no correlation to show.")
    elif sessions < 2:
        where.info("Too few sessions where every sleeve had capital to correlate their returns.")
    else:
        figure = charts.correlation_figure(matrix, sessions)
        where.plotly_chart(figure, key="sleeve_correlation_chart", theme=None)
        where.caption(
            "Daily returns net of the cash each allocation moved in or out, over the sessions "
            "where every sleeve had capital."
        )


def _universes(book: frames.StoredBook, where: Any) -> None:
    if not book.universes:
        where.info("No sleeve has a scanner: each trades every symbol of the dataset.")
        return
    where.plotly_chart(
        charts.universe_figure(book.universes, "size"), key="sleeve_universe_size", theme=None
    )
    where.plotly_chart(
        charts.universe_figure(book.universes, "turnover"),
        key="sleeve_universe_turnover",
        theme=None,
    )


def _one_sleeve(book: frames.StoredBook, returns: pd.DataFrame) -> None:
    names = book.names
    if st.session_state.get(PICK_KEY) not in names:
        st.session_state[PICK_KEY] = names[0]
    name = str(st.selectbox("Sleeve", names, key=PICK_KEY, help="One sleeve's own report"))
    row = frames.sleeve_figures(book, name)
    shown = (
        ("Final equity", fmt.money(row["final_equity"], 0)),
        ("Return (time-weighted)", fmt.pct(row["total_return"])),
        ("Max drawdown", fmt.pct(row["max_drawdown"])),
        ("Fills", fmt.count(row["trades"])),
    )
    for column, (label, value) in zip(st.columns(len(shown)), shown, strict=True):
        column.metric(label, value, border=True)
    growth = frames.sleeve_growth(book, returns, name)
    figure = charts.sleeve_figure(book.sleeves[name], frames.sleeve_drawdown(growth), name)
    st.plotly_chart(figure, key="sleeve_one_chart", theme=None)
    trades = frames.sleeve_trades(book.trades, name)
    st.caption(
        f"{len(trades):,} fills attributed to {name} (its part of each of the account's orders; "
        "a cross with another sleeve's opposite request is a fill at that price, without "
        "commission)."
    )
    st.dataframe(
        trades,
        key="sleeve_trades",
        hide_index=True,
        height=320,
        width="stretch",
        column_config=TRADE_COLUMNS,
    )
    trips = frames.sleeve_trips(book.trips, name)
    if trips.empty:
        return
    st.caption(
        f"{len(trips):,} round trips of {name}, P&L {fmt.money(float(trips['pnl'].sum()), 2)} "
        "(open ones marked at the last close); the sleeves' trips add up to the account's."
    )
    st.dataframe(trips, key="sleeve_trips", hide_index=True, height=320, width="stretch")


def render(folder: Path, run: StoredRun) -> None:
    """Draw the Sleeves section of the book run stored in ``folder`` (``run``: its account)."""
    st.subheader("Sleeves")
    try:
        book = _load(str(folder))
    except (OSError, ValueError, KeyError, DataError) as exc:
        st.warning(f"This book run's sleeve files cannot be read ({exc}): no Sleeves section.")
        return
    st.caption(
        f"{len(book.names)} sleeves ({', '.join(book.names)}) trading one account: each "
        "sleeve's equity stacked; their sum (with any unallocated cash) is the account."
    )
    figure = charts.sleeves_figure(frames.stacked_equity(book), equity_series(run.curve))
    st.plotly_chart(figure, key="sleeve_equity_chart", theme=None)
    st.dataframe(
        frames.figures_table(book.figures),
        key="sleeve_figures",
        hide_index=True,
        width="stretch",
        column_config=FIGURE_COLUMNS,
    )
    st.caption(
        "Return and drawdown are time-weighted (the cash an allocation moves is not a gain); "
        "P&L is the final equity less the net cash allocated in."
    )
    _allocation(book)
    returns = frames.daily_returns(run, book)
    left, right = st.columns(2)
    _correlation(book, returns, left)
    _universes(book, right)
    st.markdown("**One sleeve**")
    _one_sleeve(book, returns)
