"""One data refresh attempt, run off the worker's loop: in a child process, or in a thread.

A refresh function (:data:`RefreshFn`; ``ib/refresh.py``'s ``refresh_through`` for
``live.refresh: broker``) fetches the sessions missing from the warehouse through session
``through``, stores them and recomputes the factors, writing its progress to a small JSON file
(``data.refresh_status.write_progress``). It may take minutes (IB's pacing: 60 requests per
10 minutes), so the worker never calls it itself: a :class:`RefreshJob` runs it and the worker
asks, at each heartbeat, whether it is done (:meth:`RefreshJob.poll`).

:class:`ProcessJob` (the worker's) runs it in a child process started by multiprocessing's
``spawn`` context: a fresh interpreter with its own memory (whatever the refresh allocates is
returned to the system when it ends: the worker's memory stays flat), its own event loop and its
own IB client id (the ib side adds ``HISTORY_CLIENT_ID_OFFSET``). The child receives
``(fn, cfg, through, progress_path)`` by pickle through spawn's pipe: never on a command line
(``ps`` shows only multiprocessing's own ``spawn_main`` arguments) and never in a file. It sends
back the outcome, or the failure's message, through a one-way ``Pipe``
(``live/refresh_child.py``: what runs in the child).

:class:`ThreadJob` runs it in a daemon thread of this process (tests, the soak benchmark).

A failure is a message: ``"<ExceptionType>: <text>"`` (``"DataError: ..."``, just the type's
name when the text is empty), ``"refresh process exited with code -9"`` for a child that died
without answering (killed by a signal: the code is minus the signal's number; a segfault is
-11), ``"refresh process made no progress for 1803 s (at ib history 120/500): stopped"`` for
a child whose progress file has not changed for ``stall_s`` seconds (a hang: it is stopped, so
a hung refresh never holds the worker out of trading for longer). Every message passes through
``config.redact.redact`` in the worker's process, so no remembered secret reaches the state
file, the log or an alert; the child's own log lines are redacted the same way (the worker's
remembered secrets are handed to it with the request).
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Protocol

from config.redact import redact
from config.schema import AppConfig
from quant_core.data.refresh_status import RefreshOutcome, read_progress
from quant_core.live.refresh_child import checked, describe, remembered, run_child

__all__ = ["ProcessJob", "RefreshFn", "RefreshJob", "ThreadJob", "describe"]

logger = logging.getLogger(__name__)

RefreshFn = Callable[[AppConfig, dt.date, Path], RefreshOutcome]
"""``fn(cfg, through, progress_path)``: refresh through session ``through``; raise on failure.

Top-level (picklable by reference) for :class:`ProcessJob`."""

CANCEL_GRACE_S = 5.0  # cancel(): SIGTERM, then SIGKILL if the child still runs after this long
REAP_S = 2.0  # after its answer, how long a child gets to exit before it is stopped
CHILD_NAME = "quant-refresh"
# A child whose progress has not changed for this long is taken for hung and stopped. IB's
# longest legitimate silence between two progress writes is a pacing wait of one 10-minute
# window plus 5 pacing violations waited out 60 s each and a 60 s request timeout.
STALL_S = 1800.0


class RefreshJob(Protocol):
    """Runs one refresh attempt at a time, off the caller's thread.

    ``start(through)`` begins an attempt (RuntimeError if one is running). ``poll()`` returns
    the attempt's result once: the :class:`RefreshOutcome`, or the failure's message (a
    ``str``: the exception's type and text, never a secret); None while it runs, or when no
    attempt waits to be collected. ``running``: an attempt has started and its result has not
    been collected yet. ``progress()``: the running attempt's ``(phase, done, total)`` from its
    progress file, None before its first write or when nothing runs. ``cancel()``: stop the
    running attempt (the worker exits); its result is never returned.
    """

    def start(self, through: dt.date) -> None:
        """Begin refreshing through session ``through``."""
        ...

    def poll(self) -> RefreshOutcome | str | None:
        """Return the outcome or the failure's message once done; None while running."""
        ...

    def progress(self) -> tuple[str, int, int] | None:
        """Return the running attempt's ``(phase, done, total)``, if it wrote any."""
        ...

    @property
    def running(self) -> bool:
        """Whether an attempt has started and its result has not been collected."""
        ...

    def cancel(self) -> None:
        """Stop the running attempt, if any."""
        ...


def _redacted(result: RefreshOutcome | str) -> RefreshOutcome | str:
    return redact(result) if isinstance(result, str) else result


# ---------------------------------------------------------------------------- the jobs


@contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Start a spawn child without running this process's ``__main__`` again in it.

    spawn imports the parent's main module in the child (as ``__mp_main__``) so that functions
    defined there unpickle; the refresh function lives in a module of its own, so nothing is
    needed from it, and a main that is not safe to run twice (a script without a
    ``__name__`` guard, a Streamlit page, which its runner installs as ``__main__``) must not
    run in the child. spawn skips a main module with neither ``__spec__`` nor ``__file__``.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class ProcessJob:
    """A :class:`RefreshJob` running ``fn`` in a ``spawn`` child process (the worker's).

    Spawning costs about a second (a fresh interpreter importing the project); the worker
    refreshes once a day, so nothing is kept warm. ``poll()`` never blocks on a running child;
    once the child has answered it gets ``REAP_S`` seconds to exit (it normally exits at once),
    then it is stopped like :meth:`cancel` does. :meth:`cancel` sends SIGTERM (the child unwinds
    its refresh as ``SystemExit``), waits ``CANCEL_GRACE_S`` seconds, then SIGKILL, and joins
    it. A worker killed outright takes the child with it (SIGTERM from the kernel on Linux:
    ``live/refresh_child.py``); the warehouse's lock and atomic commits keep what it stored
    whole. The child is daemonic (a worker that exits without
    :meth:`cancel` takes it down), so ``fn`` may not start processes of its own; the first spawn
    also starts multiprocessing's small resource-tracker process, which lives as long as the
    worker. A child whose ``(phase, done, total)`` has not changed for ``stall_s`` seconds (of
    this process's monotonic clock, checked at each :meth:`poll`) is stopped the same way and
    its attempt is a failure: a hang holds the worker out of trading for ``stall_s`` at most.
    """

    def __init__(
        self, fn: RefreshFn, cfg: AppConfig, progress_path: Path, *, stall_s: float = STALL_S
    ) -> None:
        self.fn, self.cfg, self.progress_path = fn, cfg, progress_path
        self.stall_s = stall_s
        self._context = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._seen: tuple[str, int, int] | None = None  # the progress last seen to change
        self._moved_at = 0.0  # when it did (time.monotonic)

    @property
    def running(self) -> bool:
        """Whether a child has been started and its result not yet collected by :meth:`poll`."""
        return self._process is not None

    @property
    def pid(self) -> int | None:
        """Return the running child's process id, if any."""
        return None if self._process is None else self._process.pid

    def start(self, through: dt.date) -> None:
        """Start a child refreshing through ``through`` (its progress file is removed first)."""
        if self._process is not None:
            raise RuntimeError("a refresh is already running; poll() it or cancel() it first")
        self.progress_path.unlink(missing_ok=True)
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=run_child,
            args=(self.fn, self.cfg, through, self.progress_path, sender, remembered()),
            name=CHILD_NAME,
            daemon=True,  # a worker that exits without cancel() does not leave it behind
        )
        try:
            with _main_not_rerun():
                process.start()
        except BaseException:
            receiver.close()
            raise
        finally:
            sender.close()  # the child holds its own end: EOF here once it exits
        self._process, self._conn = process, receiver
        self._seen, self._moved_at = None, time.monotonic()
        logger.info("Data refresh through %s started in process %s", through, process.pid)

    def poll(self) -> RefreshOutcome | str | None:
        """Return the child's outcome or failure message once it has ended; None meanwhile."""
        process, conn = self._process, self._conn
        if process is None or conn is None:
            return None
        ended = process.exitcode is not None  # read before the pipe: an answer is in it by then
        wait_s = REAP_S
        if not conn.poll():
            if not ended:
                stalled = self._stalled()
                if stalled is None:
                    return None
                logger.error("Data refresh process %s: %s", process.pid, stalled)
                result: RefreshOutcome | str = stalled
                wait_s = 0.0  # hung: SIGTERM at once
            else:
                result = f"refresh process exited with code {process.exitcode}"
        else:
            try:
                kind, value = conn.recv()
                result = checked(value) if kind == "ok" else str(value)
            except EOFError:  # closed without an answer: the child is dying
                process.join(REAP_S)
                code = process.exitcode
                result = (
                    f"refresh process exited with code {code}"
                    if code is not None
                    else "refresh process closed its pipe without a result"
                )
            except Exception as exc:  # a torn or unreadable answer
                result = f"refresh result could not be read: {describe(exc)}"
        self._stop(wait_s)
        return _redacted(result)

    def _stalled(self) -> str | None:
        """Return why the running child is taken for hung, or None while it moves on."""
        seen, now = read_progress(self.progress_path), time.monotonic()
        if seen != self._seen:
            self._seen, self._moved_at = seen, now
            return None
        idle = now - self._moved_at
        if idle < self.stall_s:
            return None
        where = "before its first progress" if seen is None else f"at {seen[0]} {seen[1]}/{seen[2]}"
        return f"refresh process made no progress for {idle:.0f} s ({where}): stopped"

    def progress(self) -> tuple[str, int, int] | None:
        """Return the running child's ``(phase, done, total)``, if it has written any."""
        return read_progress(self.progress_path) if self._process is not None else None

    def cancel(self) -> None:
        """Terminate a running child (SIGTERM, SIGKILL after ``CANCEL_GRACE_S``) and join it."""
        if self._process is not None:
            logger.warning("Data refresh cancelled (process %s)", self._process.pid)
            self._stop(0.0)

    def _stop(self, wait_s: float) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return
        process.join(wait_s)
        if process.exitcode is None:
            process.terminate()
            process.join(CANCEL_GRACE_S)
        if process.exitcode is None:
            process.kill()
            process.join()
        process.close()  # its sentinel and pipe: nothing leaks across months of refreshes


class ThreadJob:
    """A :class:`RefreshJob` running ``fn`` in a daemon thread of this process.

    For tests and the soak benchmark: no process boundary, so ``fn`` may be any callable. A
    thread cannot be stopped: :meth:`cancel` abandons the attempt (its result is dropped and
    ``running`` is False at once) while the thread runs ``fn`` to its end.
    """

    def __init__(self, fn: RefreshFn, cfg: AppConfig, progress_path: Path) -> None:
        self.fn, self.cfg, self.progress_path = fn, cfg, progress_path
        self._lock = threading.Lock()
        self._attempt = 0  # the current attempt's number; an abandoned one's result is dropped
        self._active = False
        self._result: RefreshOutcome | str | None = None
        self.thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether an attempt has started and its result not yet collected by :meth:`poll`."""
        with self._lock:
            return self._active

    def start(self, through: dt.date) -> None:
        """Start a thread refreshing through ``through`` (its progress file is removed first)."""
        with self._lock:
            if self._active:
                raise RuntimeError("a refresh is already running; poll() it or cancel() it first")
            self._attempt += 1
            self._active, self._result = True, None
            attempt = self._attempt
        self.progress_path.unlink(missing_ok=True)
        self.thread = threading.Thread(
            target=self._run, args=(attempt, through), name=CHILD_NAME, daemon=True
        )
        self.thread.start()

    def _run(self, attempt: int, through: dt.date) -> None:
        try:
            result = checked(self.fn(self.cfg, through, self.progress_path))
        except BaseException as exc:  # every failure is reported
            result = describe(exc)
        with self._lock:
            if attempt == self._attempt and self._active:
                self._result = result

    def poll(self) -> RefreshOutcome | str | None:
        """Return the thread's outcome or failure message once it has ended; None meanwhile."""
        with self._lock:
            result = self._result
            if not self._active or result is None:
                return None
            self._active, self._result = False, None
        return _redacted(result)

    def progress(self) -> tuple[str, int, int] | None:
        """Return the running attempt's ``(phase, done, total)``, if it has written any."""
        return read_progress(self.progress_path) if self.running else None

    def cancel(self) -> None:
        """Abandon the running attempt: its result is dropped (the thread runs on to its end)."""
        with self._lock:
            self._active, self._result = False, None
            self._attempt += 1
