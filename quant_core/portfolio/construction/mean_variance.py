"""The methods of expected returns: mean_variance, black_litterman and half_kelly.

Each reads the strategy's scores through Grinold's rule
(:mod:`~quant_core.portfolio.construction.expected`: ``alpha = ic x sigma x z``, daily) and the
signed set-up of :mod:`~quant_core.portfolio.construction.signed` (``Sigma``, daily, of the
kept names; ``S = diag(s)``, the strategy's sides). Pinned definitions (issue 12):

``mean_variance``
    The maximum Sharpe ratio portfolio (risk-free rate 0) in the signed space: maximise
    ``alpha_s' v / sqrt(v' Sigma_s v)`` over ``v >= 0, sum v = 1``, with ``alpha_s = S alpha``
    and ``Sigma_s = S Sigma S``; ``w_i = s_i v_i g``. When no name has a positive signed alpha
    there is no such portfolio: a solver failure (``construct`` falls back to ``inverse_vol``).
    A name the optimum puts at ``v_i = 0`` (its bound binds) is not "left out", as in
    ``min_variance``: it was weighed, and got nothing.
``black_litterman``
    Equilibrium returns ``pi = delta Sigma w_prior`` (``w_prior``: the strategy's weights on
    the kept names, as given, signed), one absolute view per kept name (``P = I``,
    ``Q = alpha``) with He and Litterman's ``Omega = diag(tau P Sigma P')``, the posterior
    ``mu = pi + tau Sigma P' (P tau Sigma P' + Omega)^-1 (Q - P pi)``, then the maximum Sharpe
    portfolio of ``(mu, Sigma)`` exactly as ``mean_variance``.
``half_kelly``
    ``w = 0.5 Sigma^-1 alpha`` on the kept names, in the real space and not rescaled (Kelly
    sets its own leverage; the constraints cap ``max_gross`` and ``max_weight`` afterwards). A
    name whose Kelly weight is not on the strategy's side gets 0 (``Reason.OPPOSITE_SIGN``).

A singular covariance (a sample covariance of fewer returns than names, for one) is a solver
failure for all three: there is no unique answer to fall back from.

The maximum Sharpe problem is solved exactly as a non-negative least-squares problem: with
``Sigma_s = L L'``, ``x = argmin_{x >= 0} |L'x - L^-1 alpha_s|^2`` minimises
``x' Sigma_s x / 2 - alpha_s' x`` over the cone ``x >= 0``, whose minimiser is the maximum
Sharpe direction (at any ``x`` scaled optimally the objective is ``-Sharpe(x)^2 / 2``); ``v =
x / sum x``. Lawson and Hanson's active set (``scipy.optimize.nnls``) ends on the exact
solution of its final free set, so it agrees with skfolio's ``MeanRisk(MAXIMIZE_RATIO)`` (an
interior-point solve) to its tolerance, at a fraction of the time.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_solve, solve_triangular

from quant_core.portfolio.construction.base import (
    Construction,
    Inputs,
    LeftOut,
    Reason,
    SolverError,
)
from quant_core.portfolio.construction.expected import scored_problem

# Black-Litterman (He and Litterman, 1999). DELTA is the market's risk aversion (Sharpe ratio
# over volatility, unitless: pi and Sigma share their period), TAU the uncertainty of the prior
# relative to Sigma. With P = I and Omega = diag(tau Sigma), tau cancels from the posterior
# mean: it is kept for the formula's sake.
DELTA = 2.5
TAU = 0.05
KELLY_FRACTION = 0.5  # half Kelly
# A Cholesky pivot (a name's variance left after the names before it) at most this fraction
# of the largest variance makes the covariance singular up to rounding.
SINGULAR_PIVOT = 1e-12


def cholesky(cov: np.ndarray) -> np.ndarray:
    """Return the lower Cholesky factor of ``cov``, refusing a singular one.

    Raises
    ------
    SolverError
        ``cov`` is not positive definite, or a pivot is at most ``SINGULAR_PIVOT`` of the
        largest variance.
    """
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise SolverError("covariance is not positive definite") from None
    pivots = np.diag(chol) ** 2
    if float(pivots.min()) <= SINGULAR_PIVOT * float(np.diag(cov).max()):
        raise SolverError("covariance is singular (a name is a mix of the others)")
    return chol


def max_sharpe_weights(mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Return the long-only, fully invested portfolio of the highest ``mu'v / sqrt(v'Cv)``.

    Parameters
    ----------
    mu
        Expected returns (risk-free rate 0), in ``cov``'s period.
    cov
        A positive definite covariance (names x names).

    Returns
    -------
    numpy.ndarray
        ``v >= 0`` with ``sum v = 1``.

    Raises
    ------
    SolverError
        No name has a positive expected return, ``cov`` is singular, or the solver stops.
    """
    # Imported here: scipy.optimize costs ~0.3 s at every program's start (only this uses it).
    from scipy.optimize import nnls

    if not (mu > 0.0).any():
        raise SolverError("no name has a positive expected return on the strategy's side")
    chol = cholesky(cov)
    target = solve_triangular(chol, mu, lower=True)
    try:
        x, _ = nnls(chol.T, target)
    except RuntimeError as error:
        raise SolverError(f"maximum Sharpe solver: {error}") from None
    total = float(x.sum())
    if not (np.isfinite(total) and total > 0.0):
        raise SolverError("maximum Sharpe solver found no portfolio")
    return np.asarray(x / total)


def black_litterman_mu(
    cov: np.ndarray, prior_weights: np.ndarray, views: np.ndarray, delta: float, tau: float
) -> np.ndarray:
    """Return the Black-Litterman posterior mean of one absolute view per name.

    Parameters
    ----------
    cov
        ``Sigma`` (names x names).
    prior_weights
        ``w_prior``: the equilibrium is ``pi = delta Sigma w_prior``.
    views
        ``Q``, one absolute view per name (``P = I``).
    delta, tau
        Risk aversion and the prior's uncertainty scale.

    Returns
    -------
    numpy.ndarray
        ``pi + tau Sigma (tau Sigma + Omega)^-1 (Q - pi)``, ``Omega = diag(tau Sigma)``.
    """
    prior = delta * cov @ prior_weights
    scaled = tau * cov
    omega = np.diag(np.diag(scaled))
    update = scaled @ np.linalg.solve(scaled + omega, views - prior)
    return np.asarray(prior + update)


def mean_variance(inputs: Inputs) -> Construction:
    """Weigh the strategy's names by the maximum Sharpe portfolio of Grinold's alphas.

    Parameters
    ----------
    inputs
        The strategy's weights and scores, the closes through T-1 and the settings
        (``lookback``, ``covariance``, ``ic``).

    Returns
    -------
    Construction
        ``w_i = s_i v_i g``; names without a score, ``lookback`` valid returns or volatility are
        left out and reported.

    Raises
    ------
    SolverError
        No name has a positive signed alpha, or the covariance is singular; ``construct``
        falls back to ``inverse_vol``.
    """
    problem, alpha = scored_problem(inputs, "mean_variance")
    if not problem.n:
        return problem.weights(np.zeros(0))
    return problem.weights(max_sharpe_weights(problem.signs * alpha, problem.cov_signed))


def black_litterman(inputs: Inputs) -> Construction:
    """Weigh the strategy's names by the maximum Sharpe portfolio of the Black-Litterman mean.

    Parameters
    ----------
    inputs
        As :func:`mean_variance`; the strategy's weights are also the equilibrium's.

    Returns
    -------
    Construction
        ``w_i = s_i v_i g`` of the posterior ``mu`` (``DELTA``, ``TAU``) and ``Sigma``.

    Raises
    ------
    SolverError
        As :func:`mean_variance`, on the posterior mean.
    """
    problem, alpha = scored_problem(inputs, "black_litterman")
    if not problem.n:
        return problem.weights(np.zeros(0))
    prior_weights = inputs.weights[problem.kept]
    mu = black_litterman_mu(problem.cov, prior_weights, alpha, DELTA, TAU)
    return problem.weights(max_sharpe_weights(problem.signs * mu, problem.cov_signed))


def half_kelly(inputs: Inputs) -> Construction:
    """Weigh the strategy's names by half the Kelly portfolio ``0.5 Sigma^-1 alpha``.

    Parameters
    ----------
    inputs
        As :func:`mean_variance`.

    Returns
    -------
    Construction
        The Kelly weights at their own gross (signed fractions of equity), 0 for a name on the
        other side than the strategy's (reported, ``Reason.OPPOSITE_SIGN``).

    Raises
    ------
    SolverError
        The covariance is singular; ``construct`` falls back to ``inverse_vol``.
    """
    problem, alpha = scored_problem(inputs, "half_kelly")
    out = np.zeros(inputs.weights.shape, dtype=float)
    if not problem.n:
        return Construction(out, problem.left_out)
    kelly = KELLY_FRACTION * cho_solve((cholesky(problem.cov), True), alpha)
    if not np.isfinite(kelly).all():
        raise SolverError("Kelly weights are not finite")
    # Not on the strategy's side: the opposite sign, or no weight at all.
    against = problem.signs * kelly <= 0.0
    out[problem.kept[~against]] = kelly[~against]
    left_out = [*problem.left_out]
    left_out += [LeftOut(int(i), Reason.OPPOSITE_SIGN) for i in problem.kept[against]]
    return Construction(out, tuple(sorted(left_out, key=lambda x: x.index)))
