"""The Dask cluster a sweep or a walk-forward runs on: a running scheduler, or a local one.

:func:`cluster` yields a ``distributed.Client``: to ``--scheduler``'s address, or to a new
``LocalCluster`` of single-threaded worker processes on 127.0.0.1, one per core by default.

Ctrl-C is the driver's alone. The terminal sends it to the whole foreground process group, so
without care each local worker dies of its own ``KeyboardInterrupt`` (Dask's
``dask/distributed#1925``) and prints some thirty lines of traceback while the driver is already
stopping cleanly, keeping what finished. So the local workers ignore SIGINT: those started with
the cluster inherit the ignored signal (an ignored disposition survives ``exec``; SIGINT is
ignored in this process only while the cluster starts, about two seconds), and one restarted
later (a worker lost) ignores it from its preload (:func:`dask_setup`). The driver stops them
(SIGTERM) as it closes the cluster. The warning each running task's cancellation then logs on
its worker is held back (:class:`_ClosingNoise`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from quant_core.errors import ConfigError

logger = logging.getLogger(__name__)

TRIM = "MALLOC_TRIM_THRESHOLD_"  # what Dask's nanny sets in its workers' environment
PRELOAD = __name__  # the workers' preload: this module (its dask_setup)


@contextmanager
def cluster(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """Yield a ``distributed.Client``: to ``scheduler``, or to a new local cluster."""
    import dask
    from distributed import Client, LocalCluster

    if not logger.isEnabledFor(logging.DEBUG):  # the cluster's start and stop: not our news
        logging.getLogger("distributed").setLevel(logging.WARNING)
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
    settings = {
        f"distributed.nanny.pre-spawn-environ.{TRIM}": None,
        "distributed.worker.profile.enabled": False,
        "distributed.worker.preload": [PRELOAD],  # kept by each nanny: restarts get it too
    }
    with _main_not_reimported():  # a worker restarted later is spawned alike
        try:
            with dask.config.set(settings), _sigint_ignored():
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
        try:
            with Client(local) as client:  # type: ignore[no-untyped-call]
                yield client
        finally:
            local.close()


def dask_setup(worker: Any) -> None:
    """Ready a local worker (Dask's preload hook): Ctrl-C ignored, the closing noise held back.

    Run in the worker process's main thread as its worker starts (a restarted one too).
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    log = logging.getLogger("distributed.worker.state_machine")
    if not any(isinstance(f, _ClosingNoise) for f in log.filters):
        log.addFilter(_ClosingNoise())


class _ClosingNoise(logging.Filter):
    """Drop the warning a task cancelled by the cluster's close logs; pass every other record."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ended with CancelledError" not in record.getMessage()


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    # SIGINT ignored while the cluster starts, so that its worker processes start with it
    # ignored (module docstring); a job started with it ignored, or a thread that cannot set
    # handlers, is left as it is.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN or previous is None:
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
