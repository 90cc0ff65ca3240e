"""The average-cost fold of fills, as TWS's portfolio window keeps a position (pure).

Shared by the worker's daily reports (``live/report_book.py``, which states the method) and the
Live Dashboard (``cockpit/models/live_portfolio.py``), which carries the reported book on through
today's fills: one computation of realised P&L, not two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SHARE_EPSILON = 1e-9  # a position this small is flat


@dataclass(frozen=True, slots=True)
class Folded:
    """The average-cost fold of a run of fills, one entry per fill (in the order given).

    ``realized``: what each fill realised (dollars, its commission share included); ``position``
    and ``basis``: the symbol's signed position and cost basis after it.
    """

    realized: np.ndarray
    position: np.ndarray
    basis: np.ndarray


def average_cost(
    symbols: np.ndarray, quantities: np.ndarray, prices: np.ndarray, commissions: np.ndarray
) -> Folded:
    """Fold fills (signed ``quantities``) into positions and cost bases (module docstring)."""
    n = len(symbols)
    realized, position, basis = np.zeros(n), np.zeros(n), np.zeros(n)
    state: dict[str, tuple[float, float]] = {}
    # Path dependent (a flip splits a fill): one step per fill, never per (symbol, date) cell.
    for k, (symbol, x, p, c) in enumerate(
        zip(
            symbols.tolist(),
            quantities.tolist(),
            prices.tolist(),
            commissions.tolist(),
            strict=True,
        )
    ):
        q, b = state.get(symbol, (0.0, 0.0))
        if abs(q) <= SHARE_EPSILON or math.copysign(1.0, x) == math.copysign(1.0, q):
            q, b = q + x, b + x * p + c
        else:
            closed = min(abs(x), abs(q))
            share = closed / abs(x)
            side = math.copysign(1.0, q)
            average = b / q
            realized[k] = closed * side * (p - average) - c * share
            b -= average * closed * side
            q += x
            if abs(x) - closed > SHARE_EPSILON:  # through zero: the rest opens the other side
                b = math.copysign(abs(x) - closed, x) * p + c * (1.0 - share)
            elif abs(q) <= SHARE_EPSILON:
                q, b = 0.0, 0.0
        state[symbol] = (q, b)
        position[k], basis[k] = q, b
    return Folded(realized, position, basis)
