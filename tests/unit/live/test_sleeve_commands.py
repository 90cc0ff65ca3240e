"""HALT and RESUME of one sleeve of a book: the command file's ``sleeve``, its refusals, and a
real worker running a real LiveBook, whose own state and latches a sleeve command never moves."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from config import load_config
from quant_core.book.sleeves import Book, Sleeve
from quant_core.live.book_live import LiveBook
from quant_core.live.files import (
    AUDIT_FILE,
    HALT_FILE,
    INBOX,
    LATCH_FILE,
    Command,
    CommandKind,
    inbox_name,
    load_state,
    parse_command,
    read_state,
    send_command,
)
from quant_core.live.journal import Journal
from quant_core.live.replay import ReplayClock
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerState
from quant_core.live.worker import Worker, WorkerOptions
from quant_core.portfolio.costs import CostModel
from tests.conftest import log_has
from tests.factories import Fixed, market

NOW = dt.datetime(2026, 11, 22, 14, 30, tzinfo=dt.UTC)
CLOSES: dict[str, list[Any]] = {
    "A": [10.0 + i for i in range(10)],
    "B": [20.0 - i for i in range(10)],
    "C": [5.0 + 0.5 * i for i in range(10)],
}
HALTED = "sleeve mom halted: it holds its positions; the other sleeves trade on"


def _raw(**fields: object) -> str:
    base: dict[str, object] = {
        "id": "abc",
        "command": "HALT",
        "issued_at": NOW.isoformat(),
        "source": "ui",
        "sleeve": "mom",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...})


# ------------------------------------------------------------------------------ the file


def test_halt_with_a_sleeve_parses_and_round_trips() -> None:
    received = parse_command(_raw(), NOW, 60)

    assert received.refusal is None
    assert received.command == Command("abc", CommandKind.HALT, NOW, "ui", "mom")
    assert received.command.to_json() == json.loads(_raw())


def test_a_command_without_a_sleeve_writes_none() -> None:
    command = Command("abc", CommandKind.RESUME, NOW, "ui")

    assert set(command.to_json()) == {"id", "command", "issued_at", "source"}
    assert parse_command(json.dumps(command.to_json()), NOW, 60).command == command


def test_resume_takes_a_sleeve_or_none() -> None:
    one = parse_command(_raw(command="RESUME"), NOW, 60).command
    every = parse_command(_raw(command="RESUME", sleeve=...), NOW, 60).command

    assert one is not None
    assert one.sleeve == "mom"
    assert every is not None
    assert every.sleeve is None


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({"sleeve": ...}, "HALT needs a sleeve: field 'sleeve' is missing"),
        ({"sleeve": ""}, "field 'sleeve' is '', not a non-empty string"),
        ({"sleeve": "  "}, "field 'sleeve' is '  ', not a non-empty string"),
        ({"sleeve": None}, "field 'sleeve' is None, not a non-empty string"),
        ({"sleeve": 3, "command": "RESUME"}, "field 'sleeve' is 3, not a non-empty string"),
        ({"sleeve": ["mom"]}, "field 'sleeve' is ['mom'], not a non-empty string"),
    ],
)
def test_a_bad_sleeve_is_refused_naming_the_field(fields: dict[str, Any], refusal: str) -> None:
    received = parse_command(_raw(**fields), NOW, 60)

    assert received.command is None
    assert received.refusal == refusal
    assert received.id == "abc"


@pytest.mark.parametrize("kind", ["CANCEL", "FLAT", "STOP"])
def test_account_wide_commands_take_no_sleeve(kind: str) -> None:
    received = parse_command(_raw(command=kind), NOW, 60)

    assert received.command is None
    assert received.refusal is not None
    assert received.refusal.startswith(f"{kind} takes no sleeve (sleeve 'mom')")
    assert "act on the whole account" in received.refusal


def test_send_command_queues_the_sleeve(tmp_path: Path) -> None:
    sent = send_command(tmp_path, CommandKind.HALT, source="test", sleeve="mom")

    [path] = (tmp_path / INBOX).glob("*.json")
    on_disk = json.loads(path.read_text())
    assert on_disk["sleeve"] == "mom"
    assert on_disk["command"] == "HALT"
    assert parse_command(path.read_text(), sent.issued_at, 60).command == sent


# ------------------------------------------------------------------------------ the worker


BOOK = Book(
    (Sleeve("mom", Fixed({"A": 0.5, "B": 0.4}), 1), Sleeve("rev", Fixed({"C": 0.9}), 1)),
    name="core",
)


def _worker(tmp_path: Path, book: Book | None) -> Worker:
    cfg = load_config(
        "live", [f"paths.data_dir={tmp_path}", "risk.max_position_weight=null"], environ={}
    )
    data = market(CLOSES)
    clock = ReplayClock("America/New_York")
    clock.at(dt.date(2010, 1, 5), ReplayClock.CLOSE)
    live = tmp_path / "live"
    broker = SimBroker(
        data.symbol_index, 100_000.0, CostModel(), "pro_rata", False, clock, live / "sim.json"
    )
    journal = Journal(live / "journal.duckdb")
    options = WorkerOptions(book=book)  # --book: the worker builds its LiveBook
    built = Worker(cfg, data, Fixed({"A": 0.3}), broker, live, journal, options, clock=clock)
    built.start()
    return built


@pytest.fixture
def worker(tmp_path: Path) -> Worker:
    built = _worker(tmp_path, BOOK)
    assert isinstance(built.book, LiveBook)
    return built


def _live(worker: Worker) -> LiveBook:
    assert worker.book is not None  # a worker started with a book
    return worker.book


def _send(worker: Worker, kind: str, sleeve: str | None = None) -> str:
    command = send_command(worker.live_dir, kind, source="test", now=worker.wall(), sleeve=sleeve)
    worker.heartbeat()
    return command.id


def _state(worker: Worker) -> dict[str, Any]:
    state = read_state(worker.live_dir)
    assert state is not None
    return state


def _ack(worker: Worker) -> dict[str, Any]:
    ack: dict[str, Any] = _state(worker)["commands"][-1]
    return ack


def _sleeves(worker: Worker) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in _state(worker)["book"]["sleeves"]}


def test_halt_stops_one_sleeve_and_leaves_the_worker_and_the_others(worker: Worker) -> None:
    book = _live(worker)
    reason = worker.reason

    ident = _send(worker, "HALT", "mom")

    assert book.halted("mom")
    assert not book.halted("rev")
    assert worker.state is WorkerState.RUNNING
    assert worker.reason == reason
    assert not (worker.live_dir / HALT_FILE).exists()
    assert not (worker.live_dir / LATCH_FILE).exists()
    ack = _ack(worker)
    assert ack["accepted"] is True
    assert ack["id"] == ident
    assert ack["command"] == "HALT"
    assert ack["sleeve"] == "mom"
    assert ack["result"] == HALTED
    sleeves = _sleeves(worker)
    assert sleeves["mom"]["state"] == "halted"
    assert sleeves["mom"]["reason"] == f"HALT {ident}"
    assert sleeves["rev"]["state"] != "halted"
    assert _state(worker)["worker"]["state"] == "RUNNING"


def test_a_halted_sleeve_requests_nothing_while_the_others_trade(worker: Worker) -> None:
    _send(worker, "HALT", "mom")
    data, n = worker.data, len(worker.data.symbols)

    decision = _live(worker).decide(
        1, data.panels["close"][0], np.zeros(n), np.zeros(n, dtype=bool)
    )

    mom, rev = decision.requests
    assert not mom.any()
    assert rev[list(data.symbols).index("C")] > 0


def test_resume_of_a_sleeve_lifts_its_halt_only(worker: Worker) -> None:
    _send(worker, "HALT", "mom")
    worker.transition(WorkerState.HALTED, "risk limit daily_loss: test")

    _send(worker, "RESUME", "mom")

    assert not _live(worker).halted("mom")
    assert worker.state is WorkerState.HALTED  # the account's halt stays
    assert (worker.live_dir / HALT_FILE).exists()
    ack = _ack(worker)
    assert ack["accepted"] is True
    assert ack["result"] == (
        "sleeve mom resumed: it decides again from its next rebalance; "
        "the worker itself stays HALTED: no sleeve trades until RESUME"
    )


def test_resume_without_a_sleeve_leaves_a_halted_sleeve_halted(worker: Worker) -> None:
    _send(worker, "HALT", "mom")
    worker.transition(WorkerState.HALTED, "FLAT test")

    _send(worker, "RESUME")

    assert worker.state is WorkerState.RUNNING  # today's RESUME
    assert not (worker.live_dir / HALT_FILE).exists()
    assert _live(worker).halted("mom")
    assert _ack(worker)["result"] == "resumed: the strategy trades again"
    assert "sleeve" not in _ack(worker)


def test_resume_of_a_sleeve_not_halted_says_so(worker: Worker) -> None:
    _send(worker, "RESUME", "rev")

    assert _ack(worker)["accepted"] is True
    assert _ack(worker)["result"] == "sleeve rev was not halted: nothing to resume"


def test_halt_twice_keeps_the_first_reason(worker: Worker) -> None:
    first = _send(worker, "HALT", "mom")

    _send(worker, "HALT", "mom")

    assert _ack(worker)["result"].startswith("sleeve mom already halted")
    assert _sleeves(worker)["mom"]["reason"] == f"HALT {first}"


@pytest.mark.parametrize("state", [WorkerState.STOPPED, WorkerState.DISCONNECTED])
def test_a_sleeve_halts_in_any_worker_state(worker: Worker, state: WorkerState) -> None:
    worker.transition(state, "test")

    _send(worker, "HALT", "rev")

    assert _live(worker).halted("rev")
    assert worker.state is state
    assert worker.reason == "test"
    assert _ack(worker)["accepted"] is True
    assert _ack(worker)["result"].startswith("sleeve rev halted")


def test_an_unknown_sleeve_is_refused_and_the_worker_carries_on(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    _send(worker, "HALT", "momentum")

    ack = _ack(worker)
    assert ack["accepted"] is False
    assert ack["command"] == "HALT"
    assert ack["sleeve"] == "momentum"
    assert ack["result"] == "refused: unknown sleeve 'momentum'; the book's sleeves: mom, rev"
    assert log_has(caplog, "unknown sleeve 'momentum'", logging.WARNING)
    assert not _live(worker).halted("mom")
    assert not _live(worker).halted("rev")
    assert worker.state is WorkerState.RUNNING
    _send(worker, "HALT", "mom")  # the next command is taken as usual
    assert _ack(worker)["result"] == HALTED


def test_a_sleeve_command_to_a_worker_without_a_book_is_refused(tmp_path: Path) -> None:
    worker = _worker(tmp_path, None)  # a plain strategy

    _send(worker, "RESUME", "mom")

    ack = _ack(worker)
    assert ack["accepted"] is False
    assert ack["result"].startswith("refused: sleeve 'mom': this worker runs no book")
    assert _state(worker)["book"] is None
    assert worker.state is WorkerState.RUNNING


def _drop(worker: Worker, raw: dict[str, Any]) -> None:
    (worker.live_dir / INBOX / inbox_name()).write_text(json.dumps(raw))
    worker.heartbeat()


def test_malformed_sleeve_commands_are_refused_and_audited(worker: Worker) -> None:
    at = worker.wall().isoformat()
    base = {"issued_at": at, "source": "test"}

    _drop(worker, {**base, "id": "h1", "command": "HALT"})
    no_sleeve = _ack(worker)
    _drop(worker, {**base, "id": "f1", "command": "FLAT", "sleeve": "mom"})
    flat = _ack(worker)

    assert no_sleeve["accepted"] is False
    assert no_sleeve["result"] == "refused: HALT needs a sleeve: field 'sleeve' is missing"
    assert flat["accepted"] is False
    assert "FLAT takes no sleeve (sleeve 'mom')" in flat["result"]
    assert worker.state is WorkerState.RUNNING  # no FLAT was executed
    assert not _live(worker).halted("mom")
    audit = [json.loads(line) for line in (worker.live_dir / AUDIT_FILE).read_text().splitlines()]
    assert [(a["id"], a["accepted"]) for a in audit[-2:]] == [("h1", False), ("f1", False)]
    assert list((worker.live_dir / INBOX).glob("*.json")) == []  # each taken once


def test_the_audit_log_names_the_sleeve(worker: Worker) -> None:
    ident = _send(worker, "HALT", "mom")

    lines = (worker.live_dir / AUDIT_FILE).read_text().splitlines()
    last = json.loads(lines[-1])
    assert (last["id"], last["sleeve"], last["accepted"]) == (ident, "mom", True)


def test_the_state_file_holds_the_books_sleeves(worker: Worker) -> None:
    worker.replay(1, 2)  # the book decides, fills and marks its first sessions

    state = load_state(worker.live_dir)

    assert state is not None
    assert state.book is not None
    assert state.book == _live(worker).status()
    held = {s.name: {p.symbol for p in s.positions} for s in state.book.sleeves}
    assert held == {"mom": {"A", "B"}, "rev": {"C"}}
