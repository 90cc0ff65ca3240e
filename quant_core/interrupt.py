"""Whether this process was asked to stop (Ctrl-C, SIGTERM), even where the exception was lost.

A signal raises ``KeyboardInterrupt`` (or the CLI's ``GracefulExit``) in the main thread wherever
it is, and a library running there may swallow it (Dask's cluster start: its workers, which got
the terminal's Ctrl-C too, die, and the driver would wait for them for ever) or turn it into an
error of its own (DuckDB: ``RuntimeError: Query interrupted``). The entry points' handlers
(:func:`quant_core.cli.run`) note the signal here first, so a long loop can stop at its next
step (:func:`check`) and the exit code says "interrupted" (130), not "unexpected error".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_asked = threading.Event()


def note() -> None:
    """Note that a stop was asked (called by the signal handlers)."""
    _asked.set()


def asked() -> bool:
    """Return whether a stop was asked since :func:`clear`."""
    return _asked.is_set()


def clear() -> None:
    """Forget an earlier stop (an entry point starting its work)."""
    _asked.clear()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a stop was asked and the exception was lost on the way."""
    if _asked.is_set():
        raise KeyboardInterrupt


@contextmanager
def on_stop(say: Callable[[], None]) -> Iterator[None]:
    """Call ``say`` if the block is left while a stop was asked: a long job says what it kept."""
    try:
        yield
    except BaseException:
        if _asked.is_set():
            say()
        raise


__all__ = ["asked", "check", "clear", "note", "on_stop"]
