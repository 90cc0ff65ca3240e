"""Factor analytics: coverage, information coefficients, quantile returns, turnover, correlation.

Pure: wide panels in (a ``DatetimeIndex`` of sessions x one column per symbol, as
``Warehouse.panel`` and ``Warehouse.factor_panel`` return them), numbers out; no I/O, no clock.
A session is a row of the panel: trading days are the dates of the warehouse's bars.

Timing, and why nothing looks ahead::

    factor F(T)                 known at the close of T (a factor reads bars through T only)
    forward return R(T, h)      close(T+h) / close(T) - 1, T+h being h rows later
    IC(T)                       correlation over symbols of F(T) and R(T, h)

IC(T) uses closes up to T+h only, so changing anything after T+h never changes it; the last
``h`` sessions have no forward return yet, hence no IC.

NaN: a symbol counts on a session only where both of its numbers are finite; a session with
fewer than ``min_pairs`` such symbols (or with no spread in either) gets NaN, never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from quant_core.errors import ConfigError

MIN_PAIRS = 20  # fewer valid (factor, return) pairs than this on a session: no statistic
DEFAULT_HORIZON = 21  # sessions, about one month
DEFAULT_QUANTILES = 5

Method = Literal["pearson", "spearman"]


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


@dataclass(frozen=True, slots=True)
class QuantileReturns:
    """Mean forward return per factor quantile.

    Attributes
    ----------
    mean
        Index 1..q (1 = lowest factor values): the mean over sessions of each session's
        equal-weighted mean forward return in that quantile, as a fraction over the horizon.
    per_session
        Sessions x quantiles, the same per session (NaN where a session was not bucketed).
    spread
        ``mean[q] - mean[1]``: top minus bottom quantile.
    sessions
        How many sessions were bucketed.
    """

    mean: pd.Series
    per_session: pd.DataFrame
    spread: float
    sessions: int


@dataclass(frozen=True, slots=True)
class FactorProfile:
    """What a factor's statistics hold that does not depend on the horizon.

    Attributes
    ----------
    coverage
        :func:`coverage` against the close panel.
    turnover
        :func:`rank_turnover`.
    top_turnover
        :func:`top_quantile_turnover`.
    """

    coverage: pd.Series
    turnover: pd.Series
    top_turnover: pd.Series


@dataclass(frozen=True, slots=True)
class FactorAnalysis:
    """Everything the Factors page shows about one factor at one horizon."""

    name: str
    horizon: int
    coverage: pd.Series
    ic: pd.Series
    rank_ic: pd.Series
    ic_summary: ICSummary
    rank_ic_summary: ICSummary
    quantiles: QuantileReturns
    turnover: pd.Series
    top_turnover: pd.Series


def forward_returns(close: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Return ``close(T+h) / close(T) - 1`` on row T: NaN where either close is missing.

    Parameters
    ----------
    close
        Close prices, sessions x symbols.
    horizon
        ``h``, in sessions (rows of ``close``); at least 1.
    """
    _check_positive("horizon", horizon)
    return close.shift(-horizon) / close - 1.0


def coverage(factor: pd.DataFrame, universe: pd.DataFrame | None = None) -> pd.Series:
    """Return, per session, the share of symbols that have a factor value.

    Parameters
    ----------
    factor
        Factor values, sessions x symbols.
    universe
        The close panel: on each of its sessions the denominator is the symbols with a bar
        that day, and a session without factor values counts as 0. Without it, every column
        of ``factor`` on every one of its sessions is the denominator.
    """
    if universe is None:
        have = np.isfinite(factor.to_numpy(dtype=float))
        return pd.Series(have.mean(axis=1), index=factor.index, name="coverage")
    listed = np.isfinite(universe.to_numpy(dtype=float))
    values = factor.reindex(index=universe.index, columns=universe.columns).to_numpy(dtype=float)
    have = np.isfinite(values) & listed
    count = listed.sum(axis=1)
    share = np.full(len(count), np.nan)
    np.divide(have.sum(axis=1), count, out=share, where=count > 0)
    return pd.Series(share, index=universe.index, name="coverage")


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
    x, y = _align(factor, forward)
    values = _rowwise_corr(x.to_numpy(dtype=float), y.to_numpy(dtype=float), method, min_pairs)
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
    _check_positive("horizon", horizon)
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


def quantile_buckets(
    factor: pd.DataFrame, quantiles: int = DEFAULT_QUANTILES, min_pairs: int = MIN_PAIRS
) -> pd.DataFrame:
    """Return each value's quantile on its session: 1 (lowest) .. ``quantiles``, NaN if none.

    With ``n`` valid values on a session and rank ``r`` (1..n, ties averaged), the quantile is
    ``floor((r - 1) * q / n) + 1``: equal-sized buckets when ``q`` divides ``n``, and tied
    values always share one. Sessions with fewer than ``max(q, min_pairs)`` values get NaN.
    """
    _check_positive("quantiles", quantiles)
    ranks = _rank_rows(factor.to_numpy(dtype=float))
    return pd.DataFrame(
        _buckets(ranks, quantiles, min_pairs), index=factor.index, columns=factor.columns
    )


def quantile_returns(
    factor: pd.DataFrame,
    forward: pd.DataFrame,
    quantiles: int = DEFAULT_QUANTILES,
    min_pairs: int = MIN_PAIRS,
) -> QuantileReturns:
    """Return the mean forward return of each factor quantile.

    Symbols are bucketed per session among those with both a factor value and a forward
    return; each session weighs the same in the mean, each symbol the same within its bucket.
    """
    _check_positive("quantiles", quantiles)
    x, y = _align(factor, forward)
    fx, fy = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    valid = np.isfinite(fx) & np.isfinite(fy)
    ranks = _rank_rows(np.where(valid, fx, np.nan))
    return _quantile_means(_buckets(ranks, quantiles, min_pairs), fy, x.index, quantiles)


def rank_turnover(factor: pd.DataFrame, min_pairs: int = MIN_PAIRS) -> pd.Series:
    """Return ``1 - rank autocorrelation`` of the factor between each session and the previous.

    0 means the cross-sectional order did not change; 1 means no relation to yesterday's order.
    """
    previous = factor.shift(1)
    autocorr = _rowwise_corr(
        factor.to_numpy(dtype=float), previous.to_numpy(dtype=float), "spearman", min_pairs
    )
    return pd.Series(1.0 - autocorr, index=factor.index, name="turnover")


def top_quantile_turnover(
    factor: pd.DataFrame, quantiles: int = DEFAULT_QUANTILES, min_pairs: int = MIN_PAIRS
) -> pd.Series:
    """Return the share of the top quantile's symbols that were not in it the session before."""
    _check_positive("quantiles", quantiles)
    buckets = _buckets(_rank_rows(factor.to_numpy(dtype=float)), quantiles, min_pairs)
    top = buckets == quantiles
    before = np.zeros_like(top)
    before[1:] = top[:-1]
    size = top.sum(axis=1)
    had = np.zeros(len(top), dtype=bool)
    had[1:] = size[:-1] > 0
    stayed = (top & before).sum(axis=1)
    share = np.full(len(top), np.nan)
    np.divide(size - stayed, size, out=share, where=(size > 0) & had)
    return pd.Series(share, index=factor.index, name="top_turnover")


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


def profile_factor(
    factor: pd.DataFrame,
    close: pd.DataFrame,
    quantiles: int = DEFAULT_QUANTILES,
    min_pairs: int = MIN_PAIRS,
) -> FactorProfile:
    """Return the statistics of a factor that do not depend on the forward-return horizon."""
    return FactorProfile(
        coverage=coverage(factor, close),
        turnover=rank_turnover(factor, min_pairs),
        top_turnover=top_quantile_turnover(factor, quantiles, min_pairs),
    )


def analyze_factor(
    name: str,
    factor: pd.DataFrame,
    close: pd.DataFrame,
    horizon: int = DEFAULT_HORIZON,
    quantiles: int = DEFAULT_QUANTILES,
    min_pairs: int = MIN_PAIRS,
    profile: FactorProfile | None = None,
) -> FactorAnalysis:
    """Return every statistic of the Factors page for one factor.

    Parameters
    ----------
    name
        The factor's name, carried into the result.
    factor
        Its values, sessions x symbols.
    close
        The close panel of the same dataset (forward returns and the coverage universe).
    horizon, quantiles, min_pairs
        See :func:`forward_returns`, :func:`quantile_returns` and
        :func:`information_coefficient`.
    profile
        :func:`profile_factor` of the same factor, quantiles and ``min_pairs``, if already
        computed (it does not depend on the horizon).
    """
    _check_positive("quantiles", quantiles)
    if profile is None:
        profile = profile_factor(factor, close, quantiles, min_pairs)
    x, y = _align(factor, forward_returns(close, horizon))
    fx, fy = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    valid = np.isfinite(fx) & np.isfinite(fy)
    # One ranking of the factor serves the rank IC and the quantile buckets.
    rx = _rank_rows(np.where(valid, fx, np.nan))
    ry = _rank_rows(np.where(valid, fy, np.nan))
    ic = pd.Series(_pearson_rows(fx, fy, valid, min_pairs), index=x.index, name="pearson")
    rank_ic = pd.Series(_pearson_rows(rx, ry, valid, min_pairs), index=x.index, name="spearman")
    return FactorAnalysis(
        name=name,
        horizon=horizon,
        coverage=profile.coverage,
        ic=ic,
        rank_ic=rank_ic,
        ic_summary=summarize_ic(ic, horizon),
        rank_ic_summary=summarize_ic(rank_ic, horizon),
        quantiles=_quantile_means(_buckets(rx, quantiles, min_pairs), fy, x.index, quantiles),
        turnover=profile.turnover,
        top_turnover=profile.top_turnover,
    )


def _check_positive(what: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"factor analysis: {what} must be >= 1, got {value}")


def _align(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    index = a.index.intersection(b.index).sort_values()
    columns = a.columns.intersection(b.columns).sort_values()
    return a.reindex(index=index, columns=columns), b.reindex(index=index, columns=columns)


def _rank_rows(values: np.ndarray) -> np.ndarray:
    # Ranks 1..n within each row, ties averaged, NaN kept as NaN.
    ranked: np.ndarray = pd.DataFrame(values).rank(axis=1, method="average").to_numpy(float)
    return ranked


def _rowwise_corr(x: np.ndarray, y: np.ndarray, method: Method, min_pairs: int) -> np.ndarray:
    valid = np.isfinite(x) & np.isfinite(y)
    if method == "spearman":
        x = _rank_rows(np.where(valid, x, np.nan))
        y = _rank_rows(np.where(valid, y, np.nan))
    return _pearson_rows(x, y, valid, min_pairs)


def _pearson_rows(x: np.ndarray, y: np.ndarray, valid: np.ndarray, min_pairs: int) -> np.ndarray:
    n = valid.sum(axis=1)
    safe_n = np.maximum(n, 1)
    mean_x = np.where(valid, x, 0.0).sum(axis=1) / safe_n
    mean_y = np.where(valid, y, 0.0).sum(axis=1) / safe_n
    dx = np.where(valid, x - mean_x[:, None], 0.0)
    dy = np.where(valid, y - mean_y[:, None], 0.0)
    cov = (dx * dy).sum(axis=1)
    var = (dx * dx).sum(axis=1) * (dy * dy).sum(axis=1)
    out = np.full(len(n), np.nan)
    np.divide(cov, np.sqrt(var), out=out, where=(n >= max(min_pairs, 2)) & (var > 0))
    return out


def _buckets(ranks: np.ndarray, quantiles: int, min_pairs: int) -> np.ndarray:
    # From ranks 1..n per row (NaN where no value): floor((r - 1) * q / n) + 1.
    n = np.isfinite(ranks).sum(axis=1)
    enough = n >= max(quantiles, min_pairs)
    buckets = np.full(ranks.shape, np.nan)
    scaled = (ranks - 1.0) * quantiles / np.maximum(n, 1)[:, None]
    buckets[enough] = np.floor(scaled[enough]) + 1.0
    return buckets


def _quantile_means(
    buckets: np.ndarray, forward: np.ndarray, index: pd.Index, quantiles: int
) -> QuantileReturns:
    per = np.full((len(index), quantiles), np.nan)
    for k in range(1, quantiles + 1):
        members = buckets == k
        count = members.sum(axis=1)
        total = np.where(members, forward, 0.0).sum(axis=1)
        np.divide(total, count, out=per[:, k - 1], where=count > 0)
    columns = pd.RangeIndex(1, quantiles + 1, name="quantile")
    per_session = pd.DataFrame(per, index=index, columns=columns)
    bucketed = per_session.notna().all(axis=1)
    mean = per_session[bucketed].mean() if bucketed.any() else pd.Series(np.nan, index=columns)
    mean.name = "mean_forward_return"
    return QuantileReturns(
        mean=mean,
        per_session=per_session,
        spread=float(mean.iloc[-1] - mean.iloc[0]),
        sessions=int(bucketed.sum()),
    )
