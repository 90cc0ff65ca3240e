"""The Dask cluster a sweep or a walk-forward runs on: a running scheduler, or a local one.

:func:`cluster` yields a ``distributed.Client``: to ``--scheduler``'s address, or to a new
``LocalCluster`` of single-threaded worker processes on 127.0.0.1, one per core by default.

Ctrl-C is the driver's alone. The terminal sends it to the whole foreground process group, so
without care each local worker dies of its own ``KeyboardInterrupt`` (Dask's
``dask/distributed#1925``) and prints some thirty lines of traceback while the driver is already
stopping cleanly, keeping what finished. So local workers are born with SIGINT ignored: while
the cluster lives, multiprocessing spawns them through a two-line shell wrapper
(:func:`_workers_ignore_ctrl_c`: ``trap '' INT`` then ``exec`` Python; an ignored signal stays
ignored across ``exec``, and Python then installs no handler of its own), a worker restarted
after a loss too. The driver's own handler is never touched, so no Ctrl-C is lost, whenever it
comes. The workers' preload (:func:`dask_setup`) ignores it as well, and holds back what a worker
logs as the cluster closes under it (:class:`_ClosingNoise`). The start and the close are
shielded: a Ctrl-C while the cluster starts or closes is noted (the caller stops at its next
:func:`quant_core.interrupt.check`), not raised into Dask, which would leave a half-started or
half-closed cluster to its exit hook (10 s and a traceback later).
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from quant_core import interrupt
from quant_core.errors import ConfigError

logger = logging.getLogger(__name__)

TRIM = "MALLOC_TRIM_THRESHOLD_"  # what Dask's nanny sets in its workers' environment
PRELOAD = __name__  # the workers' preload: this module (its dask_setup)


@contextmanager
def cluster(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """Yield a ``distributed.Client``: to ``scheduler``, or to a new local cluster."""
    if not logger.isEnabledFor(logging.DEBUG):  # the cluster's start and stop: not our news
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with _filtered("tornado.application", _EarlyCancel()):
        yield from _client(scheduler, workers)


def _client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    # cluster()'s body: the client to a running scheduler, or to a new local cluster.
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:  # a wrong address or a scheduler down: said, naming it (not a traceback)
            remote = Client(scheduler)  # type: ignore[no-untyped-call]
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"--scheduler {scheduler}: no Dask scheduler there ({exc})") from None
        with remote as client:
            yield client
        return
    count = workers or os.cpu_count() or 1
    # Dask's nanny gives its workers MALLOC_TRIM_THRESHOLD_=65536 (and this process, whence
    # later workers inherit it) and a sampling profiler: measured, each backtest then took
    # 2.03x its in-process time; without them 1.13x (benchmarks/sweep.py). Workers start
    # without either; the variable is given back as it was after the cluster starts.
    before = os.environ.pop(TRIM, None)
    preloads = [p for p in dask.config.get("distributed.worker.preload", []) if p != PRELOAD]
    settings = {
        f"distributed.nanny.pre-spawn-environ.{TRIM}": None,
        "distributed.worker.profile.enabled": False,
        "distributed.worker.preload": [*preloads, PRELOAD],  # kept by each nanny: restarts too
    }
    # A worker restarted later is spawned alike: the cluster's whole life.
    with _main_not_reimported(), _workers_ignore_ctrl_c():
        try:
            with dask.config.set(settings), _shielded():  # a Ctrl-C now: noted, checked after
                local = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=count,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                )
        finally:
            os.environ.pop(TRIM, None)
            if before is not None:
                os.environ[TRIM] = before
        client = None
        try:
            client = Client(local)  # type: ignore[no-untyped-call]
            yield client
        finally:
            with _shielded(), _quiet_scheduler():
                if client is not None:
                    client.close()  # type: ignore[no-untyped-call]
                local.close()
            interrupt.check()  # a Ctrl-C noted during the close: an interrupted run still


def dask_setup(worker: Any) -> None:
    """Ready a local worker (Dask's preload hook): Ctrl-C ignored, the closing noise held back.

    Run in the worker process's main thread as its worker starts (a restarted one too).
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("distributed.worker", "distributed.worker.state_machine"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _ClosingNoise) for f in log.filters):
            log.addFilter(_ClosingNoise())


class _ClosingNoise(logging.Filter):
    """Drop what a local worker logs as the cluster closes under it; pass every other record.

    A task cancelled by the close, and a heartbeat that finds the scheduler gone (it lives in
    the driver, which is closing: a local worker whose driver died exits with it).
    """

    NOISE = (
        "ended with CancelledError",
        "Failed to communicate with scheduler during heartbeat",
        "Couldn't gather ",  # the driver's scheduler and client, closing: results let go
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in self.NOISE)


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    # Processes spawned meanwhile (Dask's workers) run Python through a wrapper that ignores
    # SIGINT first (module docstring); the interpreter spawned before is given back after.
    import multiprocessing
    from multiprocessing import spawn

    python = os.fsdecode(spawn.get_executable() or sys.executable)
    with tempfile.TemporaryDirectory(prefix="quant-workers-") as folder:
        if os.statvfs(folder).f_flag & os.ST_NOEXEC:  # a hardened /tmp: the preload only
            logger.debug("%s is mounted noexec: workers ignore Ctrl-C once started", folder)
            yield
            return
        wrapper = Path(folder) / "python"
        wrapper.write_text(
            "#!/bin/sh\n# A local Dask worker: Ctrl-C is the driver's.\n"
            f"trap '' INT\nexec {shlex.quote(python)} \"$@\"\n",
            encoding="utf-8",
        )
        wrapper.chmod(0o700)
        previous = spawn.get_executable()
        multiprocessing.set_executable(str(wrapper))
        try:
            yield
        finally:
            spawn.set_executable(previous)


@contextmanager
def _shielded() -> Iterator[None]:
    # The cluster starting or closing: a Ctrl-C now is noted (the caller checks it after:
    # quant_core.interrupt), not raised into Dask, which would leave a half-started or
    # half-closed cluster to its exit hook. Only the main thread sets handlers.
    handler = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or handler in (
        signal.SIG_IGN,
        None,
    ):
        yield
        return
    signal.signal(signal.SIGINT, _note_only)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)


@contextmanager
def _quiet_scheduler() -> Iterator[None]:
    # What the scheduler and the client log, as they close, of results no one waits for.
    with (
        _filtered("distributed.scheduler", _ClosingNoise()),
        _filtered("distributed.client", _ClosingNoise()),
    ):
        yield


@contextmanager
def _filtered(name: str, noise: logging.Filter) -> Iterator[None]:
    log = logging.getLogger(name)
    log.addFilter(noise)
    try:
        yield
    finally:
        log.removeFilter(noise)


class _EarlyCancel(logging.Filter):
    """Drop the traceback of Dask's ``sync`` cancelling a call that had not started yet.

    A Ctrl-C that lands as the driver starts waiting on the cluster (``future.result()``)
    makes ``distributed.utils.sync`` cancel a future it has not made yet: a ``NameError`` in a
    loop callback, which tornado logs with its traceback (distributed 2026.8.0). The
    ``KeyboardInterrupt`` itself reaches the caller as it should; only this record is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, NameError) and "sync.<locals>.cancel" in record.getMessage())


def _note_only(signum: int, frame: FrameType | None) -> None:
    interrupt.note()


@contextmanager
def _main_not_reimported() -> Iterator[None]:
    # A worker process is spawned: Python's spawn re-runs the parent's __main__ by its path in
    # each child. The sweep needs nothing of it (tasks name importable functions), and a
    # __main__ that is not a script to re-run (a Streamlit page, a notebook, a test harness's
    # temporary file) would break the worker's start: it is hidden while the cluster lives.
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {
        k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


__all__ = ["PRELOAD", "TRIM", "cluster", "dask_setup"]
