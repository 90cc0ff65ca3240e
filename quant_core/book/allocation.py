"""Allocation: each sleeve's share of the book's capital from the sleeves' trailing returns.

Pinned definitions (issue 16), so that anyone can check them. ``returns`` is the ``L x K`` window
of the ``K`` sleeves' daily (per-session) simple returns, rows through T-1 only: the caller cuts
the window; this module reads exactly the rows it is given and nothing else (a pure function:
no I/O, no clock). A non-finite entry (NaN where a sleeve had no return yet, or +-inf) counts as
missing. The weights ``w`` are fractions of the book's capital, ``w_k >= 0``:

``fixed``
    The configured weights, as given (``sum w <= 1``; the rest stays unallocated cash).
``equal``
    ``w_k = 1 / K``.
``risk_budget``, budget ``inverse_vol``
    ``w_k = (1 / sigma_k) / sum_j (1 / sigma_j)``, ``sigma_k`` the sample standard deviation
    (``ddof=1``) of sleeve ``k``'s own finite returns in the window.
``risk_budget``, budget ``erc``
    Equal risk contributions on the sample covariance ``Sigma`` (``ddof=1``) of the window's
    complete rows (rows with any missing entry are dropped: never pairwise, so ``Sigma`` is a
    valid covariance): ``w >= 0``, ``sum w = 1``, every ``w_k (Sigma w)_k`` equal. Solved by
    :func:`~quant_core.portfolio.construction.risk_parity.solve_risk_parity` (Newton on
    Spinu's convex problem), checked against skfolio's ``RiskBudgeting`` in the tests.
``hrp``
    :func:`~quant_core.portfolio.construction.hrp.hrp_weights` (Lopez de Prado's hierarchical
    risk parity, single linkage) on the same sample covariance of the complete rows.

Fallback to equal weights: ``risk_budget`` and ``hrp`` fall back to ``w_k = 1 / K`` and say why
in :attr:`Allocation.fallback` (a text starting with one of the ``FALLBACK_*`` keywords and
naming the sleeves by index, as this module does not know their names) when

* a sleeve has fewer than ``max(min_sessions, 2)`` finite returns (``short_history``);
* for ``erc`` and ``hrp``, fewer than that many complete rows (``short_common_history``);
* a sleeve's sigma (for ``erc`` and ``hrp`` the root of its variance on the diagonal of
  ``Sigma``) is zero up to rounding, ``<= ZERO_VOLATILITY`` (1e-12 a session, construction's
  rule; ``zero_volatility``), or not finite (``non_finite_volatility``);
* the solver fails, or its weights are not finite, non-negative and summing to 1
  (``solver_failed``).

``fixed`` and ``equal`` read no returns and never fall back. A sleeve's sigma is taken over its
own returns, so the window's row order does not matter for any method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quant_core.errors import ConfigError, DataError
from quant_core.portfolio.construction.heuristic import ZERO_VOLATILITY
from quant_core.portfolio.construction.hrp import hrp_weights
from quant_core.portfolio.construction.risk_parity import solve_risk_parity

METHODS = ("fixed", "equal", "risk_budget", "hrp")
BUDGETS = ("inverse_vol", "erc")
FIXED_SUM_TOLERANCE = 1e-9  # fixed weights may sum to 1 + this (rounding in the configuration)
WEIGHT_SUM_TOLERANCE = 1e-8  # a solver's weights must sum to 1 within this, else it failed

FALLBACK_SHORT_HISTORY = "short_history"
FALLBACK_SHORT_COMMON_HISTORY = "short_common_history"
FALLBACK_ZERO_VOLATILITY = "zero_volatility"
FALLBACK_NON_FINITE_VOLATILITY = "non_finite_volatility"
FALLBACK_SOLVER_FAILED = "solver_failed"


@dataclass(frozen=True, slots=True)
class Allocation:
    """The sleeves' capital weights and, when the method could not be applied, why.

    Attributes
    ----------
    weights
        One weight per sleeve (``K``), ``>= 0``: summing to 1, except for ``fixed`` (as given,
        ``<= 1``).
    fallback
        ``None`` when the method applied; otherwise the reason equal weights were used instead
        (``"<keyword>: <detail>"``, the keyword one of the module's ``FALLBACK_*``).
    """

    weights: np.ndarray
    fallback: str | None = None


def allocate(
    method: str,
    returns: np.ndarray,
    *,
    fixed: np.ndarray | None = None,
    budget: str = "inverse_vol",
    min_sessions: int = 20,
) -> Allocation:
    """Return the sleeves' weights by ``method`` from the window of their returns.

    Parameters
    ----------
    method
        ``fixed``, ``equal``, ``risk_budget`` or ``hrp`` (module docstring).
    returns
        ``L x K`` daily simple returns of the ``K`` sleeves, rows through T-1 only (NaN: no
        return). Not modified.
    fixed
        ``K`` weights, each ``>= 0``, summing to ``<= 1``; required by ``fixed``, ignored by the
        other methods.
    budget
        ``inverse_vol`` or ``erc``, read by ``risk_budget`` only.
    min_sessions
        Finite returns (sessions) a sleeve needs for ``risk_budget`` and ``hrp`` (at least 2
        are always needed for a sample standard deviation); fewer: equal weights.

    Returns
    -------
    Allocation
        The weights and the fallback reason (``None`` when the method applied).

    Raises
    ------
    ConfigError
        An unknown method or budget, a negative ``min_sessions``, or ``fixed`` weights that are
        missing, of the wrong length, negative, not finite or summing to more than 1.
    DataError
        ``returns`` is not a 2-D array.
    """
    check_method(method, METHODS, "allocation method")
    check_method(budget, BUDGETS, "allocation budget")
    needed = sessions_needed(min_sessions)
    window = as_window(returns)
    k = window.shape[1]
    if method == "fixed":
        return Allocation(fixed_weights(fixed, k))
    if method == "equal" or k == 0:
        return Allocation(equal_weights(k))
    finite = np.isfinite(window)
    counts = finite.sum(axis=0)
    short = np.flatnonzero(counts < needed)
    if short.size:
        detail = ", ".join(f"sleeve {i} ({counts[i]})" for i in short)
        return _fallback(k, FALLBACK_SHORT_HISTORY, f"fewer than {needed} finite returns: {detail}")
    if method == "risk_budget" and budget == "inverse_vol":
        with np.errstate(over="ignore", invalid="ignore"):
            sigma = np.nanstd(np.where(finite, window, np.nan), axis=0, ddof=1)
        bad = _check_sigma(k, sigma)
        if bad is not None:
            return bad
        return _checked(k, "inverse_vol", lambda: (1.0 / sigma) / (1.0 / sigma).sum())
    complete = window[finite.all(axis=1)]
    if complete.shape[0] < needed:
        return _fallback(
            k,
            FALLBACK_SHORT_COMMON_HISTORY,
            f"{complete.shape[0]} rows where every sleeve has a return, fewer than {needed}",
        )
    with np.errstate(over="ignore", invalid="ignore"):
        cov = np.atleast_2d(np.cov(complete, rowvar=False, ddof=1))
    bad = _check_sigma(k, np.sqrt(np.diag(cov)))
    if bad is not None:
        return bad
    if method == "hrp":
        return _checked(k, "hrp", lambda: hrp_weights(cov))
    return _checked(k, "erc", lambda: solve_risk_parity(cov))


def equal_weights(k: int) -> np.ndarray:
    """Return ``K`` weights of ``1 / K`` (empty for no sleeve)."""
    return np.full(k, 1.0 / k) if k else np.zeros(0)


def fixed_weights(fixed: np.ndarray | None, k: int) -> np.ndarray:
    """Return the configured ``fixed`` weights as a float array, after checking them.

    Raises
    ------
    ConfigError
        Missing, not ``K`` of them, a negative or non-finite weight (named by sleeve index), or a
        sum above ``1 + FIXED_SUM_TOLERANCE``.
    """
    if fixed is None:
        raise ConfigError("allocation method fixed needs a weight for every sleeve (none given)")
    weights = np.array(fixed, dtype=np.float64)
    if weights.shape != (k,):
        raise ConfigError(
            f"allocation method fixed: {weights.size} weights for {k} sleeves "
            f"(shape {weights.shape}); give one weight per sleeve"
        )
    bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0.0))
    if bad.size:
        detail = ", ".join(f"sleeve {i}: {float(weights[i])!r}" for i in bad)
        raise ConfigError(f"allocation method fixed: weights must be finite and >= 0 ({detail})")
    total = float(weights.sum())
    if total > 1.0 + FIXED_SUM_TOLERANCE:
        raise ConfigError(
            f"allocation method fixed: the weights sum to {total:.6g}, more than 1 (no leverage)"
        )
    return weights


def as_window(returns: np.ndarray) -> np.ndarray:
    """Return ``returns`` as a 2-D float64 array (sessions x sleeves) without copying a float one.

    Raises
    ------
    DataError
        ``returns`` is not two-dimensional.
    """
    window = np.asarray(returns, dtype=np.float64)
    if window.ndim != 2:
        raise DataError(
            f"sleeve returns must be a 2-D array (sessions x sleeves), got shape {window.shape}"
        )
    return window


def sessions_needed(min_sessions: int) -> int:
    """Return the finite returns a sleeve needs: ``max(min_sessions, 2)``.

    Raises
    ------
    ConfigError
        ``min_sessions`` is not a non-negative integer.
    """
    if isinstance(min_sessions, bool) or not isinstance(min_sessions, int | np.integer):
        raise ConfigError(f"min_sessions must be an integer, got {min_sessions!r}")
    if min_sessions < 0:
        raise ConfigError(f"min_sessions must be >= 0, got {min_sessions}")
    return max(int(min_sessions), 2)


def check_method(value: str, valid: tuple[str, ...], what: str) -> None:
    """Raise a ConfigError naming ``value`` and the ``valid`` options when it is not one of them."""
    if value not in valid:
        raise ConfigError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")


def _check_sigma(k: int, sigma: np.ndarray) -> Allocation | None:
    """Return the fallback for a zero or non-finite sigma, or ``None`` when every one is usable."""
    not_finite = np.flatnonzero(~np.isfinite(sigma))
    if not_finite.size:
        return _fallback(
            k, FALLBACK_NON_FINITE_VOLATILITY, f"sigma not finite: {_indices(not_finite)}"
        )
    zero = np.flatnonzero(sigma <= ZERO_VOLATILITY)
    if zero.size:
        return _fallback(k, FALLBACK_ZERO_VOLATILITY, f"sigma is 0: {_indices(zero)}")
    return None


def _checked(k: int, name: str, solve: Callable[[], np.ndarray]) -> Allocation:
    """Run ``solve``; equal weights when it raises or its weights are not a valid budget."""
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            weights = np.asarray(solve(), dtype=np.float64)
    except (ArithmeticError, np.linalg.LinAlgError) as error:
        return _fallback(k, FALLBACK_SOLVER_FAILED, f"{name}: {error}")
    valid = (
        weights.shape == (k,)
        and bool(np.isfinite(weights).all())
        and bool((weights >= 0.0).all())
        and abs(float(weights.sum()) - 1.0) <= WEIGHT_SUM_TOLERANCE
    )
    if not valid:
        return _fallback(k, FALLBACK_SOLVER_FAILED, f"{name}: weights not a valid budget")
    return Allocation(weights)


def _fallback(k: int, keyword: str, detail: str) -> Allocation:
    return Allocation(equal_weights(k), f"{keyword}: {detail}; equal weights")


def _indices(indices: np.ndarray) -> str:
    return ", ".join(f"sleeve {int(i)}" for i in indices)
