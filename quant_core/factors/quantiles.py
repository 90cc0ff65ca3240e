"""Quantile buckets of a factor per session, and the mean forward return of each bucket.

Pure: wide panels in (sessions x symbols), numbers out; no I/O, no clock. Forward returns and
their timing: :mod:`quant_core.factors.ic`; NaN: :mod:`quant_core.factors.cross_section`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.factors.cross_section import MIN_PAIRS, align, check_positive, rank_rows

DEFAULT_QUANTILES = 5


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


def quantile_buckets(
    factor: pd.DataFrame, quantiles: int = DEFAULT_QUANTILES, min_pairs: int = MIN_PAIRS
) -> pd.DataFrame:
    """Return each value's quantile on its session: 1 (lowest) .. ``quantiles``, NaN if none.

    With ``n`` valid values on a session and rank ``r`` (1..n, ties averaged), the quantile is
    ``floor((r - 1) * q / n) + 1``: equal-sized buckets when ``q`` divides ``n``, and tied
    values always share one. Sessions with fewer than ``max(q, min_pairs)`` values get NaN.
    """
    check_positive("quantiles", quantiles)
    ranks = rank_rows(factor.to_numpy(dtype=float))
    return pd.DataFrame(
        buckets_of(ranks, quantiles, min_pairs), index=factor.index, columns=factor.columns
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
    check_positive("quantiles", quantiles)
    x, y = align(factor, forward)
    fx, fy = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    valid = np.isfinite(fx) & np.isfinite(fy)
    ranks = rank_rows(np.where(valid, fx, np.nan))
    return quantile_means(buckets_of(ranks, quantiles, min_pairs), fy, x.index, quantiles)


def buckets_of(ranks: np.ndarray, quantiles: int, min_pairs: int) -> np.ndarray:
    """Return the quantile (1..q, NaN if none) of each cell, from its rank in its row.

    ``ranks`` holds 1..n per row (NaN where no value); the quantile is
    ``floor((r - 1) * q / n) + 1``, NaN on rows with fewer than ``max(q, min_pairs)`` values.
    """
    n = np.isfinite(ranks).sum(axis=1)
    enough = n >= max(quantiles, min_pairs)
    buckets = np.full(ranks.shape, np.nan)
    scaled = (ranks - 1.0) * quantiles / np.maximum(n, 1)[:, None]
    buckets[enough] = np.floor(scaled[enough]) + 1.0
    return buckets


def quantile_means(
    buckets: np.ndarray, forward: np.ndarray, index: pd.Index, quantiles: int
) -> QuantileReturns:
    """Return the mean ``forward`` return of each bucket, per session and over the sessions.

    Only sessions where every bucket has a member count in the mean.
    """
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
