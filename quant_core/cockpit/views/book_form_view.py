"""The Strategy Explorer's book form: run a book file instead of one strategy (sidebar).

A choice at the top of the sidebar picks what the run form runs: a strategy (the strategy form,
:mod:`~quant_core.cockpit.views.backtest_form_view`) or a book. The book form offers the files
of ``config/books/`` and of the data dir's ``books/`` folder
(:func:`quant_core.cockpit.models.book_form.book_files`), with the run's dataset, period,
capital, cash buffer, cost model and benchmark; each sleeve brings its own strategy, schedule,
scanner and construction from the file. The Run button only validates and queues the run (an
``on_click`` callback, :func:`~quant_core.cockpit.models.book_form.check_book`); a refusal
(an invalid value, a book file that does not load, a sleeve that cannot be built) is named and
the page stops under it, as the strategy form does: no run stored before is left below it.
Otherwise the book runs once (:func:`quant_core.backtest.book_run.run_book_backtest`), with a
progress bar, is stored and opens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from config import load_config
from config.book_loader import load_book
from config.schema import AppConfig
from quant_core.backtest.book_run import BookRun, run_book_backtest
from quant_core.cockpit import format as fmt
from quant_core.cockpit.models import book_form as form
from quant_core.cockpit.models import run_catalog
from quant_core.cockpit.views import form_costs
from quant_core.cockpit.views.explorer_manage import RUN_KEY
from quant_core.cockpit.views.form_run import nothing_stored, run_with_progress
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError, QuantError

KIND_KEY = "bt_kind"
STRATEGY, BOOK = "Strategy", "Book"
DATASET_KEY, FILE_KEY = "book_dataset", "book_file"
CASH_KEY, BUFFER_KEY = "book_initial_cash", "book_cash_buffer"
ERRORS_KEY, PENDING_KEY = "book_errors", "book_pending"
BOOKS_HELP = (
    "A book file: several sleeves (strategy, schedule, scanner, construction) in one account. "
    "config/books/*.yaml, and the data dir's books/*.yaml; every key: config/books/README.md"
)


def chosen_kind() -> str:
    """Render the choice between a strategy and a book (in the sidebar); return the choice."""
    with st.sidebar:
        kind = st.segmented_control(
            "Backtest",
            (STRATEGY, BOOK),
            default=STRATEGY,
            required=True,
            key=KIND_KEY,
            help="One strategy over the dataset, or a book file: several sleeves in one account",
        )
    return str(kind or STRATEGY)


@st.cache_data(max_entries=16, show_spinner=False)
def _sessions(root: str, dataset: str, version: int) -> np.ndarray:
    # The dates of the bars: the sessions a backtest of the dataset walks.
    return Warehouse(root).bars_per_session(dataset).index.to_numpy()


def _dataset_sessions(warehouse: Warehouse, dataset: str) -> np.ndarray:
    return _sessions(warehouse.location, dataset, warehouse.version(dataset))


def _range_keys(dataset: str) -> tuple[str, str]:
    return f"book_start__{dataset}", f"book_end__{dataset}"


def _submit(cfg: AppConfig, warehouse: Warehouse) -> None:
    """Validate the form and queue the book's run; a refusal queues nothing."""
    state = st.session_state
    state.pop(PENDING_KEY, None)
    dataset, path = str(state[DATASET_KEY]), Path(str(state[FILE_KEY]))
    start_key, end_key = _range_keys(dataset)
    start, end = state.get(start_key), state.get(end_key)
    if start is not None and end is not None and start > end:
        state[ERRORS_KEY] = [f"end: {end} is before start {start}"]
        return
    overrides = form.book_overrides(
        dataset=dataset,
        start=start,
        end=end,
        initial_cash=float(state[CASH_KEY]),
        cash_buffer=float(state[BUFFER_KEY]) / 100,
    )
    overrides += form_costs.overrides(cfg, dataset)
    check = form.check_book(path, overrides, _dataset_sessions(warehouse, dataset))
    problems = list(check.problems)
    if not problems:
        problems = form_costs.benchmark_problems(warehouse, dataset, check.first)
    state[ERRORS_KEY] = problems
    if not problems:
        state[PENDING_KEY] = (str(path), overrides)


def _describe(path: Path) -> None:
    try:
        book = load_book(path)
    except ConfigError:
        st.caption("This file does not load as a book: running it says why.")
        return
    st.caption("  \n".join(fmt.md(line) for line in form.book_summary(book)))


def _form(cfg: AppConfig, warehouse: Warehouse, datasets: list[str]) -> None:
    st.header("New book backtest")
    data_dir = cfg.paths.data_dir
    default = cfg.data.dataset if cfg.data.dataset in datasets else datasets[0]
    dataset = st.selectbox(
        "Dataset", datasets, index=datasets.index(default), key=DATASET_KEY,
        help="A dataset of the warehouse (python run_data_sync.py --list)",
    )  # fmt: skip
    files = [str(p) for p in form.book_files(data_dir)]
    if not files:
        st.warning(
            f"No book file in `{form.BOOKS_DIR}` nor in `{data_dir / form.DATA_BOOKS}`:"
            " write one (config/books/README.md)."
        )
        return
    if st.session_state.get(FILE_KEY) not in files:
        st.session_state[FILE_KEY] = files[0]
    chosen = st.selectbox(
        "Book file",
        files,
        key=FILE_KEY,
        format_func=lambda p: form.book_label(Path(p), data_dir),
        help=BOOKS_HELP,
    )
    _describe(Path(str(chosen)))
    form_costs.cost_model(cfg)  # outside the form: a model shows its own settings
    if warehouse.meta(dataset).synthetic:
        st.warning(f"{dataset} holds synthetic data")
    with st.form("book_form", border=False):
        _period(warehouse, dataset)
        _portfolio(cfg)
        form_costs.costs_and_benchmark(cfg, warehouse, dataset)
        st.form_submit_button(
            "Run book backtest",
            key="run_book",
            type="primary",
            on_click=_submit,
            args=(cfg, warehouse),
            width="stretch",
        )


def _period(warehouse: Warehouse, dataset: str) -> None:
    sessions = _dataset_sessions(warehouse, dataset)
    first, last = pd.Timestamp(sessions[0]).date(), pd.Timestamp(sessions[-1]).date()
    st.markdown("**Period**")
    start_key, end_key = _range_keys(dataset)
    st.date_input("Start", value=first, min_value=first, max_value=last, key=start_key)
    st.date_input("End", value=last, min_value=first, max_value=last, key=end_key)
    st.caption(
        f"{dataset}: {len(sessions):,} sessions, {first} to {last}. Each sleeve keeps its own "
        "schedule; the book starts when its first sleeve has the history it needs."
    )


def _portfolio(cfg: AppConfig) -> None:
    st.markdown("**Account**")
    st.number_input(
        "Initial cash ($)",
        min_value=1_000.0,
        value=float(cfg.backtest.initial_cash),
        step=10_000.0,
        format="%.2f",
        key=CASH_KEY,
    )
    st.number_input(
        "Cash buffer (% of equity)",
        min_value=0.0,
        max_value=99.0,
        value=round(cfg.portfolio.cash_buffer * 100, 4),
        step=0.5,
        format="%.2f",
        key=BUFFER_KEY,
        help="Share of the account kept in cash at each rebalance, over all the sleeves",
    )


def _stored_line(run: BookRun) -> str:
    sleeves = ", ".join(
        f"{name} {fmt.money(float(value), 0)}"
        for name, value in run.sleeves["final_equity"].items()
    )
    return f"{run_catalog.stored_line(run.account.run_id, run.account.metrics)} Sleeves: {sleeves}."


def _execute(path: str, overrides: list[str]) -> bool:
    """Run the queued book once, with a progress bar, and open it; False if it failed."""
    bar_slot, line = st.empty(), st.empty()
    try:
        cfg = load_config("backtest", overrides)
        book_cfg = load_book(Path(path))
    except QuantError as exc:  # the file changed since the click
        line.error(f"Not run: {exc}")
        return False
    run = run_with_progress(
        lambda progress: run_book_backtest(cfg, book_cfg, progress=progress),
        line,
        bar_slot,
        "Book backtest",
        "session",
    )
    if run is None:
        return False
    st.session_state[RUN_KEY] = run.account.run_id
    line.success(_stored_line(run))
    return True


def book_form(cfg: AppConfig, warehouse: Warehouse, datasets: list[str]) -> None:
    """Render the book form in the sidebar; show why a submitted book was refused, or run it.

    Call it before the stored runs are listed: a finished run becomes the opened one.
    """
    with st.sidebar:
        _form(cfg, warehouse, datasets)
    state = st.session_state
    errors = state.pop(ERRORS_KEY, [])
    pending = state.pop(PENDING_KEY, None)
    for error in errors:
        st.error(f"Not run: {fmt.md(error)}")
    if errors:
        nothing_stored("book_show_runs")
    if pending is not None and not _execute(*pending):
        nothing_stored("book_show_runs")


__all__ = ["BOOK", "KIND_KEY", "STRATEGY", "book_form", "chosen_kind"]
