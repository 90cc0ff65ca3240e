"""The Strategy Explorer's risk section of one stored run (called by ``views/explorer.py``).

Sector exposure and volatility over the run, then the last book: risk contributions by name and
by sector, VaR and expected shortfall, and the stress table. The figures come from
:mod:`quant_core.cockpit.charts.risk`, the tables from :mod:`quant_core.cockpit.tables.
risk_tables`, the files from :mod:`quant_core.backtest.risk`. A run stored before runs carried a
risk report says so, and the page goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from quant_core.backtest.risk import RunRisk, load_risk
from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts import risk as charts
from quant_core.cockpit.models.backtests import equity_series
from quant_core.cockpit.tables import risk_tables as tables


@st.cache_data(max_entries=32, show_spinner=False)
def _load(folder: str) -> RunRisk | None:
    # A stored run never changes once written, so its folder is a safe key.
    return load_risk(Path(folder))


def number_table(where: Any, frame: pd.DataFrame, key: str, formats: dict[str, str]) -> None:
    """Show ``frame`` in ``where`` (a column or ``st``), its number columns in ``formats``."""
    columns = {name: st.column_config.NumberColumn(format=spec) for name, spec in formats.items()}
    where.dataframe(frame, key=key, hide_index=True, width="stretch", column_config=columns)


def render(folder: Path, curve: pd.DataFrame) -> None:
    """Draw the risk section of the run stored in ``folder`` (``curve``: its equity curve)."""
    st.subheader("Risk")
    risk = _load(str(folder))
    if risk is None:
        st.info(tables.NO_RUN_REPORT)
        return
    document = risk.report
    equity_curve = equity_series(curve)
    st.caption(fmt.md(tables.run_caption(document)))
    left, right = st.columns(2)
    if risk.exposure.empty:
        left.info("No position was held at any rebalance: no sector exposure.")
    else:
        figure = charts.sector_exposure_figure(risk.exposure, equity_curve)
        left.plotly_chart(figure, key="risk_sector_chart", theme=None)
    figure = charts.volatility_figure(risk.vol, equity_curve)
    right.plotly_chart(figure, key="risk_vol_chart", theme=None)
    report = document.get("report")
    if not report:
        flat = f"The book was flat after the trades of {document.get('as_of')}"
        none = "The run never rebalanced" if document.get("as_of") is None else flat
        st.info(f"{none}: there is no last book to report on.")
        return
    equity = document.get("equity")
    st.markdown(f"**{tables.last_book(document)}**")
    left, right = st.columns(2)
    left.plotly_chart(
        charts.contributions_figure(report["names"], equity), key="risk_names_chart", theme=None
    )
    right.plotly_chart(
        charts.sector_contributions_figure(report["sectors"], equity),
        key="risk_sectors_chart",
        theme=None,
    )
    level = float(document.get("settings", {}).get("var_level", 0.95))
    left, right = st.columns(2)
    number_table(
        left, tables.summary_table(report, equity, level), "risk_summary", tables.SUMMARY_FORMATS
    )
    number_table(right, tables.stress_table(report, equity), "risk_stress", tables.STRESS_FORMATS)
    right.caption(
        "The worst sessions of the data by equal-weight universe return, replayed on the last "
        "book (a name without a return that session counts 0)."
    )
    note = tables.left_out_line(report.get("left_out", []))
    if note is not None:
        st.caption(fmt.md(note))
