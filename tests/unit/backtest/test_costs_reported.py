"""Slippage is a cost: the summary reports commissions, slippage and their total."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_core.backtest.metrics import summary


def test_summary_reports_slippage_and_total_costs() -> None:
    dates = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"], name="date")
    curve = pd.DataFrame(
        {
            "equity": [1000.0, 990.0, 1000.0],
            "cash": [1000.0, 490.0, 500.0],
            "long_value": [0.0, 500.0, 500.0],
            "short_value": [0.0, 0.0, 0.0],
        },
        index=dates,
    )
    trades = pd.DataFrame(
        {
            "date": [dates[1], dates[2]],
            "symbol": ["A", "B"],
            "side": ["buy", "sell"],
            "requested": [10.0, -4.0],
            "filled": [10.0, -4.0],
            "signal_price": [50.0, 20.0],
            "open_price": [50.0, 20.0],
            "exec_price": [50.025, 19.99],
            "notional": [500.25, 79.96],
            "commission": [1.0, 1.5],
            "slippage": [0.25, 0.04],  # 10 x 0.025 and 4 x 0.01
            "status": ["filled", "filled"],
        }
    )
    out = summary(curve, trades, None)
    assert out["commissions"] == pytest.approx(2.5)
    assert out["slippage"] == pytest.approx(0.29)
    assert out["total_costs"] == pytest.approx(2.79)
    none = summary(curve, trades.iloc[:0], None)
    assert (none["commissions"], none["slippage"], none["total_costs"]) == (0.0, 0.0, 0.0)
