"""Expected returns from the strategy's scores: Grinold's rule, ``alpha = ic x sigma x z``.

Pinned definition (issue 12), so that anyone can check it: for a name kept by the signed set-up
(:mod:`~quant_core.portfolio.construction.signed`),

    alpha_i = ic x sigma_i x z_i,    z_i = (score_i - mean) / std

where ``sigma_i`` is the sample standard deviation (``ddof=1``) of the name's ``lookback``
simple returns through T-1, and the mean and the standard deviation (``ddof=1``) run over every
symbol with a finite score at T-1 (the strategy's whole score vector, not only its picks). The
alphas are daily (``sigma`` is daily) and in the real space: a short name's alpha is expected to
be negative.

A picked name without a finite score is left out (``Reason.NO_SCORE``) before the covariance is
estimated, so that the optimisers' names and the covariance's are the same; the names kept still
carry the strategy's whole gross.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from quant_core.errors import ConfigError
from quant_core.portfolio.construction.base import Inputs, LeftOut, Reason, SolverError
from quant_core.portfolio.construction.signed import Problem, signed_problem


def zscores(scores: np.ndarray) -> np.ndarray:
    """Return the cross-sectional z-scores of ``scores`` over its finite values.

    Parameters
    ----------
    scores
        One score per symbol position, NaN (or infinite) where the strategy has none.

    Returns
    -------
    numpy.ndarray
        ``(score - mean) / std`` (``ddof=1``) where the score is finite, NaN elsewhere.

    Raises
    ------
    SolverError
        Fewer than two finite scores, or all of them equal: the scores rank nothing, and a
        method of expected returns falls back to ``inverse_vol``.
    """
    finite = np.isfinite(scores)
    values = scores[finite]
    if values.size < 2:
        raise SolverError(f"{values.size} finite score(s): no cross-section to z-score")
    spread = float(values.std(ddof=1))
    if not spread > 0.0:
        raise SolverError("every finite score is the same: the scores rank nothing")
    out = np.full(scores.shape, np.nan)
    out[finite] = (values - values.mean()) / spread
    return out


def grinold(z: np.ndarray, sigma: np.ndarray, ic: float) -> np.ndarray:
    """Return Grinold's expected returns ``ic x sigma x z`` (the units of ``sigma``)."""
    return np.asarray(ic * sigma * z)


def scored_problem(inputs: Inputs, method: str) -> tuple[Problem, np.ndarray]:
    """Build the signed problem of the picked names that have a score, and their alphas.

    Parameters
    ----------
    inputs
        The strategy's weights and scores, the closes through T-1 and the settings
        (``lookback``, ``covariance`` and ``ic`` are read).
    method
        The calling method's name, for the error message.

    Returns
    -------
    problem : Problem
        :func:`~quant_core.portfolio.construction.signed.signed_problem` of the picked names
        with a finite score; the gross is still the strategy's over every picked name, and the
        names without a score are among ``left_out`` (``Reason.NO_SCORE``).
    alpha : numpy.ndarray
        Daily expected return of each kept name (real space, in ``problem.kept`` order).

    Raises
    ------
    ConfigError
        The strategy gives no scores (``inputs.scores`` is None); the drivers refuse this
        pairing earlier (:func:`~quant_core.portfolio.construction.check_method`).
    SolverError
        The scores cannot be z-scored (:func:`zscores`).
    """
    scores = inputs.scores
    if scores is None:
        raise ConfigError(
            f"portfolio.construction.method={method} needs the strategy's scores (expected "
            "returns), and the strategy gives none"
        )
    weights = inputs.weights
    picked = np.flatnonzero(weights)
    unscored = picked[~np.isfinite(scores[picked])]
    if not unscored.size:
        problem = signed_problem(inputs)
    else:
        scored = weights.copy()
        scored[unscored] = 0.0
        problem = signed_problem(dataclasses.replace(inputs, weights=scored))
        left_out = [*problem.left_out, *(LeftOut(int(i), Reason.NO_SCORE) for i in unscored)]
        problem = dataclasses.replace(
            problem,
            picked=picked,
            gross=float(np.abs(weights[picked]).sum()),
            left_out=tuple(sorted(left_out, key=lambda x: x.index)),
        )
    if not problem.n:
        return problem, np.zeros(0)
    z = zscores(scores)[problem.kept]
    return problem, grinold(z, problem.sigma, inputs.settings.ic)
