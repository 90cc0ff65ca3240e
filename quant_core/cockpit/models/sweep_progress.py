"""A running sweep's progress file, as the Sweeps page reads it.

While a sweep runs, its driver holds the catalogue (DuckDB's lock) and writes its figures to
``<data_dir>/sweeps/progress/<sweep_id>.json`` after every batch
(:func:`quant_core.sweeps.runner.write_progress`): configurations done of all, the best objective
so far, the rate, the workers and the Dask dashboard's address. This module reads such a file
into :class:`SweepProgress`; a missing, unreadable or malformed file reads as None.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quant_core.sweeps.runner import CATALOGUE, PROGRESS

STALE_S = 120.0  # a progress file this old, unfinished: the sweep is no longer running


def progress_folder(data_dir: Path) -> Path:
    """Return the folder of the sweeps' progress files under ``data_dir``."""
    return (data_dir / CATALOGUE).parent / PROGRESS


def finite_number(value: Any) -> float | None:
    """Return ``value`` as a float when it is a finite number (not a bool), else None."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


@dataclass(frozen=True, slots=True)
class SweepProgress:
    """A progress file's figures (``quant_core.sweeps.runner.write_progress``)."""

    sweep_id: str
    done: int
    total: int
    best: float | None
    rate: float | None  # configurations per second
    workers: int | None
    dashboard: str | None
    at: dt.datetime | None  # when written (UTC)

    @property
    def finished(self) -> bool:
        """Return True when every configuration is done."""
        return self.total > 0 and self.done >= self.total

    def fraction(self) -> float:
        """Return done / total in [0, 1] (0 when the total is unknown)."""
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    def seconds_left(self) -> float | None:
        """Return (total - done) / rate, the time left at the last rate (None: no rate)."""
        if not self.rate or self.rate <= 0 or self.finished:
            return None
        return (self.total - self.done) / self.rate

    def age(self, now: dt.datetime) -> float | None:
        """Return the seconds since the file was written (None: unknown)."""
        return None if self.at is None else (now - self.at).total_seconds()

    def stale(self, now: dt.datetime) -> bool:
        """Return True when unfinished and older than :data:`STALE_S` (no longer running)."""
        age = self.age(now)
        return not self.finished and age is not None and age > STALE_S


def read_progress(path: Path) -> SweepProgress | None:
    """Return a progress file's figures, or None when missing, unreadable or malformed."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        done, total = int(raw["done"]), int(raw["total"])
        at = dt.datetime.fromisoformat(raw["at"]) if raw.get("at") else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    workers = finite_number(raw.get("workers"))
    link = raw.get("dashboard")
    return SweepProgress(
        str(raw.get("sweep_id") or path.stem),
        done,
        total,
        finite_number(raw.get("best")),
        finite_number(raw.get("rate")),
        None if workers is None else int(workers),
        link if isinstance(link, str) and link.startswith(("http://", "https://")) else None,
        at,
    )


def latest_progress(folder: Path) -> SweepProgress | None:
    """Return the most recently written progress file's figures (None: there is none)."""
    found = [p for p in (read_progress(f) for f in folder.glob("*.json")) if p is not None]
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return max(found, key=lambda p: p.at or epoch, default=None)


__all__ = [
    "STALE_S",
    "SweepProgress",
    "finite_number",
    "latest_progress",
    "progress_folder",
    "read_progress",
]
