"""The Live Dashboard's history (called by ``views/live.py`` below its details).

What happened since the worker started, from its session reports (``<live_dir>/reports/``,
written at each session's close) with today's figures from its state on top: every fill with
a session and symbol filter and its slippage against the decision and arrival prices; realised
P&L per position as TWS's portfolio window shows it; the live equity at each close over the
backtest of the same config from the worker's start. The shaping is in
:mod:`quant_core.cockpit.models.live_reports`, :mod:`~quant_core.cockpit.models.live_portfolio`
and :mod:`~quant_core.cockpit.models.live_backtest`, the tables in
:mod:`quant_core.cockpit.tables.live_history_tables`, the figure in
:mod:`quant_core.cockpit.charts.live_equity`. Files are read again only when they change; the
backtest runs once per config, period and warehouse version. A file the worker has not
written yet (no session closed) is said plainly, and the page goes on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from config.schema import AppConfig
from quant_core.calendar import get_calendar
from quant_core.cockpit import context
from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts.live_equity import live_vs_backtest_figure
from quant_core.cockpit.models import dashboard as board
from quant_core.cockpit.models import live_backtest as bt
from quant_core.cockpit.models import live_portfolio as window
from quant_core.cockpit.models import live_reports as history
from quant_core.cockpit.tables import live_history_tables as tables
from quant_core.errors import QuantError
from quant_core.live.state import DashboardState

REPORTS = "reports"  # <live_dir>/reports: the worker's session reports
FILLS_FILE, POSITIONS_FILE, DAILY_FILE = "fills.parquet", "positions.parquet", "daily.parquet"
REFRESH_S = 10.0  # the section's refresh: the files change once a session, today's fills live
FROM, TO, SYMBOLS = "hist_from", "hist_to", "hist_symbols"  # the filter's widget keys


@dataclass(frozen=True, slots=True)
class Report:
    """One report file: its rows (None: missing or unusable), when written, why unusable."""

    path: Path
    frame: pd.DataFrame | None
    written: dt.datetime | None
    problem: str | None = None


@st.cache_data(max_entries=16, show_spinner=False)
def _parquet(path: str, version: tuple[int, int, int]) -> tuple[pd.DataFrame | None, str | None]:
    # Keyed on (inode, mtime, size): the worker rewrites a report whole, atomically.
    try:
        return pd.read_parquet(path), None
    except (OSError, ValueError) as exc:
        return None, f"{path} cannot be read: {exc}"


def read_report(live_dir: Path, name: str, required: Sequence[str]) -> Report:
    """Return the report ``name`` of ``live_dir`` (missing: no frame, no problem)."""
    path = live_dir / REPORTS / name
    try:
        info = path.stat()
    except OSError:
        return Report(path, None, None)
    frame, problem = _parquet(str(path), (info.st_ino, info.st_mtime_ns, info.st_size))
    if frame is not None and (lacking := history.missing_columns(frame, required, str(path))):
        frame, problem = None, lacking
    return Report(path, frame, dt.datetime.fromtimestamp(info.st_mtime, dt.UTC), problem)


@st.cache_data(max_entries=8, show_spinner="Running the backtest of the live config...")
def _backtest(
    digest: str, dataset: str, version: int, start: dt.date, end: dt.date, _cfg: AppConfig
) -> bt.Outcome:
    # The key: the config's digest (its backtest period in it), the period, the data's version.
    return bt.run(_cfg)


def render(live_dir: Path, cfg: AppConfig, every: float | None) -> None:
    """Draw the history section; it refreshes itself every :data:`REFRESH_S` s with ``every``."""
    st.header("History since the worker's start", anchor=False)
    panel = st.fragment(_panel, run_every=REFRESH_S if every else None)
    panel(live_dir, cfg)


def _panel(live_dir: Path, cfg: AppConfig) -> None:
    state, _ = board.read(live_dir)  # an unreadable state is said above, by the status
    fills_file = read_report(live_dir, FILLS_FILE, history.REQUIRED_FILL_COLUMNS)
    positions_file = read_report(live_dir, POSITIONS_FILE, window.REQUIRED_POSITION_COLUMNS)
    daily_file = read_report(live_dir, DAILY_FILE, history.REQUIRED_DAILY_COLUMNS)
    files = (fills_file, positions_file, daily_file)
    if all(f.written is None for f in files):
        st.info(
            fmt.md(
                f"The worker has not closed a session yet: no session report in {REPORTS}/ "
                "of its folder (named at the top). It writes them at each session's close "
                "(fills, positions, equity); until then only today's figures from its state "
                "are shown."
            )
        )
    for report in files:
        if report.problem is not None:
            st.warning(fmt.md(f"{report.problem}. Its figures are left out."))
    zone = ZoneInfo(get_calendar(cfg.calendar.exchange).tz)  # a fill's session: its date there
    fills = history.merge_fills(fills_file.frame, history.state_fills(state, zone))
    _fills(fills, fills_file)
    _portfolio(positions_file, state, fills, history.realised_since_start(daily_file.frame))
    _equity(daily_file, state, cfg)


def _missing(report: Report, what: str) -> None:
    # One file missing while others exist: say which, and what is shown instead.
    if report.written is None:
        st.caption(fmt.md(f"No {report.path.name} yet in {report.path.parent}: {what}"))


def _bound(key: str, default: dt.date, low: dt.date, high: dt.date) -> None:
    # The filter's date follows the history's span until the user picks another one.
    state, seen = st.session_state, f"{key}__default"
    value = state.get(key)
    if not isinstance(value, dt.date) or not low <= value <= high or value == state.get(seen):
        state[key] = default
    state[seen] = default


def _fills(fills: pd.DataFrame, report: Report) -> None:
    st.subheader("Fills history", anchor=False)
    _missing(report, "only today's fills (from the worker's state) are listed.")
    span = history.session_span(fills)
    if span is None:
        st.info("No fill yet: the account has not traded.")
        return
    first, last = span
    _bound(FROM, first, first, last)
    _bound(TO, last, first, last)
    names = history.symbols(fills)
    st.session_state[SYMBOLS] = [s for s in st.session_state.get(SYMBOLS, []) if s in names]
    left, right, pick = st.columns([1, 1, 3])
    limits: dict[str, Any] = {"min_value": first, "max_value": last, "format": "YYYY-MM-DD"}
    start = left.date_input("From session", key=FROM, **limits)
    end = right.date_input("To session", key=TO, **limits)
    chosen = pick.multiselect("Symbols", names, key=SYMBOLS, placeholder="All symbols")
    if not isinstance(start, dt.date) or not isinstance(end, dt.date) or start > end:
        st.warning("The first session is after the last: choose a period.")
        return
    shown = history.filter_fills(fills, start, end, chosen)
    slippage = history.has_slippage(fills)
    st.caption(fmt.md(tables.fills_summary(shown)))
    st.dataframe(
        tables.fills_history_table(shown, slippage),
        key="fills_history",
        hide_index=True,
        width="stretch",
        column_config=_formats(tables.fills_formats(slippage)),
    )


def _portfolio(
    report: Report, state: DashboardState | None, fills: pd.DataFrame, realised: float | None
) -> None:
    st.subheader("Realised P&L per position", anchor=False)
    newer = window.state_is_newer(state, report.written)
    today = fills[fills["source"] == history.TODAY] if newer else fills.iloc[:0]
    positions = window.portfolio(report.frame, state, today, newer)
    as_of = window.state_as_of(state)
    caption = tables.portfolio_caption(report.written, as_of, newer, positions, realised)
    st.caption(fmt.md(caption))
    if positions.empty:
        st.info("No position held and nothing realised yet.")
        return
    st.dataframe(
        tables.portfolio_table(positions),
        key="realised_pnl",
        hide_index=True,
        width="stretch",
        column_config=_formats(tables.PORTFOLIO_FORMATS),
    )


def _equity(report: Report, state: DashboardState | None, cfg: AppConfig) -> None:
    st.subheader("Live equity against the backtest", anchor=False)
    _missing(report, "the closes are the worker's state's (its last year).")
    live = history.live_equity(report.frame, state)
    if live.empty:
        st.info("No session close recorded yet: the live equity is drawn from the first close.")
        return
    if (note := bt.strategy_note(state, cfg)) is not None:
        st.warning(fmt.md(note))
    span = bt.window(live)
    rebased: tuple[pd.Series, pd.Timestamp] | None = None
    if span is None:
        st.info("One session close so far: the backtest is drawn from the second one on.")
    else:
        outcome = _run(cfg, span)
        if outcome.equity is None:
            st.warning(
                fmt.md(f"{(outcome.note or '').rstrip('.')}. Only the live equity is drawn.")
            )
        elif (rebased := bt.rebase(live, outcome.equity)) is None:
            st.warning("The backtest shares no session with the live closes: not drawn.")
    figure = live_vs_backtest_figure(live, rebased[0] if rebased is not None else None)
    st.plotly_chart(figure, key="live_vs_backtest", width="stretch", theme=None)
    if span is not None and rebased is not None:
        measured = bt.tracking(live, rebased[0])
        st.caption(
            fmt.md(
                f"Backtest of the cockpit's live config (strategy {cfg.strategy.name}, dataset "
                f"{cfg.data.dataset}) from {span.start} to {span.end}, starting with the live "
                f"equity at the worker's first close ({span.first_close}); rebased to the live "
                f"equity on {rebased[1]:%Y-%m-%d}."
                + (f" {bt.tracking_line(measured)}." if measured is not None else "")
            )
        )


def _run(cfg: AppConfig, span: bt.Window) -> bt.Outcome:
    """Return the backtest of the live config over ``span`` (cached), or why it cannot run."""
    config = bt.backtest_config(cfg, span)
    dataset = cfg.data.dataset
    try:
        version = context.warehouse(cfg).version(dataset)
    except (QuantError, OSError) as exc:
        return bt.Outcome(None, f"The backtest of the live config cannot run: no data: {exc}")
    return _backtest(bt.config_key(config), dataset, version, span.start, span.end, config)


def _formats(formats: dict[str, str]) -> dict[str, Any]:
    return {name: st.column_config.NumberColumn(format=spec) for name, spec in formats.items()}
