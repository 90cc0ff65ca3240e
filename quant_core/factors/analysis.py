"""One factor's whole analysis at one horizon: what the Factors page shows, in one pass.

Pure: wide panels in (a ``DatetimeIndex`` of sessions x one column per symbol, as
``Warehouse.panel`` and ``FactorStore.panel`` return them), numbers out; no I/O, no clock.
The statistics, their timing and their NaN rules are those of :mod:`quant_core.factors.ic`,
:mod:`quant_core.factors.quantiles` and :mod:`quant_core.factors.profile`; this module only
shares one ranking among them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.factors.cross_section import (
    MIN_PAIRS,
    align,
    check_positive,
    pearson_rows,
    rank_rows,
)
from quant_core.factors.ic import DEFAULT_HORIZON, ICSummary, forward_returns, summarize_ic
from quant_core.factors.profile import FactorProfile, profile_factor
from quant_core.factors.quantiles import (
    DEFAULT_QUANTILES,
    QuantileReturns,
    buckets_of,
    quantile_means,
)


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
        See :func:`~quant_core.factors.ic.forward_returns`,
        :func:`~quant_core.factors.quantiles.quantile_returns` and
        :func:`~quant_core.factors.ic.information_coefficient`.
    profile
        :func:`~quant_core.factors.profile.profile_factor` of the same factor, quantiles and
        ``min_pairs``, if already computed (it does not depend on the horizon).
    """
    check_positive("quantiles", quantiles)
    if profile is None:
        profile = profile_factor(factor, close, quantiles, min_pairs)
    x, y = align(factor, forward_returns(close, horizon))
    fx, fy = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    valid = np.isfinite(fx) & np.isfinite(fy)
    # One ranking of the factor serves the rank IC and the quantile buckets.
    rx = rank_rows(np.where(valid, fx, np.nan))
    ry = rank_rows(np.where(valid, fy, np.nan))
    ic = pd.Series(pearson_rows(fx, fy, valid, min_pairs), index=x.index, name="pearson")
    rank_ic = pd.Series(pearson_rows(rx, ry, valid, min_pairs), index=x.index, name="spearman")
    return FactorAnalysis(
        name=name,
        horizon=horizon,
        coverage=profile.coverage,
        ic=ic,
        rank_ic=rank_ic,
        ic_summary=summarize_ic(ic, horizon),
        rank_ic_summary=summarize_ic(rank_ic, horizon),
        quantiles=quantile_means(buckets_of(rx, quantiles, min_pairs), fy, x.index, quantiles),
        turnover=profile.turnover,
        top_turnover=profile.top_turnover,
    )
