"""The Strategy Explorer page: run a backtest from a form, or open, inspect and compare runs.

The sidebar holds the run form (:mod:`quant_core.cockpit.views.backtest_form_view`). This
module only lays the page out: the run catalogue comes from
:mod:`~quant_core.cockpit.models.run_catalog`, tables from ``cockpit/tables`` and figures from
:mod:`quant_core.cockpit.charts.performance`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from quant_core.backtest.results import StoredRun, catalog, load_run
from quant_core.cockpit import context
from quant_core.cockpit.charts import performance as charts
from quant_core.cockpit.models import backtests, run_catalog
from quant_core.cockpit.tables import downloads, run_metrics
from quant_core.cockpit.tables import trades as trade_table
from quant_core.cockpit.views import backtest_form_view as form_view
from quant_core.cockpit.views import run_decisions, run_risk
from quant_core.data.warehouse import Warehouse

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
    only = st.toggle("Only orders not plainly filled", key="trades_flagged", value=False)
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
    run_risk.render(root / run_id, run.curve)
    _trades(run)
    run_decisions.render(root / run_id, run.decisions)
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
    if not datasets:
        st.warning(f"No data to backtest: load a dataset first with `{SYNC_HINT}`.")

if not datasets:
    st.warning(
        f"The warehouse at `{warehouse.root}` holds no dataset, so no backtest can run. "
        f"Load one first:\n\n```\n{SYNC_HINT}\n```"
    )
else:
    form_view.backtest_form(cfg, warehouse, datasets)

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
