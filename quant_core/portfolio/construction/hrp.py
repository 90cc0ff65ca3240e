"""Hierarchical risk parity (Lopez de Prado, 2016) on the signed covariance.

Pinned definition (issue 12), so that anyone can check it, on the signed set-up of
:mod:`~quant_core.portfolio.construction.signed` (``Sigma_s = S Sigma S`` of the kept names):

1. correlation distance ``d_ij = sqrt((1 - rho_ij) / 2)``, ``rho`` the correlation of
   ``Sigma_s`` (so a short name is clustered by its negated returns);
2. single-linkage clustering of ``d`` (``scipy.cluster.hierarchy.linkage`` on the condensed
   distance) and the quasi-diagonal order of the dendrogram's leaves (``leaves_list``, no
   optimal leaf ordering);
3. recursive bisection of that order: each cluster of ``k > 1`` names splits into its first
   ``k // 2`` and the rest; each half's variance is that of its inverse-variance portfolio
   (``u' Sigma_s u``, ``u_i`` proportional to ``1 / Sigma_s,ii``); the left half's weight is
   multiplied by ``1 - V_left / (V_left + V_right)`` and the right's by
   ``1 - V_right / (V_left + V_right)``.

The result ``v >= 0, sum v = 1`` becomes ``w_i = s_i v_i g``. skfolio's
``HierarchicalRiskParity`` with the variance risk measure, single linkage, no optimal leaf
ordering and the correlation of the same covariance gives the same weights (the tests check
it to 1e-6); this one is some 40 times faster on 500 names (``benchmarks/construction.py``).
"""

from __future__ import annotations

import numpy as np

from quant_core.portfolio.construction.base import Construction, Inputs, SolverError
from quant_core.portfolio.construction.signed import signed_problem


def quasi_diagonal_order(cov: np.ndarray) -> np.ndarray:
    """Return the leaves of the single-linkage dendrogram of ``cov``'s correlation distance.

    Parameters
    ----------
    cov
        A covariance matrix (names x names) with a positive diagonal.

    Returns
    -------
    numpy.ndarray
        A permutation of ``range(len(cov))``: similar names sit next to each other.
    """
    # Imported here: scipy.cluster costs ~0.4 s at every program's start, and only hrp uses it.
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    distance = np.sqrt(np.clip(0.5 * (1.0 - corr), 0.0, 1.0))
    # squareform reads the upper triangle only; the diagonal is zero by definition.
    condensed = squareform(distance, checks=False)
    return np.asarray(leaves_list(linkage(condensed, method="single")), dtype=np.intp)


def bisection_weights(cov: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Return the recursive-bisection weights of ``cov`` along ``order`` (sum 1, positive).

    Parameters
    ----------
    cov
        A covariance matrix (names x names) with a positive diagonal.
    order
        A permutation of the names (:func:`quasi_diagonal_order`).

    Returns
    -------
    numpy.ndarray
        One weight per name, in the names' order (not ``order``'s).

    Raises
    ------
    SolverError
        A split whose two halves both have zero or non-finite variance.
    """
    ordered = cov[np.ix_(order, order)]
    inverse = 1.0 / np.diag(ordered)
    weights = np.ones(order.size)
    clusters = [(0, order.size)]
    while clusters:
        lo, hi = clusters.pop()
        if hi - lo < 2:
            continue
        mid = lo + (hi - lo) // 2
        left = _ivp_variance(ordered, inverse, lo, mid)
        right = _ivp_variance(ordered, inverse, mid, hi)
        total = left + right
        if not (np.isfinite(total) and total > 0.0):
            raise SolverError(f"HRP split with variances {left:.3e} and {right:.3e}")
        split = 1.0 - left / total
        weights[lo:mid] *= split
        weights[mid:hi] *= 1.0 - split
        clusters += [(lo, mid), (mid, hi)]
    out = np.empty(order.size)
    out[order] = weights
    return out


def _ivp_variance(cov: np.ndarray, inverse: np.ndarray, lo: int, hi: int) -> float:
    u = inverse[lo:hi] / inverse[lo:hi].sum()
    return float(u @ cov[lo:hi, lo:hi] @ u)


def hrp_weights(cov: np.ndarray) -> np.ndarray:
    """Return Lopez de Prado's HRP weights of ``cov`` (``v >= 0``, ``sum v = 1``).

    Parameters
    ----------
    cov
        A covariance matrix (names x names).

    Returns
    -------
    numpy.ndarray
        One weight per name (1.0 for a single name).

    Raises
    ------
    SolverError
        A variance on the diagonal is not positive and finite.
    """
    variance = np.diag(cov)
    if not (np.isfinite(variance).all() and (variance > 0.0).all()):
        raise SolverError("HRP needs a positive, finite variance for every name")
    if cov.shape[0] == 1:
        return np.ones(1)
    return bisection_weights(cov, quasi_diagonal_order(cov))


def hrp(inputs: Inputs) -> Construction:
    """Weigh the strategy's names by hierarchical risk parity of the signed covariance.

    Parameters
    ----------
    inputs
        The strategy's weights (names and sides), the closes through T-1 and the settings
        (``lookback`` and ``covariance`` are read).

    Returns
    -------
    Construction
        ``w_i = s_i v_i g``, ``v`` the HRP weights of ``S Sigma S``; names without ``lookback``
        valid returns or with zero volatility are left out and reported.

    Raises
    ------
    SolverError
        The covariance is not finite or a split fails; ``construct`` falls back to
        ``inverse_vol``.
    """
    problem = signed_problem(inputs)
    if not problem.n:
        return problem.weights(np.zeros(0))
    return problem.weights(hrp_weights(problem.cov_signed))
