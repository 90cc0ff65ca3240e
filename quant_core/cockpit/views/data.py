"""The Data page: what the warehouse holds, its gaps, and what the last sync did."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from quant_core.calendar import get_calendar
from quant_core.cockpit import context
from quant_core.cockpit.charts.bar_coverage import bars_figure
from quant_core.cockpit.models.dataset_snapshot import (
    DatasetSnapshot,
    date_range,
    empty_message,
    snapshot,
)
from quant_core.cockpit.tables.datasets import (
    gaps_table,
    issue_rows,
    overview_table,
    rule_table,
    symbols_table,
    sync_history_table,
    sync_line,
    unknown_sectors_line,
)
from quant_core.data.warehouse import Warehouse


# Keyed on the dataset's version, which every write and every recorded sync bumps.
@st.cache_data(max_entries=16, show_spinner="Reading the warehouse...")
def _snapshot(root: str, dataset: str, version: int, exchange: str) -> DatasetSnapshot:
    return snapshot(Warehouse(root), dataset, get_calendar(exchange))


st.title("Data")
cfg = context.config()
warehouse = context.warehouse(cfg)
datasets = warehouse.datasets()
if not datasets:
    st.info(empty_message(warehouse))
    st.stop()

root, exchange = warehouse.location, cfg.calendar.exchange
snapshots = [_snapshot(root, d, warehouse.version(d), exchange) for d in datasets]
st.caption(f"Warehouse `{warehouse.location}`; sessions of the {exchange} calendar.")
st.dataframe(
    overview_table(snapshots),
    key="data_overview",
    hide_index=True,
    column_config={
        "symbols": st.column_config.NumberColumn(format="localized"),
        "bars": st.column_config.NumberColumn(format="localized"),
    },
)

dataset = st.selectbox(
    "Dataset",
    datasets,
    index=datasets.index(cfg.data.dataset) if cfg.data.dataset in datasets else 0,
    key="data_dataset",
)
snap = snapshots[datasets.index(dataset)]
if snap.meta.synthetic:
    st.warning(f"SYNTHETIC DATA: {snap.meta.label}")
else:
    st.caption(f"Source `{snap.meta.source}`: {snap.meta.label}")

first_day, last_day = date_range(snap)
cells = st.columns(4)
cells[0].metric("Symbols", f"{len(snap.coverage):,}")
cells[1].metric("Bars", f"{int(snap.coverage['rows'].sum()):,}")
cells[2].metric("First session", str(first_day or "-"))
cells[3].metric("Last session", str(last_day or "-"))
cells = st.columns(4)
cells[0].metric("Sessions with bars", f"{len(snap.bars_per_session):,}")
cells[1].metric("Missing sessions", f"{len(snap.gaps.missing):,}", help="no bar at all")
cells[2].metric(
    "Partial sessions",
    f"{len(snap.gaps.partial):,}",
    help="fewer than 90% of the listed symbols have a bar",
)
cells[3].metric("Factors stored", f"{len(snap.factors):,}")
st.plotly_chart(bars_figure(snap), key="data_bars_chart", theme=None)

st.subheader("Last sync")
last = snap.last_sync or {}
st.markdown(sync_line(snap.last_sync, dt.datetime.now(dt.UTC)))
sync_cells = st.columns(4)
sync_cells[0].metric("Rows in", f"{last.get('rows_in', 0):,}")
sync_cells[1].metric("Rows written", f"{last.get('rows_written', 0):,}")
sync_cells[2].metric("Rows rejected", f"{last.get('rejected', 0):,}")
sync_cells[3].metric("Rows repaired", f"{last.get('repaired', 0):,}")
rules = rule_table(snap.last_sync)
if rules.empty:
    st.success("The last sync rejected and repaired no row.")
else:
    st.markdown("**Rejected or repaired rows by rule**")
    st.dataframe(rules, key="data_rules", hide_index=True, width="content")
    if snap.issues_file is None and warehouse.store.remote:
        st.info("The rows themselves are in the issues file of the warehouse that synced them.")
    elif snap.issues_file is None:
        st.warning("The issues file of this sync is missing from the warehouse.")
    else:
        where = snap.issues_file.relative_to(warehouse.root)
        st.markdown(f"**Every rejected or repaired row, with its reason** (`{where}`)")
        st.dataframe(issue_rows(snap.issues), key="data_issues", hide_index=True, height=300)
notes = last.get("notes") or []
if notes:
    with st.expander(f"Handled by the source ({len(notes)} notes)"):
        st.markdown("\n".join(f"- {note}" for note in notes))

tabs = st.tabs(["Symbols", "Missing sessions", "Sync history", "Factors stored"])
with tabs[0]:
    st.caption(
        "missing sessions: calendar sessions between the symbol's first and last bar without "
        "one (the dataset's missing sessions count for every symbol listed through them)."
    )
    st.caption(unknown_sectors_line(snap))
    st.dataframe(symbols_table(snap), key="data_symbols", hide_index=True, height=400)
with tabs[1]:
    gaps = gaps_table(snap.gaps)
    if gaps.empty:
        st.success("No missing or partial session.")
    else:
        st.caption(
            "missing: a calendar session with no bar at all; partial: fewer than 90% of the "
            "symbols listed on that day have a bar. Nothing is invented for them."
        )
        st.dataframe(gaps, key="data_gaps", hide_index=True)
with tabs[2]:
    st.dataframe(sync_history_table(snap.syncs), key="data_syncs", hide_index=True)
with tabs[3]:
    if snap.factors.empty:
        st.info(
            f"No factors stored for {dataset}: `python run_factor_computation.py "
            f"--dataset {dataset}`."
        )
    else:
        st.dataframe(snap.factors, key="data_factors", hide_index=True)
