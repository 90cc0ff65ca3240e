"""Wide bar panels in memory: :class:`MarketData` (dates x symbols per field) and its row facts.

What the backtest engine and the live worker both read from the bars once loaded: the panels,
each symbol's first bar, forward-filled closes and which symbols are gone at a row. Pure: no
I/O (the warehouse loads the panels), no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class MarketData:
    """Wide bar panels of one universe: ``panels[field]`` is a dates x symbols float array."""

    dates: np.ndarray  # datetime64[D], ascending
    symbols: np.ndarray  # str, ascending
    panels: dict[str, np.ndarray]
    # Reference data per symbol position (``Unknown`` where the source gives none); None when
    # the panels were built without it. Sector caps and the risk report read it.
    sectors: np.ndarray | None = field(default=None, compare=False)
    # Built once: pandas converts a symbol array into an index anew for every Series otherwise.
    symbol_index: pd.Index = field(init=False, repr=False, compare=False)
    date_index: pd.DatetimeIndex = field(init=False, repr=False, compare=False)
    # What is derived from the panels alone, built once per panel set (:meth:`derived`).
    _derived: dict[Hashable, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shape = (len(self.dates), len(self.symbols))
        for name, panel in self.panels.items():
            if panel.shape != shape:
                raise ValueError(f"panel {name} has shape {panel.shape}, expected {shape}")
        if self.sectors is not None and self.sectors.shape != (shape[1],):
            raise ValueError(f"sectors has shape {self.sectors.shape}, expected ({shape[1]},)")
        # Ascending, each once: the strategies break ties by position, as by symbol.
        unordered = np.flatnonzero(self.symbols[1:] <= self.symbols[:-1])
        if unordered.size:
            i = int(unordered[0])
            raise ValueError(
                f"symbols must be ascending and unique: {str(self.symbols[i])!r} comes before "
                f"{str(self.symbols[i + 1])!r}"
            )
        # Object dtype: an Arrow-backed string index converts itself on every lookup.
        symbols = pd.Index(self.symbols, name="symbol", dtype=object)
        object.__setattr__(self, "symbol_index", symbols)
        for panel in self.panels.values():
            panel.flags.writeable = False  # no strategy can alter the prices the engine fills at
        if self.sectors is not None:
            self.sectors.flags.writeable = False  # what is coded once stays true
        object.__setattr__(self, "date_index", pd.DatetimeIndex(self.dates, name="date"))
        object.__setattr__(self, "_derived", {})

    def derived(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """Return what ``build()`` derives from these panels, built once and kept under ``key``.

        The panels are read-only, so a value derived from them alone stays true: every run on
        this panel set (a sweep's thousand configurations in one worker process) shares it. An
        array kept here is made read-only, so no caller can change what the next one reads.
        """
        if key not in self._derived:
            value = build()
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
            self._derived[key] = value
        return self._derived[key]

    def filled_close(self) -> np.ndarray:
        """Return the closes forward-filled (:func:`forward_fill`), built once."""
        return np.asarray(self.derived("filled_close", lambda: forward_fill(self.panels["close"])))

    def marks(self) -> np.ndarray:
        """Return the forward-filled closes with NaN as 0 (a position is marked at), built once."""
        return np.asarray(self.derived("marks", lambda: np.nan_to_num(self.filled_close())))

    def first_bar(self) -> np.ndarray:
        """Return :func:`first_rows`, built once."""
        return np.asarray(self.derived("first_rows", lambda: first_rows(self)))

    @classmethod
    def from_frames(cls, frames: dict[str, pd.DataFrame]) -> MarketData:
        """Build from wide frames sharing one date index and one symbol set (columns sorted)."""
        first = next(iter(frames.values()))
        symbols = first.columns.sort_values()
        panels = {
            k: v.reindex(index=first.index, columns=symbols).to_numpy(float)
            for k, v in frames.items()
        }
        return cls(first.index.to_numpy(dtype="datetime64[D]"), symbols.to_numpy(dtype=str), panels)


def first_rows(data: MarketData) -> np.ndarray:
    """Return, per symbol, the row of its first close in the data (the row count if none).

    Knowing a symbol's first bar is no look-ahead: it is only ever compared with rows before T.
    """
    present = np.isfinite(data.panels["close"])
    return np.asarray(np.where(present.any(axis=0), np.argmax(present, axis=0), present.shape[0]))


def gappy_columns(data: MarketData) -> np.ndarray:
    """Return the symbol positions with a missing close somewhere (the only ones ever gone)."""
    close = data.panels["close"]
    gappy: np.ndarray = data.derived(
        "gappy_columns", lambda: np.flatnonzero(~np.isfinite(close).all(axis=0))
    )
    return gappy


def gone_at(data: MarketData, t: int, missing: int, first: np.ndarray) -> np.ndarray:
    """Return which symbols are treated as gone (delisted, left the index) at row ``t``.

    A symbol is gone when it has a bar before, but no close in the ``missing`` sessions
    ``t - missing .. t - 1``: what was knowable at the close of T-1, whatever the bars after it
    say (a halt that ends later looks the same at T). ``t`` may be one past the data (a live
    decision for the session after the last close). ``first`` is :func:`first_rows` of ``data``,
    computed once by a caller that decides many times.
    """
    if missing < 1:
        raise ValueError(f"missing must be at least 1 session, not {missing}")
    close = data.panels["close"]
    t = min(t, close.shape[0])
    lo = max(t - missing, 0)
    # A symbol with a close in every row is never gone (its first bar is row 0): only the
    # others are looked at, the same answer in a fraction of the time on a complete panel.
    gappy = gappy_columns(data)
    out = np.zeros(close.shape[1], dtype=bool)
    if gappy.size:
        recent = np.isfinite(close[lo:t, gappy]).any(axis=0)
        out[gappy] = (first[gappy] < lo) & ~recent
    return out


def forward_fill(panel: np.ndarray) -> np.ndarray:
    """Return ``panel`` with each NaN replaced by the last value above it in its column."""
    if not np.isnan(panel).any():
        return panel  # nothing to fill
    rows = np.where(np.isnan(panel), 0, np.arange(panel.shape[0])[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    return np.asarray(panel[rows, np.arange(panel.shape[1])])
