"""The Strategy Explorer's view of one stored run (called by ``views/explorer.py``).

Top to bottom: how the run was set up, the headline metrics, the charts (equity, drawdown,
monthly returns, rolling Sharpe, exposure), a book run's sleeves, positions over time, risk,
holdings as of a chosen session and by sector, the trades table, the trade analysis, the
decisions, the downloads and the HTML report. Each section's numbers come from the run's stored
files; the sections with files of their own are modules of their own (``run_sleeves``,
``run_risk``, ``run_holdings``, ``run_trade_analysis``, ``run_decisions``, ``run_report``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from quant_core.backtest.results import StoredRun, load_run
from quant_core.cockpit.charts import performance as charts
from quant_core.cockpit.models import backtests, run_catalog
from quant_core.cockpit.tables import downloads, run_metrics
from quant_core.cockpit.tables import trades as trade_table
from quant_core.cockpit.views import (
    run_decisions,
    run_holdings,
    run_report,
    run_risk,
    run_sleeves,
    run_trade_analysis,
)
from quant_core.data.warehouse import Warehouse
from quant_core.errors import DataError

SHARPE_WINDOWS = (21, 63, 126, 252)
STYLED_CELLS = 100_000  # beyond this the trades table drops its row colours (the notes stay)
TRADE_COLUMNS: dict[str, Any] = {
    **trade_table.TRADE_LABELS,
    "date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
    "flag": st.column_config.TextColumn("Flag", width=100),
    "note": st.column_config.TextColumn("Note", width="large"),
}


@st.cache_data(max_entries=32, show_spinner=False)
def load(root: str, run_id: str) -> StoredRun:
    """Return a stored run (cached: a stored run never changes; a deletion clears the cache)."""
    return load_run(Path(root), run_id)


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
    counts = backtests.holdings_count(run.positions, backtests.rebalance_dates(run.trades))
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
        st.caption(
            "Row colours are off for a table this large (prices shown as text): use the "
            "toggle above."
        )
        data = trade_table.trades_plain(view)
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


def render(root: Path, row: dict[str, Any], warehouse: Warehouse) -> None:
    """Draw the stored run of catalogue ``row`` (``root``: the backtests folder)."""
    run_id = str(row["run_id"])
    try:
        run = load(str(root), run_id)
    except DataError as exc:  # a file of it missing or damaged: said, the page goes on
        st.error(str(exc))
        return
    folder = root / run_id
    dataset = str(row.get("dataset"))
    if warehouse.exists(dataset) and warehouse.meta(dataset).synthetic:
        st.warning(f"This run used synthetic data ({dataset}): its numbers say nothing of markets.")
    st.caption(run_catalog.run_description(row, run.config))
    _headline(run.metrics)
    _charts(run)
    if run_catalog.is_book(row):  # a book: its sleeves, allocation, correlation, universes
        run_sleeves.render(folder, run)
    _positions(run)
    run_risk.render(folder, run.curve)
    run_holdings.render(run, dataset, warehouse)
    _trades(run)
    run_trade_analysis.render(folder, run)
    run_decisions.render(folder, run.decisions)
    _downloads(run)
    run_report.render(folder)


def clear_cache() -> None:
    """Forget every run loaded (after a deletion, so no deleted run is ever served)."""
    load.clear()
