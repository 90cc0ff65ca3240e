"""The source protocol: what every bar source hands to the sync."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeAlias

import pandas as pd

from quant_core.calendar import TradingCalendar
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.errors import DataError
from quant_core.registry import Registry
from quant_core.types import ProgressFn

__all__ = [
    "SOURCES",
    "BarSource",
    "ProgressFn",
    "SourceBatch",
    "SourceRequest",
    "check_sha256",
]


@dataclass(frozen=True, slots=True)
class SourceBatch:
    """Raw rows from one source, before validation.

    Attributes
    ----------
    bars
        Columns ``date, symbol, open, high, low, close, volume`` and optionally
        ``adj_close``, ``adj_factor``, ``flags``; provenance in ``_source`` and ``_line``.
    meta
        How the dataset is labelled wherever its data appears.
    ohlc
        The source's own documented rule for high/low that contradict open/close, or
        ``None`` to use the configured ``data.ohlc_inconsistency``.
    notes
        Each known flaw of the data and how it was handled, for the sync report.
    symbols
        Optional reference data, one row per symbol: ``symbol`` and any of ``name, sector,
        industry, source, delisted`` (:mod:`quant_core.data.reference`). The sync completes
        it: a symbol of the bars without a row, or a blank sector, reads ``Unknown``.
    malformed
        Lines the source could not even split into fields (``_source, _line, detail``); the
        sync reports each as a ``malformed_line`` rejection.
    unfetched
        Symbols asked for that the source could not give (IB knows no such security): the
        others are synced, the report names them, and ``--strict`` fails on them.
    """

    bars: pd.DataFrame
    meta: DatasetMeta
    ohlc: Literal["reject", "repair"] | None = None
    notes: tuple[str, ...] = ()
    symbols: pd.DataFrame | None = field(default=None)
    malformed: pd.DataFrame | None = field(default=None)
    unfetched: tuple[str, ...] = ()


class BarSource(Protocol):
    """Anything that can produce daily bars: files, a generator, a broker's history.

    A source that knows its :class:`DatasetMeta` before loading may say so with a ``meta``
    attribute: the sync then refuses a dataset holding another source's data before it loads.
    """

    name: str

    def load(self, progress: ProgressFn | None = None) -> SourceBatch:
        """Return the source's rows; ``progress(task, done, total)`` reports long work."""
        ...


@dataclass(frozen=True, slots=True)
class SourceRequest:
    """What the command line asked of a source; each source reads the fields it needs."""

    calendar: TradingCalendar
    dataset: str | None = None
    path: Path | None = None
    symbols: str | None = None
    days: int = 2520
    seed: int = 7
    start: dt.date | None = None
    ib: Any = None  # the ib config section, for the IB history source (data never imports ib)
    cache_dir: Path | None = None
    reference: Path | None = None  # csv: the reference file (symbol, name, sector, ...)
    # ib: the warehouse whose stored bars IB's answer is checked against (None: --replace)
    warehouse: Warehouse | None = None


# A factory builds the source and names the dataset it writes to by default.
SourceFactory: TypeAlias = Callable[[SourceRequest], tuple[BarSource, str]]
SOURCES: Registry[SourceFactory] = Registry("data source")


def check_sha256(path: Path, expected: str) -> None:
    """Raise ``DataError`` unless the file's sha256 is ``expected``."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise DataError(
            f"{path}: sha256 {digest} does not match the pinned {expected}; "
            "the packaged data changed, so its documented flaws may no longer hold"
        )
