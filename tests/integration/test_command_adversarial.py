"""Hostile and unlucky command files against the real worker (in-process and as a process).

Each refusal must be acknowledged and audited with a reason that names the file, field or
value; the file must leave the inbox (removed, or set aside in ``inbox/rejected/``) so that it
is not read again; nothing may run twice; and nothing a file holds may stop or hang the worker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quant_core.live.files import (
    AUDIT_FILE,
    COMMAND_FILE,
    INBOX,
    LATCH_FILE,
    PROCESSED_FILE,
    inbox_name,
    queued,
    read_state,
    send_command,
)
from quant_core.live.state import WorkerState
from quant_core.live.worker import Worker
from tests.integration.test_command_queue import ROOT
from tests.integration.test_command_queue import warehouse as warehouse  # a fixture
from tests.integration.test_worker import holding, last_ack, make
from tests.unit.live.test_sleeve_commands import BOOK
from tests.unit.live.test_sleeve_commands import _worker as book_worker

pytestmark = pytest.mark.integration

HANG_S = 10.0  # a heartbeat that has not returned by then is hung


def _command(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "c1",
        "command": "CANCEL",
        "issued_at": dt.datetime.now(dt.UTC).isoformat(),
        "source": "adversary",
    }
    return {**base, **fields}


def _drop(worker: Worker, text: str | bytes, name: str | None = None) -> Path:
    # As a careful script would: a temporary file, then a rename into the inbox.
    path = worker.live_dir / INBOX / (name or inbox_name())
    tmp = path.with_name(f".{path.name}.x.tmp")
    if isinstance(text, bytes):
        tmp.write_bytes(text)
    else:
        tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _audit(worker: Worker) -> list[dict[str, Any]]:
    path = worker.live_dir / AUDIT_FILE
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _within(call: Callable[[], Any], seconds: float = HANG_S) -> tuple[bool, Any]:
    """Run ``call`` in a thread; return whether it returned within ``seconds``, and its value.

    An exception it raised is raised here, in the test.
    """
    out: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            out.append(call())
        except BaseException as exc:  # reported to the test, not lost in the thread
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if failure:
        raise failure[0]
    return not thread.is_alive(), out[0] if out else None


def _unblock(fifo: Path) -> None:
    # A reader blocked opening a FIFO returns once a writer opens it: let a hung thread end.
    with contextlib.suppress(OSError):  # no reader (none hung): nothing to do
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    built, _, _ = make(tmp_path)
    yield built
    built.journal.close()


# ------------------------------------------------------------------ defects (fixed here)


def test_a_fifo_named_like_a_command_does_not_hang_the_worker(worker: Worker) -> None:
    # Defect: the worker opened the FIFO to read it and blocked forever (no writer).
    fifo = worker.live_dir / INBOX / "00000000000000000001-fifo.json"
    os.mkfifo(fifo)
    try:
        assert _within(worker.heartbeat)[0], "the heartbeat hangs on a FIFO in the inbox"
    finally:
        _unblock(fifo)
    ack = last_ack(worker.live_dir)
    assert ack["accepted"] is False
    assert "00000000000000000001-fifo.json" in ack["result"]
    assert not fifo.exists()  # set aside, not read again
    assert (worker.live_dir / INBOX / "rejected" / fifo.name).exists()
    send_command(worker.live_dir, "CANCEL", source="after")
    assert _within(worker.heartbeat)[0]
    assert last_ack(worker.live_dir)["accepted"] is True


def test_a_plain_file_named_rejected_does_not_stop_the_worker(worker: Worker) -> None:
    # Defect: setting a bad file aside made inbox/rejected/ first; a plain file of that name
    # made the heartbeat raise FileExistsError, and the worker ended.
    inbox = worker.live_dir / INBOX
    (inbox / "rejected").write_text("an operator's notes")
    (inbox / "d.json").mkdir()

    assert _within(worker.heartbeat)[0]

    ack = last_ack(worker.live_dir)
    assert ack["accepted"] is False
    assert "file d.json, set aside as inbox/d.json.rejected" in ack["result"]
    assert (inbox / "rejected").read_text() == "an operator's notes"  # kept as it was
    assert (inbox / "d.json.rejected").is_dir()
    assert not (inbox / "d.json").exists()
    (inbox / "d.json").mkdir()  # the same name again: both kept
    worker.heartbeat()
    assert len(list(inbox.glob("d.*.json.rejected"))) == 1
    send_command(worker.live_dir, "CANCEL", source="after")
    worker.heartbeat()
    assert [a["accepted"] for a in _audit(worker)] == [False, False, True]


def test_a_file_that_cannot_be_moved_is_refused_once_and_not_read_again(worker: Worker) -> None:
    # An inbox the worker cannot change (made immutable: even root cannot rename in it).
    inbox = worker.live_dir / INBOX
    (inbox / "d.json").mkdir()
    made = subprocess.run(["chattr", "+i", str(inbox)], capture_output=True, text=True)
    assert made.returncode == 0, f"chattr +i failed (needs root and ext4): {made.stderr}"
    try:
        assert _within(worker.heartbeat)[0]
        assert not worker.inbox.waiting()  # not read again: no 20 ms loop on it either
        worker.heartbeat()
        worker.heartbeat()
    finally:
        subprocess.run(["chattr", "-i", str(inbox)], check=True)
    audit = _audit(worker)
    assert len(audit) == 1  # refused once
    assert (
        "file d.json, left in the inbox, not read again: it cannot be moved" in audit[0]["result"]
    )
    assert (inbox / "d.json").is_dir()
    assert worker.state is WorkerState.RUNNING
    assert any("d.json left in the inbox" in e.message for e in worker.errors)


def test_queued_skips_a_directory_and_a_fifo(worker: Worker) -> None:
    # Defect: queued() (the cockpit's view of the queue) raised IsADirectoryError on a
    # directory named *.json, and would block forever on a FIFO.
    inbox = worker.live_dir / INBOX
    (inbox / "00000000000000000001-dir.json").mkdir()
    fifo = inbox / "00000000000000000002-fifo.json"
    os.mkfifo(fifo)
    sent = send_command(worker.live_dir, "CANCEL")
    try:
        returned, found = _within(lambda: queued(worker.live_dir))
    finally:
        _unblock(fifo)
    assert returned, "queued() hangs on a FIFO"
    assert [c["id"] for c in found] == [sent.id]


def test_a_directory_dropped_twice_under_one_name_is_set_aside_both_times(
    worker: Worker,
) -> None:
    # Defect: the second one could not be moved over the first (rejected/ holds that name):
    # os.replace raised inside take()'s handler, the heartbeat raised, and every heartbeat
    # (and every restart) after that raised again on the same file.
    inbox = worker.live_dir / INBOX
    for n in (1, 2):
        (inbox / "x.json").mkdir()
        (inbox / "x.json" / f"evidence{n}").write_text(str(n))
        worker.heartbeat()
        ack = last_ack(worker.live_dir)
        assert ack["accepted"] is False
        assert "x.json" in ack["result"]  # the audit names the file it refused
    rejected = inbox / "rejected"
    kept = sorted(p.name for p in rejected.rglob("evidence*"))
    assert kept == ["evidence1", "evidence2"]  # neither set-aside file was lost
    assert not (inbox / "x.json").exists()
    assert worker.state is WorkerState.RUNNING
    send_command(worker.live_dir, "CANCEL")
    worker.heartbeat()
    assert last_ack(worker.live_dir)["accepted"] is True


def test_a_file_set_aside_never_replaces_an_earlier_one_of_that_name(worker: Worker) -> None:
    # The same file name twice (a script re-using its name): both stay as evidence.
    inbox = worker.live_dir / INBOX
    (inbox / "rejected").mkdir()
    (inbox / "rejected" / "cmd.json").write_text("first")
    (inbox / "cmd.json").mkdir()
    worker.heartbeat()
    assert (inbox / "rejected" / "cmd.json").read_text() == "first"
    assert len(list((inbox / "rejected").iterdir())) == 2


@contextlib.contextmanager
def _process(tmp_path: Path, warehouse: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``run_live_strategy.py`` on the simulated broker; yield once its live loop beats."""
    (tmp_path / "warehouse").symlink_to(warehouse)
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path), "QC__LIVE__HEARTBEAT_S": "0.2"}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run_live_strategy.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        beats: set[str] = set()
        deadline = time.monotonic() + 60
        while len(beats) < 3:  # the start's heartbeat, then the live loop's
            assert process.poll() is None, f"the worker exited with {process.returncode}"
            assert time.monotonic() < deadline
            if (state := read_state(tmp_path / "live")) is not None:
                beats.add(str(state["worker"]["heartbeat_at"]))
            time.sleep(0.05)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def _acks(live: Path) -> list[dict[str, Any]]:
    path = live / AUDIT_FILE
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _wait_for_acks(process: subprocess.Popen[bytes], live: Path, n: int) -> None:
    deadline = time.monotonic() + 60
    while len(_acks(live)) < n:
        assert process.poll() is None, f"the worker exited with {process.returncode}"
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_worker_process_survives_a_directory_dropped_twice(
    tmp_path: Path,
    warehouse: Path,  # the fixture imported above
) -> None:
    # The same defect against the real process: it died on the second directory.
    live = tmp_path / "live"
    with _process(tmp_path, warehouse) as process:
        for n in (1, 2):
            (live / INBOX / "d.json").mkdir()
            (live / INBOX / "d.json" / "f").write_text(str(n))
            _wait_for_acks(process, live, n)
        sent = send_command(live, "CANCEL", source="after")
        _wait_for_acks(process, live, 3)
        assert process.poll() is None, "the worker ended"
    assert [a["accepted"] for a in _acks(live)] == [False, False, True]
    assert _acks(live)[2]["id"] == sent.id
    assert not (live / INBOX / "d.json").exists()


def test_the_worker_process_survives_its_inbox_removed(
    tmp_path: Path,
    warehouse: Path,  # the fixture imported above
) -> None:
    # Defect: an operator clearing the queue with rm -r inbox/ killed the worker (its 20 ms
    # check scanned a folder that was gone), and a command.json was never taken again.
    live = tmp_path / "live"
    with _process(tmp_path, warehouse) as process:
        shutil.rmtree(live / INBOX)
        time.sleep(1.0)  # some fifty of the loop's 20 ms checks of the queue
        deadline = time.monotonic() + 30
        while not (live / INBOX).is_dir():  # the worker makes it again
            assert process.poll() is None, f"the worker exited with {process.returncode}"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sent = send_command(live, "CANCEL", source="after")
        _wait_for_acks(process, live, 1)
        assert process.poll() is None
    assert [(a["id"], a["accepted"]) for a in _acks(live)] == [(sent.id, True)]


def test_a_legacy_command_is_taken_with_the_inbox_removed(worker: Worker) -> None:
    # Defect: with inbox/ gone, command.json could not be renamed into it and sat unanswered.
    shutil.rmtree(worker.live_dir / INBOX)
    (worker.live_dir / COMMAND_FILE).write_text(json.dumps(_command(id="legacy1")))

    worker.heartbeat()

    assert not (worker.live_dir / COMMAND_FILE).exists()
    assert [(a["id"], a["accepted"]) for a in _audit(worker)] == [("legacy1", True)]


def test_a_legacy_command_json_written_first_is_taken_first(worker: Worker) -> None:
    # Defect: the worker named command.json by the time it saw it, after every inbox file
    # already waiting: the FLAT written first ran last, and the worker ended HALTED.
    (worker.live_dir / COMMAND_FILE).write_text(json.dumps(_command(id="flat1", command="FLAT")))
    time.sleep(0.05)
    resume = send_command(worker.live_dir, "RESUME", source="later")

    worker.heartbeat()

    assert [a["id"] for a in _audit(worker)] == ["flat1", resume.id]
    assert worker.state is WorkerState.RUNNING


def test_a_field_given_twice_is_refused_not_guessed(worker: Worker) -> None:
    # Defect: json.loads keeps the last: {"command": "CANCEL", "command": "STOP"} ran STOP.
    at = dt.datetime.now(dt.UTC).isoformat()
    raw = (
        f'{{"id": "dup1", "command": "CANCEL", "command": "STOP", "issued_at": "{at}", '
        '"source": "adversary"}'
    )
    _drop(worker, raw)

    worker.heartbeat()

    ack = last_ack(worker.live_dir)
    assert ack["accepted"] is False
    assert "'command' appears twice" in ack["result"]
    assert worker.state is WorkerState.RUNNING
    assert not (worker.live_dir / LATCH_FILE).exists()
    assert not worker.stop_requested


def test_an_id_of_the_wrong_type_is_refused_naming_its_value(worker: Worker) -> None:
    # Defect: {"id": 123} was refused as "missing or empty field(s): id", though it was there.
    _drop(worker, json.dumps(_command(id=123)))

    worker.heartbeat()

    ack = last_ack(worker.live_dir)
    assert ack["accepted"] is False
    assert "field 'id' is 123" in ack["result"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{this is not json", "malformed JSON"),
        ("[1, 2]", "a command must be a JSON object"),
        ('"FLAT"', "a command must be a JSON object"),
        ("", "malformed JSON"),
    ],
)
def test_a_refusal_with_no_id_names_the_file(worker: Worker, text: str, reason: str) -> None:
    # Defect: the acknowledgement said "refused: malformed JSON ..." with id null and no file:
    # nothing in the audit log said which file (or sender) it was.
    path = _drop(worker, text)

    worker.heartbeat()

    ack = last_ack(worker.live_dir)
    assert ack["accepted"] is False
    assert reason in ack["result"]
    assert path.name in ack["result"]
    assert path.name in _audit(worker)[-1]["result"]
    assert not path.exists()


def test_a_huge_command_file_is_refused_unread(worker: Worker) -> None:
    # Defect: a file of any size was read whole, and a valid command padded to megabytes ran,
    # its megabyte id kept in processed_ids.json and in every state file written after.
    big = "x" * 2_000_000
    path = _drop(worker, json.dumps(_command(id=big)))

    worker.heartbeat()

    ack = last_ack(worker.live_dir)
    assert ack["accepted"] is False
    assert "over" in ack["result"]
    assert "bytes" in ack["result"]
    assert path.name in ack["result"]
    assert not path.exists()
    processed = worker.live_dir / PROCESSED_FILE
    assert not processed.exists() or big not in processed.read_text()
    assert worker.state is WorkerState.RUNNING


def test_two_ids_that_differ_in_bytes_that_are_not_utf8_are_both_refused_naming_the_byte(
    worker: Worker,
) -> None:
    # Replaced by U+FFFD, the ids b"a\xffb" and b"a\xfeb" would both read "a\ufffdb": the
    # second command would be refused as a duplicate, though it never ran. Each file is
    # refused as not UTF-8, naming its byte, and neither runs.
    raw = json.dumps(_command(id="a?b")).encode()
    _drop(worker, raw.replace(b"a?b", b"a\xffb"), "00000000000000000001-a.json")
    _drop(worker, raw.replace(b"a?b", b"a\xfeb"), "00000000000000000002-b.json")

    worker.heartbeat()

    audit = _audit(worker)
    assert len(audit) == 2
    assert [a["accepted"] for a in audit] == [False, False]
    assert "not UTF-8 (byte 0xff at offset" in audit[0]["result"]
    assert "not UTF-8 (byte 0xfe at offset" in audit[1]["result"]
    assert all("duplicate id" not in a["result"] for a in audit)


# ------------------------------------------------------------------ good behaviour, pinned


def test_a_lower_case_flat_is_refused_and_closes_nothing(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path)
    holding(worker, broker, data)
    before = {p.symbol: p.quantity for p in broker.positions()}
    assert before
    _drop(worker, json.dumps(_command(id="lc1", command="flat")))

    worker.heartbeat()

    ack = last_ack(worker.live_dir)
    assert ack["accepted"] is False
    assert "unknown command 'flat'" in ack["result"]
    assert {p.symbol: p.quantity for p in broker.positions()} == before
    assert worker.state is WorkerState.RUNNING
    worker.journal.close()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"command": ["FLAT"]}, "unknown command ['FLAT']"),
        ({"command": None}, "unknown command None"),
        ({"issued_at": 1_700_000_000}, "issued_at 1700000000 is not ISO 8601"),
        ({"issued_at": "9999-12-31T23:59:59+00:00"}, "in the future"),
        ({"issued_at": "0001-01-01T00:00:00+14:00"}, "expired"),
        ({"issued_at": "2026-01-01"}, "no UTC offset"),
        ({"command": "HALT", "sleeve": "mom"}, "this worker runs no book"),
        ({"command": "FLAT", "sleeve": "mom"}, "FLAT takes no sleeve"),
        ({"command": "FLAT", "source": None}, "field 'source' is None, not a string"),
        ({"source": {"who": "me"}}, "field 'source' is {'who': 'me'}, not a string"),
    ],
)
def test_wrong_fields_are_refused_naming_the_value(
    worker: Worker, fields: dict[str, Any], reason: str
) -> None:
    path = _drop(worker, json.dumps(_command(id="w1", **fields)))

    worker.heartbeat()
    worker.heartbeat()  # taken once: not read, nor acknowledged, again

    assert [(a["id"], a["accepted"]) for a in _audit(worker)] == [("w1", False)]
    assert reason in _audit(worker)[0]["result"]
    assert not path.exists()
    assert worker.state is WorkerState.RUNNING


def test_a_bom_is_refused_with_its_reason(worker: Worker) -> None:
    path = _drop(worker, b"\xef\xbb\xbf" + json.dumps(_command(id="bom1")).encode())

    worker.heartbeat()

    ack = last_ack(worker.live_dir)
    assert ack["accepted"] is False
    assert "BOM" in ack["result"]
    assert not path.exists()


def test_one_id_in_two_files_runs_once(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path)
    holding(worker, broker, data)
    flat = json.dumps(_command(id="same", command="FLAT"))
    _drop(worker, flat, "00000000000000000001-a.json")
    _drop(worker, flat, "00000000000000000002-b.json")

    worker.heartbeat()

    audit = _audit(worker)
    assert [(a["id"], a["accepted"]) for a in audit] == [("same", True), ("same", False)]
    assert audit[1]["result"] == "duplicate id, ignored"
    assert list((worker.live_dir / INBOX).glob("*.json")) == []
    worker.journal.close()


def test_a_killed_writers_temporary_file_and_other_names_are_left_alone(worker: Worker) -> None:
    inbox = worker.live_dir / INBOX
    partial = inbox / f".{inbox_name()}.a1b2.tmp"
    partial.write_text('{"id": "half", "comm')
    other = inbox / "notes.txt"
    other.write_text(json.dumps(_command(id="txt1", command="FLAT")))

    worker.heartbeat()

    assert _audit(worker) == []  # neither is a command
    assert partial.exists()
    assert other.exists()
    assert worker.state is WorkerState.RUNNING


def test_commands_while_halted_answer_and_keep_the_halt(worker: Worker) -> None:
    worker.transition(WorkerState.HALTED, "FLAT earlier")
    send_command(worker.live_dir, "CANCEL")
    worker.heartbeat()
    assert last_ack(worker.live_dir)["accepted"] is True
    assert worker.state is WorkerState.HALTED


def test_a_sleeve_the_book_does_not_have_is_refused_while_halted(tmp_path: Path) -> None:
    worker = book_worker(tmp_path, BOOK)
    worker.transition(WorkerState.HALTED, "FLAT earlier")
    send_command(worker.live_dir, "HALT", sleeve="nope", now=worker.wall())

    worker.heartbeat()

    ack = last_ack(worker.live_dir)
    assert ack["accepted"] is False
    assert "unknown sleeve 'nope'" in ack["result"]
    assert worker.state is WorkerState.HALTED
    worker.journal.close()


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"command": "FLAT", "sleeve": "mom"}, "FLAT"),  # a misplaced sleeve
        ({"command": "HALT"}, "HALT"),  # a HALT without its sleeve
        ({"issued_at": "2001-01-01T00:00:00+00:00"}, "CANCEL"),  # expired
        ({"command": "flat"}, None),  # no kind to name
        ({"source": None}, None),  # refused before its kind was read
    ],
)
def test_a_refused_command_is_named_by_its_kind_once_read(
    worker: Worker, fields: dict[str, Any], kind: str | None
) -> None:
    # Defect: every refusal said "command": null; the audit log then hid what was refused.
    _drop(worker, json.dumps(_command(id="k1", **fields)))

    worker.heartbeat()

    ack = _audit(worker)[0]
    assert (ack["id"], ack["command"], ack["accepted"]) == ("k1", kind, False)
    assert last_ack(worker.live_dir)["command"] == kind
