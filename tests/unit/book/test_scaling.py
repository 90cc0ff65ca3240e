"""Scaling sleeves by trailing Sharpe: the pinned formula by hand, bounds, and no leverage."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core.book.scaling import SCALINGS, scale, scaled_weights, sharpe_ratios
from quant_core.errors import ConfigError, DataError

ALTERNATING = np.tile([1.0, -1.0], 10)  # 20 sessions, mean 0


def noisy(seed: int, sessions: int, k: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(rng.uniform(-0.002, 0.002, k), rng.uniform(0.005, 0.02, k), (sessions, k))


# ------------------------------------------------------------------------------- methods


def test_none_is_ones_whatever_the_returns() -> None:
    np.testing.assert_array_equal(scale("none", np.full((4, 3), np.nan)), np.ones(3))
    assert SCALINGS == ("none", "sharpe")


def test_sharpe_multiplier_by_hand() -> None:
    returns = np.column_stack([0.0001 + 0.01 * ALTERNATING, -0.0002 + 0.01 * ALTERNATING])

    multipliers = scale("sharpe", returns)

    for k, mean in enumerate([0.0001, -0.0002]):
        sd = statistics.stdev(returns[:, k].tolist())
        assert multipliers[k] == pytest.approx(1.0 + mean / sd * math.sqrt(252), rel=1e-12)
    assert 1.0 < multipliers[0] < 1.5
    assert 0.5 < multipliers[1] < 1.0


def test_sharpe_is_clipped_to_the_bounds() -> None:
    good = 0.01 + 0.001 * ALTERNATING  # Sharpe about 155
    bad = -0.01 + 0.001 * ALTERNATING
    returns = np.column_stack([good, bad])

    np.testing.assert_array_equal(scale("sharpe", returns), [1.5, 0.5])
    np.testing.assert_array_equal(scale("sharpe", returns, lower=0.8, upper=2.0), [2.0, 0.8])


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 6), missing=st.floats(0.0, 0.5))
@settings(max_examples=50, deadline=None)
def test_sharpe_agrees_with_pandas_per_sleeve(seed: int, k: int, missing: float) -> None:
    returns = noisy(seed, 60, k)
    returns[np.random.default_rng(seed + 1).random(returns.shape) < missing] = np.nan
    frame = pd.DataFrame(returns)
    expected = np.array(frame.mean() / frame.std() * math.sqrt(252))
    expected[frame.count().to_numpy() < 20] = np.nan

    ratios = sharpe_ratios(returns, 20)
    multipliers = scale("sharpe", returns, lower=0.25, upper=3.0)

    np.testing.assert_allclose(ratios, expected, rtol=1e-10)
    reference = np.where(np.isnan(expected), 1.0, np.clip(1.0 + expected, 0.25, 3.0))
    np.testing.assert_allclose(multipliers, reference, rtol=1e-10)
    assert ((multipliers >= 0.25) & (multipliers <= 3.0)).all()


def test_short_history_and_flat_sleeves_get_one() -> None:
    returns = np.column_stack(
        [0.01 + 0.001 * ALTERNATING, np.full(20, 0.002), 0.01 + 0.001 * ALTERNATING]
    )
    returns[:15, 2] = np.nan  # 5 finite returns

    multipliers = scale("sharpe", returns)

    np.testing.assert_array_equal(multipliers, [1.5, 1.0, 1.0])
    assert scale("sharpe", returns, min_sessions=5)[2] == 1.5
    assert np.isnan(sharpe_ratios(returns, 20)[1:]).all()


def test_infinite_returns_count_as_missing() -> None:
    returns = noisy(3, 40, 2)
    with_inf = returns.copy()
    with_inf[5, 0] = np.inf
    returns[5, 0] = np.nan

    np.testing.assert_array_equal(scale("sharpe", with_inf), scale("sharpe", returns))


def test_only_the_rows_given_are_read() -> None:
    history = noisy(4, 300, 3)
    window = history[100:226]
    before = window.copy()
    expected = scale("sharpe", before)
    history[:100] = 1.0  # garbage outside the window
    history[226:] = np.nan

    np.testing.assert_array_equal(scale("sharpe", window), expected)
    np.testing.assert_array_equal(window, before)
    shuffled = before[np.random.default_rng(0).permutation(126)]
    np.testing.assert_allclose(scale("sharpe", shuffled), expected, rtol=1e-9)


# --------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("lower", "upper"), [(0.0, 1.5), (1.1, 1.5), (0.5, 0.9), (0.5, np.inf), (np.nan, 1.5)]
)
def test_bounds_must_straddle_one(lower: float, upper: float) -> None:
    with pytest.raises(ConfigError, match="0 < lower <= 1 <= upper"):
        scale("sharpe", np.zeros((30, 2)), lower=lower, upper=upper)


def test_unknown_method_and_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="unknown scaling method 'sortino'; valid: none, sharpe"):
        scale("sortino", np.zeros((30, 2)))
    with pytest.raises(ConfigError, match="min_sessions must be >= 0"):
        scale("sharpe", np.zeros((30, 2)), min_sessions=-3)
    with pytest.raises(DataError, match="2-D"):
        scale("sharpe", np.zeros(30))


# ------------------------------------------------------------------------ scaled weights


def test_scaled_weights_below_one_keep_the_rest_as_cash() -> None:
    weights = scaled_weights(np.array([0.3, 0.3, 0.2]), np.array([1.5, 0.5, 1.0]))

    np.testing.assert_allclose(weights, [0.45, 0.15, 0.2], rtol=1e-15)


def test_scaled_weights_above_one_are_renormalised_never_levered() -> None:
    weights = scaled_weights(np.array([0.5, 0.5]), np.array([1.5, 0.5]))

    np.testing.assert_allclose(weights, [0.75, 0.25], rtol=1e-15)

    weights = scaled_weights(np.array([0.5, 0.5]), np.array([1.5, 1.5]))
    np.testing.assert_allclose(weights, [0.5, 0.5], rtol=1e-15)


@given(
    weights=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=100, deadline=None)
def test_scaled_weights_never_lever_and_keep_proportions(weights: list[float], seed: int) -> None:
    w = np.array(weights) / max(1.0, sum(weights))  # a valid allocation, sum <= 1
    m = np.random.default_rng(seed).uniform(0.5, 1.5, w.size)

    out = scaled_weights(w, m)

    assert (out >= 0.0).all()
    assert out.sum() <= 1.0 + 1e-12
    product = w * m
    if product.sum() > 1.0:
        np.testing.assert_allclose(out, product / product.sum(), rtol=1e-12)
    else:
        np.testing.assert_array_equal(out, product)


@pytest.mark.parametrize(
    ("weights", "multipliers", "match"),
    [
        (np.array([0.5, 0.5]), np.array([1.0]), "1-D of one length"),
        (np.array([[0.5, 0.5]]), np.array([[1.0, 1.0]]), "1-D of one length"),
        (np.array([0.5, -0.1]), np.array([1.0, 1.0]), "weights must be finite and >= 0"),
        (np.array([0.5, 0.5]), np.array([1.0, np.nan]), "multipliers must be finite and >= 0"),
    ],
)
def test_scaled_weights_refuse_bad_inputs(
    weights: np.ndarray, multipliers: np.ndarray, match: str
) -> None:
    with pytest.raises(DataError, match=match):
        scaled_weights(weights, multipliers)
