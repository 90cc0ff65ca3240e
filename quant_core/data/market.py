"""A dataset's market: every bar field as wide panels, with each symbol's sector, of one version.

What the backtest, a sweep's workers and the live worker read (one definition for all three).
"""

from __future__ import annotations

from dataclasses import replace

from quant_core.data.panels import FIELDS, MarketData
from quant_core.data.reference import sectors_of
from quant_core.data.warehouse import Warehouse


def read_market(warehouse: Warehouse, dataset: str) -> tuple[int, MarketData]:
    """Return the bars' version and :func:`load_market`'s panels, all of that one version.

    One manifest read: a write landing meanwhile gives the panels of before or of after it,
    never some fields of each (nor the sectors of another version).
    """
    version, frames, symbols = warehouse.panels(dataset, FIELDS)
    data = MarketData.from_frames(frames)
    return version, replace(data, sectors=sectors_of(symbols, data.symbols, dataset))


def load_market(warehouse: Warehouse, dataset: str) -> MarketData:
    """Return every bar field of ``dataset`` as wide panels, with each symbol's sector."""
    return read_market(warehouse, dataset)[1]


__all__ = ["load_market", "read_market"]
