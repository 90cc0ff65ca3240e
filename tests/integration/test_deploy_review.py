"""Review of deploy/ (issue 15): the exit paths systemd sees, the --once overlap, install.sh.

systemd's rules these tests stand on (systemd.service(5), checked against systemd 252 run in a
PID namespace during the review):

- ``RestartPreventExitStatus=`` is tested before anything else when a service ends, even after
  a start-up timeout: a worker hung before READY=1 gets SIGTERM from ``TimeoutStartSec=``, exits
  130 through its SIGTERM handler, and with 130 in that list it is left ``failed (Result:
  timeout)``, never restarted. ``SuccessExitStatus=130`` alone already keeps a worker stopped by
  ``systemctl stop`` or a plain ``kill`` down (a success is never restarted by on-failure).
- ``systemctl is-active`` answers "not active" (exit 3) for a unit in ``activating``, which is
  where a worker waiting out ``RestartSec=`` after a crash sits (``activating (auto-restart)``).
"""

from __future__ import annotations

import getpass
import os
import shlex
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from quant_core.cli import ExitCode

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PYTHON = ROOT / ".venv" / "bin" / "python"


def _install(dest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUDO_USER"}
    command = ["bash", str(DEPLOY / "install.sh"), "--dest", str(dest)]
    command += ["--user", getpass.getuser(), "--python", str(PYTHON), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("units")
    result = _install(dest)
    assert result.returncode == 0, result.stderr
    return dest


def _service(unit: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = defaultdict(list)
    section = ""
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#") and section == "Service":
            key, _, value = line.partition("=")
            settings[key].append(value)
    return settings


# ------------------------------------------------------------------- the worker's exit paths


def test_a_worker_killed_by_its_start_timeout_is_restarted(rendered: Path) -> None:
    service = _service(rendered / "quant-worker.service")
    prevented = {int(code) for line in service["RestartPreventExitStatus"] for code in line.split()}
    succeeded = {int(code) for line in service["SuccessExitStatus"] for code in line.split()}
    # A hang before READY=1: TimeoutStartSec's SIGTERM, the worker's clean exit 130. The
    # result is "timeout", a failure: Restart=on-failure restarts it unless 130 is prevented.
    assert ExitCode.INTERRUPTED not in prevented
    # systemctl stop, or a kill: exit 130 is a success, which on-failure never restarts.
    assert ExitCode.INTERRUPTED in succeeded
    assert service["Restart"] == ["on-failure"]
    assert service["TimeoutStartSec"] != []  # the hang has a bound


# ---------------------------------------------------------------- --once and the service


def _condition(rendered: Path) -> list[str]:
    (line,) = _service(rendered / "quant-worker-once.service")["ExecCondition"]
    return shlex.split(line.replace("$$", "$"))


def _fake_systemctl(bin_dir: Path, active_state: str) -> None:
    # is-active: 0 only for active/reloading (systemctl's own rule); show prints the state.
    active = active_state in ("active", "reloading")
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "systemctl").write_text(
        "#!/bin/sh\n"
        f'case "$1" in is-active) exit {0 if active else 3} ;; '
        f"show) echo {active_state} ;; *) exit 1 ;; esac\n"
    )
    (bin_dir / "systemctl").chmod(0o755)


@pytest.mark.parametrize(
    ("state", "skipped"),
    [
        ("active", True),
        ("reloading", True),
        ("activating", True),  # READY not sent yet, or waiting out RestartSec after a crash
        ("deactivating", True),  # still stopping: it holds the worker lock
        ("inactive", False),
        ("failed", False),
    ],
)
def test_the_once_cycle_waits_for_a_worker_that_is_starting_or_restarting(
    rendered: Path, tmp_path: Path, state: str, skipped: bool
) -> None:
    # A --once that slipped in while the service restarts would take the worker lock; the
    # service's next start would then end with exit 2 (another worker), which its
    # RestartPreventExitStatus keeps down for good.
    _fake_systemctl(tmp_path / "bin", state)
    result = subprocess.run(
        _condition(rendered),
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"},
        timeout=30,
    )
    assert result.returncode == (1 if skipped else 0), result.stderr
    assert ("--once skipped" in result.stdout) is skipped


# --------------------------------------------------------------------------- install.sh


@pytest.mark.parametrize(
    ("args", "said"),
    [
        # Baked into ExecStart, --resume would lift the STOP latch at every boot and restart.
        ("--resume", "--resume"),
        ("--live --resume", "--resume"),
        # The health check and the cockpit would read another data_dir than the worker.
        ("--set paths.data_dir=/srv/other", "--set"),
        ("--once", "--once"),
    ],
)
def test_install_refuses_worker_args_that_break_the_units(
    tmp_path: Path, args: str, said: str
) -> None:
    result = _install(tmp_path / "units", "--worker-args", args)
    assert result.returncode == 2, result.stdout
    assert f"--worker-args: {said}" in result.stderr
    assert not (tmp_path / "units").exists()


def test_install_still_takes_live(tmp_path: Path) -> None:
    result = _install(tmp_path / "units", "--worker-args", "--live")
    assert result.returncode == 0, result.stderr
    service = _service(tmp_path / "units" / "quant-worker.service")
    assert service["ExecStart"] == [f"{PYTHON} {ROOT}/run_live_strategy.py --live"]
