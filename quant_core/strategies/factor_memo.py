"""Factor values kept per panel set, so that runs reading one factor at one session share it.

A sweep's configurations of one factor strategy (its ``top_quantile``, its weights) read the same
factors at the same sessions: each worker process computes a factor at a session once, and every
later configuration gets a copy. A value is the factor computed from the view's window exactly as
:meth:`~quant_core.strategies.base.DataView.factor` computes it, so a run's figures are the same
with the memo or without. A factor name is one computation: a computed kind's parameters are in
its name, and a stored model's factor is named by the model's id.

Kept on the :class:`~quant_core.data.panels.MarketData` it was computed from (the panels are
read-only), up to about :data:`KEPT_BYTES` of values, the oldest dropped first. A value kept is
a copy of its own: the row a factor computes is a view of the frame it computed (copy-on-write),
which would keep the whole window of every value alive.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import pandas as pd

from quant_core.data.panels import MarketData

# Factor values kept per panel set, counted at 8 bytes a symbol and VALUE_BYTES a value.
KEPT_BYTES = 256 * 2**20
# What a value kept costs besides its numbers: the Series, its key, its slot (about 1.5 KB
# measured with pandas 3; a small universe's values are mostly this).
VALUE_BYTES = 2048
FEWEST = 64  # values kept whatever the universe's size


class FactorMemo:
    """Factor values by (name, view end), bounded, safe across threads (a Streamlit server)."""

    def __init__(self, symbols: int) -> None:
        self.limit = max(FEWEST, KEPT_BYTES // (8 * max(symbols, 1) + VALUE_BYTES))
        # Ordered: the oldest is dropped in constant time (a dict's first key is found by
        # scanning past the slots of the keys dropped before it).
        self._values: OrderedDict[Hashable, pd.Series] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # how many values were computed (the rest were shared)

    def get(self, key: Hashable, compute: Callable[[], pd.Series]) -> pd.Series:
        """Return a copy of the value under ``key``, computed by ``compute`` the first time."""
        with self._lock:
            value = self._values.get(key)
        if value is None:
            # Outside the lock: two threads may compute it, to the same value. A copy of its
            # own, not a view keeping the frame it was computed from (module docstring).
            value = compute().copy(deep=True)
            with self._lock:
                self.computed += 1
                self._values[key] = value
                while len(self._values) > self.limit:
                    self._values.popitem(last=False)  # the oldest first
        return value.copy()


def factor_memo(data: MarketData) -> FactorMemo:
    """Return the factor memo of ``data``'s panels, made on first use."""
    memo: FactorMemo = data.derived("factor_memo", lambda: FactorMemo(len(data.symbols)))
    return memo


__all__ = ["KEPT_BYTES", "FactorMemo", "factor_memo"]
