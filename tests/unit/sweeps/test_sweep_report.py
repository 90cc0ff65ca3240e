"""The sweep's table: its overfitting figures shown each on its own ("-" when not measured)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from quant_core.sweeps.report import overfitting_caption, sweep_table


def _summary(judged: dict[str, Any] | None) -> dict[str, Any]:
    row = {"params": {"lookback": 20}, "objective": 0.0, "metrics": {"cagr": 0.1}, "seconds": 0.2}
    return {
        "sweep_id": "abc",
        "configurations": 2,
        "ran": 2,
        "workers": 1,
        "seconds": 1.0,
        "objective": "max_drawdown",
        "overfitting": judged,
        "results": [row],
    }


def _shown(summary: dict[str, Any]) -> str:
    console = Console(width=400, record=True)
    console.print(sweep_table(summary))
    return " ".join(console.export_text().split())  # the caption's lines as one


def test_a_pbo_without_a_deflated_sharpe_is_shown_not_a_type_error() -> None:
    # The best never moved (no trade, best by drawdown): no deflated Sharpe, a PBO still.
    judged = {"deflated_sharpe": None, "pbo": 0.25, "trials": 3.0, "effective_trials": 2.5}
    text = _shown(_summary(judged))
    assert "Deflated Sharpe of the best: - (2.5 effective trials of 3)" in text
    assert "probability of backtest overfitting (CSCV): 0.250" in text


def test_each_figure_missing_is_a_dash_and_none_measured_is_no_caption() -> None:
    judged = {"deflated_sharpe": 0.91, "pbo": None, "trials": 4.0, "effective_trials": None}
    line = overfitting_caption(judged)
    assert line is not None
    assert "0.910 (- effective trials of 4)" in line
    assert line.endswith("(CSCV): -")
    empty = {"deflated_sharpe": None, "pbo": None, "trials": 1.0, "effective_trials": None}
    assert overfitting_caption(empty) is None
    assert "Deflated" not in _shown(_summary(empty))
    assert "Deflated" not in _shown(_summary(None))
