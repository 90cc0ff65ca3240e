"""The worker's side of the command queue: take each inbox file once, then acknowledge it.

The queue's contract (file names, atomic writers, the legacy ``command.json``, what is set aside
and what refused unread) is in :mod:`quant_core.live.files`, with every client's
:func:`~quant_core.live.files.send_command`. This class is what the worker reads it with
(:mod:`quant_core.live.commands` executes and acknowledges):

* :meth:`CommandInbox.pending` takes a legacy ``command.json`` into ``inbox/`` and returns the
  inbox oldest first; :meth:`~CommandInbox.read` parses one file without ever blocking on it;
* every id runs at most once, across restarts too: :meth:`~CommandInbox.taken` records it in
  ``processed_ids.json`` before the command runs;
* the command being executed is named in ``command_taken.json`` (written before the id) until
  :meth:`~CommandInbox.done`, which follows its acknowledgement: a worker killed in between
  finds it there at its restart (:meth:`~CommandInbox.interrupted`) and, unless the audit log
  has its answer (:func:`~quant_core.live.files.audited`), acknowledges it as interrupted, never
  running it again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import stat
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from quant_core.atomic import atomic_write_json, read_json_object
from quant_core.live.command_file import Command, Received, parse_command
from quant_core.live.files import (
    COMMAND_FILE,
    INBOX,
    MAX_COMMAND_BYTES,
    PROCESSED_FILE,
    PROCESSED_KEPT,
    TAKEN_FILE,
)

logger = logging.getLogger(__name__)


class CommandInbox:
    """The worker's side of the hand-over: take, then acknowledge, each command once."""

    def __init__(self, live_dir: Path) -> None:
        self.live_dir = live_dir
        self.inbox = live_dir / INBOX
        self.inbox.mkdir(parents=True, exist_ok=True)
        self._processed_path = live_dir / PROCESSED_FILE
        self._processed: deque[str] = deque(self._load_processed(), maxlen=PROCESSED_KEPT)
        self._seen = set(self._processed)
        self._stuck: set[str] = set()  # names that could not be set aside: skipped
        self._taken_path = live_dir / TAKEN_FILE
        self._taken = read_json_object(self._taken_path)  # a torn one: None, as if absent

    def pending(self) -> list[Path]:
        """Take a legacy ``command.json`` into the inbox; return the inbox, oldest first."""
        self.inbox.mkdir(parents=True, exist_ok=True)  # removed by hand (to clear the queue)
        legacy = self.live_dir / COMMAND_FILE
        with contextlib.suppress(FileNotFoundError):
            # Named by when it was written, not when it is seen: a command.json written before
            # an inbox file is taken before it (the names sort by time).
            written = legacy.lstat().st_mtime_ns
            os.rename(legacy, self.inbox / f"{written:020d}-{uuid.uuid4().hex}.json")
        return sorted(p for p in self.inbox.glob("*.json") if p.name not in self._stuck)

    def waiting(self) -> bool:
        """Return whether a command waits (a cheap check, for the loop's 20 ms poll)."""
        if (self.live_dir / COMMAND_FILE).exists():
            return True
        try:
            with os.scandir(self.inbox) as entries:
                return any(
                    e.name.endswith(".json") and e.name not in self._stuck and e.is_file()
                    for e in entries
                )
        except FileNotFoundError:  # removed by hand: made again, so writers can queue
            self.inbox.mkdir(parents=True, exist_ok=True)
            return False

    def read(self, path: Path, now: dt.datetime, max_age_s: float) -> Received:
        """Parse one inbox file: refusals included (over ``MAX_COMMAND_BYTES``, not UTF-8).

        Raises
        ------
        OSError
            The file cannot be opened, or is not a regular file (a directory, a FIFO, a device:
            opened without blocking, never read); the worker sets it aside.
        """
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the worker
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # asked before fdopen, which names a folder by its fd
            os.close(fd)
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise OSError(errno.EINVAL, f"{path.name} is {kind}")
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_COMMAND_BYTES + 1)
        if len(data) > MAX_COMMAND_BYTES:
            too_big = f"file {path.name} is over {MAX_COMMAND_BYTES} bytes: not a command"
            return Received(None, "", too_big)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:  # replaced, two ids could become one: refused
            bad = f"byte 0x{data[exc.start]:02x} at offset {exc.start}"
            return Received(None, "", f"file {path.name} is not UTF-8 ({bad})")
        return parse_command(text, now, max_age_s)

    def seen(self, command_id: str | None) -> bool:
        """Return whether ``command_id`` was already executed."""
        return command_id is not None and command_id in self._seen

    def executing(self, command: Command, at: dt.datetime) -> None:
        """Name ``command``, taken at ``at``, in ``command_taken.json``, then record its id.

        Written before the id (:meth:`taken`) and kept until :meth:`done`, so a restart can
        tell the command was interrupted (:meth:`interrupted`).
        """
        taken = {**command.to_json(), "taken_at": at.isoformat()}
        atomic_write_json(self._taken_path, taken)
        self._taken = taken
        self.taken(command.id)

    def taken(self, command_id: str | None) -> None:
        """Record ``command_id`` as executed before executing it: at most once, even on a crash."""
        if command_id is not None and command_id not in self._seen:
            if len(self._processed) == self._processed.maxlen:
                self._seen.discard(self._processed[0])
            self._processed.append(command_id)
            self._seen.add(command_id)
            atomic_write_json(self._processed_path, list(self._processed))

    def done(self, path: Path, command_id: str | None) -> None:
        """Record ``command_id`` as executed (if not yet), then drop its inbox file.

        Called once its acknowledgement is in the audit log: a command named in
        ``command_taken.json`` is no longer being executed.
        """
        self.taken(command_id)
        if self.interrupted(command_id) is not None:
            self._taken_path.unlink(missing_ok=True)
            self._taken = None
        path.unlink(missing_ok=True)

    def interrupted(self, command_id: str | None) -> dict[str, Any] | None:
        """Return ``command_taken.json`` if it names ``command_id``: taken, not acknowledged.

        The executed command's fields and ``taken_at``; None for any other id.
        """
        taken = self._taken
        if command_id is None or taken is None or taken.get("id") != command_id:
            return None
        return taken

    def set_aside(self, path: Path) -> Path:
        """Move a file that could not be handled out of the inbox, into ``inbox/rejected/``.

        Where ``rejected`` is not a folder (a file of that name), the file is renamed in the
        inbox to ``<name>.rejected``, which the queue does not read. Where it cannot be moved
        at all, it is left in place and never read again by this process (:meth:`pending`).

        Raises
        ------
        OSError
            The file could not be moved (it stays in the inbox, skipped from now on).
        """
        folder = self.inbox / "rejected"
        with contextlib.suppress(OSError):  # a plain file named "rejected": kept as it is
            folder.mkdir(exist_ok=True)
        tail = ""
        if not folder.is_dir():
            folder, tail = self.inbox, ".rejected"
        target = folder / f"{path.name}{tail}"
        if os.path.lexists(target):  # a name seen before: keep both, never replace one
            target = folder / f"{path.stem}.{uuid.uuid4().hex[:8]}{path.suffix}{tail}"
        try:
            os.replace(path, target)
        except OSError:
            self._stuck.add(path.name)
            raise
        return target

    def _load_processed(self) -> list[str]:
        try:
            data = json.loads(self._processed_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except json.JSONDecodeError:
            logger.error("Unreadable %s; starting with no processed ids", self._processed_path)
            return []
        return [str(x) for x in data] if isinstance(data, list) else []


__all__ = ["CommandInbox"]
