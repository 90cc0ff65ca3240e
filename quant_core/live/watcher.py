"""Wake the worker when a command arrives: watchdog for speed, polling for safety.

A command arrives as a new ``inbox/*.json`` (``files.send_command``) or a legacy
``command.json``.

An atomic replace (``os.replace``) raises only a ``moved`` event under inotify, never
``created`` (shared/reference/streamlit_testing.md, section 8), so every event kind is taken and
filtered by the destination's name (the watch is recursive: see ``__enter__``). Events are an
optimisation: :meth:`CommandWatcher.wait`
also returns after ``poll_s`` so the worker polls anyway, and a missed event costs latency,
never a command.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType

from typing_extensions import override
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from quant_core.live.files import COMMAND_FILE, INBOX

logger = logging.getLogger(__name__)


class _Handler(FileSystemEventHandler):
    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake

    @override
    def on_any_event(self, event: FileSystemEvent) -> None:
        path = Path(str(getattr(event, "dest_path", "") or event.src_path))
        arrived = path.name == COMMAND_FILE or (
            path.parent.name == INBOX and path.suffix == ".json"
        )
        if arrived and event.event_type in {"created", "moved", "modified"}:
            self.wake.set()


class CommandWatcher:
    """Watch a live folder for commands; use as a context manager.

    Parameters
    ----------
    live_dir
        The folder of ``inbox/`` and ``command.json``.
    poll_s
        Longest wait without an event: the polling fallback. Seconds.
    """

    def __init__(self, live_dir: Path, poll_s: float = 0.5) -> None:
        self.live_dir = live_dir
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._observer = Observer()
        self._observer.daemon = True

    def __enter__(self) -> CommandWatcher:
        (self.live_dir / INBOX).mkdir(parents=True, exist_ok=True)  # watched from the start
        # Recursive, so that the worker's own take (command.json renamed into inbox/) is seen
        # whole: inotify reports a move as FROM + TO, and watchdog holds every later event for
        # 0.5 s while it waits for the TO half of a move whose target it does not watch.
        self._observer.schedule(_Handler(self._wake), str(self.live_dir), recursive=True)
        self._observer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until a command event or the timeout (default ``poll_s``); True on an event."""
        woke = self._wake.wait(self.poll_s if timeout_s is None else timeout_s)
        self._wake.clear()
        return woke

    def nudge(self) -> None:
        """Wake a waiting :meth:`wait` now (a stop request, a test)."""
        self._wake.set()
