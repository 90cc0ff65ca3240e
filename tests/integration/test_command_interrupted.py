"""A worker killed while executing a command: at its restart the command is answered, not rerun.

The id is recorded before the command runs (at most once), and the command's answer reaches
the audit log after it ran. A kill between the two used to leave the audit log with a
"duplicate id, ignored" for a command it never answered: its one real answer was lost. The
command being executed is now named in ``command_taken.json`` until it is acknowledged, so the
restart answers it as interrupted, once, and still never runs it again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quant_core.live.files import (
    AUDIT_FILE,
    INBOX,
    TAKEN_FILE,
    append_audit,
    read_state,
    send_command,
)
from quant_core.live.inbox import CommandInbox
from quant_core.live.state import WorkerState
from quant_core.live.worker import Worker
from tests.integration.test_command_adversarial import _acks as _audit
from tests.integration.test_command_queue import ROOT
from tests.integration.test_command_queue import warehouse as warehouse  # a fixture
from tests.integration.test_worker import holding, make

pytestmark = pytest.mark.integration

CRASH_ENV = "QC_TEST_CRASH_AT"


def _held(worker: Worker) -> dict[str, float]:
    return {p.symbol: p.quantity for p in worker.broker.positions()}


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    built, broker, data = make(tmp_path)
    holding(built, broker, data)
    yield built
    built.journal.close()


def _killed_while_executing(worker: Worker, kind: str) -> str:
    """Leave the live folder as a worker killed right after taking a ``kind`` command."""
    sent = send_command(worker.live_dir, kind, source="operator")
    # The killed process's last step:
    CommandInbox(worker.live_dir).executing(sent, dt.datetime.now(dt.UTC))
    worker.inbox = CommandInbox(worker.live_dir)  # the restarted worker reads the folder
    return sent.id


def test_a_flat_interrupted_by_a_kill_is_answered_once_and_not_run_again(
    worker: Worker,
) -> None:
    held = _held(worker)
    assert held  # FLAT would close these
    ident = _killed_while_executing(worker, "FLAT")

    worker.heartbeat()

    audit = _audit(worker.live_dir)
    assert [(a["id"], a["command"], a["accepted"]) for a in audit] == [(ident, "FLAT", True)]
    assert audit[0]["result"].startswith("interrupted: the worker stopped while executing")
    assert "not run again" in audit[0]["result"]
    assert _held(worker) == held  # not run again: nothing closed
    assert worker.state is WorkerState.RUNNING  # FLAT would have halted it
    assert not (worker.live_dir / TAKEN_FILE).exists()
    assert list((worker.live_dir / INBOX).glob("*.json")) == []
    state = read_state(worker.live_dir)
    assert state is not None
    assert state["commands"][-1]["result"] == audit[0]["result"]

    worker.heartbeat()  # and answered once
    assert len(_audit(worker.live_dir)) == 1


def test_a_command_answered_before_the_kill_is_not_answered_again(worker: Worker) -> None:
    # Killed after the audit line, before the inbox file went: the answer is on record.
    ident = _killed_while_executing(worker, "CANCEL")
    answered = {"id": ident, "command": "CANCEL", "accepted": True, "result": "cancelled 1"}
    append_audit(worker.live_dir, answered)

    worker.heartbeat()

    audit = _audit(worker.live_dir)
    assert [a["result"] for a in audit] == ["cancelled 1", "duplicate id, ignored"]
    assert not (worker.live_dir / TAKEN_FILE).exists()


def test_a_torn_audit_line_does_not_count_as_the_answer(worker: Worker) -> None:
    ident = _killed_while_executing(worker, "CANCEL")
    with (worker.live_dir / AUDIT_FILE).open("w") as log:
        log.write(f'{{"id": "{ident}", "command": "CANC')  # the kill cut it

    worker.heartbeat()

    last = json.loads((worker.live_dir / AUDIT_FILE).read_text().splitlines()[-1])
    assert (last["id"], last["accepted"]) == (ident, True)
    assert last["result"].startswith("interrupted")


def test_a_command_taken_by_another_id_is_not_called_interrupted(worker: Worker) -> None:
    # A file re-read with a processed id that is not the one being executed: a plain duplicate.
    first = _killed_while_executing(worker, "CANCEL")
    worker.heartbeat()
    again = send_command(worker.live_dir, "CANCEL")
    (worker.live_dir / INBOX / "00000000000000000009-x.json").write_text(
        json.dumps({**again.to_json(), "id": first})
    )
    # Another command is the one being executed:
    worker.inbox.executing(again, dt.datetime.now(dt.UTC))

    worker.heartbeat()

    results = [(a["id"], a["result"]) for a in _audit(worker.live_dir)]
    assert results[1] == (first, "duplicate id, ignored")


# ------------------------------------------------------------------ the real process, killed


def _start(data_dir: Path, crash: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env |= {"QC__PATHS__DATA_DIR": str(data_dir), "QC__LIVE__HEARTBEAT_S": "0.2"}
    if crash is not None:
        env[CRASH_ENV] = crash
    with (data_dir / f"stderr-{crash}.log").open("wb") as err:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, str(ROOT / "run_live_strategy.py")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _stderr(data_dir: Path, crash: str | None = None) -> str:
    return (data_dir / f"stderr-{crash}.log").read_text(errors="replace")[-3000:]


def test_the_worker_process_killed_while_executing_flat_answers_it_at_restart(
    tmp_path: Path,
    warehouse: Path,  # the fixture imported above
) -> None:
    (tmp_path / "warehouse").symlink_to(warehouse)
    live = tmp_path / "live"
    sent = send_command(live, "FLAT", source="operator")  # waiting when the worker starts

    killed = _start(tmp_path, crash="executing_command")
    try:
        killed.wait(120)
    except subprocess.TimeoutExpired:
        killed.kill()  # it never reached the step
        killed.wait()
    assert killed.returncode == -signal.SIGKILL, _stderr(tmp_path, "executing_command")
    assert _audit(live) == []  # killed before any answer
    assert json.loads((live / TAKEN_FILE).read_text())["id"] == sent.id

    again = _start(tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not _audit(live):
            assert again.poll() is None, _stderr(tmp_path)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # a few more heartbeats: nothing more is answered
        state = read_state(live)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(30)

    audit = _audit(live)
    assert [(a["id"], a["command"], a["accepted"]) for a in audit] == [(sent.id, "FLAT", True)]
    assert audit[0]["result"].startswith("interrupted: the worker stopped while executing")
    assert state is not None
    assert state["worker"]["state"] != WorkerState.HALTED.value  # FLAT did not run
    assert not (live / TAKEN_FILE).exists()
    assert list((live / INBOX).glob("*.json")) == []
