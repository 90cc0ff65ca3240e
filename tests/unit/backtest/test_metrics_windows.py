"""The metrics over time that the cockpit draws: rolling Sharpe, drawdown in USD, growth,
window and period returns and P&L, gross and net exposure. Each agrees with the run's own metric."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pandas as pd
import pytest

from quant_core.backtest import metrics as m

DATES = pd.DatetimeIndex(
    ["2020-01-02", "2020-01-31", "2020-02-14", "2020-02-28", "2020-03-31", "2021-01-29"]
)
EQUITY = pd.Series([100.0, 110.0, 104.5, 99.0, 108.9, 119.79], index=DATES)


def test_rolling_sharpe_is_the_sharpe_of_each_window() -> None:
    ratio = m.rolling_sharpe(EQUITY, window=3)
    returns = [b / a - 1 for a, b in itertools.pairwise(EQUITY)]
    assert list(ratio.index) == list(DATES)  # aligned on the curve, not on the returns
    assert ratio.iloc[:3].isna().all()
    for end in range(3, len(EQUITY)):
        window = returns[end - 3 : end]
        expected = statistics.mean(window) / statistics.stdev(window) * math.sqrt(252)
        assert ratio.iloc[end] == pytest.approx(expected)
        assert ratio.iloc[end] == pytest.approx(m.sharpe(m.returns(EQUITY.iloc[end - 3 : end + 1])))


def test_rolling_sharpe_of_a_flat_window_is_nan_not_infinite() -> None:
    ratio = m.rolling_sharpe(pd.Series(100.0, index=DATES), window=2)
    assert ratio.isna().all()
    assert ratio.name == "rolling_sharpe"


def test_drawdown_usd_is_the_distance_below_the_running_peak() -> None:
    below = m.drawdown_usd(EQUITY)
    np.testing.assert_allclose(below.to_numpy(), [0.0, 0.0, -5.5, -11.0, -1.1, 0.0], atol=1e-12)
    np.testing.assert_allclose((below / EQUITY.cummax()).to_numpy(), m.drawdown(EQUITY))


def test_growth_and_window_returns() -> None:
    np.testing.assert_allclose(m.growth(EQUITY).to_numpy(), EQUITY.to_numpy() / 100.0)
    assert m.growth(EQUITY).iloc[-1] - 1 == pytest.approx(m.total_return(EQUITY))
    change = m.window_returns(EQUITY, 2)
    assert change.iloc[:2].isna().all()
    assert change.iloc[3] == pytest.approx(99.0 / 110.0 - 1)
    pnl = m.window_pnl(EQUITY, 2)  # the same windows, in dollars
    assert pnl.iloc[:2].isna().all()
    np.testing.assert_allclose(pnl.iloc[2:].to_numpy(), [4.5, -11.0, 4.4, 20.79])


def test_period_returns_chain_from_the_previous_period_end() -> None:
    months = m.period_returns(EQUITY, "month")
    assert months.to_dict() == pytest.approx(
        {(2020, 1): 0.10, (2020, 2): -0.10, (2020, 3): 0.10, (2021, 1): 119.79 / 108.9 - 1}
    )
    years = m.period_returns(EQUITY, "year")
    assert years.to_dict() == pytest.approx({2020: 0.089, 2021: 0.10})
    assert np.prod(1 + months.to_numpy()) - 1 == pytest.approx(m.total_return(EQUITY))


def test_period_pnl_is_the_change_from_the_previous_period_end_in_dollars() -> None:
    months = m.period_pnl(EQUITY, "month")
    assert months.to_dict() == pytest.approx(
        {(2020, 1): 10.0, (2020, 2): -11.0, (2020, 3): 9.9, (2021, 1): 10.89}
    )
    assert m.period_pnl(EQUITY, "year").to_dict() == pytest.approx({2020: 8.9, 2021: 10.89})


def test_gross_and_net_exposure_with_shorts_stored_negative() -> None:
    curve = pd.DataFrame(
        {
            "equity": [1000.0, 1100.0],
            "long_value": [600.0, 800.0],
            "short_value": [-300.0, -200.0],
        },
        index=DATES[:2],
    )
    np.testing.assert_allclose(m.gross_exposure(curve), [0.9, 1000 / 1100])
    np.testing.assert_allclose(m.net_exposure(curve), [0.3, 600 / 1100])
    np.testing.assert_allclose(m.gross_value(curve), [900.0, 1000.0])


def test_book_exposure_of_positions_in_dollars() -> None:
    values = pd.Series([16_000.0, -15_000.0, float("nan")])  # a long, a short, an unknown
    assert m.book_exposure(values) == (31_000.0, 1_000.0)
    assert m.book_exposure(pd.Series([], dtype=float)) == (0.0, 0.0)


def test_summary_counts_statuses_by_the_ledger_enum() -> None:
    curve = pd.DataFrame(
        {"equity": [100.0, 100.0], "cash": 0.0, "long_value": 100.0, "short_value": 0.0},
        index=DATES[:2],
    )
    trades = pd.DataFrame(
        {
            "notional": [1.0, 1.0, 1.0],
            "commission": 0.0,
            "slippage": 0.0,
            "filled": [1.0, 0.5, 0.0],
            "status": ["filled", "truncated_cash", "rejected_no_price"],
        }
    )
    out = m.summary(curve, trades, None)
    assert (out["truncated"], out["unfilled"], out["trades"]) == (1, 1, 2)
