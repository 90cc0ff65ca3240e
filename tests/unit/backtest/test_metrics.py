from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant_core.backtest import metrics as m
from quant_core.backtest.benchmark import buy_and_hold
from tests.factories import market


def _curve(values: list[float], start: str = "2010-01-04") -> pd.Series:
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)), dtype=float)


def test_returns_volatility_sharpe_sortino_by_hand() -> None:
    equity = _curve([100, 110, 99, 108.9])
    daily = m.returns(equity)
    assert daily.round(12).tolist() == [0.1, -0.1, 0.1]
    mean, std = 0.1 / 3, np.std([0.1, -0.1, 0.1], ddof=1)
    assert m.volatility(daily) == pytest.approx(std * math.sqrt(252))
    assert m.sharpe(daily) == pytest.approx(mean / std * math.sqrt(252))
    downside = math.sqrt(0.01 / 3)
    assert m.sortino(daily) == pytest.approx(mean / downside * math.sqrt(252))


def test_cagr_uses_calendar_time() -> None:
    equity = pd.Series([100.0, 121.0], index=pd.to_datetime(["2010-01-01", "2012-01-01"]))
    assert m.cagr(equity) == pytest.approx(1.21 ** (365.25 / 730) - 1)


def test_drawdown_depth_and_duration() -> None:
    equity = _curve([100, 120, 90, 60, 100, 130, 125])
    depth, sessions = m.max_drawdown(equity)
    assert depth == pytest.approx(60 / 120 - 1)
    assert sessions == 4  # peak at row 1, recovered at row 5
    never = _curve([100, 80, 90])
    depth, sessions = m.max_drawdown(never)
    assert (round(depth, 12), sessions) == (-0.2, 2)
    assert m.max_drawdown(_curve([100, 101])) == (0.0, 0)


def test_summary_turnover_exposure_hit_rate_counts() -> None:
    curve = pd.DataFrame(
        {
            "equity": [100.0, 100.0, 110.0, 99.0],
            "cash": [100.0, 0.0, 0.0, 0.0],
            "long_value": [0.0, 100.0, 110.0, 99.0],
            "short_value": 0.0,
        },
        index=pd.to_datetime(["2010-01-04", "2010-07-05", "2011-01-03", "2011-01-04"]),
    )
    trades = pd.DataFrame(
        {
            "notional": [100.0, 50.0, 50.0],
            "commission": [1.0, 0.5, 0.5],
            "filled": [1.0, -1.0, 0.0],
            "status": ["filled", "exit_at_last_close", "rejected_no_price"],
        }
    )
    out = m.summary(curve, trades, None)
    span = (pd.Timestamp("2011-01-04") - pd.Timestamp("2010-01-04")).days / 365.25
    assert out["turnover"] == pytest.approx((200 / 2) / curve["equity"].mean() / span)
    assert out["exposure"] == pytest.approx(1.0)
    assert out["hit_rate"] == pytest.approx(0.5)  # the flat day does not count
    assert (out["trades"], out["unfilled"], out["truncated"]) == (2, 1, 0)
    assert out["commissions"] == pytest.approx(2.0)
    assert out["calmar"] == pytest.approx(float(out["cagr"] or 0.0) / 0.1)


def test_json_safe_turns_nan_into_null() -> None:
    assert m.json_safe({"a": float("nan"), "b": [1.0, float("inf")], "c": "x"}) == {
        "a": None,
        "b": [1.0, None],
        "c": "x",
    }


def test_equal_weight_buy_and_hold() -> None:
    data = market(
        {"A": [10, 10, 20, 20], "B": [5, 5, 5, 2.5]}, {"A": [10, 10, 20, 20], "B": [5, 5, 5, 2.5]}
    )
    curve = buy_and_hold(data, 1, 3, 1000.0, "equal_weight")
    # 500 in each at the row-1 opens: 50 A and 100 B; then A doubles and B halves.
    assert curve.tolist() == [1000.0, 1000.0, 1500.0, 1250.0]
    one = buy_and_hold(data, 1, 3, 1000.0, "B")
    assert one.tolist() == [1000.0, 1000.0, 1000.0, 500.0]
