"""A run's metrics for people: labels, units, the headline choice, and the metrics tables.

The numbers come from :func:`quant_core.backtest.metrics.summary` as stored with the run;
this module only names and formats them (``$955,589``, ``-9.30%``, ``4.78x / yr``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from quant_core.cockpit.format import money, pct

# metric -> (label, unit); units: usd, pct, ratio, count, sessions, turnover
METRICS: dict[str, tuple[str, str]] = {
    "start_equity": ("Start equity", "usd"),
    "final_equity": ("Final equity", "usd"),
    "total_return": ("Total return", "pct"),
    "cagr": ("CAGR", "pct"),
    "volatility": ("Volatility (annual)", "pct"),
    "sharpe": ("Sharpe ratio", "ratio"),
    "sortino": ("Sortino ratio", "ratio"),
    "max_drawdown": ("Max drawdown", "pct"),
    "max_drawdown_sessions": ("Max drawdown length", "sessions"),
    "calmar": ("Calmar ratio", "ratio"),
    "turnover": ("Turnover (per year)", "turnover"),
    "exposure": ("Gross exposure (average)", "pct"),
    "hit_rate": ("Hit rate (up sessions)", "pct"),
    "commissions": ("Commissions", "usd"),
    "slippage": ("Slippage", "usd"),
    "total_costs": ("Total costs (commissions + slippage)", "usd"),
    "trades": ("Trades (filled orders)", "count"),
    "truncated": ("Orders truncated (cash)", "count"),
    "unfilled": ("Orders unfilled (no price)", "count"),
    "sessions": ("Sessions", "count"),
    "benchmark_total_return": ("Benchmark total return", "pct"),
    "benchmark_cagr": ("Benchmark CAGR", "pct"),
    "excess_return": ("Excess return", "pct"),
    "excess_cagr": ("Excess CAGR", "pct"),
}
HEADLINE = (
    "final_equity",
    "total_return",
    "cagr",
    "sharpe",
    "max_drawdown",
    "turnover",
    "volatility",
    "sortino",
    "exposure",
    "hit_rate",
    "trades",
    "total_costs",
)


def metric_label(name: str) -> str:
    """Return a metric's label for people (unknown names: the name, spaced)."""
    return METRICS.get(name, (name.replace("_", " ").capitalize(), ""))[0]


def format_metric(name: str, value: Any) -> str:
    """Return a metric's value with its unit: ``$955,589``, ``-9.30%``, ``4.78x / yr``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    unit = METRICS.get(name, ("", ""))[1]
    if unit == "usd":
        return money(float(value), 0 if abs(value) >= 1000 else 2)
    if unit == "pct":
        return pct(float(value))
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "turnover":
        return f"{value:.2f}x / yr"
    if unit == "sessions":
        return f"{int(value):,} sessions"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


QUIET_DELTAS = ("trades", "total_costs")  # their deltas are a breakdown, not good or bad


def headline_delta(name: str, metrics: Mapping[str, Any]) -> str | None:
    """Return the line under a headline metric: the excess return, the flagged orders, costs."""
    if name == "total_return" and metrics.get("excess_return") is not None:
        return f"{pct(metrics['excess_return'])} vs benchmark"
    if name == "trades":
        flagged = (metrics.get("truncated", 0), metrics.get("unfilled", 0))
        return "{:,} truncated, {:,} unfilled".format(*flagged)
    if name == "total_costs":
        parts = (metrics.get("commissions"), metrics.get("slippage"))
        return "{} commissions, {} slippage".format(
            *(format_metric("commissions", v) for v in parts)
        )
    return None


def metrics_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Return ``Metric`` / ``Value`` rows of a run, formatted with units, known metrics first."""
    names = [n for n in METRICS if n in metrics] + [n for n in metrics if n not in METRICS]
    return pd.DataFrame(
        {
            "Metric": [metric_label(n) for n in names],
            "Value": [format_metric(n, metrics[n]) for n in names],
        }
    )


def compare_metrics(
    runs: Mapping[str, Mapping[str, Any]], details: Mapping[str, Mapping[str, str]] | None = None
) -> pd.DataFrame:
    """Return metrics side by side: one row per metric, one column per run label.

    ``details`` (run label -> row name -> text, e.g. the parameters and the period) come first.
    """
    names = [n for n in METRICS if any(n in m for m in runs.values())]
    labels = [metric_label(n) for n in names]
    extra = list(dict.fromkeys(k for d in (details or {}).values() for k in d))
    columns = {
        label: [(details or {}).get(label, {}).get(k, "") for k in extra]
        + [format_metric(n, m.get(n)) for n in names]
        for label, m in runs.items()
    }
    return pd.DataFrame(columns, index=pd.Index(extra + labels, name="Metric"))
