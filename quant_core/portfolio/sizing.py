"""Target weights to target shares, the same for the backtest and the live worker.

``target = weight x equity(T-1 close) x (1 - cash_buffer) / close(T-1)``, truncated toward zero
to whole shares unless fractional shares are allowed. A symbol without any close to size from
gets a target of zero.
"""

from __future__ import annotations

import numpy as np


def target_shares(
    weights: np.ndarray,
    equity: float,
    prices: np.ndarray,
    cash_buffer: float,
    fractional: bool = False,
) -> np.ndarray:
    """Return the shares that ``weights`` of ``equity`` buy at ``prices`` (per symbol position)."""
    sizable = np.isfinite(prices) & (prices > 0) & (weights != 0)
    amount = np.zeros_like(weights, dtype=float)
    amount[sizable] = weights[sizable] * equity * (1.0 - cash_buffer) / prices[sizable]
    return amount if fractional else np.trunc(amount)
