"""min_variance: the long-only budget of least variance on the signed covariance.

Pinned definition (issue 12): on the signed problem
(:mod:`~quant_core.portfolio.construction.signed`), ``v`` minimises ``v' Sigma_s v`` subject to
``v >= 0`` and ``sum v = 1``; the weights are ``w_i = s_i v_i g``. A name may get ``v_i = 0``:
it stays in the book's list of names but carries no weight (it is not "left out").

The solver: ``y`` minimising ``1/2 y'Qy - 1'y`` over ``y >= 0`` (``Q`` the covariance over its
mean variance) gives the answer as ``v = y / sum y``: its KKT conditions ``Qy - 1 = mu >= 0``,
``mu'y = 0`` are the original's with the budget's multiplier ``2 / sum y``. That bound-constrained
problem is solved by the primal-dual active set method (Hintermueller, Ito and Kunisch, 2003):
guess the names at zero, solve ``Q_FF y_F = 1`` on the others by Cholesky, and move every name
whose ``y_i - mu_i`` changes sign, until the guess repeats. It then satisfies the KKT
conditions exactly (``y_F > 0``, ``mu >= 0`` off ``F``), in a few factorisations. Should it
cycle, or ``Q_FF`` not be positive definite (a sample covariance of more names than returns),
clarabel's interior point method solves the same quadratic program. skfolio's ``MeanRisk``
(``MINIMIZE_RISK``, ``VARIANCE``) is the reference it is checked against.
"""

from __future__ import annotations

import clarabel  # type: ignore[import-untyped]
import numpy as np
from scipy import sparse
from scipy.linalg import cho_factor, cho_solve

from quant_core.portfolio.construction.base import Construction, Inputs, SolverError
from quant_core.portfolio.construction.signed import signed_problem

MAX_ACTIVE_SET_STEPS = 50  # active-set guesses before clarabel takes over
CLARABEL_TOLERANCE = 1e-12  # duality gap (absolute and relative) and feasibility


def min_variance(inputs: Inputs) -> Construction:
    """Weigh the strategy's names for the least variance, with its signs and gross.

    Names without ``lookback`` valid returns or with zero volatility are left out and
    reported; the rest share the strategy's whole gross (some at zero).

    Raises
    ------
    SolverError
        Both solvers failed (see :func:`solve_min_variance`): ``construct`` falls back.
    """
    problem = signed_problem(inputs)
    if problem.n == 0:
        return problem.weights(np.zeros(0))
    return problem.weights(solve_min_variance(problem.cov_signed))


def solve_min_variance(cov: np.ndarray) -> np.ndarray:
    """Return the long-only budget ``v`` (sum 1) of least variance ``v' cov v``.

    Parameters
    ----------
    cov
        A symmetric positive semi-definite covariance (n x n, n >= 1).

    Returns
    -------
    numpy.ndarray
        ``v >= 0``, ``sum v = 1``: exact up to rounding from the active set method, or to
        ``CLARABEL_TOLERANCE`` from clarabel.

    Raises
    ------
    SolverError
        A non-finite covariance or non-positive mean variance, or clarabel did not solve it.
    """
    scale = float(np.trace(cov)) / cov.shape[0] if cov.size else 0.0
    if not np.isfinite(cov).all() or not scale > 0.0:
        raise SolverError("min_variance needs a finite covariance with positive variances")
    scaled = cov / scale
    y = _active_set(scaled)
    if y is None:
        y = _clarabel(scaled)
    return np.asarray(y / y.sum())


def _active_set(q: np.ndarray) -> np.ndarray | None:
    n = q.shape[0]
    free = np.ones(n, dtype=bool)
    seen: set[bytes] = set()
    for _ in range(MAX_ACTIVE_SET_STEPS):
        seen.add(free.tobytes())
        names = np.flatnonzero(free)
        if not names.size:
            return None
        y = np.zeros(n)
        try:
            factor = cho_factor(q[np.ix_(names, names)], check_finite=False)
        except np.linalg.LinAlgError:
            return None
        y[names] = cho_solve(factor, np.ones(names.size), check_finite=False)
        mu = q @ y - 1.0
        mu[names] = 0.0
        guess = y - mu > 0.0
        if np.array_equal(guess, free):
            return y
        if guess.tobytes() in seen:
            return None
        free = guess
    return None


def _clarabel(q: np.ndarray) -> np.ndarray:
    n = q.shape[0]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = CLARABEL_TOLERANCE
    # min 1/2 v'Qv  s.t.  1'v = 1 (zero cone),  -v <= 0 (non-negative cone).
    constraints = sparse.vstack(
        [sparse.csc_matrix(np.ones((1, n))), -sparse.identity(n, format="csc")]
    ).tocsc()
    bounds = np.concatenate([[1.0], np.zeros(n)])
    cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(n)]
    solver = clarabel.DefaultSolver(
        sparse.csc_matrix(np.triu(q)), np.zeros(n), constraints, bounds, cones, settings
    )
    solution = solver.solve()
    if solution.status != clarabel.SolverStatus.Solved:
        raise SolverError(f"min_variance: clarabel ended {solution.status}")
    x: np.ndarray = np.maximum(np.asarray(solution.x, dtype=float), 0.0)
    return x
