"""The worker as a process: SIGTERM, commands from two other processes, kill -9 mid-rebalance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from quant_core.live.files import read_state

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wp")
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(root)}
    subprocess.run(
        [sys.executable, str(ROOT / "run_data_sync.py")], env=env, check=True, capture_output=True
    )
    return root / "warehouse"


def _env(data_dir: Path, warehouse: Path) -> dict[str, str]:
    if not (data_dir / "warehouse").exists():
        (data_dir / "warehouse").symlink_to(warehouse)
    return {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir), "QC__LIVE__HEARTBEAT_S": "0.2"}


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_live_strategy.py"), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for_state(live: Path, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (state := read_state(live)) is None:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return state


def test_sigterm_stops_cleanly(tmp_path: Path, warehouse: Path) -> None:
    proc = _start(_env(tmp_path, warehouse))
    first = _wait_for_state(tmp_path / "live", proc)

    proc.send_signal(signal.SIGTERM)

    code = proc.wait(30)
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert code == 130, stderr
    last = read_state(tmp_path / "live")
    assert last is not None
    assert first["worker"]["state"] == "RUNNING"
    assert last["worker"]["state"] == "STOPPED"  # the final state says the worker is gone
    assert last["worker"]["reason"].startswith("worker exited while RUNNING")
    assert not (tmp_path / "live" / "stopped.latch").exists()  # a signal is not a STOP command
    assert "Worker finished" in (tmp_path / "live" / "worker.log").read_text()


SENDER = """
import sys
from pathlib import Path
from typing import Any
from quant_core.live.files import send_command
for i in range(50):
    send_command(Path(sys.argv[1]), "CANCEL", source=f"{sys.argv[2]}-{i}")
"""


def test_hundred_commands_from_two_processes_run_exactly_once(
    tmp_path: Path, warehouse: Path
) -> None:
    live = tmp_path / "live"
    proc = _start(_env(tmp_path, warehouse))
    try:
        _wait_for_state(live, proc)
        senders = [
            subprocess.Popen([sys.executable, "-c", SENDER, str(live), name], cwd=ROOT)
            for name in ("a", "b")
        ]
        assert all(s.wait(60) == 0 for s in senders)
        deadline = time.monotonic() + 30
        audit = live / "commands.log.jsonl"
        while time.monotonic() < deadline:
            acks = [json.loads(x) for x in audit.read_text().splitlines()] if audit.exists() else []
            if len(acks) >= 100:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert proc.stderr is not None
        proc.stderr.close()
    assert len(acks) == 100
    assert all(a["accepted"] for a in acks)
    assert len({a["id"] for a in acks}) == 100


def _book(live: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((live / "sim_account.json").read_text())["book"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return []


def _positions(live: Path) -> dict[str, float]:
    return json.loads((live / "sim_account.json").read_text())["positions"]


def test_kill_9_between_placing_and_filling_never_doubles_an_order(
    tmp_path: Path, warehouse: Path
) -> None:
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean = subprocess.run(
        [sys.executable, str(ROOT / "run_live_strategy.py"), "--once", "--force-rebalance"],
        env=_env(clean_dir, warehouse),
        capture_output=True,
        timeout=120,
    )
    assert clean.returncode == 0, clean.stderr
    expected = _positions(clean_dir / "live")
    assert len(expected) > 50

    caught = 0
    for attempt in range(6):
        data_dir = tmp_path / f"kill{attempt}"
        data_dir.mkdir()
        live = data_dir / "live"
        env = _env(data_dir, warehouse)
        proc = _start(env, "--once", "--force-rebalance")
        waiting = 0
        while proc.poll() is None:
            waiting = len(_book(live))
            if waiting:
                os.kill(proc.pid, signal.SIGKILL)  # orders placed, not yet filled
                break
        proc.wait(30)
        assert proc.stderr is not None
        proc.stderr.close()
        if not waiting:
            continue
        caught += 1
        again = subprocess.run(
            [sys.executable, str(ROOT / "run_live_strategy.py"), "--once", "--force-rebalance"],
            env=env,
            capture_output=True,
            timeout=120,
            text=True,
        )
        assert again.returncode == 0, again.stderr
        assert "not sending those again" in again.stderr
        assert _positions(live) == expected  # the killed run's orders filled once, none doubled
        assert _book(live) == []
        if caught >= 2:
            break
    assert caught >= 1, "no kill landed between placing and filling"


def test_a_reader_never_sees_a_torn_state_file_from_a_running_worker(
    tmp_path: Path, warehouse: Path
) -> None:
    env = {**_env(tmp_path, warehouse), "QC__LIVE__HEARTBEAT_S": "0.005"}
    proc = _start(env, "--once", "--force-rebalance")  # fill a book first
    proc.wait(60)
    assert proc.stderr is not None
    proc.stderr.close()
    proc = _start(env)
    live = tmp_path / "live"
    try:
        _wait_for_state(live, proc)
        # The --once run's file is there already: wait for this worker's own heartbeats.
        deadline = time.monotonic() + 60
        while (state := read_state(live)) is None or state["worker"]["pid"] != proc.pid:
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stamps = set()
        for _ in range(10_000):
            state = json.loads((live / "dashboard_state.json").read_text())  # raises if torn
            stamps.add(state["worker"]["heartbeat_at"])
        assert len(stamps) > 10  # the worker was rewriting the file all along
        assert len(state["positions"]) > 50
        assert state["rebalance"]["next"] is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert proc.stderr is not None
        proc.stderr.close()
