"""The tearsheet's performance sections: the run, its metrics, equity, drawdowns, returns, risk.

Each function takes the :class:`~quant_core.backtest.tearsheet_html.ReportData` of a stored run
and returns one HTML section. Figures come from :mod:`quant_core.backtest.tearsheet_figures`,
figures behind tables from :mod:`quant_core.backtest.tearsheet_tables`, metrics' formulas from
:mod:`quant_core.backtest.metrics` (rolling windows: :data:`ROLLING_WINDOW` sessions).
"""

from __future__ import annotations

import json
from typing import Any

from quant_core.backtest import metrics as m
from quant_core.backtest import tearsheet_figures as fig
from quant_core.backtest import tearsheet_tables as tab
from quant_core.backtest.report import MONEY, PERCENT
from quant_core.backtest.risk import realised_vol
from quant_core.backtest.setup_text import schedule_text
from quant_core.backtest.tearsheet_html import (
    Formatter,
    ReportData,
    Signed,
    day,
    esc,
    money,
    note,
    num,
    pairs,
    pct,
    section,
    table,
)


def _schedule(rebalance: object) -> str:
    # As the run catalogue says it: "every 21 sessions", "monthly".
    return "-" if rebalance is None else schedule_text(rebalance)


ROLLING_WINDOW = 63  # sessions (a quarter) behind the rolling Sharpe ratio and volatility
NO_BENCHMARK = "No benchmark: this run was made with backtest.benchmark null, so none is shown."


def _get(config: dict[str, Any], *keys: str) -> Any:
    # A nested config value, None when a section or key is missing (an older config.json).
    value: Any = config
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def metric_text(name: str, value: Any) -> str:
    """Format one metric of ``metrics.json`` as the command line's table does."""
    if name in PERCENT:
        return pct(value)
    if name in MONEY:
        return money(value)
    return num(value, 3)


def header(data: ReportData) -> str:
    """Return the report's title, the final equity in words and what the run was."""
    metrics, config = data.metrics, data.config
    equity = data.equity
    title = data.label or data.run_id
    params = _get(config, "effective_params") or _get(config, "strategy", "params") or {}
    costs = _get(config, "costs") or {}
    cost_text = (
        f"{costs.get('model', '?')}; slippage {num(costs.get('slippage_bps'), 1)} bps"
        if costs
        else "-"
    )
    rows = [
        ("Run", data.run_id),
        ("Strategy", f"{_get(config, 'strategy', 'name')} {json.dumps(params, sort_keys=True)}"),
        ("Dataset", str(_get(config, "data", "dataset"))),
        (
            "Period",
            f"{day(equity.index[0])} to {day(equity.index[-1])} ({len(equity) - 1} sessions)",
        ),
        ("Initial cash", money(_get(config, "backtest", "initial_cash") or equity.iloc[0])),
        ("Schedule", _schedule(_get(config, "strategy", "rebalance"))),
        ("Construction", str(_get(config, "portfolio", "construction", "method") or "as_is")),
        ("Costs", cost_text),
        ("Benchmark", (data.benchmark_name or "stored") if data.benchmark is not None else "none"),
    ]
    final = metrics.get("final_equity", float(equity.iloc[-1]))
    return (
        f"<h1>Backtest report: {esc(title)}</h1>"
        f'<p class="final" id="final-equity">Final equity: <strong>{esc(money(final))}</strong>'
        f" (total return {esc(pct(metrics.get('total_return')))})</p>"
        f"{pairs(rows)}"
    )


def metrics_section(data: ReportData) -> str:
    """Return the run's own metrics (``metrics.json``), as the command line prints them."""
    rows = [(name.replace("_", " "), metric_text(name, v)) for name, v in data.metrics.items()]
    return section(
        "metrics",
        "Metrics",
        note(
            "The run's own metrics (metrics.json): daily simple returns, zero risk-free rate, "
            "252 sessions a year; QuantStats' metrics follow further down."
        ),
        pairs(rows),
    )


def equity_section(data: ReportData) -> str:
    """Return the equity curve against the benchmark's, on a log scale."""
    benchmark = data.benchmark
    parts = [fig.equity_figure(data.equity, benchmark, data.benchmark_name or "Benchmark")]
    if benchmark is None:
        parts.append(note(NO_BENCHMARK))
    return section("equity", "Equity vs benchmark (log scale)", *parts)


def drawdown_section(data: ReportData) -> str:
    """Return the drawdown figure and the table of the worst five drawdown periods."""
    periods = tab.drawdown_periods(data.equity, worst=5)
    if periods.empty:
        return section("drawdowns", "Drawdowns", note("The curve never fell below its peak."))
    formats: dict[str, Formatter] = {
        "peak": day,
        "trough": day,
        "recovery": lambda v: "not recovered" if v is None or v != v else day(v),
        "depth": Signed(pct),
        "depth_usd": Signed(money),
        "sessions": num,
    }
    headers = {
        "peak": "Peak",
        "trough": "Trough",
        "recovery": "Recovery",
        "depth": "Depth",
        "depth_usd": "Depth (USD)",
        "sessions": "Sessions (peak to recovery)",
    }
    return section(
        "drawdowns",
        "Drawdowns",
        fig.drawdown_figure(m.drawdown(data.equity), periods),
        '<h3 id="worst-drawdowns">Worst five drawdown periods</h3>',
        table(periods, formats, headers=headers),
    )


def returns_section(data: ReportData) -> str:
    """Return the monthly returns (a year x month table) and the yearly returns."""
    monthly = tab.monthly_returns(data.equity)
    yearly = tab.yearly_returns(data.equity, data.benchmark)
    colored = Signed(pct)
    monthly_formats: dict[str, Formatter] = dict.fromkeys(map(str, monthly.columns), colored)
    yearly_formats: dict[str, Formatter] = dict.fromkeys(map(str, yearly.columns), colored)
    headers = {"strategy": "Strategy", "benchmark": data.benchmark_name or "", "excess": "Excess"}
    return section(
        "returns",
        "Monthly and yearly returns",
        '<h3 id="monthly-returns">Monthly returns</h3>',
        table(monthly, monthly_formats, index="Year"),
        '<h3 id="yearly-returns">Yearly returns</h3>',
        table(yearly, yearly_formats, index="Year", headers=headers),
        note(
            "A period's return is its last equity over the previous period's last (the "
            "first equity for the first period): the first and last years may be partial."
        ),
    )


def rolling_section(data: ReportData) -> str:
    """Return the rolling Sharpe ratio and volatility of the daily returns."""
    equity = data.equity
    sharpe = m.rolling_sharpe(equity, ROLLING_WINDOW)
    vol = realised_vol(equity, ROLLING_WINDOW)
    parts = [fig.rolling_figure(sharpe, vol, ROLLING_WINDOW)]
    if len(equity) <= ROLLING_WINDOW:
        parts.append(note(f"The run has fewer than {ROLLING_WINDOW} daily returns: no window."))
    return section("rolling", "Rolling Sharpe ratio and volatility", *parts)


def activity_section(data: ReportData) -> str:
    """Return exposure, turnover and costs: figures, the run's figures and a table by year."""
    metrics, curve, trades = data.metrics, data.curve, data.trades
    by_year = tab.costs_by_year(trades, data.equity)
    formats = {
        "traded": money,
        "turnover": pct,
        "commission": money,
        "slippage": money,
        "costs": money,
        "costs_bps": lambda v: num(v, 2),
        "costs_pct": pct,
    }
    headers = {
        "traded": "Traded (USD)",
        "turnover": "Turnover (one-sided)",
        "commission": "Commissions",
        "slippage": "Slippage",
        "costs": "Total costs",
        "costs_bps": "Costs (bps of traded)",
        "costs_pct": "Costs (% of mean equity)",
    }
    summary = [
        ("Average gross exposure", pct(metrics.get("exposure"))),
        ("Turnover (one-sided, per year)", num(metrics.get("turnover"), 2)),
        ("Commissions", money(metrics.get("commissions"))),
        ("Slippage", money(metrics.get("slippage"))),
        ("Total costs", money(metrics.get("total_costs"))),
    ]
    return section(
        "activity",
        "Exposure, turnover and costs",
        fig.exposure_figure(m.gross_exposure(curve), m.net_exposure(curve)),
        pairs(summary),
        fig.turnover_figure(tab.turnover_by_month(trades, data.equity)),
        '<h3 id="costs">Costs and turnover by year</h3>',
        table(by_year, formats, index="Year", headers=headers),
        fig.costs_figure(tab.cumulative_costs(trades, data.equity)),
    )
