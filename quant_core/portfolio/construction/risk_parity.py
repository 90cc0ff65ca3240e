"""risk_parity: every kept name carries the same share of the book's variance.

Pinned definition (issue 12): on the signed problem
(:mod:`~quant_core.portfolio.construction.signed`), ``v >= 0`` with ``sum v = 1`` such that every
risk contribution ``v_i (Sigma_s v)_i`` is equal; the weights are ``w_i = s_i v_i g``.

The solver is Newton's method on Spinu's convex formulation (Spinu, 2013, "An algorithm for
computing risk parity weights"): on the correlation matrix ``Q = D^-1 Sigma_s D^-1`` (``D`` the
volatilities), minimise ``f(y) = 1/2 y'Qy - sum_i ln y_i`` over ``y > 0``. Its gradient
``Qy - 1/y`` vanishes exactly where ``y_i (Qy)_i = 1`` for every ``i``, so ``x = D^-1 y``
has equal contributions and ``v = x / sum x``. ``f`` is strictly convex when ``Sigma_s`` is
positive definite (the unique risk parity portfolio), and self-concordant, so Newton's method
with a backtracking line search (full steps once the Newton decrement is small) converges from
``y_0 = sqrt(n / 1'Q1) x 1`` (the best multiple of inverse volatility) in a handful of steps,
each one Cholesky factorisation of ``Q + diag(1 / y^2)``. It stops when every scaled
contribution ``y_i (Qy)_i`` is within ``CONTRIBUTION_TOLERANCE`` of 1; skfolio's
``RiskBudgeting`` is the reference it is checked against (tests and
``benchmarks/construction.py``).

A singular covariance (the ``sample`` estimator with more names than returns) may admit a
long-only signed book of zero variance; then no risk parity portfolio exists (``f`` is unbounded
below), Newton's method says so by a ``SolverError``, and ``construct`` falls back.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from quant_core.portfolio.construction.base import Construction, Inputs, SolverError
from quant_core.portfolio.construction.signed import signed_problem

CONTRIBUTION_TOLERANCE = 1e-10  # max |y_i (Qy)_i - 1|: contributions equal to this, relative
MAX_ITERATIONS = 50  # Newton steps; a handful suffice on 500 names
MAX_HALVINGS = 60  # backtracking steps in one line search
ARMIJO = 0.25  # sufficient decrease: f falls by at least this x step x Newton decrement^2
# Below this squared Newton decrement the full step is taken: f is self-concordant, so inside
# lambda < (3 - sqrt 5) / 2 the step stays in the domain and converges quadratically, and a
# decrease test there would compare values equal up to rounding.
FULL_STEP_DECREMENT = 0.1


def risk_parity(inputs: Inputs) -> Construction:
    """Weigh the strategy's names for equal risk contributions, with its signs and gross.

    Names without ``lookback`` valid returns or with zero volatility are left out and
    reported; the rest carry the strategy's whole gross.

    Raises
    ------
    SolverError
        Newton's method failed (see :func:`solve_risk_parity`): ``construct`` falls back.
    """
    problem = signed_problem(inputs)
    if problem.n == 0:
        return problem.weights(np.zeros(0))
    return problem.weights(solve_risk_parity(problem.cov_signed))


def solve_risk_parity(cov: np.ndarray) -> np.ndarray:
    """Return the long-only budget ``v`` (sum 1) of equal risk contributions on ``cov``.

    Parameters
    ----------
    cov
        A symmetric positive definite covariance (n x n, n >= 1).

    Returns
    -------
    numpy.ndarray
        ``v > 0``, ``sum v = 1``, with ``v_i (cov v)_i`` equal to ``CONTRIBUTION_TOLERANCE``
        (relative).

    Raises
    ------
    SolverError
        A non-finite or non-positive variance, a Hessian that is not positive definite, a line
        search that finds no decrease, or no convergence in ``MAX_ITERATIONS`` steps.
    """
    n = cov.shape[0]
    variance = np.diag(cov)
    if not np.isfinite(cov).all() or not (variance > 0.0).all():
        raise SolverError("risk_parity needs a finite covariance with positive variances")
    vol = np.sqrt(variance)
    corr = cov / np.outer(vol, vol)
    total = float(corr.sum())
    if not total > 0.0:
        raise SolverError("risk_parity: the covariance is not positive definite")
    y = np.full(n, np.sqrt(n / total))
    for _ in range(MAX_ITERATIONS):
        qy = corr @ y
        if np.abs(y * qy - 1.0).max() <= CONTRIBUTION_TOLERANCE:
            x = y / vol
            return np.asarray(x / x.sum())
        y = _newton_step(corr, y, qy)
    raise SolverError(f"risk_parity: Newton's method did not converge in {MAX_ITERATIONS} steps")


def _newton_step(corr: np.ndarray, y: np.ndarray, qy: np.ndarray) -> np.ndarray:
    gradient = qy - 1.0 / y
    hessian = corr.copy()
    hessian.flat[:: y.size + 1] += 1.0 / (y * y)
    try:
        step = cho_solve(cho_factor(hessian, check_finite=False), gradient, check_finite=False)
    except np.linalg.LinAlgError as error:
        raise SolverError(f"risk_parity: the Hessian is not positive definite ({error})") from None
    decrement = float(gradient @ step)
    if decrement < FULL_STEP_DECREMENT and (y - step > 0.0).all():
        return np.asarray(y - step)
    value = 0.5 * float(y @ qy) - float(np.log(y).sum())
    scale = 1.0
    for _ in range(MAX_HALVINGS):
        trial = y - scale * step
        if (trial > 0.0).all():
            trial_value = 0.5 * float(trial @ (corr @ trial)) - float(np.log(trial).sum())
            if trial_value <= value - ARMIJO * scale * decrement:
                return np.asarray(trial)
        scale *= 0.5
    raise SolverError("risk_parity: the line search found no decrease")
