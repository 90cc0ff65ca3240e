"""The Strategy Explorer's holdings of one stored run, as of a chosen session, and by sector.

A picker of the sessions the run traded at (its rebalances, and any stop or exit session); the
book after that session's trades at its close: shares, close, value and weight (value / equity
at that close), each name's sector from the dataset's reference data
(:func:`quant_core.data.reference.load_sectors`); then the weights summed by sector, as bars
and as a table. The numbers come from :mod:`quant_core.cockpit.models.backtests`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from quant_core.backtest.results import StoredRun
from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts import performance as charts
from quant_core.cockpit.models import backtests
from quant_core.data.reference import load_sectors
from quant_core.data.warehouse import Warehouse

DATE_KEY = "holdings_date"
HOLDING_COLUMNS: dict[str, Any] = {
    "symbol": st.column_config.TextColumn("Symbol"),
    "sector": st.column_config.TextColumn("Sector"),
    "shares": st.column_config.NumberColumn("Shares", format="localized"),
    "close": st.column_config.NumberColumn("Close ($)", format="dollar"),
    "value": st.column_config.NumberColumn("Value ($)", format="dollar"),
    "weight": st.column_config.NumberColumn("Weight (%)", format="percent"),
}
SECTOR_COLUMNS: dict[str, Any] = {
    "sector": st.column_config.TextColumn("Sector"),
    "names": st.column_config.NumberColumn("Names", format="%d"),
    "long": st.column_config.NumberColumn("Long (%)", format="percent"),
    "short": st.column_config.NumberColumn("Short (%)", format="percent"),
    "net": st.column_config.NumberColumn("Net (%)", format="percent"),
    "gross": st.column_config.NumberColumn("Gross (%)", format="percent"),
    "long_usd": st.column_config.NumberColumn("Long ($)", format="dollar"),
    "short_usd": st.column_config.NumberColumn("Short ($)", format="dollar"),
}


@st.cache_data(max_entries=16, show_spinner=False)
def _sectors(root: str, dataset: str, version: int, symbols: tuple[str, ...]) -> pd.Series:
    # The reference data's sector of each symbol (the version keys a re-sync).
    found = load_sectors(Warehouse(root), dataset, np.asarray(symbols, dtype=object))
    return pd.Series(found, index=list(symbols), dtype=object)


def _sector_map(run: StoredRun, dataset: str, warehouse: Warehouse) -> pd.Series | None:
    if not warehouse.exists(dataset):
        return None
    symbols = tuple(sorted(run.positions["symbol"].astype(str).unique()))
    return _sectors(warehouse.location, dataset, warehouse.version(dataset), symbols)


def _pick(dates: pd.DatetimeIndex) -> dt.date:
    options = [d.date() for d in dates]
    if st.session_state.get(DATE_KEY) not in options:
        st.session_state.pop(DATE_KEY, None)
    day: dt.date = st.selectbox(
        "Holdings after the trades of",
        options,
        index=len(options) - 1,
        key=DATE_KEY,
        format_func=lambda d: f"{d:%Y-%m-%d}{' (last)' if d == options[-1] else ''}",
        help="A session the run traded at (a rebalance, or a stop or exit): the book after "
        "its trades, valued at its close",
    )
    return day


def _caption(holdings: pd.DataFrame, curve: pd.DataFrame, when: pd.Timestamp) -> str:
    row = curve.loc[pd.DatetimeIndex(curve.index) == when].iloc[0]
    long_value = float(holdings.loc[holdings["value"] > 0, "value"].sum())
    short_value = float(holdings.loc[holdings["value"] < 0, "value"].sum())
    return (
        f"{len(holdings):,} position(s) after the trades of {when.date()}, at its close: "
        f"long {fmt.money(long_value, 0)}, short {fmt.money(short_value, 0)}, cash "
        f"{fmt.money(float(row['cash']), 0)}, equity {fmt.money(float(row['equity']), 0)}."
    )


def render(run: StoredRun, dataset: str, warehouse: Warehouse) -> None:
    """Draw the holdings section of ``run`` (``dataset``: its data, for the sectors)."""
    st.subheader("Holdings")
    dates = backtests.rebalance_dates(run.trades)
    if dates.empty:
        st.info("The run never traded: it held nothing.")
        return
    when = pd.Timestamp(_pick(dates))
    sectors = _sector_map(run, dataset, warehouse)
    equity = backtests.equity_series(run.curve)
    holdings = backtests.holdings_at(run.positions, equity, when, sectors)
    if holdings.empty:
        st.info(f"The book was flat after the trades of {when.date()}.")
        return
    st.caption(_caption(holdings, run.curve, when))
    if sectors is None:
        st.caption(
            f"Dataset {fmt.md(dataset)} is not in the warehouse: every sector reads Unknown."
        )
    left, right = st.columns([3, 2])
    left.dataframe(
        holdings,
        key="holdings_table",
        hide_index=True,
        height=420,
        width="stretch",
        column_config=HOLDING_COLUMNS,
    )
    by_sector = backtests.sector_weights(holdings)
    figure = charts.sector_weights_figure(by_sector, when)
    right.plotly_chart(figure, key="holdings_sector_chart", theme=None)
    with st.expander("Weights by sector (table)"):
        st.dataframe(
            by_sector,
            key="holdings_sectors",
            hide_index=True,
            width="stretch",
            column_config=SECTOR_COLUMNS,
        )
