"""The Strategy Explorer's run catalogue: pick a run, name it, delete it (behind a dialog).

The catalogue is :func:`quant_core.backtest.run_admin.stored_runs` (complete runs only, with
the names people gave them); a run stored before the catalogue kept its capital, schedule and
costs gets them from its ``config.json``, read once per run and cached. Rename and delete run
in ``on_click`` callbacks (before the page is drawn again), so the page that follows already
shows the new name, or no longer lists the run; delete asks first, in a dialog driven by
session state (a dialog's own buttons would be lost on a full rerun).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from quant_core.backtest.run_admin import MAX_LABEL, delete_run, rename_run, stored_runs
from quant_core.cockpit import format as fmt
from quant_core.cockpit.models import run_catalog
from quant_core.cockpit.views import explorer_run
from quant_core.errors import DataError

RUN_KEY = "explorer_run"
COMPARE_KEY = "compare_runs"  # the compare section's picker (views/explorer_compare.py)
DELETE_KEY = "delete_open"  # the run id the delete dialog asks about
NOTICE_KEY = "explorer_notice"  # what the last rename or delete did, shown once
ERROR_KEY = "explorer_admin_error"


@st.cache_data(max_entries=1024, show_spinner=False)
def _config_facts(folder: str) -> dict[str, Any]:
    # A stored run's config.json never changes: read once per folder.
    try:
        config = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return dict.fromkeys(run_catalog.FACTS)
    return run_catalog.config_facts(config)


def catalogue(root: Path) -> dict[str, dict[str, Any]]:
    """Return the stored runs as run id -> catalogue row (newest first), each with its facts."""
    damaged: list[str] = []
    rows = run_catalog.catalog_rows(stored_runs(root, damaged))
    if damaged:
        st.warning(
            f"{len(damaged)} run folder(s) in `{root}` cannot be read (a damaged "
            f"`summary.parquet`) and are left out: {', '.join(damaged)}. Delete them by hand."
        )
    return {
        run_id: (
            run_catalog.with_facts(row, _config_facts(str(root / run_id)))
            if run_catalog.needs_config(row)
            else row
        )
        for run_id, row in rows.items()
    }


def _name_key(run_id: str) -> str:
    return f"rename__{run_id}"


def _rename(root: Path, run_id: str) -> None:
    try:
        name = rename_run(root, run_id, str(st.session_state.get(_name_key(run_id), "")))
    except DataError as exc:
        st.session_state[ERROR_KEY] = f"Not renamed: {exc}"
        return
    st.session_state[NOTICE_KEY] = f"Run {run_id} is now named “{name}”."
    # The pickers hold the label they showed; set them again so the browser shows the new one.
    st.session_state[RUN_KEY] = run_id
    if isinstance(picked := st.session_state.get(COMPARE_KEY), list):
        st.session_state[COMPARE_KEY] = list(picked)


def _open_delete(run_id: str) -> None:
    st.session_state[DELETE_KEY] = run_id


def _close_delete() -> None:
    st.session_state.pop(DELETE_KEY, None)


def _confirm_delete(root: Path, run_id: str, name: str) -> None:
    _close_delete()
    try:
        delete_run(root, run_id)
    except DataError as exc:
        st.session_state[ERROR_KEY] = f"Not deleted: {exc}"
        return
    explorer_run.clear_cache()
    if st.session_state.get(RUN_KEY) == run_id:
        # The newest run left opens; set, not dropped, so the browser's picker shows it.
        left = stored_runs(root)
        if left.empty:
            st.session_state.pop(RUN_KEY, None)
        else:
            st.session_state[RUN_KEY] = str(left["run_id"].iloc[0])
    picked = st.session_state.get(COMPARE_KEY)
    if isinstance(picked, list) and run_id in picked:
        st.session_state[COMPARE_KEY] = [i for i in picked if i != run_id]
    st.session_state[NOTICE_KEY] = f"Deleted run {name} ({run_id}) and its folder."


@st.dialog("Delete this run?", on_dismiss=_close_delete)
def _ask_delete(root: Path, run_id: str, name: str) -> None:
    st.markdown(
        f"**{fmt.md(name)}**\n\nIts folder `{fmt.md(root / run_id)}` and every file in it "
        "(curve, trades, positions, reports) are removed. This cannot be undone."
    )
    yes, no = st.columns(2)
    yes.button(
        "Yes, delete the run",
        key="delete_confirm",
        type="primary",
        on_click=_confirm_delete,
        args=(root, run_id, name),
    )
    no.button("Cancel", key="delete_abort", on_click=_close_delete)
    if st.session_state.get(DELETE_KEY) != run_id:
        st.rerun()  # the browser: close the dialog after a choice


def _messages() -> None:
    if (notice := st.session_state.pop(NOTICE_KEY, None)) is not None:
        st.success(fmt.md(notice))
    if (error := st.session_state.pop(ERROR_KEY, None)) is not None:
        st.error(fmt.md(error))


def pick(root: Path, rows: dict[str, dict[str, Any]]) -> str | None:
    """Draw the run picker with rename and delete; return the run id picked (None: none)."""
    ids = list(rows)
    if st.session_state.get(RUN_KEY) not in ids:
        st.session_state[RUN_KEY] = ids[0]  # gone (deleted elsewhere) or none yet: the newest
    run_id: str | None = st.selectbox(
        "Stored run",
        ids,
        key=RUN_KEY,
        format_func=lambda i: run_catalog.run_label(rows[i]),
        help="Every run stored under the backtests folder, newest first: your name for it, "
        "when, strategy, data, period, capital, schedule, costs, result",
    )
    _messages()
    if run_id is None:
        return None
    row = rows[run_id]
    name_box, rename, delete = st.columns([5, 1, 1], vertical_alignment="bottom")
    name_box.text_input(
        "Name of the run",
        value=row.get("label") or "",
        max_chars=MAX_LABEL,
        key=_name_key(run_id),
        placeholder=run_catalog.short_label(row),
        help=f"Your name for the run (1 to {MAX_LABEL} characters), shown in every picker",
    )
    rename.button(
        "Rename", key="rename_run", on_click=_rename, args=(root, run_id), width="stretch"
    )
    delete.button(
        "Delete run",
        key="delete_run",
        on_click=_open_delete,
        args=(run_id,),
        width="stretch",
    )
    if st.session_state.get(DELETE_KEY) not in (None, run_id):
        _close_delete()  # asked about another run, then picked this one: forget the question
    if st.session_state.get(DELETE_KEY) == run_id:
        name = row.get("label") or run_catalog.short_label(row)
        _ask_delete(root, run_id, str(name))
    return run_id
