"""The Strategy Explorer's comparison of stored runs (called by ``views/explorer.py``).

The runs picked are cut to their common period and each curve rebased to 1 at its first
session (:func:`quant_core.cockpit.models.run_compare.align`); a warning names the runs when
their capital or their periods differ; the metrics table measures every run over the same
common period (its own full-period metrics when all the runs share one period).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts import performance as charts
from quant_core.cockpit.models import run_catalog, run_compare
from quant_core.cockpit.tables import run_metrics
from quant_core.cockpit.views.explorer_run import load
from quant_core.errors import DataError

PICK_KEY = "compare_runs"


def _pick(rows: dict[str, dict[str, Any]]) -> list[str]:
    kept = [i for i in st.session_state.get(PICK_KEY, []) if i in rows]
    if kept != st.session_state.get(PICK_KEY, kept):
        st.session_state[PICK_KEY] = kept  # a run deleted meanwhile leaves the picker
    picked: list[str] = st.multiselect(
        "Runs to compare",
        list(rows),
        key=PICK_KEY,
        max_selections=8,
        format_func=lambda i: run_catalog.run_label(rows[i]),
        placeholder="Pick two or more runs",
    )
    return picked


def render(root: Path, rows: dict[str, dict[str, Any]]) -> None:
    """Draw the compare section over the catalogue ``rows`` (run id -> row)."""
    st.header("Compare runs")
    picked = _pick(rows)
    if not picked:
        st.caption("Pick runs above to overlay their equity and line up their metrics.")
        return
    labels = {i: run_catalog.short_label(rows[i]) for i in picked}
    if len(set(labels.values())) < len(labels):  # two runs given one name: their full ids
        labels = {i: f"{labels[i]} ({i})" for i in picked}
    try:
        loaded = {labels[i]: load(str(root), i) for i in picked}
    except DataError as exc:  # a picked run missing or damaged: said, the page goes on
        st.error(str(exc))
        return
    curves = {label: run.curve for label, run in loaded.items()}
    aligned = run_compare.align(curves)
    periods = {label: run_compare.period(curve) for label, curve in curves.items()}
    capitals = {labels[i]: run_catalog.capital(rows[i]) for i in picked}
    notes = run_compare.differences(periods, capitals, aligned)
    if notes:
        st.warning(fmt.md("\n\n".join(notes)))
    if aligned.start is None or aligned.end is None or aligned.sessions == 0:
        return  # no common session, or one only: the warning above says so
    scale = st.radio("Scale", ("Growth of $1", "Equity ($)"), key="compare_scale", horizontal=True)
    figure = charts.compare_figure(
        aligned.curves, normalise=scale == "Growth of $1", rebased_on=aligned.start
    )
    st.plotly_chart(figure, key="compare_chart", theme=None)
    over = f"{aligned.start.date()} to {aligned.end.date()}"
    if aligned.cut:
        table_metrics = {
            label: run_compare.period_metrics(run.curve, run.trades, aligned.start, aligned.end)
            for label, run in loaded.items()
        }
        st.caption(
            f"Metrics over the common period {over} ({aligned.sessions:,} sessions), by the "
            "runs' own formulas; each run's full-period metrics are in its own view above."
        )
    else:
        table_metrics = {label: run.metrics for label, run in loaded.items()}
        st.caption(f"Metrics over each run's full period, which all of them share: {over}.")
    details = {labels[i]: run_catalog.run_details(rows[i]) for i in picked}
    for label in details:
        details[label]["Compared over"] = over
    table = run_metrics.compare_metrics(table_metrics, details)
    st.dataframe(table, key="compare_metrics")
