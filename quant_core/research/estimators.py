"""The estimators of a model, one refit, and the bootstrap of the coefficients by dates.

Pure: arrays in, scikit-learn objects and arrays out; no I/O, no clock.

Estimators (``ModelSpec.estimator``):

- ``ols``: ``LinearRegression()``, minimising ``sum (y - b0 - x.b)^2``;
- ``ridge``: ``Ridge(alpha)``, minimising ``sum (y - b0 - x.b)^2 + alpha * |b|^2`` (the
  intercept ``b0`` unpenalised; ``x`` are standardised factors, so one ``alpha`` fits all);
- ``gbr``: ``HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05,
  max_leaf_nodes=15, random_state=seed, early_stopping=False)``: no coefficients.

**Bootstrap by dates.** Rows of one session share its market move, so they are not independent
draws: a draw resamples whole sessions with replacement (``D`` sessions out of the ``D`` that
have labelled rows, every row of a drawn session kept, a session drawn twice counted twice) and
refits. For ``ols`` and ``ridge`` the refit is exact and needs no pass over the rows: with per
session sums ``n_d, Sx_d = sum x, Sy_d = sum y, Sxx_d = sum x x', Sxy_d = sum x y`` and the draw's
counts ``c_d``, ``N = sum c_d n_d``, ``Sx = sum c_d Sx_d`` (and so on), the centred moments
``Cxx = Sxx - Sx Sx' / N`` and ``Cxy = Sxy - Sx Sy / N`` give ``b = (Cxx + alpha I)^-1 Cxy``,
what scikit-learn fits on the resampled rows (``fit_intercept=True``: the intercept is not
penalised). ``gbr`` has no bootstrap (its fit is not a function of these sums, and 200 boosted
refits cost minutes): :func:`bootstrap_by_dates` returns None and the intervals stay NaN.
For labels that overlap (an ``h``-session label on consecutive rows) callers pass block codes
instead of session codes, so that a draw keeps overlapping sessions together: the pipeline
passes ``design.row // span``, blocks of ``span`` consecutive sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge

from quant_core.errors import ConfigError, DataError

ESTIMATORS = ("ols", "ridge", "gbr")
LINEAR = ("ols", "ridge")
LOW, HIGH = 2.5, 97.5  # the percentiles of the 95% interval

Array = npt.NDArray[np.float64]


def make_estimator(name: str, alpha: float, seed: int) -> Any:
    """Return a new, unfitted scikit-learn estimator ``name`` (module docstring).

    ``alpha`` is used by ``ridge`` only, ``seed`` by ``gbr`` only.

    Raises
    ------
    ConfigError
        ``name`` is not one of ``ESTIMATORS``, or ``alpha`` is negative.
    """
    if alpha < 0:
        raise ConfigError(f"estimator alpha must be >= 0, got {alpha}")
    if name == "ols":
        return LinearRegression()
    if name == "ridge":
        return Ridge(alpha=alpha)
    if name == "gbr":
        return HistGradientBoostingRegressor(
            max_iter=200,
            learning_rate=0.05,
            max_leaf_nodes=15,
            random_state=seed,
            early_stopping=False,
        )
    raise ConfigError(f"unknown estimator {name!r}; estimators: {', '.join(ESTIMATORS)}")


def _usable(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[Array, Array, npt.NDArray[np.bool_]]:
    """Return ``x`` (2-D), ``y`` and the mask of rows with a finite label, checked."""
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.ndim != 2 or ya.shape != (xa.shape[0],):
        raise DataError(
            f"x must be samples x factors and y one label per sample: {xa.shape}, {ya.shape}"
        )
    keep = np.isfinite(ya)
    if not np.isfinite(xa[keep]).all():
        raise DataError("x holds a non-finite factor value on a labelled sample")
    need = xa.shape[1] + 2
    if keep.sum() < need:
        raise DataError(
            f"a fit of {xa.shape[1]} factors needs at least {need} samples with a label, "
            f"got {int(keep.sum())} of {ya.size}"
        )
    return xa, ya, keep


def fit_refit(
    name: str, x: npt.ArrayLike, y: npt.ArrayLike, alpha: float, seed: int
) -> tuple[tuple[float, ...] | None, float | None, Any]:
    """Fit estimator ``name`` on the samples ``x`` (samples x factors) with a label ``y``.

    Samples whose label is NaN (not known yet) are dropped first.

    Returns
    -------
    coef, intercept, estimator
        The coefficients (one per factor) and the intercept for ``ols`` and ``ridge``, None
        for ``gbr``; the fitted scikit-learn estimator.

    Raises
    ------
    ConfigError
        An unknown estimator or a negative ``alpha``.
    DataError
        Shapes that do not match, a non-finite factor on a labelled sample, or fewer than
        ``factors + 2`` labelled samples.
    """
    estimator = make_estimator(name, alpha, seed)
    xa, ya, keep = _usable(x, y)
    estimator.fit(xa[keep], ya[keep])
    if name not in LINEAR:
        return None, None, estimator
    coef = tuple(float(c) for c in np.ravel(estimator.coef_))
    return coef, float(estimator.intercept_), estimator


@dataclass(frozen=True, slots=True, eq=False)
class Bootstrap:
    """The coefficients of every bootstrap draw and their spread.

    ``draws`` is draws x factors; ``low`` and ``high`` the 2.5% and 97.5% percentiles of each
    column (numpy's linear interpolation), their 95% interval; ``std`` the sample standard
    deviation (ddof=1; NaN with one draw).
    """

    draws: Array
    low: Array
    high: Array
    std: Array


def date_draws(n_dates: int, draws: int, seed: int) -> npt.NDArray[np.int64]:
    """Return the sessions each draw picks: draws x ``n_dates`` indices, with replacement.

    ``numpy.random.default_rng(seed).integers(0, n_dates, size=(draws, n_dates))``; indices
    number the sessions in increasing order of their code (:func:`bootstrap_by_dates`).
    """
    rng = np.random.default_rng(seed)
    return np.asarray(rng.integers(0, n_dates, size=(draws, n_dates)), dtype=np.int64)


def _date_sums(x: Array, y: Array, codes: npt.NDArray[np.int64], n_dates: int) -> Array:
    """Return per session ``[n, Sx (p), Sy, Sxx (p*p), Sxy (p)]``: n_dates x (2 + p*(p+2))."""
    p = x.shape[1]

    def total(weights: Array | None) -> Array:
        return np.bincount(codes, weights=weights, minlength=n_dates).astype(float)

    cols = [total(None)]
    cols += [total(x[:, i]) for i in range(p)]
    cols.append(total(y))
    xx = np.empty((n_dates, p, p))
    for i in range(p):
        for j in range(i, p):
            xx[:, i, j] = xx[:, j, i] = total(x[:, i] * x[:, j])
    cols += list(xx.reshape(n_dates, p * p).T)
    cols += [total(x[:, i] * y) for i in range(p)]
    return np.column_stack(cols)


def _solve(sums: Array, p: int, alpha: float) -> Array:
    """Return each draw's coefficients from its summed statistics (draws x (2 + p*(p+2)))."""
    n = sums[:, 0]
    sx = sums[:, 1 : 1 + p]
    sy = sums[:, 1 + p]
    sxx = sums[:, 2 + p : 2 + p + p * p].reshape(-1, p, p)
    sxy = sums[:, 2 + p + p * p :]
    cxx = sxx - sx[:, :, None] * sx[:, None, :] / n[:, None, None]
    cxy = sxy - sx * (sy / n)[:, None]
    lhs = cxx + alpha * np.eye(p)
    try:
        return np.asarray(np.linalg.solve(lhs, cxy[:, :, None])[:, :, 0], dtype=float)
    except np.linalg.LinAlgError:  # a singular draw (too few sessions): least norm, as sklearn
        return np.asarray(np.einsum("bij,bj->bi", np.linalg.pinv(lhs, hermitian=True), cxy))


def bootstrap_by_dates(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    dates_codes: npt.ArrayLike,
    draws: int,
    alpha: float,
    seed: int,
    linear: bool = True,
) -> Bootstrap | None:
    """Return the bootstrap of the coefficients over ``draws`` resamplings of whole sessions.

    ``x`` (samples x factors) and ``y`` as for :func:`fit_refit` (samples with a NaN label
    dropped first); ``dates_codes`` one integer per sample naming its session (the design's
    ``row``). Draw ``b`` picks the sessions ``date_draws(D, draws, seed)[b]`` of the ``D``
    sessions left, numbered in increasing code order, and refits by the per-session sums
    (module docstring): equal to ``LinearRegression`` (``alpha = 0``: pass 0 for ``ols``) or
    ``Ridge(alpha)`` fitted on the resampled rows.

    Returns None (no bootstrap) when ``linear`` is False (``gbr``) or ``draws`` is 0.

    Raises
    ------
    ConfigError
        A negative ``draws`` or ``alpha``.
    DataError
        As :func:`fit_refit`, a code per sample missing, or fewer than 2 labelled sessions.
    """
    if draws < 0 or alpha < 0:
        raise ConfigError(f"bootstrap: draws and alpha must be >= 0, got {draws}, {alpha}")
    if not linear or draws == 0:
        return None
    xa, ya, keep = _usable(x, y)
    codes = np.asarray(dates_codes)
    if codes.shape != ya.shape:
        raise DataError(f"one session code per sample: {codes.shape} codes, {ya.size} samples")
    xa, ya = xa[keep], ya[keep]
    sessions, inverse = np.unique(codes[keep], return_inverse=True)
    n_dates = sessions.size
    if n_dates < 2:
        raise DataError(f"a bootstrap by dates needs at least 2 labelled sessions, got {n_dates}")
    # Centre once (slopes do not move; the products stay small and exact).
    xa, ya = xa - xa.mean(axis=0), ya - ya.mean()
    per_date = _date_sums(xa, ya, inverse.astype(np.int64), n_dates)
    picks = date_draws(n_dates, draws, seed)
    offsets = (np.arange(draws, dtype=np.int64) * n_dates)[:, None]
    counts = np.bincount((picks + offsets).ravel(), minlength=draws * n_dates)
    coefs = _solve(counts.reshape(draws, n_dates).astype(float) @ per_date, xa.shape[1], alpha)
    low, high = np.percentile(coefs, [LOW, HIGH], axis=0)
    std = coefs.std(axis=0, ddof=1) if draws > 1 else np.full(xa.shape[1], np.nan)
    return Bootstrap(draws=coefs, low=low, high=high, std=std)
