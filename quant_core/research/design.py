"""The design of a fit: factors standardised per session, stacked with the label.

Pure: wide panels in (sessions x symbols), arrays out; no I/O, no clock.

Standardisation (pinned): on each session, over the symbols that have **every** factor of the
model, each factor's z-score ``(x - mean) / std`` (sample deviation, ddof=1), clipped to
``[-CLIP, CLIP]``; a session with fewer than ``MIN_NAMES`` such symbols, or a factor without
spread on it, gives no rows. A symbol missing any factor has no row (and no prediction).
The label is not standardised (a ``_rank`` or ``_demeaned`` label already is cross-sectional).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

CLIP = 3.0
MIN_NAMES = 20  # the factors' own MIN_PAIRS: fewer names on a session, no rows


def standardise(values: np.ndarray) -> np.ndarray:
    """Return ``values`` (one session: symbols x factors) standardised (module docstring).

    Rows (symbols) with any NaN come back all NaN; so does every row of a session with fewer
    than ``MIN_NAMES`` complete rows or a factor without spread.
    """
    out = np.full(values.shape, np.nan)
    complete = np.isfinite(values).all(axis=1)
    if complete.sum() < MIN_NAMES:
        return out
    block = values[complete]
    std = block.std(axis=0, ddof=1)
    if not (std > 0).all():
        return out
    out[complete] = np.clip((block - block.mean(axis=0)) / std, -CLIP, CLIP)
    return out


def standardise_series(features: Mapping[str, pd.Series], factors: Sequence[str]) -> pd.DataFrame:
    """Return one session's factors (``features[name]`` by symbol) standardised, symbols x factors.

    The index is the union of the series' symbols in their first series' order; a factor
    missing from ``features`` is all NaN (so nothing is predicted).
    """
    index = next(iter(features.values())).index if features else pd.Index([])
    raw = np.column_stack(
        [
            features[name].reindex(index).to_numpy(dtype=float)
            if name in features
            else np.full(len(index), np.nan)
            for name in factors
        ]
    )
    return pd.DataFrame(standardise(raw), index=index, columns=list(factors))


@dataclass(frozen=True, slots=True)
class Design:
    """Every (session, symbol) sample of a model: standardised factors, label, where it lies.

    ``x`` is samples x factors (finite), ``y`` the label (NaN where it is not known yet: the
    last ``span`` sessions), ``row`` each sample's session row (0-based, in the panels' index)
    and ``col`` its symbol column. Samples are ordered by row, then column.
    """

    x: np.ndarray
    y: np.ndarray
    row: np.ndarray
    col: np.ndarray
    dates: pd.DatetimeIndex
    symbols: pd.Index
    factors: tuple[str, ...]

    def rows_in(self, rows: np.ndarray) -> np.ndarray:
        """Return the sample positions whose session row is in ``rows`` (a sorted array)."""
        return np.flatnonzero(np.isin(self.row, rows))


def build_design(
    factors: Mapping[str, pd.DataFrame], label: pd.DataFrame, names: Sequence[str]
) -> Design:
    """Return the design of ``names`` (wide factor panels) against ``label`` (a wide panel).

    Every panel is read on ``label``'s sessions and symbols (reindexed: a factor without a
    session or symbol is NaN there).
    """
    dates, symbols = pd.DatetimeIndex(label.index), pd.Index(label.columns)
    cube = np.stack(
        [factors[n].reindex(index=dates, columns=symbols).to_numpy(dtype=float) for n in names],
        axis=2,
    )  # sessions x symbols x factors
    z = np.full(cube.shape, np.nan)
    for r in range(cube.shape[0]):
        z[r] = standardise(cube[r])
    keep = np.isfinite(z).all(axis=2)
    rows, cols = np.nonzero(keep)
    return Design(
        x=z[rows, cols],
        y=label.to_numpy(dtype=float)[rows, cols],
        row=rows,
        col=cols,
        dates=dates,
        symbols=symbols,
        factors=tuple(names),
    )
