"""Every file the worker keeps in ``data/live``: state out, commands in, its latches and records.

The two it shares with the cockpit and scripts are the state and the commands (below). The
others are the worker's own, each written here and atomically too (:func:`latch_stop`,
:func:`save_halt`, :func:`save_risk`, :func:`save_sim_account`; :func:`append_audit` appends one
line): STOP's latch (``stopped.latch``), a halt (``halted.latch``), the risk state
(``risk_state.json``), the simulated broker's account (``sim_account.json``) and the audit log
of commands (``commands.log.jsonl``). Their names are here too, with those of the journal
(``journal.duckdb``, DuckDB's own) and the worker's log (``worker.log``).

``dashboard_state.json``
    Written by the worker only, atomically (temporary file, flush, fsync, rename): a reader
    never sees a torn file. Versioned by ``schema_version``.

Commands: ``inbox/<time_ns>-<uuid>.json``, one file per command
    ``{"id", "command", "issued_at", "source"}``, and ``"sleeve"`` for a command to one sleeve
    of a book; ``command`` is CANCEL, FLAT, STOP, RESUME or HALT; ``issued_at`` is ISO 8601
    with its UTC offset. HALT needs a ``sleeve``; RESUME takes one or none (the whole account);
    CANCEL, FLAT and STOP act on the whole account and take none. The queue never loses one:

    * a writer (:func:`send_command`) writes its command as a file of its own in ``inbox/``,
      atomically: a temporary ``.<name>.*.tmp`` (which the worker's ``*.json`` glob ignores),
      flushed and fsynced, then renamed. No lock, no waiting: a hundred writers at once each
      add a file, and no command can overwrite another;
    * the worker (``live/inbox.py``) takes the inbox in name order (the names start with the
      time in nanoseconds: oldest first) and removes a file only once its command is
      acknowledged; a command left in the inbox by a crash is taken again on restart;
    * a legacy ``command.json`` (a script written before the queue) is still taken: the worker
      renames it into ``inbox/`` under the same naming scheme, timed by its modification time,
      so it keeps its place among the inbox's files. It is one slot: a second writer of it
      overwrites a waiting command, so new code uses :func:`send_command`;
    * a file that is not a regular file (a directory, a FIFO) is set aside in
      ``inbox/rejected/`` unread (a name set aside before is kept, the newcomer renamed), and
      one over ``MAX_COMMAND_BYTES`` is refused unread;
    * every id runs at most once, across restarts too: processed ids are kept in
      ``processed_ids.json``. The command being executed is named in ``command_taken.json``
      until it is acknowledged: a worker killed in between finds it there at its restart and
      acknowledges it as interrupted (not run again), unless the audit log has its answer.

Parsing never raises (``live/command_file.py``, whose names this module re-exports): malformed
JSON, a missing field, an unknown command, a misplaced ``sleeve``, a naive timestamp or an
expired command each become a :class:`Received` with a refusal reason, so the worker can
acknowledge it and keep running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quant_core.atomic import atomic_write_json, json_safe, read_json_object
from quant_core.errors import OperationalError

# The command file's contents (re-exported, ``as`` for mypy: clients import them from here).
from quant_core.live.command_file import ACCOUNT_WIDE as ACCOUNT_WIDE
from quant_core.live.command_file import CLOCK_SKEW_S as CLOCK_SKEW_S
from quant_core.live.command_file import Command as Command
from quant_core.live.command_file import CommandKind as CommandKind
from quant_core.live.command_file import Received as Received
from quant_core.live.command_file import parse_command as parse_command
from quant_core.live.command_file import sleeve_refusal as sleeve_refusal
from quant_core.live.state import SCHEMA_VERSION, DashboardState
from quant_core.live.state_fields import StateSchemaError

logger = logging.getLogger(__name__)

STATE_FILE = "dashboard_state.json"
COMMAND_FILE = "command.json"  # the legacy single slot, still taken
INBOX = "inbox"
PROCESSED_FILE = "processed_ids.json"
TAKEN_FILE = "command_taken.json"  # the command being executed, until it is acknowledged
LATCH_FILE = "stopped.latch"
HALT_FILE = "halted.latch"
RISK_FILE = "risk_state.json"
AUDIT_FILE = "commands.log.jsonl"
SIM_ACCOUNT_FILE = "sim_account.json"  # the simulated broker's account (live/sim_broker.py)
JOURNAL_FILE = "journal.duckdb"  # the journal (live/journal.py), beside its .wal
WORKER_LOG = "worker.log"
ARCHIVE = "archive"  # where a fresh simulated account sets the earlier one aside
MAX_COMMAND_BYTES = 65_536  # a command is some 200 bytes; a bigger file is refused unread
PROCESSED_KEPT = 10_000  # ids remembered; a command older than command_max_age_s is refused anyway


def inbox_name() -> str:
    """Return a new inbox file name: ``<time_ns, 20 digits>-<uuid4 hex>.json`` (sorts by time)."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"


def send_command(
    live_dir: Path,
    kind: CommandKind | str,
    source: str = "script",
    now: dt.datetime | None = None,
    sleeve: str | None = None,
) -> Command:
    """Queue one command for the worker and return it; the one function every client uses.

    The command is a new file in ``<live_dir>/inbox/``, written atomically: it never replaces
    another command and never waits for the worker (see the module docstring). ``sleeve``:
    the book's sleeve a HALT or RESUME is for (the worker checks it and refuses a bad one).

    Raises
    ------
    OperationalError
        The inbox cannot be written (the folder and the system's reason are named).
    """
    command = Command(
        id=uuid.uuid4().hex,
        command=CommandKind(kind),
        issued_at=now or dt.datetime.now(dt.UTC),
        source=source,
        sleeve=sleeve,
    )
    target = live_dir / INBOX / inbox_name()
    try:
        atomic_write_json(target, command.to_json())
    except OSError as exc:
        raise OperationalError(
            f"{command.command} not sent: cannot write {target}: {exc.strerror or exc}"
        ) from exc
    to = f" for sleeve {sleeve}" if sleeve is not None else ""
    logger.info(
        "Sent %s%s (id %s) from %s as %s", command.command, to, command.id, source, target.name
    )
    return command


def queued(live_dir: Path) -> list[dict[str, Any]]:
    """Return the commands no worker has finished with yet (the inbox, then ``command.json``).

    A file the worker has just removed, or one that is not a JSON object, is skipped.
    """
    paths = [*sorted((live_dir / INBOX).glob("*.json")), live_dir / COMMAND_FILE]
    # Only regular files: a directory would raise, and a FIFO would block the reader forever.
    return [
        data for path in paths if _regular(path) and (data := read_json_object(path)) is not None
    ]


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:  # gone, or a dangling link
        return False


# ----------------------------------------------------------------- the worker's own files


def latch_stop(live_dir: Path, command: Command) -> None:
    """Latch STOP (``stopped.latch``, holding the command): a restart comes up STOPPED."""
    atomic_write_json(live_dir / LATCH_FILE, command.to_json())


def latched(live_dir: Path) -> bool:
    """Return whether STOP's latch is set."""
    return (live_dir / LATCH_FILE).exists()


def save_halt(live_dir: Path, reason: str, at: dt.datetime) -> None:
    """Save a halt (``halted.latch``): a restart comes up HALTED too, until RESUME or --resume."""
    atomic_write_json(live_dir / HALT_FILE, {"reason": reason, "at": at.isoformat()})


def halted(live_dir: Path) -> bool:
    """Return whether a halt is saved (``halted.latch``), readable or not."""
    return (live_dir / HALT_FILE).exists()


def halt_reason(live_dir: Path) -> str | None:
    """Return why the worker is halted (``halted.latch``), or None if it is not."""
    path = live_dir / HALT_FILE
    if not path.exists():
        return None
    saved = read_json_object(path)
    if saved is None:  # torn by hand or by a disk fault: the halt holds, and says so
        logger.warning("%s is unreadable: the worker stays HALTED until RESUME", path)
        return f"halted ({HALT_FILE} is unreadable)"
    return str(saved.get("reason", "halted"))


def lift_latches(live_dir: Path) -> None:
    """Remove STOP's latch and the halt (RESUME, or a start with --resume)."""
    (live_dir / LATCH_FILE).unlink(missing_ok=True)
    (live_dir / HALT_FILE).unlink(missing_ok=True)


def read_risk(live_dir: Path) -> dict[str, Any]:
    """Return the saved risk state (``risk_state.json``); empty if there is none."""
    return read_json_object(live_dir / RISK_FILE) or {}


def save_risk(live_dir: Path, state: dict[str, Any]) -> None:
    """Save the risk state atomically (NaN as null)."""
    atomic_write_json(live_dir / RISK_FILE, json_safe(state))


def audited(live_dir: Path, command_id: str) -> bool:
    """Return whether the audit log holds an acknowledgement of ``command_id``, not a refusal.

    A refusal (``accepted`` false) does not count: it does not use its id, which may run when
    sent again.

    Read whole: only a restart after a worker was killed mid-command asks. A torn line (the
    kill cut it) is skipped.
    """
    try:
        lines = (live_dir / AUDIT_FILE).read_bytes().splitlines()
    except FileNotFoundError:
        return False
    for line in lines:
        if command_id.encode() not in line:
            continue
        with contextlib.suppress(ValueError):  # JSONDecodeError and UnicodeDecodeError
            entry = json.loads(line)
            if (
                isinstance(entry, dict)
                and entry.get("id") == command_id
                and entry.get("accepted") is not False
            ):
                return True
    return False


def append_audit(live_dir: Path, ack: dict[str, Any]) -> None:
    """Append one command's acknowledgement to the audit log (``commands.log.jsonl``).

    One line per acknowledgement, written in one call and fsynced: the one audit log of
    commands, so it is as durable as the journal's rows were. After a line a kill cut short,
    the new one starts on a line of its own.
    """
    line = (json.dumps(ack, default=str) + "\n").encode()
    with (live_dir / AUDIT_FILE).open("a+b") as handle:
        if (size := handle.seek(0, os.SEEK_END)) and os.pread(
            handle.fileno(), 1, size - 1
        ) != b"\n":
            line = b"\n" + line  # a kill tore the last line: this one must not join it
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def save_sim_account(store: Path, account: dict[str, Any]) -> None:
    """Save the simulated broker's account (``sim_account.json``, or ``store``) atomically.

    Compact: it is written at every mark, open and fill, and json's indented writer is the slow
    one (a book replay spent 13% of its time here).
    """
    atomic_write_json(store, account, compact=True)


def set_aside(live_dir: Path, names: tuple[str, ...], at: dt.datetime) -> Path:
    """Move the files ``names`` that exist into ``live/archive/<at>/``; return that folder."""
    archive = live_dir / ARCHIVE / f"{at.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}"
    archive.mkdir(parents=True)
    for name in names:
        if (live_dir / name).exists():
            (live_dir / name).rename(archive / name)
    return archive


def write_state(live_dir: Path, state: DashboardState | Mapping[str, Any]) -> None:
    """Write ``dashboard_state.json`` atomically, stamped with the schema version.

    ``state`` is the worker's :class:`~quant_core.live.state.DashboardState` (its ``to_json``
    stamps the version and writes NaN as null), or an object already in its JSON shape
    (benchmarks and tests write those: stamped and made JSON-safe here).
    """
    if isinstance(state, DashboardState):
        payload = state.to_json()
    else:
        payload = json_safe({"schema_version": SCHEMA_VERSION, **state})  # NaN -> null
    atomic_write_json(live_dir / STATE_FILE, payload, compact=True)


def read_state(live_dir: Path) -> dict[str, Any] | None:
    """Return the worker's last state as JSON, or None if there is none (or it cannot be read)."""
    return read_json_object(live_dir / STATE_FILE)


def load_state(live_dir: Path) -> DashboardState | None:
    """Return the worker's last state, typed; None if there is none.

    Raises
    ------
    StateSchemaError
        The file cannot be read, is no JSON object (damaged: the worker writes it whole), is of
        another schema version, or a field is missing or malformed (named).
    """
    path = live_dir / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a directory, no access, not UTF-8, not JSON
        raise StateSchemaError(f"{path} cannot be read: {exc}", "file") from None
    if not isinstance(data, dict):
        raise StateSchemaError(f"{path} holds a JSON {type(data).__name__}, not an object", "file")
    return DashboardState.from_json(data)
