"""Deflated Sharpe ratio, probabilistic Sharpe ratio, effective trials and PBO (CSCV).

Expected values come from an independent derivation in the test itself (scipy.stats, a plain
loop), never from the module. The published worked examples (the DSR paper's, the PSR and
MinTRL examples, the R pbo package's seeded cases) are in test_overfit_published.py.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from scipy import stats

from quant_core.analytics.overfit import (
    EULER_GAMMA,
    OverfitInputError,
    deflated_sharpe,
    effective_trials,
    expected_max_sharpe,
    pbo,
    probabilistic_sharpe,
    probabilistic_sharpe_from_moments,
)
from quant_core.errors import DataError

DAYS = 250  # the DSR paper's periods per year


def skewed_returns(seed: int, size: int = 1000) -> np.ndarray:
    """Daily-like returns with a positive drift, negative skew and fat tails."""
    rng = np.random.default_rng(seed)
    crash = rng.random(size) < 0.03
    return 0.001 + 0.01 * rng.standard_normal(size) - 0.04 * crash


def psr_by_hand(returns: np.ndarray, benchmark: float) -> float:
    """PSR from the 2012 formula, moments from scipy.stats (biased, non-excess kurtosis)."""
    sr = returns.mean() / returns.std(ddof=1)
    g3 = stats.skew(returns)
    g4 = stats.kurtosis(returns, fisher=False)
    z = (sr - benchmark) * math.sqrt(len(returns) - 1)
    return float(stats.norm.cdf(z / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)))


# --- expected maximum Sharpe: the formula -------------------------------------------------


def test_expected_max_sharpe_matches_the_formula():
    """E[max SR] = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))), by hand."""
    variance = 0.5 / DAYS
    by_hand = math.sqrt(variance) * (
        (1 - np.euler_gamma) * stats.norm.ppf(1 - 1 / 100)
        + np.euler_gamma * stats.norm.ppf(1 - 1 / (100 * math.e))
    )
    assert expected_max_sharpe(100, variance) == pytest.approx(by_hand, rel=1e-12)


def test_euler_gamma_constant():
    assert pytest.approx(np.euler_gamma, abs=1e-15) == EULER_GAMMA


# --- PSR -------------------------------------------------------------------------------


def test_psr_matches_independent_derivation():
    """No 2012-paper figure is asserted: the expected values are derived here with scipy."""
    returns = skewed_returns(1)
    assert stats.skew(returns) < -0.5  # the moments matter in this case
    for benchmark in (0.0, 0.02, 0.1):
        assert probabilistic_sharpe(returns, benchmark) == pytest.approx(
            psr_by_hand(returns, benchmark), rel=1e-12
        )


def test_psr_is_one_half_at_its_own_sharpe():
    returns = skewed_returns(2)
    sr = returns.mean() / returns.std(ddof=1)
    assert probabilistic_sharpe(returns, sr) == pytest.approx(0.5, abs=1e-12)


def test_psr_normal_moments_reduce_to_the_t_like_statistic():
    """Skew 0, kurtosis 3: PSR = Phi((sr - sr*) sqrt(T-1) / sqrt(1 + sr^2 / 2))."""
    z = (0.1 - 0.02) * math.sqrt(99) / math.sqrt(1 + 0.1**2 / 2)
    assert probabilistic_sharpe_from_moments(0.1, 0.02, 100, 0.0, 3.0) == pytest.approx(
        stats.norm.cdf(z), rel=1e-12
    )


def test_psr_penalises_negative_skew_and_fat_tails():
    normal = probabilistic_sharpe_from_moments(0.1, 0.0, 250, 0.0, 3.0)
    skewed = probabilistic_sharpe_from_moments(0.1, 0.0, 250, -2.0, 3.0)
    fat = probabilistic_sharpe_from_moments(0.1, 0.0, 250, 0.0, 12.0)
    assert skewed < normal
    assert fat < normal
    assert probabilistic_sharpe_from_moments(0.1, 0.0, 1000, 0.0, 3.0) > normal


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        (np.array([0.01]), "at least 2"),
        (np.array([0.01, np.nan, 0.02]), "non-finite value nan at index 1"),
        (np.full(5, 0.01), "constant"),
        (np.zeros((3, 2)), "one-dimensional"),
    ],
)
def test_psr_bad_input_named(returns, message):
    with pytest.raises(OverfitInputError, match=message):
        probabilistic_sharpe(returns)


def test_input_error_is_both_a_data_error_and_a_value_error():
    with pytest.raises(DataError):
        probabilistic_sharpe(np.array([1.0]))
    with pytest.raises(ValueError, match="kurtosis must be finite"):
        probabilistic_sharpe_from_moments(0.1, 0.0, 10, 0.0, math.inf)


# --- expected maximum Sharpe ratio ------------------------------------------------------


def test_expected_max_sharpe_tracks_a_monte_carlo_maximum():
    """The approximation against the simulated mean maximum of N standard normals."""
    rng = np.random.default_rng(3)
    simulated = rng.standard_normal((20_000, 100)).max(axis=1).mean()
    assert expected_max_sharpe(100, 1.0) == pytest.approx(simulated, rel=0.02)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * expected_max_sharpe(100, 1.0))


def test_expected_max_sharpe_grows_with_trials_and_is_floored_at_zero():
    values = [expected_max_sharpe(n, 1.0) for n in (1, 1.1, 2, 10, 1000)]
    assert values[0] == 0.0
    assert values[1] == 0.0  # the formula itself is negative here
    assert values[2] > 0
    assert values == sorted(values)
    assert expected_max_sharpe(50, 0.0) == 0.0


@pytest.mark.parametrize(
    ("trials", "variance", "message"),
    [(0.5, 1.0, "trials"), (math.nan, 1.0, "trials"), (10, -1.0, "variance")],
)
def test_expected_max_sharpe_bad_input(trials, variance, message):
    with pytest.raises(OverfitInputError, match=message):
        expected_max_sharpe(trials, variance)


# --- effective trials -------------------------------------------------------------------


def test_effective_trials_identical_columns_count_once():
    column = np.random.default_rng(4).standard_normal(500)
    assert effective_trials(np.tile(column[:, None], (1, 20))) == pytest.approx(1.0, abs=1e-9)


def test_effective_trials_independent_columns_count_fully():
    matrix = np.random.default_rng(5).standard_normal((5000, 50))
    assert effective_trials(matrix) == pytest.approx(50, abs=0.5)


def test_effective_trials_equicorrelated_columns():
    """Common factor with weight sqrt(0.5): pairwise correlation 0.5, N_eff = 0.5 + 0.5 N."""
    rng = np.random.default_rng(6)
    factor = rng.standard_normal((20_000, 1))
    matrix = math.sqrt(0.5) * factor + math.sqrt(0.5) * rng.standard_normal((20_000, 10))
    assert effective_trials(matrix) == pytest.approx(5.5, abs=0.15)


def test_effective_trials_bad_input():
    with pytest.raises(OverfitInputError, match="N >= 2"):
        effective_trials(np.zeros((10, 1)))
    matrix = np.random.default_rng(7).standard_normal((10, 3))
    matrix[:, 2] = 1.0
    with pytest.raises(OverfitInputError, match="column 2 is constant"):
        effective_trials(matrix)


# --- deflated Sharpe on returns ---------------------------------------------------------


def test_deflated_sharpe_matches_independent_derivation():
    returns = skewed_returns(8)
    sharpes = np.random.default_rng(9).normal(0.0, 0.03, 40)
    result = deflated_sharpe(returns, sharpes)
    variance = float(np.var(sharpes, ddof=1))
    benchmark = math.sqrt(variance) * (
        (1 - np.euler_gamma) * stats.norm.ppf(1 - 1 / 40)
        + np.euler_gamma * stats.norm.ppf(1 - 1 / (40 * math.e))
    )
    assert result.trials == 40
    assert result.variance == pytest.approx(variance, rel=1e-12)
    assert result.benchmark == pytest.approx(benchmark, rel=1e-12)
    assert result.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1), rel=1e-12)
    assert result.dsr == pytest.approx(psr_by_hand(returns, benchmark), rel=1e-12)
    assert result.dsr < probabilistic_sharpe(returns)  # deflation only ever lowers it here


def test_deflated_sharpe_uses_given_trials():
    returns = skewed_returns(10)
    sharpes = np.random.default_rng(11).normal(0.0, 0.03, 200)
    full = deflated_sharpe(returns, sharpes)
    fewer = deflated_sharpe(returns, sharpes, trials=5.0)
    assert fewer.trials == 5.0
    assert fewer.benchmark == pytest.approx(expected_max_sharpe(5.0, full.variance))
    assert fewer.benchmark < full.benchmark
    assert fewer.dsr > full.dsr


def test_deflated_sharpe_bad_input():
    with pytest.raises(OverfitInputError, match="trial_sharpes needs at least 2"):
        deflated_sharpe(skewed_returns(12), np.array([0.1]))
    with pytest.raises(OverfitInputError, match="trials must be"):
        deflated_sharpe(skewed_returns(12), np.array([0.1, 0.2]), trials=0.0)


# --- PBO --------------------------------------------------------------------------------


def pbo_brute_force(performance, partitions, metric=None):
    """CSCV by a plain loop: rows of each half concatenated, scipy's average ranks."""
    n = performance.shape[1]
    blocks = np.array_split(np.arange(len(performance)), partitions)
    logits = []
    for chosen in itertools.combinations(range(partitions), partitions // 2):
        rest = [b for b in range(partitions) if b not in chosen]
        halves = []
        for part in (chosen, rest):
            rows = performance[np.concatenate([blocks[b] for b in part])]
            if metric is None:
                halves.append(rows.mean(axis=0) / rows.std(axis=0, ddof=1))
            else:
                halves.append(metric(rows))
        best = int(np.argmax(halves[0]))
        w = stats.rankdata(halves[1])[best] / (n + 1)
        logits.append(math.log(w / (1 - w)))
    logits_array = np.array(logits)
    return logits_array, float(np.mean(logits_array <= 0))


def test_pbo_hand_worked_case():
    """S = 2, T = 4, N = 2, computed on paper.

    Blocks: rows 0-1 and 2-3. Config 0: [1, 3 | -3, -1], Sharpe +sqrt(2) then -sqrt(2).
    Config 1: [0, 1 | 1, 2], Sharpe 0.5/0.707 = 0.707 then 1.5/0.707 = 2.121.
    IS block 0 picks config 0, which is last OOS: w = 1/3, lambda = ln(1/2).
    IS block 1 picks config 1, which is last OOS: w = 1/3, lambda = ln(1/2). PBO = 1.
    """
    performance = np.array([[1.0, 0.0], [3.0, 1.0], [-3.0, 1.0], [-1.0, 2.0]])
    result = pbo(performance, partitions=2)
    assert result.combinations == 2
    np.testing.assert_allclose(result.logits, [math.log(0.5)] * 2, rtol=1e-12)
    assert result.pbo == 1.0
    np.testing.assert_allclose(result.is_metric, [math.sqrt(2), 1.5 / math.sqrt(0.5)])
    np.testing.assert_allclose(result.oos_metric, [-math.sqrt(2), 0.5 / math.sqrt(0.5)])
    assert result.prob_oos_loss == 0.5


def test_pbo_noise_is_near_one_half():
    performance = np.random.default_rng(13).normal(0.0, 0.01, (1000, 20))
    result = pbo(performance)
    assert result.combinations == math.comb(16, 8)
    assert 0.3 <= result.pbo <= 0.7


def test_pbo_real_edge_is_near_zero():
    rng = np.random.default_rng(14)
    performance = rng.normal(0.0, 0.01, (1000, 20))
    performance[:, 11] += 0.002  # a constant drift of 0.2 standard deviations per period
    result = pbo(performance)
    assert result.pbo < 0.05
    assert np.median(result.logits) > 2
    assert result.prob_oos_loss < 0.05


def test_pbo_vectorised_equals_brute_force():
    """S = 6 over T = 301 rows (blocks of 51 and 50 rows): every logit identical."""
    performance = np.random.default_rng(15).normal(0.0005, 0.01, (301, 9))
    logits, expected = pbo_brute_force(performance, 6)
    result = pbo(performance, partitions=6)
    assert result.combinations == 20
    np.testing.assert_array_equal(result.logits, logits)
    assert result.pbo == expected


def test_pbo_custom_metric_equals_brute_force():
    performance = np.random.default_rng(16).normal(0.0, 0.01, (240, 7))

    def total_return(rows):
        return rows.sum(axis=0)

    logits, expected = pbo_brute_force(performance, 6, total_return)
    result = pbo(performance, partitions=6, metric=total_return)
    np.testing.assert_array_equal(result.logits, logits)
    assert result.pbo == expected


def test_pbo_ties_take_the_average_rank():
    """Two identical best configurations tie OOS: rank (N-1 + N) / 2 of N = 4, w = 3.5 / 5."""
    rng = np.random.default_rng(17)
    edge = rng.normal(0.003, 0.01, (200, 1))
    noise = rng.normal(0.0, 0.01, (200, 2))
    result = pbo(np.hstack([edge, edge, noise]), partitions=4)
    np.testing.assert_allclose(result.logits, math.log(3.5 / 1.5), rtol=1e-12)
    assert result.pbo == 0.0


def test_pbo_median_counts_as_overfit():
    """N = 3, IS-best always OOS-median: lambda = 0 exactly, counted (PBO uses <= 0)."""
    performance = np.array([[1.0, 2.0, 0.0], [2.0, 3.0, 0.5], [-1.0, 0.0, 1.0], [0.0, 1.0, 1.5]])
    # Block 0 (rows 0-1): Sharpe of col 0 = 1.5/0.707, col 1 = 2.5/0.707, col 2 = 0.25/0.354.
    # Block 1 (rows 2-3): col 0 = -0.5/0.707, col 1 = 0.5/0.707, col 2 = 1.25/0.354.
    # IS block 0 -> col 1, OOS rank 2 of 3 (median). IS block 1 -> col 2, OOS rank 1 of 3.
    result = pbo(performance, partitions=2)
    np.testing.assert_allclose(result.logits, [0.0, math.log(1 / 3)], atol=1e-12)
    assert result.pbo == 1.0


def test_pbo_degradation_slope_is_negative_for_noise():
    """Noise: a high IS Sharpe spent more of the fixed total on the IS half: slope < 0."""
    performance = np.random.default_rng(18).normal(0.0, 0.01, (1000, 20))
    assert pbo(performance, partitions=8).degradation_slope < 0


@pytest.mark.parametrize(
    ("shape", "partitions", "message"),
    [
        ((100, 5), 7, "even"),
        ((100, 5), 0, "even"),
        ((10, 5), 12, "exceeds the T = 10 rows"),
        ((3, 5), 2, "fewer than 2 rows per half"),
        ((100, 1), 4, "N >= 2"),
        ((100,), 4, "T x N matrix"),
    ],
)
def test_pbo_bad_input_named(shape, partitions, message):
    performance = np.random.default_rng(19).standard_normal(shape)
    with pytest.raises(OverfitInputError, match=message):
        pbo(performance, partitions=partitions)


def test_pbo_non_finite_named():
    performance = np.random.default_rng(20).standard_normal((100, 4))
    performance[37, 2] = np.inf
    with pytest.raises(ValueError, match="non-finite value inf at row 37, column 2"):
        pbo(performance)


def test_pbo_bad_metric_named():
    performance = np.random.default_rng(21).standard_normal((100, 4))
    with pytest.raises(OverfitInputError, match="metric must return 4"):
        pbo(performance, partitions=4, metric=lambda rows: rows.sum())


def test_pbo_speed_n100_t2000_s16():
    performance = np.random.default_rng(22).normal(0.0, 0.01, (2000, 100))
    started = time.perf_counter()
    result = pbo(performance, partitions=16)
    elapsed = time.perf_counter() - started
    assert result.combinations == 12_870
    assert elapsed < 1.0
