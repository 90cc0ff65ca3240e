"""Scaling: each sleeve's allocation tilted by its trailing performance, bounded, never levered.

Pinned definitions (issue 16). ``returns`` is the ``L x K`` window of the sleeves' daily simple
returns, rows through T-1 only (the caller cuts it; only those rows are read; a non-finite entry
counts as missing). Multipliers ``m`` (one per sleeve) by method:

``none``
    ``m_k = 1``.
``sharpe``
    ``m_k = clip(1 + S_k, lower, upper)`` with ``S_k = mean_k / sd_k x sqrt(252)`` the
    annualised Sharpe ratio of sleeve ``k``'s own finite returns in the window (zero risk-free
    rate, ``sd`` with ``ddof=1``, 252 sessions a year). ``m_k = 1`` when the sleeve has fewer than
    ``max(min_sessions, 2)`` finite returns or its ``sd`` is not finite or zero up to rounding
    (``<= ZERO_VOLATILITY``, 1e-12 a session, construction's rule): ``S`` is undefined.

:func:`scaled_weights` applies them: ``v_k = w_k x m_k``; when ``sum v > 1`` every ``v_k`` is
divided by ``sum v`` (scaling never levers the book); otherwise ``1 - sum v`` stays unallocated
cash. So a sleeve doing well takes capital from the others only once the book is fully invested.
"""

from __future__ import annotations

import numpy as np

from quant_core.book.allocation import as_window, check_method, sessions_needed
from quant_core.calendar import TRADING_DAYS_PER_YEAR
from quant_core.errors import ConfigError, DataError
from quant_core.portfolio.construction.heuristic import ZERO_VOLATILITY

SCALINGS = ("none", "sharpe")


def scale(
    method: str,
    returns: np.ndarray,
    *,
    lower: float = 0.5,
    upper: float = 1.5,
    min_sessions: int = 20,
) -> np.ndarray:
    """Return one capital multiplier per sleeve from the window of the sleeves' returns.

    Parameters
    ----------
    method
        ``none`` or ``sharpe`` (module docstring).
    returns
        ``L x K`` daily simple returns of the ``K`` sleeves, rows through T-1 only (NaN: no
        return). Not modified.
    lower, upper
        Bounds of the multiplier, ``0 < lower <= 1 <= upper`` (finite).
    min_sessions
        Finite returns a sleeve needs for a Sharpe ratio (at least 2); fewer: multiplier 1.

    Returns
    -------
    numpy.ndarray
        ``K`` multipliers in ``[lower, upper]``.

    Raises
    ------
    ConfigError
        An unknown method, bounds outside ``0 < lower <= 1 <= upper``, or a negative
        ``min_sessions``.
    DataError
        ``returns`` is not a 2-D array.
    """
    check_method(method, SCALINGS, "scaling method")
    if not (np.isfinite(lower) and np.isfinite(upper) and 0.0 < lower <= 1.0 <= upper):
        raise ConfigError(
            f"scaling bounds must satisfy 0 < lower <= 1 <= upper, got lower={lower!r}, "
            f"upper={upper!r}"
        )
    needed = sessions_needed(min_sessions)
    window = as_window(returns)
    if method == "none":
        return np.ones(window.shape[1])
    sharpe = sharpe_ratios(window, needed)
    return np.where(np.isfinite(sharpe), np.clip(1.0 + sharpe, lower, upper), 1.0)


def sharpe_ratios(returns: np.ndarray, min_sessions: int = 20) -> np.ndarray:
    """Return each sleeve's annualised Sharpe ratio over the window, NaN where undefined.

    ``S_k = mean_k / sd_k x sqrt(252)`` over sleeve ``k``'s own finite returns (``ddof=1``);
    NaN with fewer than ``max(min_sessions, 2)`` of them, or an ``sd`` that is not finite or
    ``<= ZERO_VOLATILITY``.

    Parameters
    ----------
    returns
        ``L x K`` daily simple returns (NaN: no return). Not modified.
    min_sessions
        Finite returns a sleeve needs.

    Returns
    -------
    numpy.ndarray
        ``K`` Sharpe ratios (annualised, unitless) or NaN.
    """
    needed = sessions_needed(min_sessions)
    window = as_window(returns)
    finite = np.isfinite(window)
    counts = finite.sum(axis=0)
    out = np.full(window.shape[1], np.nan)
    usable = counts >= needed
    if not usable.any():
        return out
    values = np.where(finite, window, np.nan)[:, usable]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1)
        ratio = mean / sd * np.sqrt(TRADING_DAYS_PER_YEAR)
    ratio[~(np.isfinite(sd) & (sd > ZERO_VOLATILITY))] = np.nan
    out[usable] = np.where(np.isfinite(ratio), ratio, np.nan)
    return out


def scaled_weights(weights: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    """Return the allocation tilted by the multipliers, never summing to more than 1.

    ``v_k = w_k x m_k``, divided by ``sum v`` only when ``sum v > 1``; otherwise the rest,
    ``1 - sum v``, is unallocated cash.

    Parameters
    ----------
    weights
        ``K`` sleeve weights (:func:`~quant_core.book.allocation.allocate`), finite, ``>= 0``.
    multipliers
        ``K`` multipliers (:func:`scale`), finite, ``>= 0``.

    Returns
    -------
    numpy.ndarray
        ``K`` weights ``>= 0`` summing to ``<= 1`` (to rounding).

    Raises
    ------
    DataError
        The two differ in shape, are not 1-D, or hold a negative or non-finite value.
    """
    w = np.asarray(weights, dtype=np.float64)
    m = np.asarray(multipliers, dtype=np.float64)
    if w.ndim != 1 or w.shape != m.shape:
        raise DataError(
            f"sleeve weights {w.shape} and multipliers {m.shape} must be 1-D of one length"
        )
    for name, values in (("weights", w), ("multipliers", m)):
        if not (np.isfinite(values).all() and (values >= 0.0).all()):
            raise DataError(f"sleeve {name} must be finite and >= 0, got {values.tolist()}")
    scaled = w * m
    total = float(scaled.sum())
    return scaled / total if total > 1.0 else scaled
