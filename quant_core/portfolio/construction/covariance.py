"""Covariance of trailing returns: the sample estimator and Ledoit-Wolf shrinkage.

Pinned definitions (``portfolio.construction.covariance``), so that anyone can check them:

* ``sample``: the unbiased sample covariance (``ddof=1``), ``numpy.cov`` of the columns;
* ``ledoit_wolf``: scikit-learn's ``ledoit_wolf`` (Ledoit and Wolf, 2004): the maximum-likelihood
  covariance (``1/n``, returns demeaned) shrunk towards ``mu x I``, ``mu`` its mean variance,
  with the optimal shrinkage; skfolio's ``LedoitWolf`` estimator gives the same matrix.

Both read daily simple returns (sessions x names, every value finite) and return a daily
covariance; annualise by :data:`quant_core.portfolio.policy.ANNUALISATION` where needed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.covariance import ledoit_wolf as _ledoit_wolf

from quant_core.errors import ConfigError


def sample(returns: np.ndarray) -> np.ndarray:
    """Return the unbiased sample covariance (``ddof=1``) of the columns of ``returns``."""
    return np.atleast_2d(np.cov(returns, rowvar=False, ddof=1))


def ledoit_wolf(returns: np.ndarray) -> np.ndarray:
    """Return the Ledoit-Wolf shrunk covariance of the columns of ``returns``."""
    shrunk, _ = _ledoit_wolf(returns, assume_centered=False)
    return np.asarray(shrunk)


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
