"""Methods of expected returns: Grinold's alphas, mean_variance, black_litterman, half_kelly.

Each is checked by hand where a case is small enough, against an independent numpy computation
of the pinned formula, and against skfolio (MeanRisk, BlackLitterman) to 1e-6.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skfolio import RiskMeasure
from skfolio.moments import BaseMu, EquilibriumMu, LedoitWolf
from skfolio.optimization import MeanRisk, ObjectiveFunction
from skfolio.prior import BlackLitterman, EmpiricalPrior

from quant_core.errors import ConfigError
from quant_core.portfolio.construction import (
    ConstructionSettings,
    Inputs,
    LeftOut,
    Reason,
    check_method,
    construct,
)
from quant_core.portfolio.construction.base import SolverError
from quant_core.portfolio.construction.expected import scored_problem, zscores
from quant_core.portfolio.construction.mean_variance import (
    DELTA,
    TAU,
    black_litterman,
    black_litterman_mu,
    half_kelly,
    max_sharpe_weights,
    mean_variance,
)
from quant_core.strategies.base import build_strategy


def closes_of(returns: np.ndarray, start: float = 100.0) -> np.ndarray:
    """Closes (sessions x names) whose simple returns are exactly ``returns``."""
    return np.vstack([np.full(returns.shape[1], start), start * np.cumprod(1.0 + returns, 0)])


def factor_returns(seed: int, sessions: int, names: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    factors = rng.normal(0.0, 0.01, (sessions, 3))
    loadings = rng.normal(1.0, 0.7, (names, 3))
    noise = rng.normal(0.0, 0.015, (sessions, names)) * rng.uniform(0.5, 2.0, names)
    return np.asarray(factors @ loadings.T + noise)


def grinold_by_hand(returns: np.ndarray, scores: np.ndarray, names: np.ndarray, ic: float):
    """alpha = ic x sigma (ddof=1) x z, z over every finite score: the issue's words."""
    finite = scores[np.isfinite(scores)]
    z = (scores[names] - finite.mean()) / finite.std(ddof=1)
    return ic * returns[:, names].std(axis=0, ddof=1) * z


def ledoit_wolf_by_hand(returns: np.ndarray) -> np.ndarray:
    """Ledoit and Wolf (2004): the 1/n covariance shrunk towards mu I, its own intensity."""
    x = returns - returns.mean(axis=0)
    n, p = x.shape
    sample = x.T @ x / n
    mu = np.trace(sample) / p
    delta = np.sum((sample - mu * np.eye(p)) ** 2) / p
    beta = sum(np.sum((np.outer(row, row) - sample) ** 2) for row in x) / (n**2 * p)
    shrinkage = min(beta, delta) / delta
    return np.asarray(shrinkage * mu * np.eye(p) + (1.0 - shrinkage) * sample)


class FixedMu(BaseMu):  # type: ignore[misc]
    """skfolio expected returns given as they are (ours), so that only the solver differs."""

    def __init__(self, mu=None) -> None:
        self.mu = mu

    def fit(self, X, y=None):
        self.mu_ = np.asarray(self.mu, dtype=float)
        return self


# Clarabel's default tolerances stop about 1e-5 from the optimum on weights. The maximum Sharpe
# direction does not change when mu or Sigma is scaled, so skfolio gets both scaled to order one
# (returns x 10, mu x 1,000: daily numbers are tiny) and tight gaps, and reaches 1e-8.
TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}
RETURNS_SCALE, MU_SCALE = 10.0, 1_000.0


def skfolio_max_sharpe(signed_returns: np.ndarray, signed_mu: np.ndarray) -> np.ndarray:
    """skfolio's MeanRisk(MAXIMIZE_RATIO, variance, v >= 0, budget 1) on our mu, Ledoit-Wolf."""
    model = MeanRisk(
        objective_function=ObjectiveFunction.MAXIMIZE_RATIO,
        risk_measure=RiskMeasure.VARIANCE,
        min_weights=0.0,
        max_weights=None,
        budget=1.0,
        prior_estimator=EmpiricalPrior(
            mu_estimator=FixedMu(signed_mu * MU_SCALE), covariance_estimator=LedoitWolf()
        ),
        solver_params=TIGHT,
    )
    model.fit(signed_returns * RETURNS_SCALE)
    return np.asarray(model.weights_)


def sharpe(mu: np.ndarray, cov: np.ndarray, v: np.ndarray) -> float:
    return float(mu @ v / np.sqrt(v @ cov @ v))


# ---------------------------------------------------------------------- Grinold's alphas


def test_zscores_by_hand_over_the_finite_scores() -> None:
    z = zscores(np.array([1.0, np.nan, 2.0, 3.0, np.inf]))  # mean 2, std (ddof=1) 1

    np.testing.assert_allclose(z, [-1.0, np.nan, 0.0, 1.0, np.nan], rtol=1e-15)


@pytest.mark.parametrize(
    "scores", [[np.nan, 1.0, np.nan], [2.0, 2.0, np.nan, 2.0], [np.nan, np.nan]]
)
def test_scores_that_rank_nothing_are_a_solver_failure(scores) -> None:
    with pytest.raises(SolverError, match="score"):
        zscores(np.array(scores))


# Returns alternating +-k over 4 sessions: sample sigma = k sqrt(4/3) (ddof=1).
ALTERNATING = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]) * np.array([[0.01], [-0.01], [0.01], [-0.01]])


def test_grinold_alpha_by_hand_z_over_every_scored_symbol() -> None:
    # Five symbols, all scored; the strategy picks the first three. Scores 0, 1, 2, 3, 4: mean
    # 2, std sqrt(2.5). Picks' z: -2, -1, 0 over sqrt(2.5); sigma_i = 0.01 i sqrt(4/3).
    scores = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    weights = np.array([0.2, 0.2, 0.2, 0.0, 0.0])
    settings_ = ConstructionSettings("mean_variance", lookback=4, covariance="sample", ic=0.1)

    problem, alpha = scored_problem(Inputs(weights, scores, closes_of(ALTERNATING), settings_), "x")

    sigma = 0.01 * np.array([1.0, 2.0, 3.0]) * np.sqrt(4.0 / 3.0)
    z = np.array([-2.0, -1.0, 0.0]) / np.sqrt(2.5)
    np.testing.assert_allclose(alpha, 0.1 * sigma * z, rtol=1e-12, atol=1e-18)
    assert problem.kept.tolist() == [0, 1, 2]


def test_a_pick_without_a_score_is_left_out_before_the_covariance() -> None:
    returns = factor_returns(1, 30, 5)
    closes = closes_of(returns)
    closes[5, 3] = np.nan  # a short history as well
    weights = np.array([0.2, -0.2, 0.2, 0.2, 0.2])
    scores = np.array([1.0, -2.0, np.nan, 0.5, 3.0, -1.0])[:5]
    settings_ = ConstructionSettings("mean_variance", lookback=30)

    problem, alpha = scored_problem(Inputs(weights, scores, closes, settings_), "x")

    assert problem.left_out == (LeftOut(2, Reason.NO_SCORE), LeftOut(3, Reason.SHORT_HISTORY))
    assert problem.kept.tolist() == [0, 1, 4]
    assert problem.gross == pytest.approx(1.0, rel=1e-15)  # the strategy's, over every pick
    np.testing.assert_allclose(problem.cov, ledoit_wolf_by_hand(returns[:, [0, 1, 4]]), rtol=1e-9)
    np.testing.assert_allclose(alpha, grinold_by_hand(returns, scores, problem.kept, 0.05))


def test_a_method_of_expected_returns_without_scores_is_a_config_error() -> None:
    settings_ = ConstructionSettings("mean_variance", lookback=4)
    inputs = Inputs(np.array([0.5, 0.5]), None, closes_of(ALTERNATING[:, :2]), settings_)

    with pytest.raises(ConfigError, match="mean_variance needs the strategy's scores"):
        mean_variance(inputs)


@pytest.mark.parametrize("method", ["mean_variance", "black_litterman", "half_kelly"])
@pytest.mark.parametrize("strategy", ["mean_reversion", "sma_cross"])
def test_a_strategy_without_scores_is_refused_before_anything_runs(method, strategy) -> None:
    gives_scores = build_strategy(strategy, {}).gives_scores

    with pytest.raises(ConfigError, match=rf"method={method} needs the strategy's scores.*"):
        check_method(ConstructionSettings(method), strategy, gives_scores)


@pytest.mark.parametrize("method", ["mean_variance", "black_litterman", "half_kelly"])
def test_a_strategy_with_scores_is_accepted(method) -> None:
    check_method(
        ConstructionSettings(method), "momentum", build_strategy("momentum", {}).gives_scores
    )


# ------------------------------------------------------------------------ maximum Sharpe


def test_max_sharpe_by_hand() -> None:
    # Uncorrelated: v proportional to mu / sigma^2 = (0.5, 1).
    np.testing.assert_allclose(
        max_sharpe_weights(np.array([0.02, 0.01]), np.diag([0.04, 0.01])), [1 / 3, 2 / 3]
    )
    # A zero-alpha name that hedges (correlation -0.5) is held: Sigma^-1 mu ~ (1, 0.5).
    hedge = np.array([[1.0, -0.5], [-0.5, 1.0]])
    np.testing.assert_allclose(max_sharpe_weights(np.array([1.0, 0.0]), hedge), [2 / 3, 1 / 3])
    # A negative-alpha name that does not hedge gets nothing: the bound binds.
    np.testing.assert_allclose(max_sharpe_weights(np.array([1.0, -1.0]), np.eye(2)), [1.0, 0.0])


def test_max_sharpe_without_a_positive_alpha_or_with_a_singular_covariance_fails() -> None:
    with pytest.raises(SolverError, match="positive expected return"):
        max_sharpe_weights(np.array([0.0, -0.01]), np.eye(2))
    with pytest.raises(SolverError, match="singular"):
        max_sharpe_weights(np.array([0.01, 0.01]), np.ones((2, 2)) + 1e-15 * np.eye(2))


def scored_case(seed: int, names: int, lookback: int):
    returns = factor_returns(seed, lookback, names)
    rng = np.random.default_rng(seed + 1)
    signs = np.where(rng.random(names) < 0.3, -1.0, 1.0)
    weights = signs * rng.uniform(0.01, 0.03, names)
    # Scores that agree with the sides, mostly, plus unpicked scored symbols off the end.
    scores = np.concatenate([signs + rng.normal(0.0, 0.8, names), rng.normal(0.0, 1.0, 5)])
    closes = closes_of(np.hstack([returns, factor_returns(seed + 2, lookback, 5)]))
    return returns, np.concatenate([weights, np.zeros(5)]), scores, closes, signs


def test_mean_variance_agrees_with_skfolio() -> None:
    names, lookback = 40, 120
    returns, weights, scores, closes, signs = scored_case(3, names, lookback)
    settings_ = ConstructionSettings("mean_variance", lookback=lookback, ic=0.05)

    result = mean_variance(Inputs(weights, scores, closes, settings_))

    alpha = grinold_by_hand(returns, scores, np.arange(names), 0.05)
    theirs = skfolio_max_sharpe(returns * signs, signs * alpha)
    gross = np.abs(weights).sum()
    assert result.left_out == ()
    np.testing.assert_allclose(result.weights[:names] / gross, signs * theirs, rtol=0, atol=1e-6)
    signed_cov = ledoit_wolf_by_hand(returns * signs)
    mine = signs * result.weights[:names] / gross
    assert sharpe(signs * alpha, signed_cov, mine) >= sharpe(signs * alpha, signed_cov, theirs)
    assert (result.weights[names:] == 0).all()
    assert np.abs(result.weights).sum() == pytest.approx(gross, rel=1e-12)
    assert (
        np.sign(result.weights[result.weights != 0]) == signs[result.weights[:names] != 0]
    ).all()


def test_mean_variance_without_a_positive_signed_alpha_is_a_solver_failure() -> None:
    # Both picks long, both with the lowest scores: both alphas negative.
    returns = factor_returns(8, 20, 3)
    settings_ = ConstructionSettings("mean_variance", lookback=20)
    inputs = Inputs(
        np.array([0.5, 0.5, 0.0]), np.array([-1.0, -2.0, 5.0]), closes_of(returns), settings_
    )

    with pytest.raises(SolverError, match="positive expected return"):
        mean_variance(inputs)


# ----------------------------------------------------------------------- Black-Litterman


def test_black_litterman_posterior_agrees_with_skfolio_and_the_formula() -> None:
    names, lookback = 30, 90
    returns, weights, scores, closes, _ = scored_case(5, names, lookback)
    settings_ = ConstructionSettings("black_litterman", lookback=lookback, ic=0.05)
    problem, alpha = scored_problem(Inputs(weights, scores, closes, settings_), "x")

    mine = black_litterman_mu(problem.cov, weights[:names], alpha, DELTA, TAU)

    # The formula as written, with P and Omega spelt out.
    sigma, p = ledoit_wolf_by_hand(returns), np.eye(names)
    pi = DELTA * sigma @ weights[:names]
    omega = np.diag(np.diag(TAU * p @ sigma @ p.T))
    gain = TAU * sigma @ p.T @ np.linalg.inv(p @ (TAU * sigma) @ p.T + omega)
    np.testing.assert_allclose(mine, pi + gain @ (alpha - p @ pi), rtol=1e-8)
    # skfolio's Black-Litterman prior on an equilibrium of the same weights and covariance.
    labels = [f"n{i}" for i in range(names)]
    model = BlackLitterman(
        views=[f"{label} == {float(q)!r}" for label, q in zip(labels, alpha, strict=True)],
        prior_estimator=EmpiricalPrior(
            mu_estimator=EquilibriumMu(
                risk_aversion=DELTA, weights=weights[:names], covariance_estimator=LedoitWolf()
            ),
            covariance_estimator=LedoitWolf(),
        ),
        tau=TAU,
    )
    model.fit(pd.DataFrame(returns, columns=labels))
    np.testing.assert_allclose(mine, model.return_distribution_.mu, rtol=1e-9, atol=1e-15)


def test_black_litterman_weights_are_the_max_sharpe_of_the_posterior() -> None:
    names, lookback = 30, 90
    returns, weights, scores, closes, signs = scored_case(5, names, lookback)
    settings_ = ConstructionSettings("black_litterman", lookback=lookback, ic=0.05)

    result = black_litterman(Inputs(weights, scores, closes, settings_))

    alpha = grinold_by_hand(returns, scores, np.arange(names), 0.05)
    sigma = ledoit_wolf_by_hand(returns)
    posterior = black_litterman_mu(sigma, weights[:names], alpha, DELTA, TAU)
    theirs = skfolio_max_sharpe(returns * signs, signs * posterior)
    gross = np.abs(weights).sum()
    np.testing.assert_allclose(result.weights[:names] / gross, signs * theirs, rtol=0, atol=1e-6)
    signed_cov, mine = sigma * np.outer(signs, signs), signs * result.weights[:names] / gross
    assert sharpe(signs * posterior, signed_cov, mine) >= sharpe(
        signs * posterior, signed_cov, theirs
    )


# ---------------------------------------------------------------------------- half Kelly


def test_half_kelly_is_half_sigma_inverse_alpha_unscaled() -> None:
    names, lookback = 12, 60
    returns, weights, scores, closes, _ = scored_case(9, names, lookback)
    settings_ = ConstructionSettings("half_kelly", lookback=lookback, covariance="sample")

    result = half_kelly(Inputs(weights, scores, closes, settings_))

    alpha = grinold_by_hand(returns, scores, np.arange(names), 0.05)
    kelly = 0.5 * np.linalg.solve(np.cov(returns, rowvar=False, ddof=1), alpha)
    on_side = np.sign(kelly) == np.sign(weights[:names])
    np.testing.assert_allclose(result.weights[:names], np.where(on_side, kelly, 0.0), rtol=1e-9)
    assert [x.index for x in result.left_out] == np.flatnonzero(~on_side).tolist()
    assert {x.reason for x in result.left_out} <= {Reason.OPPOSITE_SIGN}


def test_half_kelly_zeroes_and_reports_a_name_it_would_take_the_other_side_of() -> None:
    # B moves with A (correlation ~0.9) but is expected to earn a quarter as much per unit of
    # risk (z 2 vs 0.5; D, unpicked, brings the mean to 0): Kelly holds A and shorts B against
    # it (Sigma^-1 alpha ~ (2 - 0.9 x 0.5, 0.5 - 0.9 x 2)), which the strategy, long both,
    # did not ask for. C, uncorrelated, is kept.
    rng = np.random.default_rng(4)
    a = rng.normal(0.0, 0.01, 250)
    b = 0.9 * a + rng.normal(0.0, 0.0044, 250)
    returns = np.column_stack([a, b, rng.normal(0.0, 0.01, (250, 2))])
    settings_ = ConstructionSettings("half_kelly", lookback=250)
    weights, scores = np.array([0.3, 0.3, 0.3, 0.0]), np.array([2.0, 0.5, 1.5, -4.0])
    inputs = Inputs(weights, scores, closes_of(returns), settings_)

    result = half_kelly(inputs)

    assert result.left_out == (LeftOut(1, Reason.OPPOSITE_SIGN),)
    assert result.weights[1] == 0.0
    assert (result.weights[[0, 2]] > 0).all()


def test_half_kelly_with_a_singular_covariance_is_a_solver_failure() -> None:
    # A sample covariance of 5 returns of 8 names has rank 4.
    _, weights, scores, closes, _ = scored_case(2, 8, 5)
    settings_ = ConstructionSettings("half_kelly", lookback=5, covariance="sample")

    with pytest.raises(SolverError, match=r"singular|positive definite"):
        half_kelly(Inputs(weights, scores, closes, settings_))


# ----------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    names=st.integers(1, 10),
    lookback=st.integers(3, 40),
    method=st.sampled_from(["mean_variance", "black_litterman", "half_kelly"]),
    covariance=st.sampled_from(["sample", "ledoit_wolf"]),
)
def test_weights_are_finite_and_on_the_strategys_side(seed, names, lookback, method, covariance):
    rng = np.random.default_rng(seed)
    returns = factor_returns(seed, lookback, names)
    weights = rng.uniform(-0.1, 0.1, names) * (rng.random(names) < 0.8)
    scores = np.where(rng.random(names) < 0.9, rng.normal(0.0, 1.0, names), np.nan)
    settings_ = ConstructionSettings(method, lookback=lookback, covariance=covariance)

    result = construct(Inputs(weights, scores, closes_of(returns), settings_))

    out = result.weights
    assert np.isfinite(out).all()
    assert (out[weights == 0] == 0).all()
    held = out != 0
    assert (np.sign(out[held]) == np.sign(weights[held])).all()
    picked, kept = set(np.flatnonzero(weights).tolist()), set(np.flatnonzero(held).tolist())
    left = {x.index for x in result.left_out}
    assert left.isdisjoint(kept)
    assert left <= picked
    if method == "half_kelly" or result.fallback is not None:
        assert left | kept == picked  # a Kelly weight of 0 is reported; inverse_vol's too
    if method != "half_kelly" and held.any():
        # The optimum may put a kept name at 0 (a bound binds): not left out, as min_variance.
        assert np.abs(out).sum() == pytest.approx(np.abs(weights).sum(), rel=1e-9)
    if result.fallback is None and method != "half_kelly":
        assert held.any() or not (picked - left)
