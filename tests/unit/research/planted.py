"""Synthetic bars with a planted signal: short-term reversal predicts the next opens.

Close-to-close log returns follow ``r_t = eps_t - beta * (r_{t-1} + ... + r_{t-5}) / 5`` per
symbol (``eps`` iid normal, 2% a day), so minus the last five days' return (``reversal_5``)
predicts the next days' returns when ``beta > 0``; ``beta = 0`` is pure noise. Opens gap from
the previous close by a small independent move, so ``fwd_open_<h>`` carries the same signal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAILY_VOL = 0.02
GAP_VOL = 0.002


def planted_bars(
    symbols: int = 120, sessions: int = 900, beta: float = 0.3, seed: int = 1
) -> dict[str, pd.DataFrame]:
    """Return wide ``open, high, low, close, volume`` panels (sessions x symbols)."""
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, DAILY_VOL, (sessions, symbols))
    r = np.zeros((sessions, symbols))
    for t in range(sessions):
        past = r[max(0, t - 5) : t].sum(axis=0)
        r[t] = eps[t] - beta * past / 5.0
    start = np.exp(rng.normal(np.log(50.0), 0.5, symbols))
    close = start * np.exp(np.cumsum(r, axis=0))
    previous = np.vstack([start[None, :], close[:-1]])
    open_ = previous * np.exp(rng.normal(0.0, GAP_VOL, (sessions, symbols)))
    wick = np.abs(rng.normal(0.0, DAILY_VOL / 2, (2, sessions, symbols)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    volume = np.exp(rng.normal(np.log(1e6), 0.5, (sessions, symbols)))
    index = pd.bdate_range("2015-01-02", periods=sessions, name="date")
    columns = pd.Index([f"S{i:03d}" for i in range(symbols)], name="symbol")
    return {
        name: pd.DataFrame(values, index=index, columns=columns)
        for name, values in {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }.items()
    }
