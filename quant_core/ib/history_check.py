"""A sync's check of IB's answer against the bars a dataset already holds (the refresh's rule).

IB re-adjusts its whole ``ADJUSTED_LAST`` history after a split or a dividend. A sync from a
later ``--start`` into a dataset holding a symbol's earlier bars would store new-basis bars
after old-basis ones (a 2:1 split read as a -50% return). IB's answer reaches back before
``--start`` (a request spans whole years, or chunks of one), so where it overlaps the stored
bars their closes are compared by the worker refresh's rule
(:func:`quant_core.ib.refresh_plan.changed_history`: a close further off than 1e-6 relative,
or a stored session IB's answer lacks, means the history changed). A symbol whose history
changed has its whole history, from its first stored bar, fetched again and upserted, as the
refresh does; an answer that does not reach a stored bar has nothing to compare.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from quant_core.data.warehouse import Warehouse
from quant_core.ib.refresh_plan import changed_history, dated

# A symbol's stored bars: ``date`` (datetime64) and ``close``; empty when none are stored.
StoredBars = Callable[[str], pd.DataFrame]


def stored_reader(warehouse: Warehouse | None, dataset: str) -> StoredBars | None:
    """Return a reader of the closes ``dataset`` holds for one symbol (None: nothing stored)."""
    if warehouse is None or not warehouse.exists(dataset):
        return None
    store = warehouse

    def read(symbol: str) -> pd.DataFrame:
        return store.read_bars(dataset, [symbol], fields=("close",))

    return read


def changed(symbol: str, stored: pd.DataFrame, frames: list[pd.DataFrame]) -> str | None:
    """Return why IB's answer for ``symbol`` contradicts its stored bars, or None.

    Parameters
    ----------
    symbol
        The symbol.
    stored
        Its stored bars: ``date`` (``datetime64``) and ``close``.
    frames
        IB's raw answer (``date`` as ``YYYYMMDD``), before it is cut to ``--start``.

    Every stored bar within the span of the answer (its first to its last bar) is compared.
    """
    answer = dated(frames)
    if answer.empty or stored.empty:
        return None
    dates = pd.to_datetime(stored["date"])
    inside = (dates >= answer["date"].min()) & (dates <= answer["date"].max())
    overlap = pd.DataFrame(
        {"symbol": symbol, "date": dates[inside], "close": stored["close"][inside]}
    )
    if overlap.empty:
        return None
    return changed_history(answer[["symbol", "date", "close"]], overlap).get(symbol)
