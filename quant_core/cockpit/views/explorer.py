"""The Strategy Explorer page: run a backtest from a form, or open, inspect and compare runs.

The sidebar holds the run form, built from the chosen strategy's params model. Its button only
validates and queues the run (an ``on_click`` callback); the script then runs it once, with a
progress bar, stores it and opens it. This module only lays the page out: the form's fields
and overrides come from :mod:`quant_core.cockpit.models.backtest_form`, the run catalogue from
:mod:`~quant_core.cockpit.models.run_catalog`, tables from ``cockpit/tables`` and figures from
:mod:`quant_core.cockpit.charts.performance`.
"""

from __future__ import annotations

import datetime as dt
import inspect
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from config import load_config
from config.schema import AppConfig
from quant_core.backtest.results import StoredRun, catalog, load_run
from quant_core.backtest.run import run_backtest
from quant_core.cockpit import context
from quant_core.cockpit.charts import performance as charts
from quant_core.cockpit.models import backtest_form as form
from quant_core.cockpit.models import backtests, run_catalog
from quant_core.cockpit.tables import downloads, run_metrics
from quant_core.cockpit.tables import trades as trade_table
from quant_core.data.warehouse import Warehouse
from quant_core.errors import QuantError
from quant_core.strategies import STRATEGIES

SHARPE_WINDOWS = (21, 63, 126, 252)
STYLED_CELLS = 100_000  # beyond this the trades table drops its row colours (the notes stay)
SYNC_HINT = "python run_data_sync.py --source sample"
TRADE_COLUMNS: dict[str, Any] = {
    **trade_table.TRADE_LABELS,
    "date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
    "flag": st.column_config.TextColumn("Flag", width=100),
    "note": st.column_config.TextColumn("Note", width="large"),
}


@st.cache_data(max_entries=32, show_spinner=False)
def _load(root: str, run_id: str) -> StoredRun:
    # A stored run never changes once written, so (folder, id) is a safe key.
    return load_run(Path(root), run_id)


@st.cache_data(max_entries=16, show_spinner=False)
def _span(root: str, dataset: str, version: int) -> tuple[dt.date, dt.date, int]:
    sessions = Warehouse(Path(root)).bars_per_session(dataset).index
    return sessions[0].date(), sessions[-1].date(), len(sessions)


def _param_key(strategy: str, name: str) -> str:
    return f"bt_param__{strategy}__{name}"


def _range_keys(dataset: str) -> tuple[str, str]:
    return f"bt_start__{dataset}", f"bt_end__{dataset}"


# ------------------------------------------------------------------------------- the run form


def _submit() -> None:
    """Validate the form and queue the run; an invalid form queues nothing."""
    state = st.session_state
    strategy, dataset = state["bt_strategy"], state["bt_dataset"]
    model = STRATEGIES.get(strategy).Params
    specs = form.param_specs(model)
    raw = {s.name: state.get(_param_key(strategy, s.name), s.default) for s in specs}
    start_key, end_key = _range_keys(dataset)
    start, end = state.get(start_key), state.get(end_key)
    params, errors = form.check_form(strategy, model, specs, raw, start, end)
    state.pop("bt_pending", None)
    state["bt_errors"] = errors
    if params is None:
        return
    state["bt_pending"] = form.backtest_overrides(
        strategy,
        params,
        dataset=dataset,
        start=start,
        end=end,
        rebalance=form.rebalance_rule(state["bt_rebalance_mode"], state["bt_rebalance_n"]),
        cash_buffer=float(state["bt_cash_buffer"]) / 100,
        initial_cash=float(state["bt_initial_cash"]),
    )


def _param_widget(strategy: str, spec: form.ParamSpec) -> None:
    key = _param_key(strategy, spec.name)
    label, text = spec.label, spec.help or None
    if spec.kind in ("int", "float"):
        number = int if spec.kind == "int" else float
        st.number_input(
            label,
            min_value=None if spec.minimum is None else number(spec.minimum),
            max_value=None if spec.maximum is None else number(spec.maximum),
            value=spec.default,
            step=spec.step,
            format=spec.number_format,
            key=key,
            help=text,
        )
    elif spec.kind == "bool":
        st.checkbox(label, value=spec.default, key=key, help=text)
    elif spec.kind == "choice":
        options = list(spec.options)
        index = options.index(spec.default) if spec.default in options else 0
        st.selectbox(label, options, index=index, key=key, help=text)
    else:
        st.text_input(label, value=spec.default, key=key, help=text)


def _run_form(cfg: AppConfig, warehouse: Warehouse, datasets: list[str]) -> None:
    st.header("New backtest")
    default = cfg.data.dataset if cfg.data.dataset in datasets else datasets[0]
    dataset = st.selectbox(
        "Dataset",
        datasets,
        index=datasets.index(default),
        key="bt_dataset",
        help="A dataset of the warehouse (python run_data_sync.py --list)",
    )
    names = STRATEGIES.names()
    chosen = cfg.strategy.name if cfg.strategy.name in names else names[0]
    strategy = st.selectbox("Strategy", names, index=names.index(chosen), key="bt_strategy")
    cls = STRATEGIES.get(strategy)
    st.caption(inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0])
    first, last, count = _span(str(warehouse.root), dataset, warehouse.version(dataset))
    if warehouse.meta(dataset).synthetic:
        st.warning(f"{dataset} holds synthetic data")
    with st.form("bt_form", border=False):
        st.markdown("**Parameters**")
        for spec in form.param_specs(cls.Params):
            _param_widget(strategy, spec)
        st.markdown("**Period and rebalancing**")
        start_key, end_key = _range_keys(dataset)
        st.date_input("Start", value=first, min_value=first, max_value=last, key=start_key)
        st.date_input("End", value=last, min_value=first, max_value=last, key=end_key)
        st.caption(
            f"{dataset}: {count:,} sessions, {first} to {last}. The first rebalance waits for "
            "the strategy's warm-up history."
        )
        rule = cfg.strategy.rebalance
        st.selectbox(
            "Rebalance",
            form.REBALANCE_MODES,
            index=0 if isinstance(rule, int) else form.REBALANCE_MODES.index(rule),
            key="bt_rebalance_mode",
            help="Every N trading sessions, or the first session of each week / month",
        )
        st.number_input(
            "N, sessions between rebalances",
            min_value=1,
            value=rule if isinstance(rule, int) else 21,
            step=1,
            key="bt_rebalance_n",
            help="Used with 'every N sessions' only",
        )
        st.markdown("**Portfolio**")
        st.number_input(
            "Initial cash ($)",
            min_value=1_000.0,
            value=float(cfg.backtest.initial_cash),
            step=10_000.0,
            format="%.2f",
            key="bt_initial_cash",
        )
        st.number_input(
            "Cash buffer (% of equity)",
            min_value=0.0,
            max_value=99.0,
            value=round(cfg.portfolio.cash_buffer * 100, 4),
            step=0.5,
            format="%.2f",
            key="bt_cash_buffer",
            help="Share of equity kept in cash at each rebalance; at 0, a gap up at the open "
            "makes buys cost more than the cash and they are truncated",
        )
        st.form_submit_button(
            "Run backtest",
            key="run_backtest",
            type="primary",
            on_click=_submit,
            width="stretch",
        )
    st.caption(f"Costs: {cfg.costs.model} model (config). Benchmark: {cfg.backtest.benchmark}.")


def _execute(overrides: list[str]) -> None:
    """Run the queued backtest once, with a progress bar, and open it."""
    try:
        cfg = load_config("backtest", overrides)
    except QuantError as exc:
        st.error(f"Not run: the configuration is invalid.\n\n```\n{exc}\n```")
        return
    bar = st.progress(0.0, text="Backtest: loading the data...")
    seen = [0, 0]

    def progress(task: str, done: int, total: int) -> None:
        seen[:] = [done, total]
        bar.progress(done / total if total else 1.0, text=f"{task}: rebalance {done} of {total}")

    try:
        run = run_backtest(cfg, progress=progress)
    except QuantError as exc:
        bar.empty()
        st.error(f"Backtest failed: {exc}")
        return
    bar.progress(1.0, text=f"Backtest done: {seen[0]} of {seen[1]} rebalances")
    st.session_state["explorer_run"] = run.run_id
    st.success(run_catalog.stored_line(run.run_id, run.metrics))


# ------------------------------------------------------------------------------- one run


def _headline(metrics: dict[str, Any]) -> None:
    names_all = run_metrics.HEADLINE
    rows = [names_all[i : i + 4] for i in range(0, len(names_all), 4)]
    for names in rows:
        for column, name in zip(st.columns(len(names)), names, strict=True):
            quiet = name in run_metrics.QUIET_DELTAS
            column.metric(
                run_metrics.metric_label(name),
                run_metrics.format_metric(name, metrics.get(name)),
                run_metrics.headline_delta(name, metrics),
                delta_color="off" if quiet else "normal",
                delta_arrow="off" if quiet else "auto",
                border=True,
            )
    with st.expander("All metrics"):
        st.dataframe(run_metrics.metrics_table(metrics), hide_index=True, key="metrics_table")


def _charts(run: StoredRun) -> None:
    curve = run.curve
    log_y = st.toggle("Log scale", key="equity_log", help="Equity axis on a log scale")
    st.plotly_chart(charts.equity_figure(curve, log_y), key="equity_chart", theme=None)
    st.plotly_chart(charts.drawdown_figure(curve), key="drawdown_chart", theme=None)
    st.plotly_chart(charts.monthly_heatmap(curve), key="monthly_chart", theme=None)
    window = st.segmented_control(
        "Rolling Sharpe window (sessions)",
        SHARPE_WINDOWS,
        default=63,
        required=True,
        key="sharpe_window",
        format_func=lambda n: f"{n} (~{round(n / 21)} mo)",
    )
    window = int(window or 63)
    left, right = st.columns(2)
    if len(curve) > window:
        figure = charts.rolling_sharpe_figure(curve, window)
        left.plotly_chart(figure, key="sharpe_chart", theme=None)
    else:
        sessions = len(curve) - 1
        left.info(f"The run has {sessions} sessions: too few for a {window}-session window.")
    right.plotly_chart(charts.exposure_figure(curve), key="exposure_chart", theme=None)


def _positions(run: StoredRun) -> None:
    st.subheader("Positions over time")
    equity = backtests.equity_series(run.curve)
    rebalances = pd.DatetimeIndex(run.trades["date"]).unique()
    counts = backtests.holdings_count(run.positions, rebalances)
    left, right = st.columns([2, 3])
    left.plotly_chart(charts.holdings_figure(counts, run.curve), key="holdings_chart", theme=None)
    weights = backtests.top_weights(run.positions, equity)
    if weights.empty:
        right.info("No positions were held.")
    else:
        right.plotly_chart(charts.weights_figure(weights, equity), key="weights_chart", theme=None)


def _trades(run: StoredRun) -> None:
    st.subheader("Trades")
    st.caption(trade_table.status_line(run.trades))
    only = st.toggle("Only truncated, unfilled and exit orders", key="trades_flagged", value=False)
    view = trade_table.trades_view(run.trades, only_flagged=only)
    if view.size <= STYLED_CELLS:
        data: Any = trade_table.trades_styler(view)
    else:
        st.caption("Row colours are off for a table this large: use the toggle above.")
        data = view
    st.dataframe(data, key="trades", hide_index=True, height=380, column_config=TRADE_COLUMNS)


def _downloads(run: StoredRun) -> None:
    st.subheader("Download")
    files = (
        ("Equity curve (CSV)", downloads.curve_csv(run.curve), "equity", "dl_curve"),
        ("Trades (CSV)", downloads.trades_csv(run.trades), "trades", "dl_trades"),
        ("Metrics (CSV)", downloads.metrics_csv(run.metrics), "metrics", "dl_metrics"),
    )
    for column, (label, data, name, key) in zip(st.columns(3), files, strict=True):
        column.download_button(
            label,
            data,
            file_name=f"{run.run_id}-{name}.csv",
            mime="text/csv",
            key=key,
            on_click="ignore",
            icon=":material/download:",
            width="stretch",
        )


def _show_run(root: Path, rows: dict[str, dict[str, Any]], warehouse: Warehouse) -> None:
    ids = list(rows)
    if st.session_state.get("explorer_run") not in ids:
        st.session_state.pop("explorer_run", None)
    run_id = st.selectbox(
        "Stored run",
        ids,
        key="explorer_run",
        format_func=lambda i: run_catalog.run_label(rows[i]),
        help="Every run stored under the backtests folder, newest first",
    )
    if run_id is None:
        return
    run = _load(str(root), run_id)
    dataset = str(rows[run_id].get("dataset"))
    if warehouse.exists(dataset) and warehouse.meta(dataset).synthetic:
        st.warning(f"This run used synthetic data ({dataset}): its numbers say nothing of markets.")
    st.caption(run_catalog.run_description(rows[run_id], run.config))
    _headline(run.metrics)
    _charts(run)
    _positions(run)
    _trades(run)
    _downloads(run)


def _compare(root: Path, rows: dict[str, dict[str, Any]]) -> None:
    st.header("Compare runs")
    picked = st.multiselect(
        "Runs to compare",
        list(rows),
        key="compare_runs",
        max_selections=8,
        format_func=lambda i: run_catalog.run_label(rows[i]),
        placeholder="Pick two or more runs",
    )
    if not picked:
        st.caption("Pick runs above to overlay their equity and line up their metrics.")
        return
    scale = st.radio("Scale", ("Growth of $1", "Equity ($)"), key="compare_scale", horizontal=True)
    loaded = {run_catalog.short_label(rows[i]): _load(str(root), i) for i in picked}
    curves = {label: r.curve for label, r in loaded.items()}
    figure = charts.compare_figure(curves, normalise=scale == "Growth of $1")
    st.plotly_chart(figure, key="compare_chart", theme=None)
    details = {run_catalog.short_label(rows[i]): run_catalog.run_details(rows[i]) for i in picked}
    table = run_metrics.compare_metrics({label: r.metrics for label, r in loaded.items()}, details)
    st.dataframe(table, key="compare_metrics")


# ------------------------------------------------------------------------------- the page

st.title("Strategy Explorer")
cfg = context.config("backtest")
warehouse = context.warehouse(cfg)
root = context.backtests_dir(cfg)
datasets = warehouse.datasets()

with st.sidebar:
    if datasets:
        _run_form(cfg, warehouse, datasets)
    else:
        st.warning(f"No data to backtest: load a dataset first with `{SYNC_HINT}`.")

if not datasets:
    st.warning(
        f"The warehouse at `{warehouse.root}` holds no dataset, so no backtest can run. "
        f"Load one first:\n\n```\n{SYNC_HINT}\n```"
    )
for error in st.session_state.get("bt_errors", []):
    st.error(f"Not run: {error}")
pending = st.session_state.pop("bt_pending", None)
if pending is not None:
    _execute(pending)

stored = catalog(root)
if stored.empty:
    how = "Set one up in the sidebar and press" if datasets else "Once data is loaded, press"
    st.info(
        f"No stored backtests in `{root}` yet. {how} **Run backtest**, or run "
        "`python run_backtest.py`."
    )
else:
    rows = run_catalog.catalog_rows(stored)
    _show_run(root, rows, warehouse)
    _compare(root, rows)
