"""Atomic file writes: temporary file in the same folder, flush, fsync, rename, fsync the folder.

And what goes with them: the reader for the small JSON files other processes write, and the
file lock that serialises writers of one set of files (:func:`file_lock`).

A reader sees the old file or the new one, never a torn mix, and a crash leaves at worst a
stray temporary file (named ``.<name>.*.tmp``) that the next writer may remove.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def fsync_path(path: Path) -> None:
    """Flush a file's content, or a folder's entries (a rename), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def json_safe(value: Any) -> Any:
    """Return ``value`` with NaN and infinities as None, so strict JSON parsers accept it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def atomic_write_json(path: Path, obj: Any, compact: bool = False) -> None:
    """Replace ``path`` with ``obj`` serialised as JSON, atomically.

    ``compact`` drops indentation and key sorting: five times faster for files that programs
    read many times a second (the worker's state file).
    """
    if compact:
        text = json.dumps(obj, separators=(",", ":"), default=str)
    else:
        text = json.dumps(obj, indent=1, sort_keys=True, default=str)
    atomic_write_bytes(path, text.encode())


def read_json_object(path: Path) -> dict[str, Any] | None:
    """Return the JSON object in ``path``, or None if it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block.

    Blocks until no other holder, in this process or another, has it. The kernel drops the
    lock when its holder dies, so a killed writer never leaves the next one waiting.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
