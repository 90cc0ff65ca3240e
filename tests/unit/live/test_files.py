from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from quant_core.errors import OperationalError
from quant_core.live.files import (
    COMMAND_FILE,
    INBOX,
    CommandKind,
    parse_command,
    queued,
    read_state,
    send_command,
    write_state,
)
from quant_core.live.inbox import CommandInbox

NOW = dt.datetime(2026, 11, 22, 14, 30, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parents[3]


def _raw(**fields: object) -> str:
    base: dict[str, object] = {
        "id": "abc",
        "command": "FLAT",
        "issued_at": NOW.isoformat(),
        "source": "ui",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def test_send_then_take_then_done(tmp_path: Path) -> None:
    sent = send_command(tmp_path, "CANCEL", source="test")
    inbox = CommandInbox(tmp_path)

    pending = inbox.pending()
    received = inbox.read(pending[0], dt.datetime.now(dt.UTC), 60)

    assert not (tmp_path / COMMAND_FILE).exists()
    assert received.command == sent
    assert received.refusal is None
    inbox.done(pending[0], received.id)
    assert inbox.pending() == []
    assert inbox.seen(sent.id)
    assert CommandInbox(tmp_path).seen(sent.id)  # persisted across restarts


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
        (_raw(source=None), "missing or empty field(s): source"),
        (_raw(id=""), "missing or empty field(s)"),
        (
            _raw(command="SELL_EVERYTHING"),
            "unknown command 'SELL_EVERYTHING'; valid: CANCEL, FLAT, STOP, RESUME",
        ),
        (_raw(issued_at="yesterday"), "is not ISO 8601"),
        (_raw(issued_at="2026-11-22T14:30:00"), "no UTC offset"),
        (_raw(issued_at=(NOW - dt.timedelta(hours=3)).isoformat()), "expired: issued 10800 s ago"),
    ],
)
def test_bad_commands_are_refused_with_a_reason(raw: str, reason: str) -> None:
    received = parse_command(raw, NOW, 60)
    assert received.command is None
    assert reason in (received.refusal or "")


def test_offsets_other_than_utc_are_fine() -> None:
    received = parse_command(_raw(issued_at="2026-11-22T09:30:00-05:00"), NOW, 60)
    assert received.command is not None
    assert received.command.command is CommandKind.FLAT


def test_a_command_left_in_the_inbox_by_a_crash_is_taken_again(tmp_path: Path) -> None:
    send_command(tmp_path, "STOP")
    first = CommandInbox(tmp_path)
    taken = first.pending()  # taken, then the worker "crashes" before done()

    again = CommandInbox(tmp_path).pending()

    assert again == taken


def test_commands_queue_without_waiting_and_none_replaces_another(tmp_path: Path) -> None:
    # No worker runs: each command is a file of its own in the inbox, sent at once.
    started = time.monotonic()
    sent = [send_command(tmp_path, kind) for kind in ("CANCEL", "FLAT", "STOP")]
    assert time.monotonic() - started < 1.0

    files = sorted((tmp_path / INBOX).glob("*.json"))
    assert len(files) == 3
    assert not (tmp_path / COMMAND_FILE).exists()
    assert [c["id"] for c in queued(tmp_path)] == [c.id for c in sent]  # oldest first
    inbox = CommandInbox(tmp_path)
    assert inbox.waiting()
    taken = [inbox.read(path, dt.datetime.now(dt.UTC), 60).command for path in inbox.pending()]
    assert taken == sent


def test_a_writers_temporary_file_is_not_a_command(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    (tmp_path / INBOX / ".00000000000000000001-ab.json.x1y2.tmp").write_text('{"id": "half')
    (tmp_path / INBOX / "rejected").mkdir()

    assert inbox.pending() == []
    assert not inbox.waiting()
    assert queued(tmp_path) == []


def test_a_legacy_command_json_is_still_taken(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    command = {"id": "old1", "command": "CANCEL", "issued_at": NOW.isoformat(), "source": "cron"}
    (tmp_path / COMMAND_FILE).write_text(json.dumps(command))
    assert inbox.waiting()
    assert [c["id"] for c in queued(tmp_path)] == ["old1"]

    (path,) = inbox.pending()

    assert path.parent == tmp_path / INBOX
    assert not (tmp_path / COMMAND_FILE).exists()
    assert inbox.read(path, NOW, 60).id == "old1"


def test_an_inbox_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    (tmp_path / INBOX).write_text("a file where the inbox folder should be")
    with pytest.raises(OperationalError, match=r"FLAT not sent: cannot write .*/inbox/"):
        send_command(tmp_path, "FLAT")


SENDER = """
import sys
from pathlib import Path
from quant_core.live.files import send_command
for i in range(int(sys.argv[2])):
    send_command(Path(sys.argv[1]), "CANCEL", source=f"{sys.argv[3]}-{i}")
"""


def test_hundred_commands_from_two_processes_each_arrive_exactly_once(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    senders = [
        subprocess.Popen([sys.executable, "-c", SENDER, str(tmp_path), "50", name], cwd=ROOT)
        for name in ("a", "b")
    ]
    received: list[str] = []
    deadline = time.monotonic() + 60
    while (
        any(p.poll() is None for p in senders) or inbox.waiting()
    ) and time.monotonic() < deadline:
        for path in inbox.pending():
            got = inbox.read(path, dt.datetime.now(dt.UTC), 60)
            assert got.command is not None
            assert not inbox.seen(got.id)
            received.append(got.command.source)
            inbox.done(path, got.id)
        time.sleep(0.001)
    for path in inbox.pending():
        got = inbox.read(path, dt.datetime.now(dt.UTC), 60)
        assert got.command is not None
        received.append(got.command.source)
        inbox.done(path, got.id)

    assert all(p.wait(10) == 0 for p in senders)
    assert sorted(received) == sorted([f"a-{i}" for i in range(50)] + [f"b-{i}" for i in range(50)])
    assert [s for s in received if s.startswith("a-")] == [f"a-{i}" for i in range(50)]  # in order


def _write_states(live_dir: str, stop: threading.Event) -> None:
    n = 0
    positions = [{"symbol": f"S{i:03d}", "shares": i, "value": i * 10.5} for i in range(500)]
    while not stop.is_set():
        n += 1
        write_state(Path(live_dir), {"seq": n, "positions": positions})


def test_a_reader_never_sees_a_torn_state_file(tmp_path: Path) -> None:
    write_state(tmp_path, {"seq": 0, "positions": []})
    stop = threading.Event()
    writer = threading.Thread(target=_write_states, args=(str(tmp_path), stop))
    writer.start()
    seqs = []
    try:
        for _ in range(10_000):
            raw = (tmp_path / "dashboard_state.json").read_text()
            state = json.loads(raw)  # raises on a torn file
            assert state["schema_version"] == 1
            seqs.append(state["seq"])
    finally:
        stop.set()
        writer.join()
    assert max(seqs) > 10  # the writer really was writing meanwhile
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert read_state(tmp_path) is not None
    assert os.path.exists(tmp_path / "dashboard_state.json")
