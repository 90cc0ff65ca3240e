"""How a worker was started (:class:`WorkerOptions`), and the wall clock it reads by default."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from quant_core.book.sleeves import Book
from quant_core.live.state import WorkerMode


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How this worker was started."""

    mode: WorkerMode = WorkerMode.SIM
    resume: bool = False
    speed_s: float = 0.0
    account: str = ""  # how the broker's account began, when the run chose (a replay's sim)
    refusal: str | None = None  # why the strategy cannot trade (no model): HALTED from the start
    book: Book | None = None  # a book of sleeves (--book) instead of one strategy
    book_start: dt.date | None = None  # a replay's first day: the sleeves' warm-ups count from it


def utc_now() -> dt.datetime:
    """Return the wall clock, timezone-aware."""
    return dt.datetime.now(dt.UTC)


__all__ = ["WorkerOptions", "utc_now"]
