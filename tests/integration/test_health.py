"""run_live_strategy.py --health as a monitor runs it: a subprocess reading a worker's state."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from quant_core.live.files import STATE_FILE, read_state, send_command
from quant_core.live.health import check_health

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NO_OVERRIDES = {k: v for k, v in os.environ.items() if not k.startswith("QC__")}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("health")
    env = {**NO_OVERRIDES, "QC__PATHS__DATA_DIR": str(root)}
    subprocess.run(
        [sys.executable, str(ROOT / "run_data_sync.py")], env=env, check=True, capture_output=True
    )
    return root / "warehouse"


def _env(data_dir: Path, warehouse: Path) -> dict[str, str]:
    if not (data_dir / "warehouse").exists():
        (data_dir / "warehouse").symlink_to(warehouse)
    return {**NO_OVERRIDES, "QC__PATHS__DATA_DIR": str(data_dir), "QC__LIVE__HEARTBEAT_S": "0.2"}


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_live_strategy.py"), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(
    live: Path, proc: subprocess.Popen[bytes], until: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (state := read_state(live)) is None or not until(state):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    return state


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    code = proc.wait(30)
    assert proc.stderr is not None
    proc.stderr.close()
    return code


def health(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """--health as a timer runs it: the data_dir given by --set, nothing else in the environment."""
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_live_strategy.py"),
            "--health",
            "--set",
            f"paths.data_dir={data_dir}",
            *args,
        ],
        env=NO_OVERRIDES,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    (line,) = result.stdout.splitlines()
    return line


@pytest.fixture(scope="module")
def running_state(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The state file of a real worker, RUNNING, as it was while the worker ran."""
    data_dir = tmp_path_factory.mktemp("running")
    proc = _start(_env(data_dir, warehouse))
    try:
        state = _wait(data_dir / "live", proc, lambda s: s["worker"]["state"] == "RUNNING")
    finally:
        _stop(proc)
    return state


def _write(data_dir: Path, state: dict[str, Any], /, **worker: Any) -> Path:
    live = data_dir / "live"
    live.mkdir(parents=True, exist_ok=True)
    doc = json.loads(json.dumps(state))
    doc["worker"].update(worker)
    (live / STATE_FILE).write_text(json.dumps(doc))
    return live


def _ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat()


def test_a_worker_through_running_halted_stop_and_a_latched_restart(
    tmp_path: Path, warehouse: Path
) -> None:
    env = _env(tmp_path, warehouse)
    live = tmp_path / "live"
    proc = _start(env)
    try:
        running = _wait(live, proc, lambda s: s["worker"]["state"] == "RUNNING")
        result = health(tmp_path)
        assert result.returncode == 0, result.stderr
        line = _one_line(result)
        assert re.fullmatch(
            rf"ok: heartbeat \d s old \(max 60 s\), state RUNNING, pid {proc.pid}", line
        ), line
        assert running["worker"]["pid"] == proc.pid

        send_command(live, "FLAT", source="test")  # FLAT leaves the worker HALTED: still up
        _wait(live, proc, lambda s: s["worker"]["state"] == "HALTED")
        result = health(tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "state HALTED (" in _one_line(result)

        send_command(live, "STOP", source="test")
        code = proc.wait(30)
    finally:
        _stop(proc)
    assert code == 0  # a STOP ends the worker with 0: systemd's Restart=on-failure leaves it down
    assert (live / "stopped.latch").exists()
    result = health(tmp_path)
    assert result.returncode == 1
    assert _one_line(result).startswith("unhealthy: the worker has exited (STOP ")

    # A crash, a reboot: systemd starts it again, and it comes up STOPPED by its latch.
    proc = _start(env)
    try:
        _wait(live, proc, lambda s: s["worker"]["pid"] == proc.pid and not s["worker"]["exited"])
        result = health(tmp_path)
        assert proc.poll() is None  # alive, heartbeating, not trading
    finally:
        code = _stop(proc)
    assert code == 130  # systemctl stop: SIGTERM, exit 130 (SuccessExitStatus, never restarted)
    assert result.returncode == 1
    line = _one_line(result)
    assert line.startswith("unhealthy: STOPPED, latched: latched by an earlier STOP"), line
    assert re.search(rf"heartbeat \d s old \(max 60 s\), state STOPPED, pid {proc.pid}$", line)


def test_the_worker_tells_systemd_ready_watchdog_and_stopping(
    tmp_path: Path, warehouse: Path
) -> None:
    # The socket systemd binds for a Type=notify unit, with WatchdogSec=1 (a ping every 0.5 s).
    notify = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify))
        sock.settimeout(60)
        env = {**_env(tmp_path, warehouse), "NOTIFY_SOCKET": str(notify)}
        env["WATCHDOG_USEC"] = "1000000"
        proc = _start(env)
        try:
            messages = [sock.recv(4096).decode()]
            while not messages[-1].startswith("READY=1\nSTATUS="):  # once up and reconciled
                messages.append(sock.recv(4096).decode())
            ready = len(messages)
            while sum(m.startswith("WATCHDOG=1") for m in messages[ready:]) < 3:
                messages.append(sock.recv(4096).decode())
        finally:
            code = _stop(proc)
        assert code == 130
        sock.settimeout(5)
        while not messages[-1].startswith("STOPPING=1"):
            messages.append(sock.recv(4096).decode())
    assert "WATCHDOG=1\nSTATUS=RUNNING: connected" in messages


def test_a_stale_heartbeat_is_unhealthy_and_says_its_age(
    tmp_path: Path, running_state: dict[str, Any]
) -> None:
    _write(tmp_path, running_state, heartbeat_at=_ago(312))
    result = health(tmp_path)
    assert result.returncode == 1
    line = _one_line(result)
    match = re.fullmatch(
        r"unhealthy: heartbeat (\d+) s old \(max 60 s\), state RUNNING, pid \d+", line
    )
    assert match, line
    assert 312 <= int(match[1]) < 340
    # The limit is live.health_max_age_s, set like any config value.
    assert health(tmp_path, "--set", "live.health_max_age_s=600").returncode == 0


def test_a_fresh_disconnected_worker_is_riding_out_a_gateway_restart(
    tmp_path: Path, running_state: dict[str, Any]
) -> None:
    reason = "IB connection lost (IB Gateway restarting); reconnecting"
    _write(tmp_path, running_state, state="DISCONNECTED", reason=reason, heartbeat_at=_ago(5))
    result = health(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"state DISCONNECTED ({reason})" in _one_line(result)
    _write(tmp_path, running_state, state="DISCONNECTED", reason=reason, heartbeat_at=_ago(90))
    assert health(tmp_path).returncode == 1  # a reconnect loop that stopped beating is not


def test_no_state_file_and_a_torn_one_are_unhealthy(tmp_path: Path) -> None:
    result = health(tmp_path)
    assert result.returncode == 1
    assert result.stderr == ""  # the config loader's INFO lines stay out of a timer's journal
    assert _one_line(result) == (
        f"unhealthy: no state file {tmp_path / 'live' / STATE_FILE} "
        "(the worker has not run with this data_dir)"
    )
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / STATE_FILE).write_text('{"schema_version": 1, "worker": {"pid"')
    result = health(tmp_path)
    assert result.returncode == 1
    assert "is unreadable" in _one_line(result)


def test_health_writes_nothing_and_connects_to_nothing(
    tmp_path: Path, running_state: dict[str, Any]
) -> None:
    _write(tmp_path, running_state, heartbeat_at=_ago(1))

    def snapshot() -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(tmp_path)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in tmp_path.rglob("*")
        }

    before = snapshot()
    # An IB worker's config: a broker connection would be refused (nothing listens on port 9).
    result = health(tmp_path, "--set", "live.broker=ib", "--set", "ib.port=9")
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot() == before  # no worker.log, no lock, nothing touched
    assert "connect" not in result.stderr.lower()


@pytest.mark.parametrize(
    "flags",
    [
        ["--once"],
        ["--resume"],
        ["--live"],
        ["--replay", "2010-03-01:2010-03-31"],
        ["--once", "--force-rebalance"],
    ],
)
def test_health_refuses_the_worker_flags(tmp_path: Path, flags: list[str]) -> None:
    result = health(tmp_path, *flags)
    assert result.returncode == 2
    assert f"--health only reads the state; it does not combine with {flags[0]}" in result.stderr
    assert result.stdout == ""


def test_a_bad_config_value_is_exit_2_not_a_verdict(tmp_path: Path) -> None:
    result = health(tmp_path, "--set", "live.health_max_age_s=-5")
    assert result.returncode == 2
    assert result.stdout == ""


# ------------------------------------------------------------------ check_health, directly

NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("worker", "ok", "expected"),
    [
        ({"state": "RUNNING"}, True, "ok: heartbeat 3 s old (max 60 s), state RUNNING, pid 77"),
        (
            {"state": "CONNECTING", "reason": "connecting to the ib-paper broker"},
            True,
            "ok: heartbeat 3 s old (max 60 s), state CONNECTING (connecting to the ib-paper "
            "broker), pid 77",
        ),
        (
            {"state": "RUNNING", "heartbeat_at": "2026-12-07T14:59:00+00:00"},
            True,
            "ok: heartbeat 60 s old (max 60 s), state RUNNING, pid 77",
        ),
        (
            {"state": "RUNNING", "heartbeat_at": "2026-12-07T14:58:59+00:00"},
            False,
            "unhealthy: heartbeat 61 s old (max 60 s), state RUNNING, pid 77",
        ),
        (
            {"state": "RUNNING", "heartbeat_at": "2026-12-07T15:02:00+00:00"},
            False,
            "unhealthy: the heartbeat is in the future: check this machine's clock; heartbeat "
            "120 s in the future (max 60 s old), state RUNNING, pid 77",
        ),
        (
            {"state": "STOPPED", "reason": "STOP abc: no order or position touched"},
            False,
            "unhealthy: STOPPED: STOP abc: no order or position touched; heartbeat 3 s old "
            "(max 60 s), state STOPPED, pid 77",
        ),
        (
            {"state": "RUNNING", "exited": True, "reason": "connected"},
            False,
            "unhealthy: the worker has exited (connected); heartbeat 3 s old (max 60 s), "
            "state RUNNING, pid 77",
        ),
    ],
)
def test_check_health_verdicts(
    tmp_path: Path, running_state: dict[str, Any], worker: dict[str, Any], ok: bool, expected: str
) -> None:
    fields = {"pid": 77, "heartbeat_at": "2026-12-07T14:59:57+00:00", "exited": None, **worker}
    live = _write(tmp_path, running_state, **fields)
    assert check_health(live, NOW, 60.0) == (ok, expected)


def test_check_health_names_a_field_it_cannot_read(
    tmp_path: Path, running_state: dict[str, Any]
) -> None:
    live = _write(tmp_path, running_state, heartbeat_at="yesterday")
    ok, line = check_health(live, NOW, 60.0)
    assert not ok
    assert line.startswith(f"unhealthy: {live / STATE_FILE}: ")
    assert "heartbeat_at" in line
    doc = json.loads((live / STATE_FILE).read_text())
    (live / STATE_FILE).write_text(json.dumps({**doc, "schema_version": 2}))
    assert check_health(live, NOW, 60.0) == (
        False,
        f"unhealthy: {live / STATE_FILE} has schema_version 2; this check reads 1",
    )
