"""live/files.py edges a mutation run found untested: refusals carry the raw text and the id,
the expiry and clock-skew boundaries, the processed-id cap and its eviction, unreadable files."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from quant_core.errors import OperationalError
from quant_core.live.files import (
    INBOX,
    PROCESSED_FILE,
    PROCESSED_KEPT,
    STATE_FILE,
    Command,
    CommandKind,
    Received,
    parse_command,
    read_state,
    send_command,
    write_state,
)
from quant_core.live.inbox import CommandInbox
from tests.unit.live.test_files import NOW, _raw


@pytest.mark.parametrize(
    ("raw", "refusal", "ident"),
    [
        ("[1, 2]", "a command must be a JSON object", None),
        (_raw(id=None), "missing or empty field(s): id", None),
        (_raw(id=""), "missing or empty field(s): id", None),  # present but empty
        (_raw(command=None, source=None), "missing or empty field(s): command, source", "abc"),
        (
            _raw(command="BUY"),
            "unknown command 'BUY'; valid: CANCEL, FLAT, STOP, RESUME, HALT",
            "abc",
        ),
        (_raw(issued_at="soon"), "issued_at 'soon' is not ISO 8601", "abc"),
        (_raw(issued_at="2026-11-22T14:30:00"), "issued_at has no UTC offset", "abc"),
        # 14:28:59 is 61 s before 14:30:00; the limit is 60 s.
        (
            _raw(issued_at="2026-11-22T14:28:59+00:00"),
            "expired: issued 61 s ago (limit 60 s)",
            "abc",
        ),
        # 14:30:06 is 6 s after the worker's clock: more than the 5 s of skew allowed.
        (
            _raw(issued_at="2026-11-22T14:30:06+00:00"),
            "issued 6 s in the future: check the sender's clock",
            "abc",
        ),
    ],
)
def test_a_refusal_keeps_the_raw_text_and_the_id(raw: str, refusal: str, ident: str | None) -> None:
    # A refusal of its time comes once its kind is read: the acknowledgement names it.
    kind = CommandKind.FLAT if refusal.startswith(("issued", "expired")) else None
    assert parse_command(raw, NOW, 60) == Received(None, raw, refusal, ident, kind)


def test_malformed_json_is_refused_with_the_parser_reason() -> None:
    raw = '{"id": "abc",\n "command": }'
    received = parse_command(raw, NOW, 60)
    assert received == Received(None, raw, "malformed JSON: Expecting value at line 2")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("[" * 100_000 + "]" * 100_000, "RecursionError"),  # absurd nesting
        ('{"id": ' + "9" * 5_000 + "}", "ValueError"),  # an integer over Python's digit limit
    ],
)
def test_json_the_parser_gives_up_on_is_refused_by_kind(raw: str, name: str) -> None:
    assert parse_command(raw, NOW, 60) == Received(None, raw, f"malformed JSON: {name}")


def test_a_valid_command_keeps_its_raw_text_and_id() -> None:
    raw = _raw()
    command = Command("abc", CommandKind.FLAT, NOW, "ui")
    assert parse_command(raw, NOW, 60) == Received(command, raw, None, "abc")


@pytest.mark.parametrize(
    "issued_at",
    [
        "2026-11-22T14:29:00+00:00",  # exactly 60 s old: the limit itself is still accepted
        "2026-11-22T14:30:05+00:00",  # exactly 5 s ahead: the skew allowed is still accepted
    ],
)
def test_the_expiry_and_skew_limits_are_inclusive(issued_at: str) -> None:
    received = parse_command(_raw(issued_at=issued_at), NOW, 60)
    assert received.refusal is None
    assert received.command is not None


def test_send_command_defaults_to_source_script_and_logs_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="quant_core.live.files")
    sent = send_command(tmp_path, CommandKind.CANCEL, now=NOW)
    (path,) = (tmp_path / INBOX).glob("*.json")
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "id": sent.id,
        "command": "CANCEL",
        "issued_at": "2026-11-22T14:30:00+00:00",
        "source": "script",
    }
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert messages == [f"Sent CANCEL (id {sent.id}) from script as {path.name}"]


def test_a_send_that_cannot_write_names_the_file_and_the_reason(tmp_path: Path) -> None:
    (tmp_path / INBOX).write_text("a file where the inbox folder should be")
    with pytest.raises(OperationalError) as info:
        send_command(tmp_path, "FLAT")
    name = r"\d{20}-[0-9a-f]{32}\.json"
    pattern = rf"FLAT not sent: cannot write {re.escape(str(tmp_path / INBOX))}/{name}: "
    # The reason is the system's own words (strerror), not the exception's repr with errno.
    assert re.fullmatch(pattern + r"[A-Z][a-z ]+", str(info.value)), str(info.value)


def test_the_inbox_is_created_with_its_parents(tmp_path: Path) -> None:
    live = tmp_path / "not" / "yet" / "there"
    inbox = CommandInbox(live)
    assert (live / INBOX).is_dir()
    assert inbox.pending() == []


def test_bytes_that_are_not_utf8_are_refused_naming_the_byte_not_fatal(tmp_path: Path) -> None:
    # Replaced by U+FFFD, the ids a\xffb and a\xfeb would both read a\ufffdb: one would be
    # refused as a duplicate of the other though it never ran. The file is refused instead.
    inbox = CommandInbox(tmp_path)
    path = tmp_path / INBOX / "00000000000000000001-x.json"
    raw = _raw(id="a?b").encode()
    path.write_bytes(raw.replace(b"a?b", b"a\xffb"))  # a lone 0xFF byte
    received = inbox.read(path, NOW, 60)
    assert received.command is None
    assert received.id is None
    at = raw.index(b"a?b") + 1
    assert received.refusal == f"file {path.name} is not UTF-8 (byte 0xff at offset {at})"


def test_taken_records_each_id_once_and_never_none(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    inbox.taken(None)
    assert not (tmp_path / PROCESSED_FILE).exists()
    inbox.taken("a")
    inbox.taken("a")
    inbox.taken("b")
    assert json.loads((tmp_path / PROCESSED_FILE).read_text(encoding="utf-8")) == ["a", "b"]
    assert inbox.seen("a")
    assert not inbox.seen(None)


def test_done_twice_and_set_aside_twice_are_harmless(tmp_path: Path) -> None:
    inbox = CommandInbox(tmp_path)
    first, second = (tmp_path / INBOX / f"{n}.json" for n in ("1", "2"))
    first.write_text("{}")
    second.write_text("{}")
    inbox.done(first, "x")
    inbox.done(first, "x")  # already gone: no error
    assert not first.exists()
    moved = [inbox.set_aside(second)]
    (tmp_path / INBOX / "3.json").write_text("{}")
    moved.append(inbox.set_aside(tmp_path / INBOX / "3.json"))  # rejected/ exists already
    assert moved == [tmp_path / INBOX / "rejected" / n for n in ("2.json", "3.json")]
    assert all(p.read_text() == "{}" for p in moved)
    assert inbox.pending() == []


def test_the_processed_ids_are_capped_and_the_oldest_is_evicted(tmp_path: Path) -> None:
    # A file one id over the cap: the oldest (id0) is dropped on loading, id1..id10000 kept.
    ids = [f"id{i}" for i in range(PROCESSED_KEPT + 1)]
    (tmp_path / PROCESSED_FILE).write_text(json.dumps(ids), encoding="utf-8")
    inbox = CommandInbox(tmp_path)
    assert not inbox.seen("id0")
    assert inbox.seen("id1")
    assert inbox.seen(f"id{PROCESSED_KEPT}")

    inbox.taken("new")  # full: id1 makes room for it, in memory and on disk

    assert not inbox.seen("id1")
    assert inbox.seen("id2")
    assert inbox.seen("new")
    kept = json.loads((tmp_path / PROCESSED_FILE).read_text(encoding="utf-8"))
    assert len(kept) == PROCESSED_KEPT == 10_000
    assert (kept[0], kept[-1]) == ("id2", "new")
    assert not CommandInbox(tmp_path).seen("id1")  # a restart agrees


def test_an_unreadable_processed_file_is_logged_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / PROCESSED_FILE
    path.write_text('["a", ', encoding="utf-8")
    inbox = CommandInbox(tmp_path)
    assert not inbox.seen("a")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [f"Unreadable {path}; starting with no processed ids"]


def test_a_processed_file_that_is_not_a_list_is_ignored(tmp_path: Path) -> None:
    (tmp_path / PROCESSED_FILE).write_text('{"abc": 1}', encoding="utf-8")
    assert not CommandInbox(tmp_path).seen("abc")
    (tmp_path / PROCESSED_FILE).write_text('[1, "b"]', encoding="utf-8")
    reloaded = CommandInbox(tmp_path)
    assert reloaded.seen("1")  # ids are strings
    assert reloaded.seen("b")


def test_the_state_file_is_compact_versioned_and_nan_free(tmp_path: Path) -> None:
    write_state(tmp_path, {"b": 2, "a": float("nan")})
    text = (tmp_path / STATE_FILE).read_text(encoding="utf-8")
    assert text == '{"schema_version":1,"b":2,"a":null}'  # compact: no indent, keys unsorted
    assert read_state(tmp_path) == {"schema_version": 1, "b": 2, "a": None}
    assert read_state(tmp_path / "missing") is None
