"""One worker per data directory: a second one would trade the same account's state twice.

``<data_dir>/live/worker.lock`` is held with ``flock`` for the worker's life; the kernel drops it
when the process ends, however it ends (``kill -9`` included), so a stale lock never blocks a
restart. A second worker (a ``--once`` from cron while the service runs, a second terminal) is
refused with :class:`WorkerBusy` naming the one already running: exit 1, a condition that
passes, so systemd tries the service again after ``RestartSec`` (a usage error, exit 2, would
leave it down for good after a brief clash).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from quant_core.errors import QuantError

WORKER_LOCK = "worker.lock"


class WorkerBusy(QuantError):
    """Another worker holds this data directory (exit 1: try again later)."""


@contextmanager
def one_worker(folder: Path) -> Iterator[None]:
    """Hold ``folder/worker.lock`` while the block runs, or raise WorkerBusy if it is held."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / WORKER_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise WorkerBusy(
                f"another worker (pid {holder}) is running on {folder}: one worker per data "
                "directory. Stop it first, or give this one its own paths.data_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
