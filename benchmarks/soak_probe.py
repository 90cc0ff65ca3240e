"""What the soak benchmark measures: resident memory, what it is made of, and the heartbeat.

* :class:`Heartbeats` wraps the worker's ``write_state`` (one call per heartbeat: the state file
  is the heartbeat the health check and the cockpit read) and records the wall time between
  consecutive writes, tagged with the driver's phase; a pause for a checkpoint is not counted.
* :func:`checkpoint` reads ``VmRSS`` (``/proc/self/status``), the bytes of the bars the worker
  decides from (they grow by a session a day: data, not a leak), DuckDB's own memory for the
  journal, open file descriptors, threads, live Python objects, the lengths of the worker's
  bounded and unbounded containers, and the sizes of the files it keeps.
* :func:`slope_per_1000` fits a line through the checkpoints (least squares, after the first
  ``skip``): the growth per 1,000 sessions of any series.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time
import tracemalloc
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from quant_core.data.panels import MarketData
from quant_core.live.worker import Worker


def rss_bytes() -> int:
    """Return this process's resident set size (``VmRSS``), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mallinfo() -> Callable[[], _Mallinfo2] | None:
    try:
        call = ctypes.CDLL("libc.so.6").mallinfo2  # glibc 2.33+
    except (OSError, AttributeError):
        return None
    call.restype = _Mallinfo2
    return call


MALLINFO = _mallinfo()


def malloc_bytes() -> tuple[int, int]:
    """Return glibc malloc's bytes in use and free bytes it holds (all arenas; -1 without it).

    In use: ``uordblks + hblkhd`` (heap chunks and mmapped blocks); held free: ``fordblks``.
    Python's small objects (pymalloc's arenas) and DuckDB's allocator are not in these.
    """
    if MALLINFO is None:
        return -1, -1
    info = MALLINFO()
    return int(info.uordblks + info.hblkhd), int(info.fordblks)


def trim_malloc() -> bool:
    """Return freed heap memory to the system (glibc ``malloc_trim(0)``); False without it."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    libc.malloc_trim(0)
    return True


def fd_count() -> int:
    """Return how many file descriptors this process holds open."""
    return len(os.listdir("/proc/self/fd"))


def data_bytes(worker: Worker) -> int:
    """Return the bytes of the bars the worker holds (panels, dates, forward-filled closes)."""
    data, planner = worker.data, worker.planner
    arrays = [*data.panels.values(), data.dates, planner.closes, planner.first_bar]
    return int(sum(a.nbytes for a in arrays))


def duckdb_bytes(worker: Worker) -> int:
    """Return the memory DuckDB reports for the journal's connection (its buffer manager)."""
    rows = worker.journal.con.execute(
        "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
    ).fetchall()
    return int(rows[0][0])


def tree_bytes(folder: Path) -> int:
    """Return the total size of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def containers(worker: Worker) -> dict[str, int]:
    """Return the lengths of what the worker and its broker keep in memory."""
    broker: Any = worker.broker
    return {
        "errors": len(worker.errors),
        "acks": len(worker.acks),
        "equity_points": len(worker.equity_points),
        "daily.rows": len(worker.daily.rows),
        "inbox.processed": len(worker.inbox._processed),
        "broker._book": len(broker._book),
        "broker._fills": len(broker._fills),
        "broker._rejected": len(broker._rejected),
    }


@dataclass
class Heartbeats:
    """Wall time between the worker's state-file writes (see the module docstring).

    Kept in typed arrays (13 bytes a gap), so the measurement adds next to nothing to the
    memory it measures.
    """

    gaps: array[float] = field(default_factory=lambda: array("d"))  # seconds
    codes: array[int] = field(default_factory=lambda: array("b"))  # index into names
    sessions: array[int] = field(default_factory=lambda: array("i"))
    names: list[str] = field(default_factory=list)
    phase: str = "start"
    session: int = 0
    writes: int = 0
    _last: float | None = None

    def wrap(self, worker: Worker) -> None:
        """Record every ``worker.write_state`` (the heartbeat and each answer's state).

        A reload of the bars tags the gap it ends in as ``reload``.
        """
        write: Callable[[], None] = worker.write_state

        def timed() -> None:
            write()
            now = time.perf_counter()
            if self._last is not None:
                if self.phase not in self.names:
                    self.names.append(self.phase)
                self.gaps.append(now - self._last)
                self.codes.append(self.names.index(self.phase))
                self.sessions.append(self.session)
            self._last = now
            self.writes += 1

        worker.write_state = timed  # type: ignore[method-assign]
        reload: Callable[[MarketData], None] = worker.reload

        def tagged(data: MarketData) -> None:  # the gap ending after a reload is the reload's
            self.phase = "reload"
            reload(data)

        worker.reload = tagged  # type: ignore[method-assign]

    def pause(self) -> None:
        """Forget the last write: the time to the next one is the benchmark's, not the worker's."""
        self._last = None

    def phase_mask(self, phase: str) -> np.ndarray:
        """Return which gaps ended in ``phase``."""
        return np.asarray(self.codes) == self.names.index(phase)

    def quantiles(self, mask: np.ndarray | None = None) -> tuple[float, float, float]:
        """Return p50, p99 and max of the gaps (those in ``mask``), seconds."""
        gaps = np.asarray(self.gaps)
        gaps = gaps if mask is None else gaps[mask]
        if not gaps.size:
            return (float("nan"),) * 3
        return (
            float(np.quantile(gaps, 0.5)),
            float(np.quantile(gaps, 0.99)),
            float(gaps.max()),
        )


@dataclass(frozen=True)
class Checkpoint:
    """One reading, after ``session`` sessions."""

    session: int
    at_s: float  # wall seconds since the run started
    rss: int
    data: int
    duckdb: int
    malloc_used: int  # glibc malloc, in use
    malloc_free: int  # glibc malloc, freed but held
    blocks: int  # pymalloc's allocated blocks (sys.getallocatedblocks)
    fds: int
    threads: int
    objects: int
    containers: dict[str, int]
    files: dict[str, int]


def checkpoint(worker: Worker, session: int, started: float, data_dir: Path) -> Checkpoint:
    """Take one reading (a full garbage collection first: cycles are not growth)."""
    gc.collect()
    live = worker.live_dir
    files = {
        "journal": sum(tree_bytes(p) if p.is_dir() else p.stat().st_size for p in _journal(live)),
        "reports": tree_bytes(live / "reports") if (live / "reports").is_dir() else 0,
        "audit": (live / "commands.log.jsonl").stat().st_size
        if (live / "commands.log.jsonl").exists()
        else 0,
        "warehouse": tree_bytes(data_dir / "warehouse"),
        "log": tree_bytes(data_dir / "soak-log"),
    }
    used, free = malloc_bytes()
    return Checkpoint(
        session=session,
        at_s=time.perf_counter() - started,
        rss=rss_bytes(),
        data=data_bytes(worker),
        duckdb=duckdb_bytes(worker),
        malloc_used=used,
        malloc_free=free,
        blocks=sys.getallocatedblocks(),
        fds=fd_count(),
        threads=threading.active_count(),
        objects=len(gc.get_objects()),
        containers=containers(worker),
        files=files,
    )


def _journal(live: Path) -> list[Path]:
    return [p for p in live.glob("journal.duckdb*") if p.exists()]


def object_types() -> Counter[str]:
    """Return how many live objects of each type (module-qualified name) there are."""
    gc.collect()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def slope_per_1000(
    points: list[Checkpoint], value: Callable[[Checkpoint], float], skip: int
) -> float:
    """Return the least-squares growth of ``value`` per 1,000 sessions (after ``skip`` points)."""
    kept = points[skip:]
    if len(kept) < 2:
        return float("nan")
    x = np.array([p.session for p in kept], dtype=float)
    y = np.array([value(p) for p in kept], dtype=float)
    return float(np.polyfit(x, y, 1)[0] * 1000.0)


def tracemalloc_top(
    start: tracemalloc.Snapshot, end: tracemalloc.Snapshot, limit: int = 10
) -> list[str]:
    """Return the ``limit`` source lines whose allocations grew most from ``start`` to ``end``."""
    filters = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    ]
    stats = end.filter_traces(filters).compare_to(start.filter_traces(filters), "lineno")
    return [str(s) for s in stats[:limit]]
