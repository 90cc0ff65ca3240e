"""Per-session statistics over symbols: alignment, row ranks and row-wise correlation.

The shared kernel of the factor analytics (:mod:`quant_core.factors.ic`,
:mod:`quant_core.factors.quantiles`, :mod:`quant_core.factors.profile`). Pure: arrays and
panels in, arrays out; no I/O, no clock.

NaN: a symbol counts on a session only where both of its numbers are finite; a session with
fewer than ``min_pairs`` such symbols (or with no spread in either) gets NaN, never 0.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from quant_core.errors import ConfigError

MIN_PAIRS = 20  # fewer valid (factor, return) pairs than this on a session: no statistic

Method = Literal["pearson", "spearman"]


def check_positive(what: str, value: int) -> None:
    """Raise ``ConfigError`` unless ``value`` (a horizon, a number of quantiles) is >= 1."""
    if value < 1:
        raise ConfigError(f"factor analysis: {what} must be >= 1, got {value}")


def align(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``a`` and ``b`` on their common sessions and symbols, both sorted."""
    index = a.index.intersection(b.index).sort_values()
    columns = a.columns.intersection(b.columns).sort_values()
    return a.reindex(index=index, columns=columns), b.reindex(index=index, columns=columns)


def rank_rows(values: np.ndarray) -> np.ndarray:
    """Return ranks 1..n within each row, ties averaged, NaN kept as NaN."""
    ranked: np.ndarray = pd.DataFrame(values).rank(axis=1, method="average").to_numpy(float)
    return ranked


def rowwise_corr(x: np.ndarray, y: np.ndarray, method: Method, min_pairs: int) -> np.ndarray:
    """Return the correlation of ``x`` and ``y`` in each row, over the pairs finite in both.

    ``spearman`` ranks each row among those pairs first.
    """
    valid = np.isfinite(x) & np.isfinite(y)
    if method == "spearman":
        x = rank_rows(np.where(valid, x, np.nan))
        y = rank_rows(np.where(valid, y, np.nan))
    return pearson_rows(x, y, valid, min_pairs)


def pearson_rows(x: np.ndarray, y: np.ndarray, valid: np.ndarray, min_pairs: int) -> np.ndarray:
    """Return the Pearson correlation of ``x`` and ``y`` in each row, over the ``valid`` cells.

    NaN for a row with fewer than ``max(min_pairs, 2)`` valid cells or no variance.
    """
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
