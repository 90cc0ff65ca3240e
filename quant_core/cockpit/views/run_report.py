"""The Strategy Explorer's HTML report section of one stored run.

A "Write HTML report" button writes the run's self-contained tearsheet
(:func:`quant_core.backtest.tearsheet.write_tearsheet`: metrics, equity vs benchmark,
drawdowns, calendar returns, rolling figures, exposure, turnover, costs, trades, risk, config)
into its folder; then, or at once when the run already has one, a download button offers it and
its path is shown. A failure is shown as an error message, never as a traceback.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import streamlit as st

from quant_core.backtest.tearsheet import report_path, write_tearsheet

logger = logging.getLogger(__name__)


def _write(folder: Path) -> None:
    started = time.perf_counter()
    try:
        with st.spinner("Writing the report (a few seconds)..."):
            path = write_tearsheet(folder)
    except Exception as exc:  # shown to the user, logged with its traceback
        logger.exception("Could not write the report of run %s", folder.name)
        st.error(f"Could not write the report of run {folder.name}: {exc}")
        return
    elapsed = time.perf_counter() - started
    st.success(f"Report written in {elapsed:.1f} s ({path.stat().st_size / 1e6:.1f} MB).")


def render(folder: Path) -> None:
    """Draw the report section of the run stored in ``folder``."""
    st.subheader("HTML report")
    st.caption(
        "One self-contained HTML file in the run's folder: it opens offline in any browser, "
        "to keep or to send."
    )
    key = folder.name
    if st.button("Write HTML report", key=f"report_write_{key}"):
        _write(folder)
    path = report_path(folder)
    if not path.is_file():
        st.caption("No HTML report written for this run yet.")
        return
    st.download_button(
        "Download HTML report",
        data=path.read_bytes(),
        file_name=f"{key}-report.html",
        mime="text/html",
        key=f"report_download_{key}",
    )
    st.caption(f"Report: `{path}`")
