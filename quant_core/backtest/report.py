"""Tables and summaries of backtests for people and scripts (rich renderables, no output)."""

from __future__ import annotations

import inspect
from typing import Any, cast

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from config.schema import ConstructionConfig
from quant_core.atomic import json_safe
from quant_core.backtest.run import BacktestRun
from quant_core.portfolio.construction import METHODS
from quant_core.strategies import STRATEGIES

PERCENT = {
    "total_return",
    "cagr",
    "volatility",
    "max_drawdown",
    "exposure",
    "hit_rate",
    "benchmark_total_return",
    "benchmark_cagr",
    "excess_return",
    "excess_cagr",
}
MONEY = {"start_equity", "final_equity", "commissions", "slippage", "total_costs"}


def _format(name: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if name in PERCENT:
        return f"{value:.2%}"
    if name in MONEY:
        return f"${value:,.2f}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return f"{value:,}"


def metrics_table(run: BacktestRun) -> RenderableType:
    """Return the metrics of a run and where it is stored."""
    table = Table(title=f"Backtest {run.run_id}", title_justify="left", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for name, value in run.metrics.items():
        table.add_row(name.replace("_", " "), _format(name, value))
    return Group(table, Text(f"Results stored in {run.path}"))


def json_summary(run: BacktestRun) -> dict[str, Any]:
    """Return the one-line JSON summary of ``--json``."""
    summary = {
        "run_id": run.run_id,
        "final_equity": run.metrics["final_equity"],
        "trades": run.metrics["trades"],
        "truncated": run.metrics["truncated"],
        "unfilled": run.metrics["unfilled"],
        "metrics": run.metrics,
        "path": str(run.path),
    }
    return cast(dict[str, Any], json_safe(summary))


def strategies_table() -> RenderableType:
    """Return every registered strategy with its parameters, defaults and documentation."""
    table = Table(title="Registered strategies", title_justify="left", show_lines=True)
    table.add_column("strategy", style="bold")
    table.add_column("parameters (default)")
    table.add_column("what it does")
    for name, cls in sorted(STRATEGIES.items.items()):
        params = "\n".join(
            f"{key} = {field.get_default(call_default_factory=True)!r}: {field.description or ''}"
            for key, field in cls.Params.model_fields.items()
        )
        table.add_row(name, params, inspect.cleandoc(cls.__doc__ or "").replace("``", ""))
    return table


def constructions_table() -> RenderableType:
    """Return every construction method with its settings (default) and what it needs."""
    table = Table(
        title="Construction methods (portfolio.construction.method)",
        title_justify="left",
        show_lines=True,
    )
    table.add_column("method", style="bold")
    table.add_column("settings (default)")
    table.add_column("needs")
    table.add_column("what it does")
    fields = ConstructionConfig.model_fields
    for name, method in sorted(METHODS.items.items()):
        settings = "\n".join(
            f"{key} = {fields[key].get_default(call_default_factory=True)!r}: "
            f"{fields[key].description or ''}"
            for key in method.settings
        )
        needs = (
            "lookback + 1 closes through T-1 per name (a name without them is left out)"
            if method.reads_returns
            else "the strategy's weights only"
        )
        if method.needs_scores:
            scored = ", ".join(n for n in STRATEGIES.names() if STRATEGIES.get(n).gives_scores)
            needs += f"; a strategy that gives scores ({scored})"
        table.add_row(name, settings or "-", needs, method.summary)
    return Group(
        table,
        Text("A solver failure falls back to inverse_vol for that rebalance, and is reported."),
    )
