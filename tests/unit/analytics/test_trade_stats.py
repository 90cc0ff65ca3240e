"""Trade statistics and gain/loss per symbol, computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.analytics.round_trips import ROUND_TRIP_COLUMNS, empty_round_trips
from quant_core.analytics.trade_stats import (
    GAIN_LOSS_COLUMNS,
    exposure_adjusted_return,
    gain_loss,
    trade_stats,
)


def trips(pnl: list[float], is_open: list[bool], symbols: list[str], r: float = np.nan):
    n = len(pnl)
    return pd.DataFrame(
        {
            "symbol": symbols,
            "pnl": pnl,
            "pnl_pct": [p / 1000 for p in pnl],
            "sessions": list(range(1, n + 1)),
            "costs": [1.0] * n,
            "gross_pnl": [p + 1.0 for p in pnl],
            "r_multiple": [p / 50 if np.isfinite(r) else np.nan for p in pnl],
            "is_open": is_open,
        }
    )


def test_stats_over_closed_trips() -> None:
    stats = trade_stats(
        trips([100, -50, 30, -20, 999], [False] * 4 + [True], ["A", "B", "A", "C", "B"])
    )
    assert stats["trades"] == 4
    assert (stats["winners"], stats["losers"]) == (2, 2)
    assert stats["win_rate"] == 0.5
    assert stats["profit_factor"] == pytest.approx(130 / 70)
    assert (stats["avg_win"], stats["avg_loss"]) == (65.0, -35.0)
    assert (stats["best"], stats["worst"]) == (100.0, -50.0)
    assert stats["expectancy"] == pytest.approx(15.0)
    assert stats["avg_pnl_pct"] == pytest.approx(0.015)
    assert stats["avg_sessions"] == 2.5
    assert stats["avg_r"] is None  # no stop
    assert stats["total_pnl"] == 60.0
    assert stats["total_costs"] == 4.0
    assert (stats["open_trips"], stats["open_pnl"]) == (1, 999.0)


def test_no_loser_has_no_profit_factor_and_r_when_a_stop_is_set() -> None:
    stats = trade_stats(trips([10, 20, 0], [False] * 3, ["A", "A", "B"], r=1.0))
    assert stats["losers"] == 0
    assert stats["profit_factor"] is None
    assert stats["win_rate"] == pytest.approx(2 / 3)  # a flat trade is no winner
    assert stats["avg_loss"] is None
    assert stats["avg_r"] == pytest.approx(10 / 50)


def test_no_trip_at_all() -> None:
    stats = trade_stats(empty_round_trips())
    assert stats["trades"] == 0
    assert stats["win_rate"] is None
    assert stats["best"] is None
    assert stats["expectancy"] is None
    assert stats["total_pnl"] == 0.0
    assert stats["open_trips"] == 0
    assert gain_loss(empty_round_trips()).columns.tolist() == list(GAIN_LOSS_COLUMNS)
    assert len(ROUND_TRIP_COLUMNS) == len(empty_round_trips().columns)


def test_gain_loss_per_symbol_best_first() -> None:
    table = gain_loss(
        trips([100, -50, 30, -20, 999], [False] * 4 + [True], ["A", "B", "A", "C", "B"])
    )
    assert list(table.columns) == list(GAIN_LOSS_COLUMNS)
    assert list(table["symbol"]) == ["B", "A", "C"]
    b = table.iloc[0]
    assert (b["trades"], b["winners"], b["win_rate"]) == (2, 1, 0.5)
    assert (b["pnl"], b["gross_pnl"], b["costs"]) == (949.0, 951.0, 2.0)
    assert (b["best"], b["worst"]) == (999.0, -50.0)
    assert table.iloc[1]["pnl"] == 130.0


def test_exposure_adjusted_return() -> None:
    assert exposure_adjusted_return(0.10, 0.5) == pytest.approx(0.2)
    assert exposure_adjusted_return(0.10, 0.0) is None
    assert exposure_adjusted_return(None, 0.5) is None
