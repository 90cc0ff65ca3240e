"""What a data refresh reports: its progress while it runs, and its outcome when done.

A refresh (``ib/refresh.py``: the sessions missing from a dataset, fetched, validated, stored,
then its factors recomputed) may run in another process than the worker that asked for it, so
its progress goes through a small JSON file, written atomically (``write_progress``) and read
back tolerantly (``read_progress``: None for a file that is missing or half-written by a
process killed mid-write, which the atomic rename makes impossible but a reader never assumes).
The outcome (:class:`RefreshOutcome`) is plain data: it crosses a process boundary by pickle and
is kept in the worker's ``refresh.json`` as JSON. No secret is ever part of either.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from quant_core.atomic import atomic_write_bytes


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What one successful refresh did.

    ``data_through``: the dataset's last session afterwards; ``symbols``: symbols asked for
    (those missing sessions); ``requests``: history requests sent (refetches of a symbol whose
    adjusted history changed included); ``rows_written``/``rejected``: the sync's figures;
    ``factors``: the factors recomputed and stored; ``issues_file``: the sync's issues file
    (every rejected or repaired row), if any; ``notes``: anything worth a line in the log;
    ``behind``: symbols asked for whose last bar is still before the session refreshed through
    (IB had no bar for them yet, or they are halted): the decision treats them as the backtest
    treats a missing bar, so the dashboard names them.
    """

    data_through: dt.date | None
    symbols: int
    requests: int
    rows_written: int
    rejected: int
    factors: tuple[str, ...] = ()
    issues_file: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    behind: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the outcome as JSON-ready data."""
        data = asdict(self)
        data["data_through"] = None if self.data_through is None else self.data_through.isoformat()
        data["factors"], data["notes"] = list(self.factors), list(self.notes)
        data["behind"] = list(self.behind)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RefreshOutcome:
        """Read :meth:`to_json`'s output back (raises KeyError/ValueError/TypeError if bad)."""
        through = data["data_through"]
        return cls(
            data_through=None if through is None else dt.date.fromisoformat(str(through)),
            symbols=int(data["symbols"]),
            requests=int(data["requests"]),
            rows_written=int(data["rows_written"]),
            rejected=int(data["rejected"]),
            factors=tuple(str(f) for f in data.get("factors", ())),
            issues_file=None if data.get("issues_file") is None else str(data["issues_file"]),
            notes=tuple(str(n) for n in data.get("notes", ())),
            behind=tuple(str(s) for s in data.get("behind", ())),
        )


def write_progress(path: Path, phase: str, done: int, total: int) -> None:
    """Write a running refresh's progress to ``path`` atomically (with this process's pid)."""
    body = {
        "phase": phase,
        "done": int(done),
        "total": int(total),
        "pid": os.getpid(),
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }
    atomic_write_bytes(path, json.dumps(body).encode())


def read_progress(path: Path) -> tuple[str, int, int] | None:
    """Return ``(phase, done, total)`` from ``path``, or None if missing or unreadable."""
    try:
        body = json.loads(path.read_text())
        return str(body["phase"]), int(body["done"]), int(body["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
