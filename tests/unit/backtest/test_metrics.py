from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant_core.atomic import json_safe
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
            "slippage": [0.0, 0.0, 0.0],
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
    assert json_safe({"a": float("nan"), "b": [1.0, float("inf")], "c": "x"}) == {
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


def test_total_return_is_last_over_first_less_one() -> None:
    # 120 / 100 - 1 = 0.2; the middle value (150) plays no part.
    assert m.total_return(_curve([100, 150, 120])) == pytest.approx(0.2, abs=1e-15)
    # A loss: 80 / 100 - 1 = -0.2.
    assert m.total_return(_curve([100, 150, 80])) == pytest.approx(-0.2, abs=1e-15)


def test_cagr_grows_from_the_first_to_the_last_value() -> None:
    # 100 -> 150 -> 121 over 730 days (2 years of 365 days): 1.21 ** (365.25 / 730) - 1.
    equity = pd.Series(
        [100.0, 150.0, 121.0], index=pd.to_datetime(["2010-01-01", "2011-01-01", "2012-01-01"])
    )
    assert m.cagr(equity) == pytest.approx(1.21 ** (365.25 / 730) - 1, rel=1e-12)


def test_cagr_is_nan_without_time_or_with_nothing_left() -> None:
    one_day = pd.Series([100.0], index=pd.to_datetime(["2010-01-04"]))
    assert math.isnan(m.cagr(one_day))  # no time elapsed: no rate
    wiped = pd.Series([100.0, 0.0], index=pd.to_datetime(["2010-01-04", "2011-01-04"]))
    assert math.isnan(m.cagr(wiped))  # growth 0 / 100 = 0: no compound rate
    negative = pd.Series([100.0, -50.0], index=pd.to_datetime(["2010-01-04", "2011-01-04"]))
    assert math.isnan(m.cagr(negative))  # a short book that lost more than its equity


def test_flat_curve_and_no_losing_day_give_nan_ratios() -> None:
    flat = m.returns(_curve([100, 100, 100, 100]))  # returns 0, 0, 0: std 0
    assert m.volatility(flat) == 0.0
    assert math.isnan(m.sharpe(flat))
    assert math.isnan(m.sortino(flat))
    up_only = m.returns(_curve([100, 110, 110, 121]))  # 0.1, 0, 0.1: no downside at all
    assert math.isnan(m.sortino(up_only))
    assert m.sharpe(up_only) > 0


def test_drawdown_recovered_the_next_session() -> None:
    # 100, 120, 90, 130: -25% at row 2 from the peak at row 1, recovered at row 3: 2 sessions.
    depth, sessions = m.max_drawdown(_curve([100, 120, 90, 130]))
    assert depth == pytest.approx(90 / 120 - 1, abs=1e-15)
    assert sessions == 2


def test_no_drawdown_and_an_empty_curve() -> None:
    assert m.max_drawdown(_curve([100, 100, 101])) == (0.0, 0)
    assert m.max_drawdown(pd.Series([], dtype=float)) == (0.0, 0)


TRADE_FIELDS = ("notional", "commission", "slippage", "filled", "status")


def _trades(*rows: tuple[float, float, float, float, str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(TRADE_FIELDS))


def test_summary_with_a_benchmark_and_a_short_book() -> None:
    dates = pd.to_datetime(["2010-01-04", "2010-07-05", "2011-01-03", "2011-01-04"])
    curve = pd.DataFrame(
        {
            "equity": [1000.0, 1100.0, 990.0, 1089.0],
            "cash": [1000.0, 1000.0, 690.0, 489.0],
            "long_value": [0.0, 600.0, 600.0, 800.0],
            "short_value": [0.0, -500.0, -300.0, -200.0],  # shorts are stored negative
        },
        index=dates,
    )
    trades = _trades(
        (600.0, 1.0, 0.25, 6.0, "filled"),
        (500.0, 1.0, 0.5, -5.0, "filled"),
        (200.0, 0.5, 0.0, 2.0, "truncated_cash"),
        (100.0, 0.0, 0.0, 0.0, "rejected_no_price"),
    )
    benchmark = pd.Series([100.0, 105.0, 95.0, 110.0], index=dates)
    out = m.summary(curve, trades, benchmark)

    year = 365 / 365.25  # 2010-01-04 to 2011-01-04: 365 days
    cagr = 1.089 ** (1 / year) - 1  # 1089 / 1000
    bench_cagr = 1.1 ** (1 / year) - 1  # 110 / 100
    # Daily returns 0.1, -0.1, 0.1: mean 1/30, sample std sqrt(12)/30, downside sqrt(0.01/3).
    expected = {
        "start_equity": 1000.0,
        "final_equity": 1089.0,
        "total_return": 0.089,
        "cagr": cagr,
        "volatility": math.sqrt(12) / 30 * math.sqrt(252),
        "sharpe": math.sqrt(21),  # (1/30) / (sqrt(12)/30) x sqrt(252) = sqrt(252 / 12)
        "sortino": (1 / 30) / math.sqrt(0.01 / 3) * math.sqrt(252),
        "max_drawdown": -0.1,  # 990 / 1100 - 1
        "max_drawdown_sessions": 2,  # peak row 1, not recovered by the last row (3)
        "calmar": cagr / 0.1,
        # (600 + 500 + 200 + 100) / 2 = 700 one-sided, over the mean equity 4179 / 4, per year
        "turnover": 700 / (4179 / 4) / year,
        # gross (long - short) / equity, rows 1-3: 1100/1100, 900/990, 1000/1089
        "exposure": (1 + 900 / 990 + 1000 / 1089) / 3,
        "hit_rate": 2 / 3,  # two of the three moves were up
        "commissions": 2.5,
        "slippage": 0.75,
        "total_costs": 3.25,
        "trades": 3,  # the rejected order filled 0 shares
        "truncated": 1,
        "unfilled": 1,
        "sessions": 3,
        "benchmark_total_return": 0.1,
        "benchmark_cagr": bench_cagr,
        "excess_return": 0.089 - 0.1,
        "excess_cagr": cagr - bench_cagr,
    }
    assert {key: out[key] for key in expected} == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert isinstance(out["trades"], int)
    assert isinstance(out["max_drawdown_sessions"], int)


def test_summary_of_a_single_session_without_trades() -> None:
    curve = pd.DataFrame(
        {"equity": [1000.0], "cash": [1000.0], "long_value": [0.0], "short_value": [0.0]},
        index=pd.to_datetime(["2010-01-04"]),
    )
    for no_trades in (_trades(), pd.DataFrame()):  # with or without the trade columns
        out = m.summary(curve, no_trades, None)
        assert out["total_return"] == 0.0
        assert out["exposure"] == 0.0  # no session after the first
        assert (out["max_drawdown"], out["max_drawdown_sessions"], out["sessions"]) == (0.0, 0, 0)
        assert (out["commissions"], out["slippage"], out["total_costs"]) == (0.0, 0.0, 0.0)
        assert (out["trades"], out["truncated"], out["unfilled"]) == (0, 0, 0)
        nan = ("cagr", "volatility", "sharpe", "sortino", "calmar", "turnover", "hit_rate")
        assert all(math.isnan(float(out[key] or 0.0)) for key in nan), out
        assert "benchmark_total_return" not in out


def test_summary_of_a_flat_two_session_run_without_trades() -> None:
    # One session after the first: exposure is that session's gross, 500 / 1000 = 0.5;
    # nothing traded (turnover 0), nothing moved (hit rate NaN), no drawdown (calmar NaN).
    curve = pd.DataFrame(
        {
            "equity": [1000.0, 1000.0],
            "cash": [1000.0, 500.0],
            "long_value": [0.0, 500.0],
            "short_value": [0.0, 0.0],
        },
        index=pd.to_datetime(["2010-01-04", "2010-01-05"]),
    )
    for no_trades in (_trades(), pd.DataFrame()):
        out = m.summary(curve, no_trades, None)
        assert out["exposure"] == 0.5
        assert out["turnover"] == 0.0
        assert (out["commissions"], out["trades"], out["truncated"], out["unfilled"]) == (
            0.0,
            0,
            0,
            0,
        )
        assert math.isnan(float(out["hit_rate"] or 0.0))
        assert math.isnan(float(out["calmar"] or 0.0))
        assert out["cagr"] == 0.0  # 1000 / 1000 over one day: 1 ** 365.25 - 1
