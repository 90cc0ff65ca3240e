from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.calendar import get_calendar
from quant_core.data.panels import FIELDS, MarketData
from quant_core.data.sources.synthetic import generate_bars
from quant_core.errors import ConfigError
from quant_core.strategies import STRATEGIES, build_strategy, register_strategy
from quant_core.strategies.base import DataView, PortfolioSnapshot, StrategyContext
from quant_core.strategies.builtin.cross_sectional import equal_weight, top_k
from tests.factories import market

EMPTY = PortfolioSnapshot(cash=1.0, shares=np.zeros(0), symbols=pd.Index([]), equity=1.0)


def _context(data: MarketData, t: int) -> StrategyContext:
    return StrategyContext(
        DataView(data, t), EMPTY, pd.Timestamp(data.dates[min(t, len(data.dates) - 1)])
    )


def test_momentum_selects_top_quantile_with_ties_by_symbol() -> None:
    # Returns over 2 sessions: A +10%, B +10%, C +20%, D -5%, E NaN (no price 2 sessions back).
    data = market(
        {
            "A": [10, 10, 11, 0],
            "B": [20, 20, 22, 0],
            "C": [5, 5, 6, 0],
            "D": [10, 10, 9.5, 0],
            "E": [np.nan, 10, 12, 0],
        }
    )
    strategy = build_strategy("momentum", {"lookback": 2, "top_quantile": 0.5})

    weights = strategy.target_weights(_context(data, 3))

    # 4 valid signals, k = floor(0.5 x 4) = 2: C, then A before B on the tie.
    assert weights.to_dict() == {"C": 0.5, "A": 0.5}
    assert strategy.warmup == 3


def test_momentum_keeps_at_least_one() -> None:
    data = market({"A": [10, 11, 0], "B": [10, 12, 0]})
    weights = build_strategy("momentum", {"lookback": 1, "top_quantile": 0.1}).target_weights(
        _context(data, 2)
    )
    assert weights.to_dict() == {"B": 1.0}


def test_sma_cross_holds_uptrends() -> None:
    data = market({"UP": [1, 2, 3, 4, 0], "DOWN": [4, 3, 2, 1, 0]})
    weights = build_strategy("sma_cross", {"fast": 2, "slow": 4}).target_weights(_context(data, 4))
    assert weights.to_dict() == {"UP": 1.0}


def test_mean_reversion_holds_each_loser_for_its_period() -> None:
    data = market({"A": [10, 9, 9, 9, 0], "B": [10, 10, 11, 11, 0], "C": [10, 10, 10, 8, 0]})
    strategy = build_strategy(
        "mean_reversion", {"lookback": 1, "bottom_quantile": 0.34, "hold_sessions": 2}
    )
    # Cohort at row 2: 1-session returns A 0%, B +10%, C 0% -> A (tie broken by symbol).
    # Cohort at row 3: C -20% -> C. The two cohorts averaged: A 0.5, C 0.5.
    weights = strategy.target_weights(_context(data, 4))
    assert weights.to_dict() == {"A": 0.5, "C": 0.5}


def _mean_reversion_by_frames(view: DataView, lookback: int, quantile: float, hold: int):
    # The documented rule on the window's frame: the return of each of the last `hold`
    # sessions over `lookback`, the bottom quantile of each held 1/hold, cohorts added in order.
    close = view.close(lookback + hold)
    returns = (close / close.shift(lookback) - 1).iloc[-hold:]
    weights = pd.Series(0.0, index=view.symbols)
    for _, row in returns.iterrows():
        weights = weights.add(equal_weight(top_k(-row, quantile), 1.0 / hold), fill_value=0.0)
    return weights[weights != 0]


@pytest.mark.parametrize(
    ("lookback", "quantile", "hold"), [(5, 0.1, 5), (1, 0.34, 1), (20, 0.3, 7), (3, 0.05, 10)]
)
def test_mean_reversion_from_rows_is_its_frame_rule_bit_for_bit(lookback, quantile, hold) -> None:
    # It decides from rows (every session, in a book or a sweep): the same weights, to the bit,
    # as the rule computed on frames, with missing bars, short histories and a universe.
    bars = generate_bars(get_calendar("XNYS"), 40, 90, seed=8, missing_frac=0.02)
    frames = {f: bars.pivot(index="date", columns="symbol", values=f) for f in FIELDS}
    data = MarketData.from_frames(frames)
    strategy = build_strategy(
        "mean_reversion",
        {"lookback": lookback, "bottom_quantile": quantile, "hold_sessions": hold},
    )
    universe = np.random.default_rng(2).random(len(data.symbols)) < 0.5
    picked = 0
    for t in range(1, len(data.dates) + 1):
        for inside in (None, universe):
            view = DataView(data, t, inside)
            context = StrategyContext(view, EMPTY, pd.Timestamp(data.dates[t - 1]))
            expected = _mean_reversion_by_frames(view, lookback, quantile, hold)
            weights = strategy.decide(context).weights
            assert weights.index.equals(expected.index), t
            assert (weights.to_numpy() == expected.to_numpy()).all(), t
            picked += len(weights)
    assert picked > 0


def test_multi_factor_long_short() -> None:
    bars = generate_bars(get_calendar("XNYS"), 20, 300, seed=3)
    frames = {f: bars.pivot(index="date", columns="symbol", values=f) for f in FIELDS}
    data = MarketData.from_frames(frames)
    strategy = build_strategy(
        "multi_factor", {"factors": {"momentum_20": 1.0}, "top_quantile": 0.2, "long_short": True}
    )
    weights = strategy.target_weights(_context(data, 250))
    assert weights[weights > 0].sum() == pytest.approx(0.5)
    assert weights[weights < 0].sum() == pytest.approx(-0.5)
    assert len(weights) == 8


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("momentum", {"lookback": 0}, "lookback = 0"),
        ("momentum", {"lookbak": 10}, "lookbak"),
        ("sma_cross", {"fast": 50, "slow": 20}, "fast"),
        ("multi_factor", {"factors": {"nope_3": 1.0}}, "unknown factor"),
        (
            "nope",
            {},
            "unknown strategy 'nope'; valid: fitted, mean_reversion, momentum, multi_factor, "
            "sma_cross",
        ),
    ],
)
def test_bad_parameters_are_config_errors(name, params, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build_strategy(name, params)


def test_duplicate_strategy_name_raises() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("momentum")(type(STRATEGIES.get("momentum")))


@pytest.fixture(scope="module")
def synthetic_market() -> MarketData:
    bars = generate_bars(get_calendar("XNYS"), 30, 320, seed=5, missing_frac=0.01)
    frames = {f: bars.pivot(index="date", columns="symbol", values=f) for f in FIELDS}
    return MarketData.from_frames(frames)


def _cut(data: MarketData, t: int) -> MarketData:
    return MarketData(
        data.dates[:t], data.symbols, {k: v[:t].copy() for k, v in data.panels.items()}
    )


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("momentum", {"lookback": 60}),
        ("sma_cross", {"fast": 10, "slow": 50}),
        ("mean_reversion", {}),
        (
            "multi_factor",
            {"factors": {"momentum_252_21": 1.0, "volatility_20": -0.5, "rsi_14": 0.3}},
        ),
    ],
)
def test_signals_on_data_cut_at_t_minus_1_equal_signals_from_full_history(
    synthetic_market, name, params
) -> None:
    strategy = build_strategy(name, params)
    for t in (strategy.warmup, 290, 319):
        full = strategy.target_weights(_context(synthetic_market, t))
        cut = strategy.target_weights(_context(_cut(synthetic_market, t), t))
        pd.testing.assert_series_equal(full.sort_index(), cut.sort_index(), check_names=False)
        assert not full.empty


def test_sma_cross_tolerates_a_missing_bar_but_needs_t_minus_1() -> None:
    nan = float("nan")
    data = market({"GAP": [1, 2, nan, 4, 5, 6, 0], "STALE": [1, 2, 3, 4, 5, nan, 0]})
    weights = build_strategy("sma_cross", {"fast": 2, "slow": 5}).target_weights(_context(data, 6))
    assert weights.to_dict() == {"GAP": 1.0}  # 4 of 5 closes present is enough; STALE lacks T-1


def test_a_strategy_that_needs_a_schedule_refuses_another() -> None:
    from quant_core.errors import ConfigError
    from quant_core.portfolio.schedule import Rule
    from quant_core.strategies import check_schedule

    reverting = build_strategy("mean_reversion", {"hold_sessions": 3})
    check_schedule(reverting, 1)
    rules: tuple[Rule, ...] = (21, 5, "weekly", "monthly")
    for rule in rules:
        with pytest.raises(ConfigError, match=r"hold_sessions=3 sessions.*strategy\.rebalance=1"):
            check_schedule(reverting, rule)
    for rule in (1, 21, "weekly"):  # momentum runs on any schedule
        check_schedule(build_strategy("momentum", {}), rule)


def test_a_secret_looking_parameter_is_never_echoed_in_its_error() -> None:
    from quant_core.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        build_strategy("momentum", {"api_key": "S3cr3t-MARKER-77", "lookback": -1})
    assert "S3cr3t-MARKER-77" not in str(caught.value)
    assert "api_key = '***'" in str(caught.value)
    assert "lookback = -1" in str(caught.value)
