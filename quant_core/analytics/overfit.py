"""Overfitting measures: deflated Sharpe ratio and probability of backtest overfitting (pure).

:func:`probabilistic_sharpe` (PSR, Bailey & Lopez de Prado 2012) is the probability that the
true Sharpe ratio of a return series exceeds a benchmark, given its length, skewness and
kurtosis. :func:`deflated_sharpe` (DSR, Bailey & Lopez de Prado 2014) is the PSR against the
Sharpe ratio the best of N worthless trials is expected to reach (:func:`expected_max_sharpe`),
with N optionally reduced for correlated trials by :func:`effective_trials`. :func:`pbo`
(Bailey, Borwein, Lopez de Prado & Zhu 2017) estimates by combinatorially symmetric
cross-validation (CSCV) how often the configuration that is best in sample ranks at or below
the median out of sample.

Units: returns are simple per-period returns (fractions, e.g. daily); every Sharpe ratio here is
per period, not annualised (multiply by sqrt(periods per year) to annualise; divide an
annualised variance of Sharpe ratios by periods per year). Probabilities are in [0, 1].
Bad input raises :class:`OverfitInputError`, a :class:`~quant_core.errors.DataError` that is
also a :class:`ValueError`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from quant_core.errors import DataError

EULER_GAMMA = 0.5772156649015329
Metric = Callable[[np.ndarray], np.ndarray]
_CHUNK = 4096  # combinations scored at once by pbo (bounds memory at _CHUNK x N floats)


class OverfitInputError(DataError, ValueError):
    """Input an overfitting measure cannot use (shape, length, non-finite or constant values)."""


@dataclass(frozen=True)
class DeflatedSharpe:
    """Result of :func:`deflated_sharpe`.

    ``dsr`` probability in [0, 1] that the true Sharpe ratio beats ``benchmark``; ``sharpe`` the
    best trial's per-period Sharpe ratio; ``benchmark`` the expected maximum per-period Sharpe
    ratio of ``trials`` worthless trials; ``trials`` the N used; ``variance`` the variance of the
    trials' per-period Sharpe ratios (ddof=1).
    """

    dsr: float
    sharpe: float
    benchmark: float
    trials: float
    variance: float


@dataclass(frozen=True)
class PBOResult:
    """Result of :func:`pbo`.

    ``pbo`` fraction of combinations with logit <= 0; ``logits`` lambda_c per combination (in
    :func:`itertools.combinations` order of the in-sample blocks); ``combinations`` C(S, S/2);
    ``is_metric`` and ``oos_metric`` the in-sample-best configuration's metric in and out of
    sample per combination; ``degradation_slope`` and ``degradation_intercept`` the least-squares
    line oos_metric = intercept + slope * is_metric over the finite pairs (NaN when it cannot be
    fitted); ``prob_oos_loss`` fraction of combinations whose out-of-sample metric is < 0.
    """

    pbo: float
    logits: np.ndarray
    combinations: int
    is_metric: np.ndarray
    oos_metric: np.ndarray
    degradation_slope: float
    degradation_intercept: float
    prob_oos_loss: float


def _vector(values: np.ndarray, name: str, minimum: int) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise OverfitInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if len(array) < minimum:
        raise OverfitInputError(f"{name} needs at least {minimum} values, got {len(array)}")
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        raise OverfitInputError(f"{name} has a non-finite value {array[bad[0]]} at index {bad[0]}")
    return array


def _matrix(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 2:
        raise OverfitInputError(f"{name} must be a T x N matrix, got shape {array.shape}")
    if array.shape[1] < 2:
        raise OverfitInputError(f"{name} needs N >= 2 columns (trials), got {array.shape[1]}")
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        row, col = bad[0]
        raise OverfitInputError(
            f"{name} has a non-finite value {array[row, col]} at row {row}, column {col}"
        )
    return array


def probabilistic_sharpe_from_moments(
    sharpe: float, benchmark_sr: float, observations: int, skew: float, kurtosis: float
) -> float:
    """Return the PSR from summary statistics (per-period Sharpe ratios).

    ``PSR = Phi((sr - sr*) sqrt(T - 1) / sqrt(1 - g3 sr + (g4 - 1) / 4 sr^2))`` with ``sr`` =
    ``sharpe``, ``sr*`` = ``benchmark_sr``, ``T`` = ``observations``, ``g3`` = ``skew`` and
    ``g4`` = ``kurtosis`` (non-excess: 3 for normal returns); Phi is the standard normal CDF.

    Raises
    ------
    OverfitInputError
        Non-finite input, fewer than 2 observations, or a non-positive variance term.
    """
    values = {"sharpe": sharpe, "benchmark_sr": benchmark_sr, "skew": skew, "kurtosis": kurtosis}
    for name, value in values.items():
        if not math.isfinite(value):
            raise OverfitInputError(f"{name} must be finite, got {value}")
    if observations < 2:
        raise OverfitInputError(f"observations must be >= 2, got {observations}")
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if variance <= 0.0:
        raise OverfitInputError(
            f"1 - skew*sr + (kurtosis-1)/4*sr^2 = {variance} <= 0 (skew {skew}, kurtosis "
            f"{kurtosis}, sr {sharpe}): the moments are inconsistent"
        )
    z = (sharpe - benchmark_sr) * math.sqrt(observations - 1) / math.sqrt(variance)
    return float(stats.norm.cdf(z))


# A standard deviation this small beside the mean is rounding, not variation (np.full(10, 0.01)
# has one of ~1.8e-18): the series is constant.
CONSTANT_RTOL = 1e-12


def is_constant(returns: np.ndarray) -> bool:
    """Return whether ``returns`` do not vary: all equal, or a std that is rounding (above)."""
    values = np.asarray(returns, dtype=float)
    std = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    return bool(np.ptp(values) == 0.0 or std <= CONSTANT_RTOL * abs(float(np.mean(values))))


def _sharpe(returns: np.ndarray, name: str) -> float:
    std = float(np.std(returns, ddof=1))
    mean = float(np.mean(returns))
    if is_constant(returns):
        raise OverfitInputError(f"{name} is constant ({returns[0]}): its Sharpe ratio is undefined")
    return mean / std


def probabilistic_sharpe(returns: np.ndarray, benchmark_sr: float = 0.0) -> float:
    """Return the probability that the true per-period Sharpe ratio of ``returns`` exceeds one.

    On per-period returns r_1..r_T: ``sr = mean(r) / std(r, ddof=1)``; ``g3`` the sample
    skewness and ``g4`` the sample (non-excess) kurtosis, both from the biased central moments
    (``m3 / m2^1.5`` and ``m4 / m2^2``, m_k = mean((r - mean r)^k)); then
    ``PSR = Phi((sr - sr*) sqrt(T - 1) / sqrt(1 - g3 sr + (g4 - 1) / 4 sr^2))`` with
    ``sr*`` = ``benchmark_sr`` per period (Bailey & Lopez de Prado 2012, "The Sharpe Ratio
    Efficient Frontier"). Needs at least 2 returns, all finite, not all equal.
    """
    array = _vector(returns, "returns", 2)
    sharpe = _sharpe(array, "returns")
    return probabilistic_sharpe_from_moments(
        sharpe,
        benchmark_sr,
        len(array),
        float(stats.skew(array, bias=True)),
        float(stats.kurtosis(array, fisher=False, bias=True)),
    )


def expected_max_sharpe(trials: float, variance: float) -> float:
    """Return the expected maximum Sharpe ratio of ``trials`` trials with no skill.

    ``E[max SR] = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))`` with N =
    ``trials``, V = ``variance`` of the trials' Sharpe ratios (in the units of the Sharpe ratios
    compared with it: per-period SRs need a per-period variance), gamma the Euler-Mascheroni
    constant (Bailey & Lopez de Prado 2014). N may be fractional (effective trials). The
    approximation turns negative for N below about 1.28, where the true expectation of the
    largest of N >= 1 zero-mean draws is >= 0: the result is floored at 0 (N = 1 gives 0).
    """
    if not (math.isfinite(trials) and trials >= 1.0):
        raise OverfitInputError(f"trials must be a finite number >= 1, got {trials}")
    if not (math.isfinite(variance) and variance >= 0.0):
        raise OverfitInputError(f"variance must be finite and >= 0, got {variance}")
    if trials == 1.0:
        return 0.0
    z = (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / trials) + EULER_GAMMA * stats.norm.ppf(
        1.0 - 1.0 / (trials * math.e)
    )
    return max(0.0, math.sqrt(variance) * float(z))


def effective_trials(returns_matrix: np.ndarray) -> float:
    """Return the number of independent trials among correlated ones (columns = trials).

    ``N_eff = rho_bar + (1 - rho_bar) N``, rho_bar the mean of the N (N - 1) off-diagonal
    Pearson correlations of the columns' return series, clipped to [1, N]: identical trials
    count once, uncorrelated ones N times (the equicorrelated-block estimate in the style of
    Lopez de Prado, "Machine Learning for Asset Managers"). Needs T >= 2 rows, N >= 2 columns,
    finite values and no constant column.
    """
    matrix = _matrix(returns_matrix, "returns_matrix")
    rows, n = matrix.shape
    if rows < 2:
        raise OverfitInputError(f"returns_matrix needs at least 2 rows, got {rows}")
    constant = np.flatnonzero(np.ptp(matrix, axis=0) == 0.0)
    if len(constant):
        raise OverfitInputError(
            f"returns_matrix column {constant[0]} is constant: its correlation is undefined"
        )
    corr = np.corrcoef(matrix, rowvar=False)
    rho_bar = (float(corr.sum()) - float(np.trace(corr))) / (n * (n - 1))
    return float(np.clip(rho_bar + (1.0 - rho_bar) * n, 1.0, n))


def deflated_sharpe(
    best_returns: np.ndarray, trial_sharpes: np.ndarray, trials: float | None = None
) -> DeflatedSharpe:
    """Return the deflated Sharpe ratio of the best of several trials.

    ``DSR = PSR(best_returns, sr* = E[max SR](N, V))`` (see :func:`probabilistic_sharpe` and
    :func:`expected_max_sharpe`), V = ``var(trial_sharpes, ddof=1)`` the variance of every
    trial's per-period Sharpe ratio (the best one's included), N = ``trials`` when given (e.g.
    :func:`effective_trials`) else ``len(trial_sharpes)`` (Bailey & Lopez de Prado 2014, "The
    Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and
    Non-Normality").
    """
    sharpes = _vector(trial_sharpes, "trial_sharpes", 2)
    n = float(len(sharpes)) if trials is None else float(trials)
    variance = float(np.var(sharpes, ddof=1))
    benchmark = expected_max_sharpe(n, variance)
    array = _vector(best_returns, "best_returns", 2)
    dsr = probabilistic_sharpe(array, benchmark)
    return DeflatedSharpe(
        dsr=dsr,
        sharpe=_sharpe(array, "best_returns"),
        benchmark=benchmark,
        trials=n,
        variance=variance,
    )


def _ratio(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Return mean / std; where std == 0: +inf, -inf or 0 by the sign of the mean."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = mean / std
    flat = std == 0.0
    out[flat] = np.sign(mean[flat]) * np.inf
    out[flat & (mean == 0.0)] = 0.0
    return np.asarray(out)


def _sharpe_sets(
    sums: tuple[np.ndarray, ...], member: np.ndarray, center: np.ndarray
) -> np.ndarray:
    """Return the Sharpe ratio per (combination, configuration) from per-block sums.

    With n, s1, s2 the row count and the sums of x and x^2 of the centred returns x = r - c over
    the member blocks: ``mean = s1 / n + c``, ``var = (s2 - s1^2 / n) / (n - 1)``.
    """
    counts, s1_blocks, s2_blocks = sums
    weights = member.astype(float)
    n = (weights @ counts)[:, None]
    s1 = weights @ s1_blocks
    s2 = weights @ s2_blocks
    var = np.maximum(s2 - s1 * s1 / n, 0.0) / (n - 1.0)
    return _ratio(s1 / n + center, np.sqrt(var))


def _metric_sets(
    matrix: np.ndarray, blocks: list[np.ndarray], member: np.ndarray, metric: Metric
) -> np.ndarray:
    """Return ``metric`` per (combination, configuration): one call per combination."""
    out = np.empty((len(member), matrix.shape[1]))
    for k, row in enumerate(member):
        rows = np.concatenate([blocks[b] for b in np.flatnonzero(row)])
        values = np.asarray(metric(matrix[rows]), dtype=float)
        if values.shape != (matrix.shape[1],) or np.isnan(values).any():
            raise OverfitInputError(
                f"metric must return {matrix.shape[1]} non-NaN values, got shape {values.shape}"
                f" with values {values.ravel()[:5]} for blocks {np.flatnonzero(row).tolist()}"
            )
        out[k] = values
    return out


def _check_partitions(rows: int, partitions: int) -> None:
    if partitions < 2 or partitions % 2:
        raise OverfitInputError(f"partitions S must be even and >= 2, got {partitions}")
    if partitions > rows:
        raise OverfitInputError(f"partitions S = {partitions} exceeds the T = {rows} rows")
    if partitions // 2 * (rows // partitions) < 2:
        raise OverfitInputError(
            f"T = {rows} rows in S = {partitions} blocks leave fewer than 2 rows per half"
        )


def _degradation(is_metric: np.ndarray, oos_metric: np.ndarray) -> tuple[float, float]:
    finite = np.isfinite(is_metric) & np.isfinite(oos_metric)
    x, y = is_metric[finite], oos_metric[finite]
    if len(x) < 2 or np.ptp(x) == 0.0:
        return math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def pbo(performance: np.ndarray, partitions: int = 16, metric: Metric | None = None) -> PBOResult:
    """Return the probability of backtest overfitting of N configurations by CSCV.

    ``performance`` is T x N per-period returns (rows time in order, columns configurations).
    The rows are cut into S = ``partitions`` contiguous blocks (:func:`numpy.array_split`:
    sizes differ by at most one row, no row dropped). For each of the C(S, S/2) combinations c
    of S/2 blocks as in-sample (IS), the rest out-of-sample (OOS), both in time order:

    1. score every configuration IS and OOS with ``metric`` (default: Sharpe ratio
       ``mean / std(ddof=1)`` per period; a constant series scores +inf, -inf or 0 by the sign
       of its mean); a custom ``metric`` maps a rows x N array to N scores, higher is better;
    2. n* = argmax of the IS scores (first one on ties);
    3. w_c = rank of n*'s OOS score among the N OOS scores / (N + 1), rank 1 the worst, N the
       best, ties at their average rank (as pypbo; the R package pbo divides by N, which
       changes PBO only when n* lands exactly on the OOS median: counted here, not in R);
    4. logit ``lambda_c = ln(w_c / (1 - w_c))``.

    ``PBO = #{c : lambda_c <= 0} / C(S, S/2)``. The bound is inclusive: lambda_c = 0 means the
    IS-best configuration landed exactly on the OOS median, so its selection bought nothing out
    of sample (Bailey, Borwein, Lopez de Prado & Zhu, "The Probability of Backtest
    Overfitting", 2017: PBO is the mass of the logit distribution on (-inf, 0]).

    The default metric is scored for all combinations at once from per-block sums; a custom
    metric is called once per combination and is slower.

    Raises
    ------
    OverfitInputError
        S odd or < 2, S > T, halves under 2 rows, N < 2, a non-finite value, or a custom metric
        returning the wrong shape or NaN.
    """
    matrix = _matrix(performance, "performance")
    rows, n = matrix.shape
    _check_partitions(rows, partitions)
    blocks = np.array_split(np.arange(rows), partitions)
    chosen = np.array(list(itertools.combinations(range(partitions), partitions // 2)))
    member = np.zeros((len(chosen), partitions), dtype=bool)
    member[np.arange(len(chosen))[:, None], chosen] = True
    starts = np.array([block[0] for block in blocks])
    center = matrix.mean(axis=0)
    centred = matrix - center
    sums = (
        np.array([len(block) for block in blocks], dtype=float),
        np.add.reduceat(centred, starts, axis=0),
        np.add.reduceat(centred * centred, starts, axis=0),
    )
    logits, is_best, oos_best = [], [], []
    for start in range(0, len(member), _CHUNK):
        part = member[start : start + _CHUNK]
        if metric is None:
            is_scores = _sharpe_sets(sums, part, center)
            oos_scores = _sharpe_sets(sums, ~part, center)
        else:
            is_scores = _metric_sets(matrix, blocks, part, metric)
            oos_scores = _metric_sets(matrix, blocks, ~part, metric)
        best = np.argmax(is_scores, axis=1)
        taken = np.arange(len(part))
        oos = oos_scores[taken, best]
        below = (oos_scores < oos[:, None]).sum(axis=1)
        equal = (oos_scores == oos[:, None]).sum(axis=1)
        w = (below + (equal + 1) / 2.0) / (n + 1.0)
        logits.append(np.log(w / (1.0 - w)))
        is_best.append(is_scores[taken, best])
        oos_best.append(oos)
    lam = np.concatenate(logits)
    is_metric, oos_metric = np.concatenate(is_best), np.concatenate(oos_best)
    slope, intercept = _degradation(is_metric, oos_metric)
    return PBOResult(
        pbo=float(np.mean(lam <= 0.0)),
        logits=lam,
        combinations=len(lam),
        is_metric=is_metric,
        oos_metric=oos_metric,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(oos_metric < 0.0)),
    )
