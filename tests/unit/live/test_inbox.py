"""The worker's inbox (``live/inbox.py``): what it records while a command runs, and after."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from quant_core.live.command_file import Received
from quant_core.live.files import (
    AUDIT_FILE,
    COMMAND_FILE,
    INBOX,
    MAX_COMMAND_BYTES,
    PROCESSED_FILE,
    TAKEN_FILE,
    append_audit,
    audited,
    send_command,
)
from quant_core.live.inbox import CommandInbox


def test_the_file_names_the_command_while_it_runs_and_goes_once_it_is_answered(
    tmp_path: Path,
) -> None:
    inbox = CommandInbox(tmp_path)
    sent = send_command(tmp_path, "STOP", source="operator")
    path = next((tmp_path / INBOX).glob("*.json"))

    inbox.executing(sent, dt.datetime.now(dt.UTC))

    taken = json.loads((tmp_path / TAKEN_FILE).read_text())
    assert {k: taken[k] for k in ("id", "command", "source")} == {
        "id": sent.id,
        "command": "STOP",
        "source": "operator",
    }
    assert dt.datetime.fromisoformat(taken["taken_at"]).tzinfo is not None
    assert json.loads((tmp_path / PROCESSED_FILE).read_text()) == [sent.id]
    assert CommandInbox(tmp_path).interrupted(sent.id) == taken  # what a restart reads
    assert CommandInbox(tmp_path).interrupted("other") is None

    inbox.done(path, sent.id)

    assert not (tmp_path / TAKEN_FILE).exists()
    assert not path.exists()
    assert CommandInbox(tmp_path).interrupted(sent.id) is None
    assert CommandInbox(tmp_path).seen(sent.id)


def test_a_refused_command_leaves_the_one_being_executed_named(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    running = send_command(tmp_path, "FLAT")
    inbox.executing(running, dt.datetime.now(dt.UTC))
    inbox.done(tmp_path / INBOX / "refused.json", "refused-id")  # another id, refused

    assert CommandInbox(tmp_path).interrupted(running.id) is not None


def test_an_answer_after_a_torn_audit_line_starts_a_line_of_its_own(tmp_path: Path) -> None:
    (tmp_path / AUDIT_FILE).write_bytes(b'{"id": "a", "result": "ok"}\n{"id": "b", "res')
    append_audit(tmp_path, {"id": "c", "result": "ok"})
    append_audit(tmp_path, {"id": "d", "result": "ok"})

    lines = (tmp_path / AUDIT_FILE).read_text().splitlines()
    assert lines[1] == '{"id": "b", "res'  # kept as it was, for the record
    assert [json.loads(x)["id"] for x in (lines[0], *lines[2:])] == ["a", "c", "d"]
    assert audited(tmp_path, "c")
    assert audited(tmp_path, "a")
    assert not audited(tmp_path, "b")  # torn: not an answer


# ------------------------------------------------------------- reading what the inbox holds


def _command_text(ident: str = "c1") -> str:
    issued = dt.datetime.now(dt.UTC).isoformat()
    return json.dumps({"id": ident, "command": "CANCEL", "issued_at": issued, "source": "t"})


def test_read_refuses_a_directory_and_a_fifo_by_kind_without_reading_them(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    folder = tmp_path / INBOX / "d.json"
    folder.mkdir()
    fifo = tmp_path / INBOX / "f.json"
    os.mkfifo(fifo)
    now = dt.datetime.now(dt.UTC)

    with pytest.raises(OSError, match=r"^\[Errno 22\] d\.json is a directory$"):
        inbox.read(folder, now, 60.0)
    with pytest.raises(OSError, match=r"^\[Errno 22\] f\.json is not a regular file$"):
        inbox.read(fifo, now, 60.0)  # opened without blocking: no writer, no wait


def test_read_takes_a_file_of_the_limit_and_refuses_one_byte_more(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    text = _command_text()
    path = tmp_path / INBOX / "big.json"
    path.write_text(text + " " * (MAX_COMMAND_BYTES - len(text)))  # JSON allows the spaces
    now = dt.datetime.now(dt.UTC)

    taken = inbox.read(path, now, 60.0)
    assert taken.command is not None
    assert taken.id == "c1"

    path.write_text(text + " " * (MAX_COMMAND_BYTES - len(text) + 1))
    refused = inbox.read(path, now, 60.0)
    assert refused == Received(
        None, "", f"file big.json is over {MAX_COMMAND_BYTES} bytes: not a command"
    )


def test_read_refuses_text_that_is_not_utf8_naming_the_byte_and_its_offset(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    path = tmp_path / INBOX / "bad.json"
    path.write_bytes(b'{"id": "c\xff1"}')

    refused = inbox.read(path, dt.datetime.now(dt.UTC), 60.0)

    assert refused == Received(None, "", "file bad.json is not UTF-8 (byte 0xff at offset 9)")


def test_waiting_sees_command_files_only(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    assert not inbox.waiting()
    (tmp_path / INBOX / "d.json").mkdir()  # a folder: not a command
    (tmp_path / INBOX / "notes.txt").write_text("x")
    assert not inbox.waiting()
    (tmp_path / INBOX / "1.json").write_text(_command_text())
    assert inbox.waiting()
    (tmp_path / INBOX / "1.json").unlink()
    (tmp_path / COMMAND_FILE).write_text(_command_text())  # the legacy slot
    assert inbox.waiting()


def test_an_inbox_removed_by_hand_is_made_again(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    (tmp_path / INBOX).rmdir()
    assert not inbox.waiting()
    assert (tmp_path / INBOX).is_dir()
    (tmp_path / INBOX).rmdir()
    assert inbox.pending() == []
    assert (tmp_path / INBOX).is_dir()
    shutil.rmtree(tmp_path)  # the live folder too
    assert inbox.pending() == []
    assert (tmp_path / INBOX).is_dir()
    shutil.rmtree(tmp_path)
    assert not inbox.waiting()
    assert (tmp_path / INBOX).is_dir()


def test_a_legacy_command_json_is_named_by_when_it_was_written(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    legacy = tmp_path / COMMAND_FILE
    legacy.write_text(_command_text())
    os.utime(legacy, ns=(1_000, 2_000))
    later = tmp_path / INBOX / f"{3_000:020d}-a.json"
    later.write_text(_command_text("c2"))

    pending = inbox.pending()

    assert [p.name[:21] for p in pending] == [f"{2_000:020d}-", f"{3_000:020d}-"]
    assert not legacy.exists()
    assert json.loads(pending[0].read_text())["id"] == "c1"


def test_set_aside_moves_into_rejected_keeping_every_name(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    for n in (1, 2):
        (tmp_path / INBOX / "x.json").write_text(str(n))
        moved = inbox.set_aside(tmp_path / INBOX / "x.json")
        assert moved.parent == tmp_path / INBOX / "rejected"
    kept = sorted(p.read_text() for p in (tmp_path / INBOX / "rejected").iterdir())
    assert kept == ["1", "2"]
    assert (tmp_path / INBOX / "rejected" / "x.json").read_text() == "1"  # the first keeps it


def test_set_aside_beside_a_plain_file_named_rejected_renames_in_the_inbox(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    (tmp_path / INBOX / "rejected").write_text("notes")
    for n in (1, 2):
        (tmp_path / INBOX / "x.json").write_text(str(n))
        moved = inbox.set_aside(tmp_path / INBOX / "x.json")
        assert moved.parent == tmp_path / INBOX
        assert moved.name.endswith(".json.rejected")
    assert (tmp_path / INBOX / "x.json.rejected").read_text() == "1"
    assert len(list((tmp_path / INBOX).glob("x.*.json.rejected"))) == 1
    assert (tmp_path / INBOX / "rejected").read_text() == "notes"
    assert inbox.pending() == []  # neither is read as a command again
    assert not inbox.waiting()


def test_a_file_that_cannot_be_set_aside_is_skipped_from_then_on(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    path = tmp_path / INBOX / "x.json"
    path.write_text(_command_text())
    subprocess.run(["chattr", "+i", str(tmp_path / INBOX)], check=True)
    try:
        with pytest.raises(OSError, match="Operation not permitted"):
            inbox.set_aside(path)
        assert inbox.pending() == []
        assert not inbox.waiting()
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / INBOX)], check=True)
    assert path.exists()
    assert CommandInbox(tmp_path).pending() == [path]  # another process reads it again


def test_a_done_command_no_longer_named_as_taken_survives_a_restart(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    sent = send_command(tmp_path, "CANCEL")
    inbox.executing(sent, dt.datetime.now(dt.UTC))
    inbox.done(tmp_path / INBOX / "gone.json", sent.id)  # its file already gone: fine
    assert not (tmp_path / TAKEN_FILE).exists()
    inbox.done(tmp_path / INBOX / "gone.json", sent.id)  # twice: nothing to remove, no error


def test_unreadable_processed_ids_start_empty_and_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / PROCESSED_FILE).write_text("[not json", encoding="utf-8")
    assert not CommandInbox(tmp_path).seen("x")
    assert "Unreadable" in caplog.text
    (tmp_path / PROCESSED_FILE).write_text('{"a": 1}', encoding="utf-8")  # not a list
    assert not CommandInbox(tmp_path).seen("a")
    (tmp_path / PROCESSED_FILE).write_text('["caf\\u00e9", 7]', encoding="utf-8")
    assert CommandInbox(tmp_path).seen("café")
    assert CommandInbox(tmp_path).seen("7")
