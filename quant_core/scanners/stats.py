"""Universe size and turnover over time: what the Explorer shows of a sleeve's scanner."""

from __future__ import annotations

import numpy as np
import pandas as pd


def universe_stats(dates: pd.DatetimeIndex, masks: np.ndarray) -> pd.DataFrame:
    """Return the universe's size and turnover at each date.

    Parameters
    ----------
    dates
        The sessions scanned, one per row of ``masks``.
    masks
        ``len(dates) x symbols`` bool: which symbols were in at each date (a scanner's output).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``date``: ``size`` (symbols in, an integer) and ``turnover``: the names that
        entered plus the names that left since the previous date, divided by twice the previous
        size, ``(entered + left) / (2 x size[i-1])`` (0: the same names; 1: all new, as many).
        NaN on the first date and wherever the previous universe was empty.
    """
    masks = np.asarray(masks)
    if masks.ndim != 2 or masks.dtype != bool or masks.shape[0] != len(dates):
        raise ValueError(
            f"masks must be a bool array of {len(dates)} rows (one per date), got "
            f"{masks.dtype} {masks.shape}"
        )
    size = masks.sum(axis=1)
    turnover = np.full(len(dates), np.nan)
    if len(dates) > 1:
        changed = (masks[1:] != masks[:-1]).sum(axis=1)  # entered + left
        previous = size[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            turnover[1:] = np.where(previous > 0, changed / (2.0 * previous), np.nan)
    index = pd.DatetimeIndex(dates, name="date")
    return pd.DataFrame({"size": size.astype(np.int64), "turnover": turnover}, index=index)
