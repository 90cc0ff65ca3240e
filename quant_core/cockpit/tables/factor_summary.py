"""The Factors page's summary table: one row per factor, from its analysis results.

Pure, without Streamlit. Fractions stay fractions (0.05 is 5%) in :func:`summary_table`;
:func:`summary_in_percent` is what the page shows, its percent columns times 100.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from quant_core.factors.analysis import FactorAnalysis

PERCENT_COLUMNS = [
    "coverage",
    "IC hit rate",
    "rank IC hit rate",
    "top - bottom",
    "turnover",
    "top quantile turnover",
]


def summary_table(results: Sequence[FactorAnalysis]) -> pd.DataFrame:
    """Return one row per factor: coverage, IC statistics, quantile spread and turnover.

    Fractions stay fractions (0.05 is 5%); the view formats them.
    """
    rows = []
    for r in results:
        covered = r.coverage[r.coverage > 0]
        rows.append(
            {
                "factor": r.name,
                "coverage": float(covered.mean()) if len(covered) else np.nan,
                "sessions with IC": r.ic_summary.sessions,
                "mean IC": r.ic_summary.mean,
                "IC t-stat": r.ic_summary.t_stat,
                "IC hit rate": r.ic_summary.hit_rate,
                "mean rank IC": r.rank_ic_summary.mean,
                "rank IC t-stat": r.rank_ic_summary.t_stat,
                "rank IC hit rate": r.rank_ic_summary.hit_rate,
                "top - bottom": r.quantiles.spread,
                "turnover": _mean(r.turnover),
                "top quantile turnover": _mean(r.top_turnover),
            }
        )
    return pd.DataFrame(rows)


def summary_in_percent(summary: pd.DataFrame) -> pd.DataFrame:
    """Return the summary with its fraction columns (:data:`PERCENT_COLUMNS`) in percent."""
    shown = summary.copy()
    shown[PERCENT_COLUMNS] = shown[PERCENT_COLUMNS] * 100
    return shown


def _mean(series: pd.Series) -> float:
    values = series.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else np.nan
