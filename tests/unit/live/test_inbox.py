"""The worker's inbox (``live/inbox.py``): what it records while a command runs, and after."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from quant_core.live.files import (
    AUDIT_FILE,
    INBOX,
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

    inbox.taken(sent.id, sent)

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
    inbox.taken(running.id, running)
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
