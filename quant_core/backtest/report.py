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


# The trade statistics (analytics.trade_stats) in the order shown, with their labels.
TRADE_STATS = {
    "trades": "closed trades",
    "winners": "winners",
    "losers": "losers",
    "win_rate": "win rate (by trades)",
    "profit_factor": "profit factor",
    "avg_win": "average win",
    "avg_loss": "average loss",
    "best": "best trade",
    "worst": "worst trade",
    "expectancy": "expectancy (mean pnl per trade)",
    "avg_pnl_pct": "average trade return",
    "avg_sessions": "average holding (sessions)",
    "avg_r": "average R-multiple",
    "total_pnl": "closed trades pnl",
    "total_costs": "closed trades costs",
    "open_trips": "open trades",
    "open_pnl": "open trades pnl (marked)",
    "exposure_adjusted_return": "exposure-adjusted return",
}
TRADE_PERCENT = {"win_rate", "avg_pnl_pct", "exposure_adjusted_return"}
TRADE_MONEY = {
    "avg_win",
    "avg_loss",
    "best",
    "worst",
    "expectancy",
    "total_pnl",
    "total_costs",
    "open_pnl",
}


def _trade_format(name: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if name in TRADE_PERCENT:
        return f"{value:.2%}"
    if name in TRADE_MONEY:
        return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"
    if name in {"avg_sessions", "avg_r", "profit_factor"}:
        return f"{value:.2f}"
    return f"{value:,}"


def trade_stats_table(run: BacktestRun) -> RenderableType:
    """Return the run's trade statistics: round trips, by trades (not by sessions)."""
    table = Table(title="Trades (round trips)", title_justify="left", show_header=False)
    table.add_column("statistic", style="bold")
    table.add_column("value", justify="right")
    stats = run.trade_stats
    for name, label in TRADE_STATS.items():
        if name in stats:
            text = _trade_format(name, stats[name])
            if name == "profit_factor" and stats[name] is None and stats.get("trades"):
                text = "n/a (no losing trade)"
            table.add_row(label, text)
    return table


def json_summary(run: BacktestRun) -> dict[str, Any]:
    """Return the one-line JSON summary of ``--json``."""
    summary = {
        "run_id": run.run_id,
        "final_equity": run.metrics["final_equity"],
        "trades": run.metrics["trades"],
        "truncated": run.metrics["truncated"],
        "unfilled": run.metrics["unfilled"],
        "metrics": run.metrics,
        "trade_stats": run.trade_stats,  # by round trips (analytics.trade_stats)
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
