"""The Strategy Explorer's decisions section of one stored run (called by ``views/explorer.py``).

Counts by kind, then a table of every name left out by construction, binding constraint, solver
fallback, stop and halt, filtered by kind (:mod:`quant_core.cockpit.tables.decisions`). A run
stored before runs kept their decisions says so, and the page goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from quant_core.cockpit.tables import decisions as tables

COLUMNS: dict[str, Any] = {
    **tables.DECISION_LABELS,
    "date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
    "detail": st.column_config.TextColumn("Detail", width="large"),
}


def render(folder: Path, decisions: pd.DataFrame) -> None:
    """Draw the decisions section of the run stored in ``folder`` (``decisions``: its frame)."""
    st.subheader("Decisions")
    if not (folder / "decisions.parquet").is_file():
        st.info(tables.NO_DECISIONS)
        return
    if decisions.empty:
        st.info(tables.NONE_TAKEN)
        return
    counts = tables.kind_counts(decisions)
    st.caption(tables.counts_line(decisions))
    present = [k for k, n in counts.items() if n]
    kinds = st.multiselect(
        "Kinds shown",
        present,
        default=present,
        key="decision_kinds",
        format_func=lambda k: f"{k} ({counts[k]:,})",
        help="; ".join(f"{k}: {note}" for k, note in tables.KIND_NOTES.items()),
    )
    view = tables.decisions_view(decisions, kinds)
    st.dataframe(view, key="decisions", hide_index=True, height=320, column_config=COLUMNS)
