"""The Live Dashboard's risk report panel (called by ``views/live.py`` in its details fragment).

The worker's ``book_risk``: ex-ante volatility, VaR and ES, the largest risk contributions by
name, the sectors (exposure and contribution) and the stress table, as the worker computed them
when its book last changed. The tables are :mod:`quant_core.cockpit.tables.risk_tables`' (the
same as a stored run's); a state without a report says so. Above them, the realised volatility
of the live equity against the target and the ex-ante figure, and two charts drawn from the
account at each session's close (the state's ``daily``, ``live/daily_close.py``) by the stored
run's chart functions: sector exposure over time, and realised against target volatility.
"""

from __future__ import annotations

import streamlit as st

from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts import risk as charts
from quant_core.cockpit.tables import live_daily, live_tables
from quant_core.cockpit.tables import risk_tables as tables
from quant_core.cockpit.views.run_risk import number_table
from quant_core.live.state import DashboardState


def render(state: DashboardState | None, vol_target: float | None = None) -> None:
    """Draw the risk report of the worker's book, or say there is none.

    First the realised volatility of the live equity against ``portfolio.vol_target`` and the
    book's ex-ante volatility (``tables.live_tables.vol_line``).
    """
    st.subheader("Risk report of the book")
    st.caption(fmt.md(live_tables.vol_line(state, vol_target)))
    _over_time(state, vol_target)
    book = state.book_risk if state is not None else None
    if book is None:
        st.caption(tables.NO_LIVE_REPORT)
        return
    report = book.to_json()
    equity = book.net_liquidation
    st.caption(
        fmt.md(
            f"Computed {fmt.fmt_time(book.computed_at)} when the book last changed, from the "
            f"closes through {book.data_through or '-'}; {book.names_held} name(s) held."
        )
    )
    summary, stress = st.columns(2)
    number_table(
        summary, tables.summary_table(report, equity), "live_risk_summary", tables.SUMMARY_FORMATS
    )
    number_table(
        stress, tables.stress_table(report, equity), "live_risk_stress", tables.STRESS_FORMATS
    )
    names, sectors = st.columns(2)
    number_table(names, tables.names_table(report), "live_risk_names", tables.NAME_FORMATS)
    number_table(sectors, tables.sectors_table(report), "live_risk_sectors", tables.SECTOR_FORMATS)
    note = tables.left_out_line(book.left_out)
    if note is not None:
        st.caption(fmt.md(note))


def _over_time(state: DashboardState | None, vol_target: float | None) -> None:
    """Draw sector exposure and volatility at each recorded close, or say there are none yet."""
    equity = live_daily.daily_equity_series(state)
    if equity.empty:
        st.caption(NO_CLOSES)
        return
    left, right = st.columns(2)
    exposure = live_daily.daily_exposure(state)
    if exposure.empty:
        left.info("The account held nothing at any recorded close: no sector exposure.")
    else:
        figure = charts.sector_exposure_figure(exposure, equity, closes=True)
        left.plotly_chart(figure, key="live_risk_sector_chart", theme=None)
    vol = live_daily.daily_vol(state, vol_target)
    figure = charts.volatility_figure(vol, equity, live=True)
    right.plotly_chart(figure, key="live_risk_vol_chart", theme=None)


NO_CLOSES = (
    "No session close recorded yet: the worker records the account (equity, sector exposure) "
    "after each close, and draws them over time here."
)
