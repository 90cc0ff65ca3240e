"""Information coefficients: forward returns, the daily IC, its summary, factor correlation.

Pure: wide panels in (a ``DatetimeIndex`` of sessions x one column per symbol, as
``Warehouse.panel`` and ``FactorStore.panel`` return them), numbers out; no I/O, no clock.
A session is a row of the panel: trading days are the dates of the warehouse's bars.

Timing, and why nothing looks ahead::

    factor F(T)                 known at the close of T (a factor reads bars through T only)
    forward return R(T, h)      close(T+h) / close(T) - 1, T+h being h rows later
    IC(T)                       correlation over symbols of F(T) and R(T, h)

IC(T) uses closes up to T+h only, so changing anything after T+h never changes it; the last
``h`` sessions have no forward return yet, hence no IC. NaN: see
:mod:`quant_core.factors.cross_section`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.factors.cross_section import (
    MIN_PAIRS,
    Method,
    align,
    check_positive,
    rowwise_corr,
)

DEFAULT_HORIZON = 21  # sessions, about one month


@dataclass(frozen=True, slots=True)
class ICSummary:
    """Summary of an IC series.

    Attributes
    ----------
    mean
        Mean IC over every session that has one.
    sessions
        How many sessions have an IC.
    hit_rate
        Share of those sessions with IC > 0.
    t_stat
        The mean over its Newey-West standard error with ``horizon - 1`` lags (Bartlett
        weights), so it uses every session yet does not count the same information twice:
        forward returns of neighbouring sessions overlap by ``horizon - 1`` days, which makes
        their ICs nearly the same number, and the naive ``mean / (std / sqrt(n))`` would be
        roughly ``sqrt(horizon)`` times too large. NaN with fewer than 2 sessions.
    t_lags
        The lags used (``horizon - 1``, at most ``sessions - 1``).
    """

    mean: float
    sessions: int
    hit_rate: float
    t_stat: float
    t_lags: int


def forward_returns(close: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Return ``close(T+h) / close(T) - 1`` on row T: NaN where either close is missing.

    Parameters
    ----------
    close
        Close prices, sessions x symbols.
    horizon
        ``h``, in sessions (rows of ``close``); at least 1.
    """
    check_positive("horizon", horizon)
    return close.shift(-horizon) / close - 1.0


def information_coefficient(
    factor: pd.DataFrame,
    forward: pd.DataFrame,
    method: Method = "pearson",
    min_pairs: int = MIN_PAIRS,
) -> pd.Series:
    """Return the cross-sectional correlation of ``factor`` and ``forward`` on each session.

    Parameters
    ----------
    factor, forward
        Sessions x symbols; aligned on their common sessions and symbols.
    method
        ``pearson`` (IC) or ``spearman`` (rank IC: Pearson of the ranks, ties averaged, ranked
        among the symbols valid in both on that session).
    min_pairs
        Sessions with fewer valid pairs get NaN.
    """
    x, y = align(factor, forward)
    values = rowwise_corr(x.to_numpy(dtype=float), y.to_numpy(dtype=float), method, min_pairs)
    return pd.Series(values, index=x.index, name=method)


def summarize_ic(ic: pd.Series, horizon: int) -> ICSummary:
    """Return the mean, hit rate and Newey-West t-statistic of an IC series.

    Parameters
    ----------
    ic
        One IC per session (NaN where none), in session order; sessions without an IC are
        left out and the rest taken as consecutive.
    horizon
        The forward-return horizon in sessions: ``horizon - 1`` autocovariance lags.
    """
    check_positive("horizon", horizon)
    values = ic.to_numpy(dtype=float)
    valid = values[np.isfinite(values)]
    n = len(valid)
    if n == 0:
        return ICSummary(np.nan, 0, np.nan, np.nan, 0)
    lags = min(horizon - 1, n - 1)
    return ICSummary(
        mean=float(valid.mean()),
        sessions=n,
        hit_rate=float((valid > 0).mean()),
        t_stat=newey_west_t(valid, lags),
        t_lags=lags,
    )


def newey_west_t(values: np.ndarray, lags: int) -> float:
    """Return ``mean / sqrt(S / n)``, S the Bartlett-weighted long-run variance of ``values``.

    ``S = g0 + 2 * sum_{l=1..L} (1 - l / (L + 1)) * g_l`` with ``g_l = sum_t d_t d_{t-l} / n``
    and ``d = values - mean``; ``L = 0`` gives the plain t with the population variance.
    NaN with fewer than 2 values or no variance.
    """
    n = len(values)
    if n < 2:
        return np.nan
    dev = values - values.mean()
    long_run = float(dev @ dev) / n
    for lag in range(1, lags + 1):
        weight = 1.0 - lag / (lags + 1)
        long_run += 2.0 * weight * float(dev[lag:] @ dev[:-lag]) / n
    if not long_run > 0:
        return np.nan
    return float(values.mean() / np.sqrt(long_run / n))


def factor_correlation(
    panels: Mapping[str, pd.DataFrame], min_pairs: int = MIN_PAIRS
) -> pd.DataFrame:
    """Return the mean over sessions of the cross-sectional rank correlation of each pair.

    Each session's Spearman correlation uses the symbols valid in both factors that day; a
    pair with no such session is NaN. The diagonal is 1.
    """
    names = list(panels)
    out = np.eye(len(names))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            daily = information_coefficient(panels[a], panels[names[j]], "spearman", min_pairs)
            finite = daily.to_numpy(dtype=float)
            finite = finite[np.isfinite(finite)]
            out[i, j] = out[j, i] = float(finite.mean()) if len(finite) else np.nan
    return pd.DataFrame(out, index=pd.Index(names), columns=pd.Index(names))
