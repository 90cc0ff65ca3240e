"""What runs in the data refresh's child process (``live/refresh_job.py``'s ``ProcessJob``).

:func:`run_child` is the spawned child's target: it ignores SIGINT (Ctrl-C at a terminal reaches
the whole process group; the worker decides), turns SIGTERM into :class:`Cancelled` (a cancel
unwinds the refresh through its ``finally`` blocks: the warehouse's lock and the IB connection
are released), asks the kernel for SIGTERM should the worker die (``PR_SET_PDEATHSIG``: a
worker killed with ``kill -9`` leaves no orphan to race the next one), logs to stderr (the
journal under systemd) with every secret the worker remembered blanked (``config.redact``), runs
the refresh function and sends back ``("ok", outcome)`` or ``("error", "<Type>: <text>")``. A
cancel is one warning line; nothing is sent to a worker that has stopped listening.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType

from config import redact as redaction
from config.redact import redact, remember
from config.schema import AppConfig
from quant_core.data.refresh_status import RefreshOutcome

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s refresh[%(process)d] %(levelname)s %(name)s: %(message)s"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def describe(exc: BaseException) -> str:
    """Return a failure's message: ``"<Type>: <text>"``, or ``"<Type>"`` without text."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def checked(result: object) -> RefreshOutcome | str:
    """Return ``result`` if it is a :class:`RefreshOutcome`, else the failure it is."""
    # A refresh function that returns something else is a failure, not a crash of the caller.
    if isinstance(result, RefreshOutcome):
        return result
    return f"TypeError: the refresh returned {type(result).__name__}, not a RefreshOutcome"


class Cancelled(SystemExit):
    """SIGTERM reached the child: the worker cancelled the attempt, or died."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (cancel) unwinds the refresh as an exception: its finally blocks close the
    # warehouse and the IB connection; SIGKILL follows CANCEL_GRACE_S later if it does not end.
    raise Cancelled(f"refresh cancelled (signal {signum})")


class _RedactingFormatter(logging.Formatter):
    """The child's log format, each remembered secret blanked (message and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record``, then replace each remembered secret with ``***``."""
        return redact(super().format(record))


def remembered() -> tuple[str, ...]:
    """Return the secret texts this process remembered (``config.redact``), for the child.

    ``config.redact`` keeps them in a private set, read here under its lock: a spawned child
    starts with none, and its log would show a secret the worker's log blanks.
    """
    with redaction._lock:
        return tuple(sorted(redaction._known))


def _child_logging(secrets: tuple[str, ...]) -> None:
    for secret in secrets:
        remember(secret)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_RedactingFormatter(LOG_FORMAT))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


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
        raise Cancelled("the worker that started this refresh is gone")


def run_child(
    fn: Callable[[AppConfig, dt.date, Path], RefreshOutcome],
    cfg: AppConfig,
    through: dt.date,
    progress_path: Path,
    conn: Connection,
    secrets: tuple[str, ...] = (),
) -> None:
    """Run ``fn`` in the child process and send ``("ok", outcome)`` or ``("error", message)``.

    Ctrl-C at a terminal reaches the whole process group: the child ignores SIGINT and lets the
    worker decide (it cancels the attempt when it exits). Its log goes to stderr (the journal,
    under systemd), each line marked ``refresh[<pid>]``, the worker's ``secrets`` blanked. A
    cancel is one line in it; nothing is sent back to a worker that has stopped listening.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminated)
    _child_logging(secrets)
    try:
        _die_with_parent()  # a worker killed with kill -9 takes its refresh with it
        answer: tuple[str, RefreshOutcome | str] = (
            "ok",
            checked(fn(cfg, through, progress_path)),
        )
    except Cancelled as exc:
        logger.warning("The refresh through %s cancelled (%s)", through, exc)
        answer = ("error", describe(exc))
    except BaseException as exc:  # every failure is reported, SystemExit too
        logger.exception("The refresh through %s failed", through)
        answer = ("error", describe(exc))
    try:
        _send(conn, answer)
    except Cancelled:  # SIGTERM while answering: the worker is not listening any more
        pass
    finally:
        conn.close()


def _send(conn: Connection, answer: tuple[str, RefreshOutcome | str]) -> None:
    try:
        conn.send(answer)
    except (OSError, ValueError):  # the worker closed its end (cancel) or is gone
        return
    except Exception as exc:  # an outcome that cannot be pickled: say so instead
        message = f"refresh result could not be sent back: {describe(exc)}"
        try:
            conn.send(("error", message))
        except (OSError, ValueError):
            return
