"""Allocation between sleeves: the pinned definitions by hand, invariants, fallbacks, skfolio."""

from __future__ import annotations

import statistics
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skfolio import RiskMeasure
from skfolio.moments import BaseCovariance
from skfolio.optimization import RiskBudgeting
from skfolio.prior import EmpiricalPrior

from quant_core.book.allocation import (
    BUDGETS,
    FALLBACK_NON_FINITE_VOLATILITY,
    FALLBACK_SHORT_COMMON_HISTORY,
    FALLBACK_SHORT_HISTORY,
    FALLBACK_SOLVER_FAILED,
    FALLBACK_ZERO_VOLATILITY,
    METHODS,
    Allocation,
    allocate,
)
from quant_core.errors import ConfigError, DataError
from quant_core.portfolio.construction.hrp import hrp_weights

DATA_METHODS = [("risk_budget", "inverse_vol"), ("risk_budget", "erc"), ("hrp", "inverse_vol")]
FALLBACKS = (
    FALLBACK_SHORT_HISTORY,
    FALLBACK_SHORT_COMMON_HISTORY,
    FALLBACK_ZERO_VOLATILITY,
    FALLBACK_NON_FINITE_VOLATILITY,
    FALLBACK_SOLVER_FAILED,
)
# skfolio's clarabel run to the precision a 1e-6 comparison of the weights needs.
TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "max_iter": 500}
# Orthogonal zero-mean columns (Walsh functions of length 8): their sample covariance is 0.
WALSH_1 = np.array([1, -1, 1, -1, 1, -1, 1, -1], dtype=float)
WALSH_2 = np.array([1, 1, -1, -1, 1, 1, -1, -1], dtype=float)
WALSH_3 = np.array([1, 1, 1, 1, -1, -1, -1, -1], dtype=float)


def sleeve_returns(seed: int, sessions: int, sleeves: int) -> np.ndarray:
    """Daily returns of sleeves sharing a market factor, with their own noise and volatility."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0004, 0.01, sessions)
    beta = rng.uniform(0.2, 1.2, sleeves)
    vol = rng.uniform(0.003, 0.02, sleeves)
    return np.outer(market, beta) + rng.normal(0.0, 1.0, (sessions, sleeves)) * vol


def contributions(weights: np.ndarray, cov: np.ndarray) -> np.ndarray:
    return weights * (cov @ weights)


class GivenCovariance(BaseCovariance):  # type: ignore[misc]
    """A skfolio covariance estimator returning the matrix it is given, unrepaired."""

    def __init__(self, given: np.ndarray | None = None) -> None:
        super().__init__(nearest=False)
        self.given = given

    def fit(self, X: np.ndarray, y: object = None) -> GivenCovariance:
        self._set_covariance(self.given)
        return self


def skfolio_erc(returns: np.ndarray, cov: np.ndarray) -> np.ndarray:
    model = RiskBudgeting(
        risk_measure=RiskMeasure.VARIANCE,
        prior_estimator=EmpiricalPrior(covariance_estimator=GivenCovariance(cov)),
        min_weights=0.0,
        solver_params=TIGHT,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # skfolio's own notices
        model.fit(returns)
    return np.asarray(model.weights_)


# ------------------------------------------------------------------------ equal and fixed


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_equal_is_one_over_k_and_reads_no_returns(k: int) -> None:
    result = allocate("equal", np.full((3, k), np.nan), min_sessions=50)

    np.testing.assert_array_equal(result.weights, np.full(k, 1.0 / k))
    assert result.fallback is None


def test_fixed_gives_the_weights_as_given_and_leaves_the_rest_as_cash() -> None:
    given = np.array([0.5, 0.2, 0.1])

    result = allocate("fixed", np.full((2, 3), np.nan), fixed=given)

    np.testing.assert_array_equal(result.weights, [0.5, 0.2, 0.1])
    assert result.fallback is None
    result.weights[0] = 9.0  # a copy: the configuration is not touched
    assert given[0] == 0.5


def test_fixed_accepts_a_sum_of_one_up_to_rounding() -> None:
    weights = allocate("fixed", np.zeros((0, 3)), fixed=np.array([0.1, 0.2, 0.7])).weights
    assert weights.sum() == pytest.approx(1.0)


def test_fixed_is_ignored_by_other_methods() -> None:
    result = allocate("equal", np.zeros((5, 2)), fixed=np.array([0.9, 0.1]))
    np.testing.assert_array_equal(result.weights, [0.5, 0.5])


@pytest.mark.parametrize(
    ("fixed", "match"),
    [
        (None, "needs a weight for every sleeve"),
        (np.array([0.5, 0.5]), "2 weights for 3 sleeves"),
        (np.array([0.5, -0.1, 0.2]), r"sleeve 1: -0\.1"),
        (np.array([0.5, np.nan, 0.2]), "sleeve 1: nan"),
        (np.array([0.5, 0.3, 0.3]), "sum to 1.1, more than 1"),
    ],
)
def test_bad_fixed_weights_are_config_errors(fixed: np.ndarray | None, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        allocate("fixed", np.zeros((30, 3)), fixed=fixed)


# ------------------------------------------------------------------------- settings errors


def test_unknown_method_and_budget_list_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="'kelly'; valid: fixed, equal, risk_budget, hrp"):
        allocate("kelly", np.zeros((30, 2)))
    with pytest.raises(ConfigError, match="'min_var'; valid: inverse_vol, erc"):
        allocate("risk_budget", np.zeros((30, 2)), budget="min_var")
    assert METHODS == ("fixed", "equal", "risk_budget", "hrp")
    assert BUDGETS == ("inverse_vol", "erc")


@pytest.mark.parametrize("bad", [-1, True, 2.5])
def test_bad_min_sessions_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError, match="min_sessions"):
        allocate("equal", np.zeros((30, 2)), min_sessions=bad)  # type: ignore[arg-type]


def test_returns_must_be_two_dimensional() -> None:
    with pytest.raises(DataError, match=r"sessions x sleeves\), got shape \(30,\)"):
        allocate("hrp", np.zeros(30))


# --------------------------------------------------------------------- risk_budget by hand


def test_inverse_vol_by_hand() -> None:
    z = np.tile(WALSH_1, 4) * 0.01 + 0.001
    returns = np.column_stack([z, 2.0 * z, 4.0 * z])

    result = allocate("risk_budget", returns)

    # sigma 1 : 2 : 4, so 1/sigma 4 : 2 : 1 of 7.
    np.testing.assert_allclose(result.weights, [4 / 7, 2 / 7, 1 / 7], rtol=1e-12)
    assert result.fallback is None


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 6))
@settings(max_examples=40, deadline=None)
def test_inverse_vol_uses_each_sleeves_own_finite_returns(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    returns = sleeve_returns(seed, 80, k)
    returns[rng.random(returns.shape) < 0.2] = np.nan  # missing, not dropped row-wise

    result = allocate("risk_budget", returns, budget="inverse_vol")

    sigma = [statistics.stdev(c[np.isfinite(c)].tolist()) for c in returns.T]
    inverse = 1.0 / np.array(sigma)
    np.testing.assert_allclose(result.weights, inverse / inverse.sum(), rtol=1e-10)


def test_infinite_returns_count_as_missing() -> None:
    returns = sleeve_returns(3, 60, 3)
    with_inf, with_nan = returns.copy(), returns.copy()
    with_inf[[4, 9], 1] = [np.inf, -np.inf]
    with_nan[[4, 9], 1] = np.nan

    for method, budget in DATA_METHODS:
        a = allocate(method, with_inf, budget=budget)
        b = allocate(method, with_nan, budget=budget)
        np.testing.assert_array_equal(a.weights, b.weights)
        assert a.fallback is None


def test_erc_equals_inverse_vol_for_uncorrelated_sleeves() -> None:
    # Zero sample covariance off the diagonal: equal risk contributions is 1/sigma.
    returns = np.column_stack([np.tile(w, 3) for w in (WALSH_1, WALSH_2, WALSH_3)]) * [1, 3, 6]

    erc = allocate("risk_budget", returns, budget="erc")

    np.testing.assert_allclose(erc.weights, np.array([6, 2, 1]) / 9, rtol=1e-10)


def test_erc_contributions_are_equal_and_agree_with_skfolio() -> None:
    returns = sleeve_returns(7, 126, 5)
    returns[:10, 3] = np.nan  # a late sleeve: its rows drop out of the covariance
    returns[50, 0] = np.nan

    result = allocate("risk_budget", returns, budget="erc")

    complete = pd.DataFrame(returns).dropna()
    assert len(complete) == 126 - 11
    cov = complete.cov().to_numpy()  # sample covariance, ddof=1
    rc = contributions(result.weights, cov)
    np.testing.assert_allclose(rc, np.full(5, rc.mean()), rtol=1e-9)
    assert result.fallback is None
    np.testing.assert_allclose(result.weights.sum(), 1.0, rtol=0, atol=1e-12)
    theirs = skfolio_erc(complete.to_numpy(), cov)
    np.testing.assert_allclose(result.weights, theirs, rtol=0, atol=1e-6)


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(2, 6))
@settings(max_examples=25, deadline=None)
def test_erc_contributions_are_equal_on_random_windows(seed: int, k: int) -> None:
    returns = sleeve_returns(seed, 63, k)

    weights = allocate("risk_budget", returns, budget="erc").weights

    rc = contributions(weights, np.cov(returns, rowvar=False, ddof=1))
    np.testing.assert_allclose(rc, np.full(k, rc.mean()), rtol=1e-8)


# ---------------------------------------------------------------------------------- hrp


def test_hrp_of_two_uncorrelated_sleeves_is_inverse_variance() -> None:
    returns = np.column_stack([np.tile(WALSH_1, 3), 3.0 * np.tile(WALSH_2, 3)])

    result = allocate("hrp", returns)

    # One split: w_0 = 1 - V_0 / (V_0 + V_1) = 9 / 10.
    np.testing.assert_allclose(result.weights, [0.9, 0.1], rtol=1e-12)


def test_hrp_is_hrp_weights_on_the_complete_rows_sample_covariance() -> None:
    returns = sleeve_returns(12, 126, 6)
    returns[[3, 40, 41], [1, 4, 5]] = np.nan

    result = allocate("hrp", returns)

    cov = pd.DataFrame(returns).dropna().cov().to_numpy()
    np.testing.assert_allclose(result.weights, hrp_weights(cov), rtol=1e-12)
    assert result.fallback is None


# ---------------------------------------------------------------------------- invariants


@given(
    seed=st.integers(0, 2**32 - 1),
    sessions=st.integers(0, 60),
    k=st.integers(1, 6),
    missing=st.floats(0.0, 0.6),
    method=st.sampled_from([("equal", "inverse_vol"), *DATA_METHODS]),
)
@settings(max_examples=150, deadline=None)
def test_weights_are_non_negative_and_sum_to_one(
    seed: int, sessions: int, k: int, missing: float, method: tuple[str, str]
) -> None:
    rng = np.random.default_rng(seed)
    returns = sleeve_returns(seed, sessions, k)
    returns[rng.random(returns.shape) < missing] = np.nan

    result = allocate(method[0], returns, budget=method[1])

    assert isinstance(result, Allocation)
    assert result.weights.shape == (k,)
    assert np.isfinite(result.weights).all()
    assert (result.weights >= 0.0).all()
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-12)
    if result.fallback is not None:
        assert result.fallback.startswith(FALLBACKS)
        np.testing.assert_array_equal(result.weights, np.full(k, 1.0 / k))


# ------------------------------------------------------------------------------ fallbacks


@pytest.mark.parametrize(("method", "budget"), DATA_METHODS)
def test_a_sleeve_with_a_short_history_falls_back_to_equal_naming_it(
    method: str, budget: str
) -> None:
    returns = sleeve_returns(1, 40, 4)
    returns[:25, 2] = np.nan  # 15 finite returns

    result = allocate(method, returns, budget=budget, min_sessions=20)

    np.testing.assert_array_equal(result.weights, np.full(4, 0.25))
    assert result.fallback is not None
    assert result.fallback.startswith(FALLBACK_SHORT_HISTORY)
    assert result.fallback.endswith("fewer than 20 finite returns: sleeve 2 (15); equal weights")
    # With a lower bar the same window is enough.
    assert allocate(method, returns, budget=budget, min_sessions=15).fallback is None


@pytest.mark.parametrize("min_sessions", [0, 1])
def test_two_returns_are_always_needed(min_sessions: int) -> None:
    returns = sleeve_returns(2, 30, 2)
    returns[:-1, 1] = np.nan

    result = allocate("risk_budget", returns, min_sessions=min_sessions)

    assert result.fallback is not None
    assert result.fallback.startswith(FALLBACK_SHORT_HISTORY)


def test_covariance_methods_need_enough_complete_rows() -> None:
    returns = sleeve_returns(4, 40, 2)
    returns[:15, 0] = np.nan  # sleeve 0: rows 15..39
    returns[25:, 1] = np.nan  # sleeve 1: rows 0..24; together only rows 15..24

    inverse_vol = allocate("risk_budget", returns, budget="inverse_vol")
    erc = allocate("risk_budget", returns, budget="erc")
    hrp = allocate("hrp", returns)

    assert inverse_vol.fallback is None  # each sleeve has 25 returns of its own
    for result in (erc, hrp):
        assert result.fallback is not None
        assert result.fallback.startswith(FALLBACK_SHORT_COMMON_HISTORY)
        assert "10 rows" in result.fallback
        np.testing.assert_array_equal(result.weights, [0.5, 0.5])


@pytest.mark.parametrize(("method", "budget"), DATA_METHODS)
def test_a_flat_sleeve_falls_back_naming_it(method: str, budget: str) -> None:
    returns = sleeve_returns(5, 30, 3)
    returns[:, 1] = 0.001  # constant: its computed sigma is rounding noise, not exactly 0

    result = allocate(method, returns, budget=budget)

    assert result.fallback == f"{FALLBACK_ZERO_VOLATILITY}: sigma is 0: sleeve 1; equal weights"
    np.testing.assert_array_equal(result.weights, np.full(3, 1 / 3))


@pytest.mark.parametrize(("method", "budget"), DATA_METHODS)
def test_an_overflowing_sigma_falls_back(method: str, budget: str) -> None:
    returns = sleeve_returns(6, 30, 2)
    returns[::2, 0] = 1e200
    returns[1::2, 0] = -1e200

    result = allocate(method, returns, budget=budget)

    assert result.fallback is not None
    assert result.fallback.startswith(FALLBACK_NON_FINITE_VOLATILITY)
    assert "sigma not finite: sleeve 0;" in result.fallback


def test_a_solver_failure_falls_back() -> None:
    # Perfectly opposite sleeves: a long-only book of zero variance, no ERC portfolio.
    z = sleeve_returns(8, 30, 1)[:, 0]
    returns = np.column_stack([z, -z])

    result = allocate("risk_budget", returns, budget="erc")

    assert result.fallback is not None
    assert result.fallback.startswith(f"{FALLBACK_SOLVER_FAILED}: erc")
    np.testing.assert_array_equal(result.weights, [0.5, 0.5])


def test_no_sleeves_give_no_weights() -> None:
    for method, budget in DATA_METHODS:
        assert allocate(method, np.zeros((30, 0)), budget=budget).weights.shape == (0,)


# ----------------------------------------------------------- only the given rows are read


@pytest.mark.parametrize(("method", "budget"), DATA_METHODS)
def test_only_the_rows_given_are_read(method: str, budget: str) -> None:
    history = sleeve_returns(9, 300, 4)
    rng = np.random.default_rng(0)
    window = history[100:226]  # a view into a longer history
    before = window.copy()
    expected = allocate(method, before, budget=budget)
    history[:100] = rng.normal(0.0, 5.0, (100, 4))  # garbage before and after the window
    history[226:] = np.nan

    result = allocate(method, window, budget=budget)

    np.testing.assert_array_equal(result.weights, expected.weights)
    np.testing.assert_array_equal(window, before)  # not modified
    # The window is a set of sessions: its order does not matter ...
    shuffled = allocate(method, before[rng.permutation(len(before))], budget=budget)
    np.testing.assert_allclose(shuffled.weights, expected.weights, rtol=1e-9)
    # ... but its contents do (the check above could fail).
    other = allocate(method, history[150:276][:76], budget=budget)
    assert not np.allclose(other.weights, expected.weights, rtol=1e-6)
