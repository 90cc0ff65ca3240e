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
back the outcome, or the failure's message, through a one-way ``Pipe``.

:class:`ThreadJob` runs it in a daemon thread of this process (tests, the soak benchmark).

A failure is a message: ``"<ExceptionType>: <text>"`` (``"DataError: ..."``, just the type's
name when the text is empty), ``"refresh process exited with code -9"`` for a child that died
without answering (killed by a signal: the code is minus the signal's number; a segfault is
-11). Every message passes through ``config.redact.redact`` in the worker's process, so no
remembered secret reaches the state file, the log or an alert.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Protocol

from config.redact import redact
from config.schema import AppConfig
from quant_core.data.refresh_status import RefreshOutcome, read_progress

logger = logging.getLogger(__name__)

RefreshFn = Callable[[AppConfig, dt.date, Path], RefreshOutcome]
"""``fn(cfg, through, progress_path)``: refresh through session ``through``; raise on failure.

Top-level (picklable by reference) for :class:`ProcessJob`."""

CANCEL_GRACE_S = 5.0  # cancel(): SIGTERM, then SIGKILL if the child still runs after this long
REAP_S = 2.0  # after its answer, how long a child gets to exit before it is stopped
CHILD_NAME = "quant-refresh"


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


def describe(exc: BaseException) -> str:
    """Return a failure's message: ``"<Type>: <text>"``, or ``"<Type>"`` without text."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _checked(result: object) -> RefreshOutcome | str:
    # A refresh function that returns something else is a failure, not a crash of the caller.
    if isinstance(result, RefreshOutcome):
        return result
    return f"TypeError: the refresh returned {type(result).__name__}, not a RefreshOutcome"


def _redacted(result: RefreshOutcome | str) -> RefreshOutcome | str:
    return redact(result) if isinstance(result, str) else result


# ---------------------------------------------------------------------------- the child


def _terminated(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (cancel) unwinds the refresh as an exception: its finally blocks close the
    # warehouse and the IB connection; SIGKILL follows CANCEL_GRACE_S later if it does not end.
    raise SystemExit(f"refresh cancelled (signal {signum})")


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """Have the kernel send this child SIGTERM when the worker that spawned it dies.

    A worker killed with ``kill -9`` cannot cancel its refresh; without this the orphan would go
    on and race the next worker's refresh on the same IB client id. Linux only; elsewhere a
    no-op. A parent already gone before the call ends the child at once.
    """
    parent = multiprocessing.parent_process()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        return
    if parent is not None and os.getppid() != parent.pid:
        raise SystemExit("the worker that started this refresh is gone")


def _child(
    fn: RefreshFn, cfg: AppConfig, through: dt.date, progress_path: Path, conn: Connection
) -> None:
    """Run ``fn`` in the child process and send ``("ok", outcome)`` or ``("error", message)``.

    Ctrl-C at a terminal reaches the whole process group: the child ignores SIGINT and lets the
    worker decide (it cancels the attempt when it exits). Its log goes to stderr (the journal,
    under systemd), each line marked ``refresh[<pid>]``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminated)
    _die_with_parent()  # a worker killed with kill -9 takes its refresh with it
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s refresh[%(process)d] %(levelname)s %(name)s: %(message)s",
        )
    try:
        try:
            answer: tuple[str, RefreshOutcome | str] = (
                "ok",
                _checked(fn(cfg, through, progress_path)),
            )
        except BaseException as exc:  # every failure is reported, SystemExit too
            logger.exception("The refresh through %s failed", through)
            answer = ("error", describe(exc))
        try:
            conn.send(answer)
        except Exception as exc:  # an outcome that cannot be pickled: say so instead
            conn.send(("error", f"refresh result could not be sent back: {describe(exc)}"))
    finally:
        conn.close()


# ---------------------------------------------------------------------------- the jobs


class ProcessJob:
    """A :class:`RefreshJob` running ``fn`` in a ``spawn`` child process (the worker's).

    Spawning costs about a second (a fresh interpreter importing the project); the worker
    refreshes once a day, so nothing is kept warm. ``poll()`` never blocks on a running child;
    once the child has answered it gets ``REAP_S`` seconds to exit (it normally exits at once),
    then it is stopped like :meth:`cancel` does. :meth:`cancel` sends SIGTERM (the child unwinds
    its refresh as ``SystemExit``), waits ``CANCEL_GRACE_S`` seconds, then SIGKILL, and joins
    it. A worker killed outright leaves the child to finish on its own: the warehouse's lock and
    atomic commits keep what it stores whole. The child is daemonic (a worker that exits without
    :meth:`cancel` takes it down), so ``fn`` may not start processes of its own; the first spawn
    also starts multiprocessing's small resource-tracker process, which lives as long as the
    worker.
    """

    def __init__(self, fn: RefreshFn, cfg: AppConfig, progress_path: Path) -> None:
        self.fn, self.cfg, self.progress_path = fn, cfg, progress_path
        self._context = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

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
            target=_child,
            args=(self.fn, self.cfg, through, self.progress_path, sender),
            name=CHILD_NAME,
            daemon=True,  # a worker that exits without cancel() does not leave it behind
        )
        try:
            process.start()
        except BaseException:
            receiver.close()
            raise
        finally:
            sender.close()  # the child holds its own end: EOF here once it exits
        self._process, self._conn = process, receiver
        logger.info("Data refresh through %s started in process %s", through, process.pid)

    def poll(self) -> RefreshOutcome | str | None:
        """Return the child's outcome or failure message once it has ended; None meanwhile."""
        process, conn = self._process, self._conn
        if process is None or conn is None:
            return None
        ended = process.exitcode is not None  # read before the pipe: an answer is in it by then
        if not conn.poll():
            if not ended:
                return None
            result: RefreshOutcome | str = f"refresh process exited with code {process.exitcode}"
        else:
            try:
                kind, value = conn.recv()
                result = _checked(value) if kind == "ok" else str(value)
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
        self._stop(REAP_S)
        return _redacted(result)

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
            result = _checked(self.fn(self.cfg, through, self.progress_path))
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
