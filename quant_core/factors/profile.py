"""What a factor's statistics hold that does not depend on the horizon: coverage and turnover.

Pure: wide panels in (sessions x symbols), numbers out; no I/O, no clock. NaN: see
:mod:`quant_core.factors.cross_section`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.factors.cross_section import MIN_PAIRS, check_positive, rank_rows, rowwise_corr
from quant_core.factors.quantiles import DEFAULT_QUANTILES, buckets_of


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


def rank_turnover(factor: pd.DataFrame, min_pairs: int = MIN_PAIRS) -> pd.Series:
    """Return ``1 - rank autocorrelation`` of the factor between each session and the previous.

    0 means the cross-sectional order did not change; 1 means no relation to yesterday's order.
    """
    previous = factor.shift(1)
    autocorr = rowwise_corr(
        factor.to_numpy(dtype=float), previous.to_numpy(dtype=float), "spearman", min_pairs
    )
    return pd.Series(1.0 - autocorr, index=factor.index, name="turnover")


def top_quantile_turnover(
    factor: pd.DataFrame, quantiles: int = DEFAULT_QUANTILES, min_pairs: int = MIN_PAIRS
) -> pd.Series:
    """Return the share of the top quantile's symbols that were not in it the session before."""
    check_positive("quantiles", quantiles)
    buckets = buckets_of(rank_rows(factor.to_numpy(dtype=float)), quantiles, min_pairs)
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
