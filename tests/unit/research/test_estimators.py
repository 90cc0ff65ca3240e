"""Estimators, one refit, and the bootstrap of the coefficients by dates."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge

from quant_core.errors import ConfigError, DataError
from quant_core.research.estimators import (
    bootstrap_by_dates,
    date_draws,
    fit_refit,
    make_estimator,
)

BETA = np.array([0.5, -0.3, 0.2])


def test_make_estimator_builds_the_pinned_estimators() -> None:
    assert isinstance(make_estimator("ols", 5.0, 1), LinearRegression)
    ridge = make_estimator("ridge", 2.5, 1)
    assert isinstance(ridge, Ridge)
    assert ridge.alpha == 2.5
    gbr = make_estimator("gbr", 1.0, 11)
    assert isinstance(gbr, HistGradientBoostingRegressor)
    params = gbr.get_params()
    assert (params["max_iter"], params["learning_rate"], params["max_leaf_nodes"]) == (
        200,
        0.05,
        15,
    )
    assert (params["random_state"], params["early_stopping"]) == (11, False)
    with pytest.raises(ConfigError, match="unknown estimator 'lasso'"):
        make_estimator("lasso", 1.0, 1)
    with pytest.raises(ConfigError, match="alpha"):
        make_estimator("ridge", -1.0, 1)


def _planted(n: int, seed: int, noise: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, BETA.size))
    return x, 0.1 + x @ BETA + noise * rng.standard_normal(n)


@pytest.mark.parametrize("name", ["ols", "ridge"])
def test_fit_refit_recovers_a_planted_linear_signal(name: str) -> None:
    x, y = _planted(6000, seed=1)
    y[::7] = np.nan  # labels not known yet: dropped
    coef, intercept, est = fit_refit(name, x, y, alpha=1.0, seed=0)
    assert coef is not None
    assert intercept is not None
    np.testing.assert_allclose(coef, BETA, atol=0.03)
    assert abs(intercept - 0.1) < 0.03
    keep = np.isfinite(y)
    ref = make_estimator(name, 1.0, 0).fit(x[keep], y[keep])
    np.testing.assert_allclose(coef, ref.coef_, rtol=1e-12)
    np.testing.assert_allclose(est.predict(x[:5]), x[:5] @ np.array(coef) + intercept)


def test_fit_refit_gbr_finds_the_signal_without_coefficients() -> None:
    x, y = _planted(4000, seed=2)
    y[:100] = np.nan
    coef, intercept, est = fit_refit("gbr", x, y, alpha=1.0, seed=3)
    assert coef is None
    assert intercept is None
    fresh, _ = _planted(2000, seed=4)
    assert np.corrcoef(est.predict(fresh), fresh @ BETA)[0, 1] > 0.8


def test_fit_refit_refuses_too_few_labelled_samples() -> None:
    x, y = _planted(10, seed=5)
    y[:6] = np.nan  # 4 labelled < 3 factors + 2
    with pytest.raises(DataError, match="at least 5 samples with a label, got 4 of 10"):
        fit_refit("ols", x, y, 0.0, 0)
    with pytest.raises(DataError, match="non-finite factor"):
        fit_refit("ols", np.where(np.arange(30).reshape(10, 3) == 29, np.nan, 1.0), y, 0.0, 0)


def _sessions(dates: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return x, y, codes: a ragged panel (5..15 names a date), shuffled, codes with gaps."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 16, size=dates)
    codes = np.repeat(100 + 7 * np.arange(dates), sizes)
    x = rng.standard_normal((codes.size, BETA.size)) + 0.3
    y = x @ BETA + rng.standard_normal(codes.size) + 0.2
    y[rng.random(codes.size) < 0.1] = np.nan
    y[codes == 100 + 7 * 3] = np.nan  # one date without any label: never drawn
    order = rng.permutation(codes.size)
    return x[order], y[order], codes[order]


@pytest.mark.parametrize(("name", "alpha"), [("ols", 0.0), ("ridge", 3.0)])
def test_bootstrap_equals_sklearn_on_the_resampled_rows(name: str, alpha: float) -> None:
    x, y, codes = _sessions(25, seed=6)
    boot = bootstrap_by_dates(x, y, codes, 6, alpha, seed=42)
    assert boot is not None
    assert boot.draws.shape == (6, BETA.size)
    keep = np.isfinite(y)
    sessions = np.unique(codes[keep])
    assert sessions.size == 24
    for b, picks in enumerate(date_draws(sessions.size, 6, seed=42)):
        rows = np.concatenate([np.flatnonzero(keep & (codes == sessions[i])) for i in picks])
        ref = make_estimator(name, alpha, 0).fit(x[rows], y[rows])
        np.testing.assert_allclose(boot.draws[b], ref.coef_, rtol=0, atol=1e-8)
    # the summaries are those of the draws
    np.testing.assert_allclose(boot.low, np.percentile(boot.draws, 2.5, axis=0))
    np.testing.assert_allclose(boot.high, np.percentile(boot.draws, 97.5, axis=0))
    np.testing.assert_allclose(boot.std, boot.draws.std(axis=0, ddof=1))
    again = bootstrap_by_dates(x, y, codes, 6, alpha, seed=42)
    assert again is not None
    np.testing.assert_array_equal(again.draws, boot.draws)


def test_no_bootstrap_for_gbr_or_zero_draws() -> None:
    x, y, codes = _sessions(10, seed=7)
    assert bootstrap_by_dates(x, y, codes, 200, 1.0, 0, linear=False) is None
    assert bootstrap_by_dates(x, y, codes, 0, 1.0, 0) is None
    with pytest.raises(DataError, match="one session code per sample"):
        bootstrap_by_dates(x, y, codes[:-1], 10, 1.0, 0)
    with pytest.raises(DataError, match="at least 2 labelled sessions"):
        bootstrap_by_dates(x, y, np.zeros(codes.size, dtype=int), 10, 1.0, 0)


def _date_correlated_panel(
    rng: np.random.Generator, dates: int, names: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planted BETA; each date's own coefficient shock and a common move: rows of a date co-move.

    ``y = x (BETA + g_d) + u_d + e``, ``g_d ~ N(0, 0.5^2 I)``, ``u_d, e ~ N(0, 1)``. The slope
    shocks ``g_d`` make the noise of one date's rows correlated in the direction of ``x`` (the
    common move ``u_d`` alone would hardly matter for the slopes); averaged over dates the
    coefficient is BETA.
    """
    codes = np.repeat(np.arange(dates), names)
    x = rng.standard_normal((codes.size, BETA.size))
    shocks = 0.5 * rng.standard_normal((dates, BETA.size))
    common = rng.standard_normal(dates)
    y = np.einsum("ij,ij->i", x, BETA + shocks[codes]) + common[codes]
    return x, y + rng.standard_normal(codes.size), codes


def test_bootstrap_by_dates_covers_the_true_coefficient_and_by_rows_does_not() -> None:
    rng = np.random.default_rng(2024)
    by_date = by_row = 0
    reps, dates, names = 200, 80, 40
    for rep in range(reps):
        x, y, codes = _date_correlated_panel(rng, dates, names)
        boot = bootstrap_by_dates(x, y, codes, 200, 0.0, seed=rep)
        rows = bootstrap_by_dates(x, y, np.arange(codes.size), 200, 0.0, seed=rep)
        assert boot is not None
        assert rows is not None
        by_date += int(((boot.low <= BETA) & (boot.high >= BETA)).sum())
        by_row += int(((rows.low <= BETA) & (rows.high >= BETA)).sum())
    coverage, row_coverage = by_date / (reps * BETA.size), by_row / (reps * BETA.size)
    assert 0.90 <= coverage <= 0.99, coverage
    assert row_coverage < 0.8, row_coverage  # rows of a date treated as independent: too narrow


def _overlapping_labels_panel(
    rng: np.random.Generator, dates: int, names: int, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A persistent factor and overlapping ``horizon``-session labels, as ``fwd_open_h`` makes.

    ``x`` follows an AR(1) per name (``phi = 0.9``, unit variance); each session's return is
    ``r_t = (b + g_t) x_{t-1} + u_t + e_t`` (``b = 0.05``; a slope shock ``g_t ~ N(0, 0.2^2)``
    and a common move ``u_t ~ N(0, 1)`` per session; ``e ~ N(0, 1)``), and the label of row
    ``d`` is ``r_{d+1} + ... + r_{d+h}``. Labels of neighbouring rows share up to ``h - 1``
    sessions' shocks, so the rows of one session are not the independent unit: ``h``
    consecutive ones are. The true coefficient of the label on ``x_d`` is
    ``b (1 - phi^h) / (1 - phi)``.
    """
    phi, b = 0.9, 0.05
    days = dates + horizon
    x = np.empty((days, names))
    x[0] = rng.standard_normal(names)
    steps = np.sqrt(1 - phi**2) * rng.standard_normal((days, names))
    for t in range(1, days):  # sessions, not cells
        x[t] = phi * x[t - 1] + steps[t]
    slope = b + 0.2 * rng.standard_normal(days - 1)
    common = rng.standard_normal(days - 1)
    r = slope[:, None] * x[:-1] + common[:, None] + rng.standard_normal((days - 1, names))
    total = np.vstack([np.zeros(names), np.cumsum(r, axis=0)])  # total[t]: returns 1..t
    y = total[horizon : horizon + dates] - total[:dates]
    codes = np.repeat(np.arange(dates), names)
    return x[:dates].reshape(-1, 1), y.reshape(-1), codes, b * (1 - phi**horizon) / (1 - phi)


def test_blocks_of_span_sessions_cover_with_overlapping_labels_and_single_dates_do_not() -> None:
    # The pipeline's path: fwd_open_5 (h = 5, span 6) passes design.row // span as the codes.
    # Blocks of span rows keep each label's overlaps with its block but not across a block's
    # edge (about 73% of the long-run variance here): about 0.89 in 4,000 repetitions, not 0.95.
    # 400 repetitions: the coverage's own standard error is 0.016.
    horizon, span = 5, 6
    rng = np.random.default_rng(11)
    blocks = single = 0
    reps = 400
    for rep in range(reps):
        x, y, rows, true = _overlapping_labels_panel(rng, 480, 30, horizon)
        by_block = bootstrap_by_dates(x, y, rows // span, 200, 0.0, seed=rep)
        by_date = bootstrap_by_dates(x, y, rows, 200, 0.0, seed=rep)
        assert by_block is not None
        assert by_date is not None
        blocks += int(by_block.low[0] <= true <= by_block.high[0])
        single += int(by_date.low[0] <= true <= by_date.high[0])
    coverage, date_coverage = blocks / reps, single / reps
    assert 0.85 <= coverage <= 0.99, coverage
    # single dates treat overlapping labels as independent: intervals too narrow
    assert date_coverage < 0.8, date_coverage
    assert date_coverage < coverage - 0.15, (coverage, date_coverage)
