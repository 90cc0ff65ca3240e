"""risk_parity and min_variance: hand-computed cases, skfolio's solvers, signs, gross, fallback."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from skfolio import RiskMeasure
from skfolio.moments import BaseCovariance
from skfolio.optimization import MeanRisk, ObjectiveFunction, RiskBudgeting
from skfolio.prior import EmpiricalPrior
from sklearn.covariance import ledoit_wolf

from quant_core.portfolio.construction import (
    METHODS,
    ConstructionSettings,
    Inputs,
    LeftOut,
    Reason,
    SolverError,
    construct,
    covariance,
)
from quant_core.portfolio.construction.min_variance import solve_min_variance
from quant_core.portfolio.construction.risk_parity import risk_parity, solve_risk_parity
from quant_core.portfolio.construction.signed import signed_problem

OPTIMISERS = ["risk_parity", "min_variance"]
# skfolio's clarabel run to the precision needed for a 1e-6 comparison of the weights.
# The reference's tolerances. Its linear solves are refined to the last bit as well: with
# clarabel's default refinement, min variance on the sample covariance stopped short of these
# gaps on one machine ("Solution may be inaccurate", 3.4e-6 from our weights, at a variance
# above ours); refined, it solves to 5.1e-7 of ours, unwarned (measured, sixth session).
TIGHT = {
    "tol_gap_abs": 1e-12,
    "tol_gap_rel": 1e-12,
    "tol_feas": 1e-12,
    "max_iter": 500,
    "iterative_refinement_reltol": 1e-18,
    "iterative_refinement_abstol": 1e-18,
    "iterative_refinement_max_iter": 50,
}


def closes_from(returns: np.ndarray, start: float = 100.0) -> np.ndarray:
    """Closes (sessions x names) whose simple returns are exactly ``returns`` (sessions x names)."""
    return np.vstack([np.full(returns.shape[1], start), start * np.cumprod(1.0 + returns, 0)])


# Orthogonal zero-mean columns (Walsh functions of length 8): their sample covariances are 0.
H1 = np.array([1, -1, 1, -1, 1, -1, 1, -1], dtype=float)
H2 = np.array([1, 1, -1, -1, 1, 1, -1, -1], dtype=float)
H3 = np.array([1, 1, 1, 1, -1, -1, -1, -1], dtype=float)
K = 0.01  # a daily return scale


def sample_settings(method: str) -> ConstructionSettings:
    return ConstructionSettings(method, lookback=8, covariance="sample")


def block_closes(rho: float, sigma_b: float = 1.0) -> np.ndarray:
    """A, B correlated by rho (vols 1 : sigma_b), C uncorrelated with both (vol 1), x K."""
    b = sigma_b * (rho * H1 + np.sqrt(1.0 - rho**2) * H2)
    return closes_from(K * np.column_stack([H1, b, H3]))


# ------------------------------------------------------------------ hand-computed cases


def test_risk_parity_of_two_uncorrelated_names_is_inverse_vol() -> None:
    closes = closes_from(K * np.column_stack([H1, 3.0 * H2]))  # sigmas 1 : 3, covariance 0
    weights = np.array([0.4, -0.6])

    result = construct(Inputs(weights, None, closes, sample_settings("risk_parity")))

    np.testing.assert_allclose(result.weights, [0.75, -0.25], rtol=1e-10)
    assert (
        result.weights.tolist()
        != construct(Inputs(weights, None, closes, sample_settings("equal"))).weights.tolist()
    )


@pytest.mark.parametrize("side_b", [1.0, -1.0])
def test_risk_parity_three_names_hand_computed(side_b: float) -> None:
    # Unit variances, corr(A, B) = 0.6, C independent. In the signed space corr is s_A s_B 0.6;
    # by symmetry v_A = v_B = a, v_C = c, and equal contributions a^2 (1 + r) = c^2 give
    # a = 1 / (2 + sqrt(1 + r)), c = a sqrt(1 + r).
    r = 0.6 * side_b
    weights = np.array([0.5, 0.3 * side_b, 0.2])

    result = construct(Inputs(weights, None, block_closes(0.6), sample_settings("risk_parity")))

    a = 1.0 / (2.0 + np.sqrt(1.0 + r))
    np.testing.assert_allclose(result.weights, [a, side_b * a, a * np.sqrt(1.0 + r)], rtol=1e-9)


def test_min_variance_three_names_hand_computed() -> None:
    # corr(A, B) = 0.6 with vols 1 : 1, C independent: Sigma v = lambda 1 on all three gives
    # a (1 + 0.6) = c, so a = 1 / 3.6, c = 1.6 / 3.6.
    weights = np.array([0.2, 0.2, -0.6])

    result = construct(Inputs(weights, None, block_closes(0.6), sample_settings("min_variance")))

    np.testing.assert_allclose(result.weights, [1 / 3.6, 1 / 3.6, -1.6 / 3.6], rtol=1e-9)


def test_min_variance_puts_a_dominated_name_at_zero_without_leaving_it_out() -> None:
    # B: vol 2, corr 0.8 with A. Over A and C alone v = (1/2, 1/2), and there B's marginal
    # variance (Sigma v)_B = 0.5 x 1.6 = 0.8 exceeds A's and C's 0.5: B stays at zero.
    weights = np.array([0.3, 0.3, 0.4])

    result = construct(
        Inputs(weights, None, block_closes(0.8, 2.0), sample_settings("min_variance"))
    )

    np.testing.assert_allclose(result.weights, [0.5, 0.0, 0.5], atol=1e-12)
    assert result.left_out == ()
    assert result.fallback is None


def test_min_variance_of_a_singular_covariance_is_solved_not_fallen_back() -> None:
    # C = A + B every session, and the strategy is short C: the signed book (A, B, -C) has
    # zero variance at v = 1/3 each, a singular covariance that Cholesky cannot factor.
    rng = np.random.default_rng(5)
    a, b = rng.normal(0.0, 0.01, (2, 30))
    closes = closes_from(np.column_stack([a, b, a + b]))
    weights = np.array([0.1, 0.2, -0.3])

    result = construct(
        Inputs(weights, None, closes, ConstructionSettings("min_variance", 30, "sample"))
    )

    assert result.fallback is None
    np.testing.assert_allclose(result.weights, [0.2, 0.2, -0.2], atol=1e-6)


# ------------------------------------------------------------------ against skfolio


class GivenCovariance(BaseCovariance):  # type: ignore[misc]
    """A skfolio covariance estimator that returns the matrix it is given, unrepaired."""

    def __init__(self, given: np.ndarray | None = None) -> None:
        super().__init__(nearest=False)
        self.given = given

    def fit(self, X, y=None):
        self._set_covariance(self.given)
        return self


def skfolio_weights(method: str, returns: np.ndarray, cov: np.ndarray) -> np.ndarray:
    prior = EmpiricalPrior(covariance_estimator=GivenCovariance(cov))
    if method == "risk_parity":
        model = RiskBudgeting(
            risk_measure=RiskMeasure.VARIANCE,
            prior_estimator=prior,
            min_weights=0.0,
            solver_params=TIGHT,
        )
    else:
        model = MeanRisk(
            objective_function=ObjectiveFunction.MINIMIZE_RISK,
            risk_measure=RiskMeasure.VARIANCE,
            prior_estimator=prior,
            min_weights=0.0,
            budget=1.0,
            solver_params=TIGHT,
        )
    return np.asarray(model.fit(returns).weights_)


def factor_panel(names: int, sessions: int, seed: int) -> np.ndarray:
    """``sessions + 1`` closes of a one-factor market with idiosyncratic noise."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.01, sessions)
    beta = rng.uniform(0.5, 1.5, names)
    vol = rng.uniform(0.01, 0.03, names)
    returns = np.outer(market, beta) + rng.normal(0.0, 1.0, (sessions, names)) * vol
    return closes_from(returns)


@pytest.mark.parametrize("estimator", ["ledoit_wolf", "sample"])
@pytest.mark.parametrize("method", OPTIMISERS)
def test_weights_agree_with_skfolio(method: str, estimator: str) -> None:
    names, lookback = 40, 120
    closes = factor_panel(names, lookback, seed=11)
    rng = np.random.default_rng(12)
    weights = rng.choice([-1.0, 1.0], names) * rng.uniform(0.01, 0.05, names)
    settings = ConstructionSettings(method, lookback, estimator)
    problem = signed_problem(Inputs(weights, None, closes, settings))

    ours = construct(Inputs(weights, None, closes, settings))

    v = skfolio_weights(method, problem.returns * problem.signs, problem.cov_signed)
    theirs = np.sign(weights) * v * np.abs(weights).sum()
    np.testing.assert_allclose(ours.weights, theirs, rtol=0.0, atol=1e-6)
    assert ours.fallback is None


def test_risk_contributions_are_equal_on_an_independent_covariance() -> None:
    names, lookback = 60, 90
    closes = factor_panel(names, lookback, seed=3)
    weights = np.where(np.arange(names) % 3 == 0, -0.01, 0.02)

    result = construct(Inputs(weights, None, closes, ConstructionSettings("risk_parity", 90)))

    sigma, _ = ledoit_wolf(closes[1:] / closes[:-1] - 1.0)  # sklearn's, not ours
    contributions = result.weights * (sigma @ result.weights)
    assert (contributions > 0).all()
    np.testing.assert_allclose(contributions / contributions.mean(), 1.0, atol=1e-6)


def test_min_variance_is_optimal_against_every_feasible_direction() -> None:
    closes = factor_panel(50, 60, seed=8)
    problem = signed_problem(
        Inputs(np.full(50, 0.02), None, closes, ConstructionSettings("min_variance", 60))
    )

    v = solve_min_variance(problem.cov_signed)

    # KKT: (Sigma v)_i is the least marginal variance on the names held and no less elsewhere.
    marginal = problem.cov_signed @ v
    held = v > 1e-12
    assert 0 < held.sum() < 50
    level = marginal[held].mean()
    np.testing.assert_allclose(marginal[held], level, rtol=1e-9)
    assert (marginal[~held] >= level * (1 - 1e-9)).all()


# ------------------------------------------------------------------ signs, gross, left out


@pytest.mark.parametrize("method", OPTIMISERS)
def test_names_without_returns_or_volatility_are_left_out_and_reported(method: str) -> None:
    returns = K * np.column_stack([H1, H2, np.zeros(8), H3, H1 + H2])
    closes = closes_from(returns)
    closes[3, 1] = np.nan  # B misses a close in the window
    weights = np.array([0.2, 0.3, -0.1, -0.4, 0.0])  # E unweighted: never reported

    result = construct(Inputs(weights, None, closes, sample_settings(method)))

    assert result.left_out == (LeftOut(1, Reason.SHORT_HISTORY), LeftOut(2, Reason.ZERO_VOLATILITY))
    # A and D are uncorrelated with equal vols: half the gross each, with their signs.
    np.testing.assert_allclose(result.weights, [0.5, 0.0, 0.0, -0.5, 0.0], rtol=1e-10)


@pytest.mark.parametrize("method", OPTIMISERS)
def test_unweighted_columns_change_nothing_bit_for_bit(method: str) -> None:
    closes = factor_panel(12, 40, seed=4)
    wider = np.column_stack([closes[:, :6], factor_panel(5, 40, seed=9), closes[:, 6:]])
    weights = np.linspace(-0.1, 0.1, 12)
    settings = ConstructionSettings(method, 40)

    narrow = construct(Inputs(weights, None, closes, settings)).weights
    wide = construct(Inputs(np.insert(weights, 6, np.zeros(5)), None, wider, settings)).weights

    assert np.array_equal(np.delete(wide, range(6, 11)), narrow)


def test_the_signed_problem_flips_a_short_names_covariance_and_keeps_the_gross() -> None:
    weights = np.array([0.5, 0.0, -0.3, 0.2])
    closes = closes_from(K * np.column_stack([H1, H2, H1 + H3, H3]))

    problem = signed_problem(Inputs(weights, None, closes, sample_settings("risk_parity")))

    assert problem.kept.tolist() == [0, 2, 3]
    assert problem.signs.tolist() == [1.0, -1.0, 1.0]
    assert problem.gross == pytest.approx(1.0, rel=1e-15)
    sigma = np.cov(closes[1:, [0, 2, 3]] / closes[:-1, [0, 2, 3]] - 1.0, rowvar=False)
    np.testing.assert_allclose(problem.cov, sigma, rtol=1e-12)
    flip = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, -1.0, 1.0]])
    np.testing.assert_array_equal(problem.cov_signed, sigma * flip)
    np.testing.assert_allclose(
        problem.weights(np.array([0.2, 0.3, 0.5])).weights, [0.2, 0.0, -0.3, 0.5], rtol=1e-15
    )


@pytest.mark.parametrize("v", [[0.5, np.nan, 0.5], [1.2, -0.2, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0]])
def test_a_solution_that_is_not_a_budget_is_a_solver_error(v: list[float]) -> None:
    weights = np.array([0.5, -0.3, 0.2])
    problem = signed_problem(Inputs(weights, None, block_closes(0.6), sample_settings("hrp")))

    with pytest.raises(SolverError):
        problem.weights(np.array(v))


def test_registered_with_their_settings() -> None:
    for name in OPTIMISERS:
        method = METHODS.get(name)
        assert method.reads_returns
        assert method.settings == ("lookback", "covariance")
        assert not method.needs_scores
        assert ConstructionSettings(name, lookback=30).history == 31
    assert METHODS.get("risk_parity").build is risk_parity


# ------------------------------------------------------------------ fallback


def test_a_non_finite_covariance_falls_back_to_inverse_vol(monkeypatch) -> None:
    monkeypatch.setitem(
        covariance.ESTIMATORS, "sample", lambda r: np.full((r.shape[1],) * 2, np.nan)
    )
    weights = np.array([0.5, 0.3, -0.2])
    for method in OPTIMISERS:
        result = construct(Inputs(weights, None, block_closes(0.6), sample_settings(method)))

        expected = construct(
            Inputs(weights, None, block_closes(0.6), sample_settings("inverse_vol"))
        )
        assert np.array_equal(result.weights, expected.weights)
        assert result.fallback is not None
        assert result.fallback.startswith(f"{method} failed (SolverError: covariance")
        assert result.fallback.endswith("inverse_vol used instead")


def test_newton_out_of_iterations_falls_back_to_inverse_vol(monkeypatch) -> None:
    # The package's name risk_parity is the function; its module is found in sys.modules.
    module = sys.modules["quant_core.portfolio.construction.risk_parity"]
    monkeypatch.setattr(module, "MAX_ITERATIONS", 1)
    weights = np.array([0.5, 0.3, -0.2])

    result = construct(Inputs(weights, None, block_closes(0.6), sample_settings("risk_parity")))

    assert result.fallback is not None
    assert "did not converge in 1 steps" in result.fallback
    np.testing.assert_allclose(np.abs(result.weights), [1 / 3, 1 / 3, 1 / 3], rtol=1e-12)


def test_solvers_refuse_what_they_cannot_solve() -> None:
    # No long-only book has positive variance: no risk parity exists.
    indefinite = np.array([[1.0, -2.0], [-2.0, 1.0]])
    with pytest.raises(SolverError, match="not positive definite"):
        solve_risk_parity(indefinite)
    with pytest.raises(SolverError):
        solve_risk_parity(np.array([[1.0, np.inf], [np.inf, 1.0]]))
    with pytest.raises(SolverError):
        solve_min_variance(np.array([[0.0, 0.0], [0.0, 0.0]]))


def test_a_method_giving_non_finite_weights_falls_back(monkeypatch) -> None:
    from quant_core.portfolio.construction import Construction, Method

    bad = Method(lambda inputs: Construction(np.full(inputs.weights.shape, np.nan)), True, (), "")
    monkeypatch.setitem(METHODS._items, "risk_parity", bad)

    result = construct(
        Inputs(np.array([0.5, 0.5, 0.0]), None, block_closes(0.6), sample_settings("risk_parity"))
    )

    assert result.fallback == "risk_parity gave non-finite weights; inverse_vol used instead"
    assert np.isfinite(result.weights).all()


# ------------------------------------------------------------------ properties

N_NAMES, LOOKBACK = 6, 5


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
            elements=st.one_of(st.floats(1.0, 1_000.0), st.just(np.nan), st.just(50.0)),
        )
    )
    return weights, closes


@pytest.mark.parametrize("estimator", ["ledoit_wolf", "sample"])
@pytest.mark.parametrize("method", OPTIMISERS)
@settings(max_examples=150, deadline=None)
@given(book=books())
def test_weights_are_finite_signed_and_gross_kept(method: str, estimator: str, book) -> None:
    weights, closes = book
    settings_ = ConstructionSettings(method, LOOKBACK, estimator)

    result = construct(Inputs(weights, None, closes, settings_))

    out = result.weights
    assert np.isfinite(out).all()
    assert (out[weights == 0] == 0).all()
    held = out != 0
    assert (np.sign(out[held]) == np.sign(weights[held])).all()
    left = {x.index for x in result.left_out}
    assert left.isdisjoint(np.flatnonzero(held).tolist())
    assert left <= set(np.flatnonzero(weights).tolist())
    if held.any():
        assert np.abs(out).sum() == pytest.approx(np.abs(weights).sum(), rel=1e-9)
    else:
        assert left == set(np.flatnonzero(weights).tolist())


# ------------------------------------------------------------------ the covariance


@settings(max_examples=100, deadline=None)
@given(
    sessions=st.integers(2, 80),
    names=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_ledoit_wolf_agrees_with_scikit_learn(sessions: int, names: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 0.01, (sessions, 1))
    returns = market * rng.uniform(0.5, 1.5, names) + rng.normal(0.0, 0.02, (sessions, names))

    ours = covariance.estimate(returns, "ledoit_wolf")

    theirs, _ = ledoit_wolf(returns)
    np.testing.assert_allclose(ours, theirs, rtol=0.0, atol=1e-12 * np.abs(theirs).max())
