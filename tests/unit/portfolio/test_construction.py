"""Portfolio construction (as_is, equal, inverse_vol) against hand-computed cases and properties."""

from __future__ import annotations

from typing import cast

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from quant_core.errors import ConfigError
from quant_core.portfolio.construction import (
    METHODS,
    ConstructionSettings,
    Inputs,
    LeftOut,
    Reason,
    construct,
    trailing_returns,
)

INVERSE_VOL = ConstructionSettings("inverse_vol", lookback=4)
EQUAL = ConstructionSettings("equal", lookback=4)


def closes_from(returns: list[list[float]], start: float = 100.0) -> np.ndarray:
    """Closes (sessions x names) whose simple returns are exactly ``returns`` (per name)."""
    r = np.array(returns, dtype=float).T
    return np.vstack([np.full(r.shape[1], start), start * np.cumprod(1.0 + r, axis=0)])


# Three names, returns alternating +-k: mean 0, sample sigma = k x sqrt(4/3) (ddof=1), so
# the sigmas are in the ratio 1 : 2 : 3 and 1/sigma in 6 : 3 : 2 (of 11).
THREE = closes_from(
    [
        [0.01, -0.01, 0.01, -0.01],
        [0.02, -0.02, 0.02, -0.02],
        [0.03, -0.03, 0.03, -0.03],
    ]
)


def test_inverse_vol_hand_computed() -> None:
    weights = np.array([0.3, -0.3, 0.4])  # gross 1.0; B short

    result = construct(Inputs(weights, None, THREE, INVERSE_VOL))

    np.testing.assert_allclose(result.weights, [6 / 11, -3 / 11, 2 / 11], rtol=1e-12)
    assert result.left_out == ()


def test_inverse_vol_weight_times_sigma_is_constant_and_gross_kept() -> None:
    weights = np.array([0.1, 0.0, -0.2, 0.0, 0.3])
    rng = np.random.default_rng(7)
    closes = 50.0 * np.cumprod(1.0 + rng.normal(0.0, [0.01, 0.02, 0.015, 0.03, 0.005], (61, 5)), 0)

    settings = ConstructionSettings("inverse_vol", lookback=60)
    result = construct(Inputs(weights, None, closes, settings))

    returns = closes[1:] / closes[:-1] - 1.0
    sigma = returns.std(axis=0, ddof=1)
    risk = np.abs(result.weights[[0, 2, 4]]) * sigma[[0, 2, 4]]
    np.testing.assert_allclose(risk, risk[0], rtol=1e-12)
    assert np.sign(result.weights).tolist() == [1.0, 0.0, -1.0, 0.0, 1.0]
    assert np.abs(result.weights).sum() == pytest.approx(0.6, rel=1e-12)


def test_inverse_vol_reads_only_the_last_lookback_returns() -> None:
    # An older, wild row before the window changes nothing.
    wild = np.vstack([[1.0, 1000.0, 0.5], THREE])

    assert np.array_equal(
        construct(Inputs(np.array([0.3, -0.3, 0.4]), None, wild, INVERSE_VOL)).weights,
        construct(Inputs(np.array([0.3, -0.3, 0.4]), None, THREE, INVERSE_VOL)).weights,
    )


def test_equal_splits_the_gross_with_the_signs() -> None:
    weights = np.array([0.5, 0.0, -0.1, 0.2])  # gross 0.8 over 3 names

    result = construct(Inputs(weights, None, THREE, EQUAL))

    np.testing.assert_allclose(result.weights, [0.8 / 3, 0.0, -0.8 / 3, 0.8 / 3], rtol=1e-15)
    assert result.left_out == ()


class Untouchable:
    """A panel that fails the test if anything reads it."""

    def __getitem__(self, key: object) -> None:
        raise AssertionError("the panel was read")

    @property
    def shape(self) -> None:
        raise AssertionError("the panel was read")


@pytest.mark.parametrize("method", ["as_is", "equal"])
def test_as_is_and_equal_never_read_the_panel(method: str) -> None:
    weights = np.array([0.25, -0.5, 0.0])
    closes = cast(np.ndarray, Untouchable())

    result = construct(Inputs(weights, None, closes, ConstructionSettings(method, lookback=4)))

    assert result.left_out == ()


def test_as_is_returns_the_strategys_weights_bit_for_bit() -> None:
    weights = np.array([0.1 + 0.2, -1 / 3, 0.0, 1e-300])

    result = construct(Inputs(weights, None, THREE, ConstructionSettings()))

    assert result.weights is weights
    assert result.weights.tobytes() == np.array([0.1 + 0.2, -1 / 3, 0.0, 1e-300]).tobytes()


def test_names_without_lookback_returns_or_sigma_are_left_out_and_reported() -> None:
    closes = closes_from(
        [
            [0.01, -0.01, 0.01, -0.01],  # A: kept
            [0.02, -0.02, 0.02, -0.02],  # B: a missing close in the window
            [0.0, 0.0, 0.0, 0.0],  # C: a price that never moves, sigma 0
            [0.03, -0.03, 0.03, -0.03],  # D: kept
            [0.01, 0.01, 0.01, 0.01],  # E: not weighted, never reported
        ]
    )
    closes[2, 1] = np.nan
    weights = np.array([0.2, 0.3, -0.1, -0.4, 0.0])  # gross 1.0

    result = construct(Inputs(weights, None, closes, INVERSE_VOL))

    assert result.left_out == (
        LeftOut(1, Reason.SHORT_HISTORY),
        LeftOut(2, Reason.ZERO_VOLATILITY),
    )
    # A and D carry the whole gross, 1/sigma in the ratio 3 : 1.
    np.testing.assert_allclose(result.weights, [0.75, 0.0, 0.0, -0.25, 0.0], rtol=1e-12)


def test_a_panel_shorter_than_lookback_plus_one_leaves_every_name_out() -> None:
    weights = np.array([0.3, -0.3, 0.4])

    result = construct(Inputs(weights, None, THREE[1:], INVERSE_VOL))  # 4 closes: 3 returns

    assert result.weights.tolist() == [0.0, 0.0, 0.0]
    assert [x.reason for x in result.left_out] == [Reason.SHORT_HISTORY] * 3


def test_a_zero_close_is_a_missing_return_not_a_warning() -> None:
    closes = THREE.copy()
    closes[1, 0] = 0.0  # 0 -> inf and 0/0 returns; filterwarnings=error would fail on a warning

    result = construct(Inputs(np.array([0.5, 0.5, 0.0]), None, closes, INVERSE_VOL))

    assert result.left_out == (LeftOut(0, Reason.SHORT_HISTORY),)
    assert result.weights.tolist() == [0.0, 1.0, 0.0]


def test_trailing_returns_are_simple_close_to_close() -> None:
    returns, valid = trailing_returns(THREE, 2, np.array([0, 2]))

    np.testing.assert_allclose(returns, [[0.01, 0.03], [-0.01, -0.03]], rtol=1e-12)
    assert valid.tolist() == [True, True]


def test_history_covers_the_returns_window_only_when_read() -> None:
    assert ConstructionSettings("inverse_vol", lookback=60).history == 61
    assert ConstructionSettings("equal", lookback=60).history == 0
    assert ConstructionSettings("as_is").history == 0


def test_an_unknown_method_lists_the_valid_ones() -> None:
    valid = "as_is, black_litterman, equal, half_kelly, hrp, inverse_vol, mean_variance, "
    with pytest.raises(ConfigError, match=valid + "min_variance, risk_parity"):
        construct(Inputs(np.zeros(2), None, THREE, ConstructionSettings("nonsense")))


def test_config_offers_exactly_the_registered_methods() -> None:
    from typing import get_args

    from config.schema import ConstructionMethod

    assert sorted(get_args(ConstructionMethod)) == METHODS.names()


# ------------------------------------------------------------------------------ properties

N_NAMES = 6
LOOKBACK = 5


@st.composite
def books(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    weights = draw(
        hnp.arrays(
            float,
            N_NAMES,
            elements=st.one_of(st.just(0.0), st.floats(-0.3, 0.3, allow_subnormal=False)),
        )
    )
    rows = draw(st.integers(LOOKBACK - 1, LOOKBACK + 4))
    closes = draw(
        hnp.arrays(
            float,
            (rows, N_NAMES),
            elements=st.one_of(
                st.floats(1.0, 1_000.0), st.just(np.nan), st.just(50.0), st.just(0.0)
            ),
        )
    )
    return weights, closes


@pytest.mark.parametrize("method", ["equal", "inverse_vol"])
@given(book=books())
def test_weights_are_finite_signed_and_gross_kept(method: str, book) -> None:
    weights, closes = book
    settings = ConstructionSettings(method, lookback=LOOKBACK)

    result = construct(Inputs(weights, None, closes, settings))

    out = result.weights
    assert np.isfinite(out).all()
    assert (out[weights == 0] == 0).all()
    held = out != 0
    assert (np.sign(out[held]) == np.sign(weights[held])).all()
    left = {x.index for x in result.left_out}
    assert left.isdisjoint(np.flatnonzero(held).tolist())
    assert left | set(np.flatnonzero(held).tolist()) == set(np.flatnonzero(weights).tolist())
    if held.any():
        assert np.abs(out).sum() == pytest.approx(np.abs(weights).sum(), rel=1e-9)


def test_a_deviation_that_overflows_is_left_out_not_nan() -> None:
    # Closes that swing by 1e200 make sigma overflow to inf: that name is left out, reported,
    # and the others keep the gross; never a NaN weight.
    closes = np.array([[1.0, 10.0], [1e200, 11.0], [1.0, 10.0], [1e200, 11.0], [1.0, 10.0]])
    result = construct(Inputs(np.array([0.5, 0.5]), None, closes, INVERSE_VOL))
    assert np.isfinite(result.weights).all()
    assert result.weights.tolist() == [0.0, 1.0]
    assert result.left_out == (LeftOut(0, Reason.NON_FINITE_VOLATILITY),)


def test_a_method_of_expected_returns_names_the_strategies_that_give_scores() -> None:
    from quant_core.portfolio.policy import PortfolioPolicy
    from quant_core.strategies import build_strategy
    from quant_core.strategies.decide import check_policy

    policy = PortfolioPolicy(ConstructionSettings("half_kelly"))
    with pytest.raises(
        ConfigError, match=r"\(fitted, momentum, multi_factor\).*\(as_is, equal, hrp"
    ):
        check_policy(build_strategy("mean_reversion", {}), policy)
