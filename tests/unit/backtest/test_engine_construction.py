"""The engine re-weights the strategy's picks by portfolio.construction, from closes through T-1."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from quant_core.backtest.engine import EngineSettings, run_engine
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.strategies.decide import decision_warmup
from tests.conftest import log_has
from tests.factories import Fixed, market

# A: returns +-1%, B: +-2% (sigma twice A's), C: never weighted. Ten sessions.
CLOSES = {
    "A": [100 * (1.01 if i % 2 else 1.0) for i in range(10)],
    "B": [50 * (1.02 if i % 2 else 1.0) for i in range(10)],
    "C": [10.0 + i for i in range(10)],
}


def settings(method: str, lookback: int = 4) -> EngineSettings:
    return EngineSettings(
        10_000.0,
        cash_buffer=0.0,
        fractional=True,
        rebalance=100,
        policy=PortfolioPolicy(ConstructionSettings(method, lookback)),
    )


def first_book(method: str, weights: dict[str, float], lookback: int = 4) -> pd.Series:
    result = run_engine(market(CLOSES), Fixed(weights), settings(method, lookback))
    first = result.positions[result.positions["date"] == result.rebalances[0]]
    signal = result.trades.set_index("symbol")["signal_price"]
    value = first.set_index("symbol")["shares"] * signal
    return value / 10_000.0


def test_inverse_vol_weighs_by_one_over_sigma_from_the_first_full_window() -> None:
    result = run_engine(market(CLOSES), Fixed({"A": 0.3, "B": 0.3}), settings("inverse_vol"))

    # lookback 4 returns need 5 closes before T: the first rebalance is row 5, not row 1.
    assert result.rebalances[0] == pd.Timestamp(market(CLOSES).dates[5])
    book = first_book("inverse_vol", {"A": 0.3, "B": 0.3})
    # Sigma of the 4 returns ending at T-1 (closes of rows 0..4), ddof=1; gross 0.6.
    closes = np.array([CLOSES["A"][:5], CLOSES["B"][:5]]).T
    inverse = 1.0 / (closes[1:] / closes[:-1] - 1.0).std(axis=0, ddof=1)
    np.testing.assert_allclose(book[["A", "B"]], 0.6 * inverse / inverse.sum(), rtol=1e-12)


def test_equal_splits_the_gross_and_reads_no_history() -> None:
    result = run_engine(market(CLOSES), Fixed({"A": 0.5, "B": -0.1}), settings("equal"))

    assert result.rebalances[0] == pd.Timestamp(market(CLOSES).dates[1])
    book = first_book("equal", {"A": 0.5, "B": -0.1})
    np.testing.assert_allclose(book[["A", "B"]], [0.3, -0.3], rtol=1e-12)


def test_as_is_keeps_the_strategys_weights() -> None:
    book = first_book("as_is", {"A": 0.5, "B": 0.1})

    np.testing.assert_allclose(book[["A", "B"]], [0.5, 0.1], rtol=1e-12)


def test_a_name_left_out_is_logged_with_the_session_and_method(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closes = {**CLOSES, "B": [*CLOSES["B"][:3], np.nan, *CLOSES["B"][4:]]}
    caplog.set_level(logging.WARNING, logger="quant_core")

    result = run_engine(market(closes), Fixed({"A": 0.3, "B": 0.3}), settings("inverse_vol"))

    day = result.rebalances[0].date()
    assert log_has(
        caplog, f"Construction inverse_vol for {day} left out 1 name(s)", logging.WARNING
    )
    assert log_has(caplog, "B (short_history)", logging.WARNING)
    held = result.positions.set_index("symbol")["shares"]
    assert list(held.index) == ["A"]  # A carries the whole gross
    assert held["A"] * result.trades.set_index("symbol")["signal_price"]["A"] == pytest.approx(
        0.6 * 10_000.0, rel=1e-12
    )


def test_the_decision_warmup_is_the_longer_of_strategy_and_construction() -> None:
    strategy = Fixed({"A": 1.0})  # warm-up 1

    assert decision_warmup(strategy, PortfolioPolicy(ConstructionSettings("inverse_vol", 60))) == 61
    assert decision_warmup(strategy, PortfolioPolicy(ConstructionSettings("equal", 60))) == 1
    assert decision_warmup(strategy, PortfolioPolicy(ConstructionSettings())) == 1
