"""Covariance of trailing returns: the sample estimator and Ledoit-Wolf shrinkage.

Pinned definitions (``portfolio.construction.covariance``), so that anyone can check them:

* ``sample``: the unbiased sample covariance (``ddof=1``), ``numpy.cov`` of the columns;
* ``ledoit_wolf``: scikit-learn's ``ledoit_wolf`` (Ledoit and Wolf, 2004): the maximum-likelihood
  covariance (``1/n``, returns demeaned) shrunk towards ``mu x I``, ``mu`` its mean variance,
  with the optimal shrinkage; skfolio's ``LedoitWolf`` estimator gives the same matrix. It is
  computed here from scikit-learn's formula directly, without its estimator's validation and
  its second pass over the data (a test checks the two agree to 1e-12): on 500 names and 252
  returns it takes a third of the time, which matters inside an optimiser's budget.

Both read daily simple returns (sessions x names, every value finite) and return a daily
covariance; annualise by :data:`quant_core.portfolio.policy.ANNUALISATION` where needed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from quant_core.errors import ConfigError


def sample(returns: np.ndarray) -> np.ndarray:
    """Return the unbiased sample covariance (``ddof=1``) of the columns of ``returns``."""
    return np.atleast_2d(np.cov(returns, rowvar=False, ddof=1))


def ledoit_wolf(returns: np.ndarray) -> np.ndarray:
    """Return the Ledoit-Wolf shrunk covariance of the columns of ``returns``.

    With ``X`` the demeaned returns (``n`` sessions x ``p`` names), ``S = X'X / n``,
    ``mu = trace(S) / p``, ``d2 = |S - mu I|_F^2 / p`` and ``b2 = min(d2, (sum_k |x_k|^4 / n -
    |S|_F^2) / (p n))`` (``x_k`` the k-th session's row), the shrinkage is ``b2 / d2`` (0 when
    ``b2 = 0`` or ``p = 1``) and the result ``(1 - b2 / d2) S + (b2 / d2) mu I``: scikit-learn's
    ``ledoit_wolf_shrinkage`` and ``ledoit_wolf`` term for term.
    """
    n, p = returns.shape
    x = returns - returns.mean(axis=0)
    emp = x.T @ x / n
    trace = float(np.trace(emp))
    mu = trace / p
    frobenius = float((emp * emp).sum())
    fourth = float((((x * x).sum(axis=1)) ** 2).sum())
    beta = (fourth / n - frobenius) / (p * n)
    delta = (frobenius - 2.0 * mu * trace + p * mu * mu) / p
    beta = min(beta, delta)
    # One name is its own target (scikit-learn returns 0 for it); S = mu I leaves nothing to do.
    shrinkage = 0.0 if p == 1 or beta == 0.0 or delta <= 0.0 else beta / delta
    shrunk: np.ndarray = (1.0 - shrinkage) * emp
    shrunk.flat[:: p + 1] += shrinkage * mu
    return shrunk


ESTIMATORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sample": sample,
    "ledoit_wolf": ledoit_wolf,
}


def estimate(returns: np.ndarray, kind: str) -> np.ndarray:
    """Return the covariance of ``returns`` (sessions x names) by estimator ``kind``.

    Raises
    ------
    ConfigError
        ``kind`` is not ``sample`` or ``ledoit_wolf``.
    """
    try:
        estimator = ESTIMATORS[kind]
    except KeyError:
        raise ConfigError(
            f"unknown covariance estimator {kind!r}; valid: {', '.join(ESTIMATORS)}"
        ) from None
    return estimator(returns)
