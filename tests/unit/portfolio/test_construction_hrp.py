"""Hierarchical risk parity: a hand-computed 4-asset case, a reference port and skfolio."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform
from skfolio import RiskMeasure
from skfolio.cluster import HierarchicalClustering, LinkageMethod
from skfolio.distance import CovarianceDistance, PearsonDistance
from skfolio.moments import EmpiricalCovariance, LedoitWolf
from skfolio.optimization import HierarchicalRiskParity
from skfolio.prior import EmpiricalPrior
from skfolio.seriation import HierarchicalSeriation

from quant_core.portfolio.construction import ConstructionSettings, Inputs, LeftOut, Reason
from quant_core.portfolio.construction.base import SolverError
from quant_core.portfolio.construction.covariance import estimate
from quant_core.portfolio.construction.hrp import hrp, hrp_weights


def cov_of(vols: list[float], corr: np.ndarray) -> np.ndarray:
    sd = np.array(vols)
    return corr * np.outer(sd, sd)


def closes_of(returns: np.ndarray, start: float = 100.0) -> np.ndarray:
    """Closes (sessions x names) whose simple returns are exactly ``returns``."""
    return np.vstack([np.full(returns.shape[1], start), start * np.cumprod(1.0 + returns, 0)])


def factor_returns(seed: int, sessions: int, names: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    factors = rng.normal(0.0, 0.01, (sessions, 3))
    loadings = rng.normal(1.0, 0.7, (names, 3))
    noise = rng.normal(0.0, 0.015, (sessions, names)) * rng.uniform(0.5, 2.0, names)
    return np.asarray(factors @ loadings.T + noise)


# ------------------------------------------------------------------ hand-computed 4 assets

# A (vol 0.1) and B (0.2) correlate 0.8, C and D (0.1 each) 0.5, the pairs not at all. Single
# linkage joins A-B (distance sqrt(0.1)), then C-D (sqrt(0.25)), then the two; bisection splits
# {A, B} | {C, D}. Inverse-variance portfolio variances, ab(a + b + 2c) / (a + b)^2:
# V_AB = 0.01 x 0.04 x (0.05 + 0.032) / 0.05^2 = 0.01312 and V_CD = 0.0075. {A, B} gets
# V_CD / (V_AB + V_CD) = 750 / 2062, split 4 : 1 (inverse variance); {C, D} 1312 / 2062, halved.
TEXTBOOK = cov_of(
    [0.1, 0.2, 0.1, 0.1],
    np.array(
        [
            [1.0, 0.8, 0.0, 0.0],
            [0.8, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.5],
            [0.0, 0.0, 0.5, 1.0],
        ]
    ),
)
TEXTBOOK_WEIGHTS = np.array([600.0, 150.0, 656.0, 656.0]) / 2062.0


def test_hrp_textbook_four_assets_by_hand() -> None:
    np.testing.assert_allclose(hrp_weights(TEXTBOOK), TEXTBOOK_WEIGHTS, rtol=1e-12)


def test_hrp_clusters_before_it_bisects() -> None:
    # Shuffled to C, A, D, B: bisecting the input order would split {C, A} | {D, B}.
    order = [2, 0, 3, 1]

    weights = hrp_weights(TEXTBOOK[np.ix_(order, order)])

    np.testing.assert_allclose(weights, TEXTBOOK_WEIGHTS[order], rtol=1e-12)


def test_a_short_name_is_clustered_by_its_negated_returns() -> None:
    # B is A's mirror image (correlation -0.8); the strategy shorts B, so in the signed space
    # A and short-B are one cluster, as in the textbook case.
    mirrored = TEXTBOOK * np.outer([1, -1, 1, 1], [1, -1, 1, 1])
    sessions = 400
    rng = np.random.default_rng(3)
    returns = rng.multivariate_normal(np.zeros(4), mirrored, sessions) * 0.1
    settings_ = ConstructionSettings("hrp", lookback=sessions, covariance="sample")
    weights = np.array([0.25, -0.25, 0.25, 0.25])

    result = hrp(Inputs(weights, None, closes_of(returns), settings_))

    signs = np.array([1.0, -1.0, 1.0, 1.0])
    signed_cov = np.cov(returns * signs, rowvar=False, ddof=1)
    np.testing.assert_allclose(result.weights, signs * hrp_weights(signed_cov), rtol=1e-12)
    assert np.sign(result.weights).tolist() == signs.tolist()
    assert np.abs(result.weights).sum() == pytest.approx(1.0, rel=1e-12)


# -------------------------------------------- Lopez de Prado's own steps, ported as written


def reference_hrp(cov: np.ndarray) -> np.ndarray:
    """Lopez de Prado (2016), getQuasiDiag / getClusterVar / getRecBipart, list by list."""
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    dist = np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, 1.0))
    link = linkage(squareform(dist, checks=False), "single")
    n = cov.shape[0]
    items = [int(link[-1, 0]), int(link[-1, 1])]
    while max(items) >= n:  # replace every cluster by its two children, in place
        expanded: list[int] = []
        for item in items:
            if item >= n:
                row = link[item - n]
                expanded += [int(row[0]), int(row[1])]
            else:
                expanded.append(item)
        items = expanded
    weights = dict.fromkeys(items, 1.0)
    clusters = [items]
    while clusters:
        clusters = [
            part for c in clusters for part in (c[: len(c) // 2], c[len(c) // 2 :]) if len(c) > 1
        ]
        for left, right in zip(clusters[::2], clusters[1::2], strict=True):
            variances = []
            for members in (left, right):
                sub = cov[np.ix_(members, members)]
                ivp = 1.0 / np.diag(sub)
                ivp /= ivp.sum()
                variances.append(ivp @ sub @ ivp)
            share = 1.0 - variances[0] / (variances[0] + variances[1])
            for i in left:
                weights[i] *= share
            for i in right:
                weights[i] *= 1.0 - share
    return np.array([weights[i] for i in range(n)])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), names=st.integers(2, 25))
def test_hrp_equals_lopez_de_prados_steps(seed: int, names: int) -> None:
    cov = estimate(factor_returns(seed, 60, names), "ledoit_wolf")

    np.testing.assert_allclose(hrp_weights(cov), reference_hrp(cov), rtol=1e-10, atol=1e-15)


# ----------------------------------------------------------------------- against skfolio


def skfolio_hrp(signed_returns: np.ndarray, covariance: str) -> np.ndarray:
    """skfolio's HRP configured as ours: variance, single linkage, no optimal leaf order."""
    if covariance == "sample":
        estimator, distance = EmpiricalCovariance(), PearsonDistance()
    else:  # the correlation of the prior's (Ledoit-Wolf) covariance, not of the returns
        estimator = LedoitWolf()
        distance = CovarianceDistance(covariance_estimator="precomputed")
    model = HierarchicalRiskParity(
        risk_measure=RiskMeasure.VARIANCE,
        prior_estimator=EmpiricalPrior(covariance_estimator=estimator),
        distance_estimator=distance,
        seriation_estimator=HierarchicalSeriation(
            hierarchical_clustering_estimator=HierarchicalClustering(
                linkage_method=LinkageMethod.SINGLE
            ),
            optimal_ordering=False,
        ),
    )
    with warnings.catch_warnings():
        # skfolio's own deprecation notices are not ours to fix.
        warnings.simplefilter("ignore", FutureWarning)
        model.fit(signed_returns)
    return np.asarray(model.weights_)


@pytest.mark.parametrize("covariance", ["sample", "ledoit_wolf"])
def test_hrp_agrees_with_skfolio(covariance: str) -> None:
    names, lookback = 40, 120
    returns = factor_returns(11, lookback, names)
    rng = np.random.default_rng(5)
    weights = rng.uniform(0.005, 0.03, names) * np.where(rng.random(names) < 0.3, -1.0, 1.0)
    settings_ = ConstructionSettings("hrp", lookback=lookback, covariance=covariance)

    result = hrp(Inputs(weights, None, closes_of(returns), settings_))

    signs = np.sign(weights)
    theirs = skfolio_hrp(returns * signs, covariance)
    gross = np.abs(weights).sum()
    np.testing.assert_allclose(result.weights, signs * theirs * gross, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.abs(result.weights) / gross, theirs, rtol=1e-9)


# ------------------------------------------------------------------ left out and reported


def test_hrp_leaves_out_short_histories_and_flat_names_and_reports_them() -> None:
    returns = factor_returns(2, 30, 6)
    returns[:, 4] = 0.0  # never moves
    closes = closes_of(returns)
    closes[10, 1] = np.nan  # a missing close inside the window
    weights = np.array([0.2, 0.2, -0.2, 0.0, 0.2, 0.2])
    settings_ = ConstructionSettings("hrp", lookback=30)

    result = hrp(Inputs(weights, None, closes, settings_))

    assert result.left_out == (
        LeftOut(1, Reason.SHORT_HISTORY),
        LeftOut(4, Reason.ZERO_VOLATILITY),
    )
    assert (result.weights[[1, 3, 4]] == 0).all()
    kept = [0, 2, 5]
    signs = np.sign(weights[kept])
    signed = estimate(returns[:, kept], "ledoit_wolf") * np.outer(signs, signs)
    np.testing.assert_allclose(result.weights[kept], signs * hrp_weights(signed), rtol=1e-12)


def test_hrp_of_one_name_gives_it_the_whole_gross() -> None:
    closes = closes_of(factor_returns(4, 10, 3))
    settings_ = ConstructionSettings("hrp", lookback=9)

    result = hrp(Inputs(np.array([0.0, -0.4, 0.0]), None, closes, settings_))

    np.testing.assert_allclose(result.weights, [0.0, -0.4, 0.0], rtol=1e-15)


def test_hrp_with_nothing_kept_is_all_zero_and_reports_every_name() -> None:
    closes = closes_of(factor_returns(4, 3, 2))
    settings_ = ConstructionSettings("hrp", lookback=10)  # longer than the panel

    result = hrp(Inputs(np.array([0.5, 0.5]), None, closes, settings_))

    assert (result.weights == 0).all()
    assert [x.reason for x in result.left_out] == [Reason.SHORT_HISTORY] * 2


def test_hrp_refuses_a_zero_variance() -> None:
    with pytest.raises(SolverError, match="positive, finite variance"):
        hrp_weights(np.diag([0.01, 0.0, 0.02]))


# ----------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    names=st.integers(1, 12),
    lookback=st.integers(2, 40),
    covariance=st.sampled_from(["sample", "ledoit_wolf"]),
)
def test_hrp_weights_are_finite_signed_and_keep_the_gross(seed, names, lookback, covariance):
    rng = np.random.default_rng(seed)
    returns = factor_returns(seed, lookback, names)
    weights = rng.uniform(-0.1, 0.1, names) * (rng.random(names) < 0.8)
    settings_ = ConstructionSettings("hrp", lookback=lookback, covariance=covariance)

    result = hrp(Inputs(weights, None, closes_of(returns), settings_))

    out = result.weights
    assert np.isfinite(out).all()
    assert (out[weights == 0] == 0).all()
    assert (np.sign(out[weights != 0]) == np.sign(weights[weights != 0])).all()
    assert result.left_out == ()
    assert np.abs(out).sum() == pytest.approx(np.abs(weights).sum(), rel=1e-12, abs=1e-15)
