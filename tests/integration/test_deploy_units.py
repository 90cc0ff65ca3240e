"""deploy/: install.sh renders the systemd units; systemd-analyze verifies them; their policies."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config import load_config
from quant_core.cli import ExitCode

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTALL = DEPLOY / "install.sh"
PYTHON = ROOT / ".venv" / "bin" / "python"
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
needs_analyze = pytest.mark.skipif(
    not Path(ANALYZE).exists(), reason="systemd-analyze is not installed here"
)
UNITS = [
    "quant-alert@.service",
    "quant-cockpit.service",
    "quant-health.service",
    "quant-health.timer",
    "quant-worker-once.service",
    "quant-worker-once.timer",
    "quant-worker.service",
]
USER = getpass.getuser()


def install(dest: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path or os.environ["PATH"]}
    env.pop("SUDO_USER", None)
    return subprocess.run(
        ["bash", str(INSTALL), "--dest", str(dest), "--user", USER, "--python", str(PYTHON), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("units")
    result = install(dest)
    assert result.returncode == 0, result.stderr
    return dest


def parse(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's settings by section, each key's values in order (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        sections[section][key].append(value)
    return sections


def _fake(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text("#!/bin/sh\n" + script)
    (bin_dir / name).chmod(0o755)


# --------------------------------------------------------------------------- verify


@needs_analyze
def test_every_rendered_unit_passes_systemd_analyze_verify(rendered: Path) -> None:
    assert sorted(p.name for p in rendered.iterdir()) == sorted(UNITS)
    result = subprocess.run(
        [ANALYZE, "verify", *sorted(str(p) for p in rendered.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=rendered,
    )
    # verify exits 0 on an unknown key or a value it cannot parse, but says so on stderr.
    ours = [line for line in result.stderr.splitlines() if "quant" in line]
    assert result.returncode == 0, result.stderr
    assert ours == []


@needs_analyze
@pytest.mark.parametrize(
    ("unit", "good", "bad", "said"),
    [
        ("quant-worker.service", "WatchdogSec=300", "WatchdogSec=30x0", "30x0"),
        ("quant-health.timer", "OnUnitActiveSec=1min", "OnUnitActivSec=1min", "OnUnitActivSec"),
        ("quant-cockpit.service", f"ExecStart={PYTHON}", "ExecStart=/nonexistent/python", "not"),
    ],
)
def test_verify_would_catch_a_broken_unit(
    rendered: Path, tmp_path: Path, unit: str, good: str, bad: str, said: str
) -> None:
    text = (rendered / unit).read_text()
    assert good in text
    (tmp_path / unit).write_text(text.replace(good, bad))
    result = subprocess.run(
        [ANALYZE, "verify", str(tmp_path / unit)], capture_output=True, text=True, timeout=60
    )
    assert said in result.stderr


# --------------------------------------------------------------------------- policies


def test_the_worker_restart_policy_respects_stop_and_usage_errors(rendered: Path) -> None:
    service = parse(rendered / "quant-worker.service")["Service"]
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert service["WatchdogSec"] == ["300"]
    assert service["Restart"] == ["on-failure"]  # exit 0 (a STOP, latched) is not restarted
    assert service["RestartSec"] == ["30"]
    prevented = {int(code) for code in service["RestartPreventExitStatus"][0].split()}
    assert {ExitCode.USAGE_ERROR, ExitCode.STRATEGY_ERROR} <= prevented
    # 130 is a success below (never restarted); prevented too, a start-up hung before READY
    # and stopped by TimeoutStartSec (the worker exits 130) would stay down for good.
    assert ExitCode.INTERRUPTED not in prevented
    assert ExitCode.DOMAIN_ERROR not in prevented  # no broker at start-up: try again
    assert ExitCode.INTERNAL_ERROR not in prevented  # a crash: restarted
    # systemctl stop sends SIGTERM; the worker exits 130, which is success, not a failure.
    assert service["SuccessExitStatus"] == [str(int(ExitCode.INTERRUPTED))]
    assert service["KillMode"] == ["mixed"]
    assert service["ExecStart"] == [f"{PYTHON} {ROOT}/run_live_strategy.py"]
    assert service["User"] == [USER]
    assert service["WorkingDirectory"] == [str(ROOT)]


def test_every_service_logs_to_the_journal_and_reads_one_env_file(rendered: Path) -> None:
    env_files = set()
    for unit in UNITS:
        if unit.endswith(".service"):
            service = parse(rendered / unit)["Service"]
            assert service["StandardOutput"] == ["journal"], unit
            assert service["StandardError"] == ["journal"], unit
            env_files.update(service.get("EnvironmentFile", []))
    # One optional (-), root-only file for QC__ variables: the health check reads the same
    # data_dir as the worker it checks.
    assert env_files == {"-/etc/quant-trading/quant.env"}


def test_health_runs_every_minute_and_alerts_on_failure(rendered: Path) -> None:
    health = parse(rendered / "quant-health.service")
    assert health["Service"]["ExecStart"] == [f"{PYTHON} {ROOT}/run_live_strategy.py --health"]
    assert health["Service"]["Type"] == ["oneshot"]
    assert health["Service"]["ProtectSystem"] == ["strict"]  # it writes nothing
    assert health["Unit"]["OnFailure"] == ["quant-alert@%n.service"]
    timer = parse(rendered / "quant-health.timer")["Timer"]
    assert timer["OnUnitActiveSec"] == ["1min"]
    assert timer["Unit"] == ["quant-health.service"]
    once = parse(rendered / "quant-worker-once.service")
    assert once["Unit"]["OnFailure"] == ["quant-alert@%n.service"]  # a stale --once exits 1
    assert once["Service"]["ExecStart"] == [f"{PYTHON} {ROOT}/run_live_strategy.py --once"]
    cockpit = parse(rendered / "quant-cockpit.service")["Service"]["ExecStart"][0]
    assert "--server.address=127.0.0.1" in cockpit


@needs_analyze
def test_the_once_timer_fires_on_weekdays_after_the_rebalance_time(rendered: Path) -> None:
    timer = parse(rendered / "quant-worker-once.timer")["Timer"]
    assert timer["Persistent"] == ["true"]
    (spec,) = timer["OnCalendar"]
    result = subprocess.run(
        [ANALYZE, "calendar", "--iterations", "15", spec],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    stamps = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", result.stdout)
    assert len(stamps) == 15
    zone = ZoneInfo("America/New_York")
    local = [dt.datetime.fromisoformat(s).replace(tzinfo=dt.UTC).astimezone(zone) for s in stamps]
    assert {t.weekday() for t in local} == {0, 1, 2, 3, 4}
    rebalance = load_config("live").live.rebalance_time
    assert {t.time() for t in local} == {dt.time(9, 45)}
    assert dt.time(9, 45) > rebalance


def test_no_unit_holds_a_secret(rendered: Path) -> None:
    secretish = re.compile(r"password|passwd|token|secret|api[_-]?key|://|QC__", re.IGNORECASE)
    for unit in UNITS:
        for raw in (rendered / unit).read_text().splitlines():
            line = raw.strip()
            if line.startswith(("#", "Documentation=file://")):
                continue
            assert not secretish.search(line), f"{unit}: {line}"
    # The environment file's example sets nothing: every QC__ line is a comment, its values
    # placeholders.
    for line in (DEPLOY / "quant.env.example").read_text().splitlines():
        assert not line.strip() or line.startswith("#"), line
        if "=" in line and line.startswith("#QC__"):
            value = line.partition("=")[2].strip("'")
            assert value.startswith(("<", "/", "ib", "4002", "America/")), line


# --------------------------------------------------------------------------- install.sh


def test_install_renders_every_placeholder_and_enables_nothing(tmp_path: Path) -> None:
    calls = tmp_path / "systemctl.calls"
    _fake(tmp_path / "bin", "systemctl", f'echo "$*" >> {calls}\n')
    dest = tmp_path / "units"
    path = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    result = install(dest, "--once-at", "10:05", "--worker-args", "--live", path=path)
    assert result.returncode == 0, result.stderr
    assert "Nothing enabled" in result.stdout
    assert not calls.exists()  # no daemon-reload, no enable, without --enable
    for unit in UNITS:
        text = (dest / unit).read_text()
        assert not re.search(r"@[A-Z_]+@", text), unit
        assert oct((dest / unit).stat().st_mode & 0o777) == "0o644"
    assert (
        f"ExecStart={PYTHON} {ROOT}/run_live_strategy.py --live\n"
        in (dest / "quant-worker.service").read_text()
    )
    assert (
        "OnCalendar=Mon..Fri *-*-* 10:05:00 America/New_York\n"
        in (dest / "quant-worker-once.timer").read_text()
    )
    assert not list(dest.glob(".*.tmp"))
    again = install(dest, path=path)  # rendering again replaces the files
    assert again.returncode == 0
    assert (
        f"ExecStart={PYTHON} {ROOT}/run_live_strategy.py\n"
        in (dest / "quant-worker.service").read_text()
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "worker",
            "daemon-reload\nenable --now quant-worker.service quant-cockpit.service "
            "quant-health.timer\n",
        ),
        ("once", "daemon-reload\nenable --now quant-worker-once.timer quant-cockpit.service\n"),
    ],
)
def test_install_enables_only_when_asked(tmp_path: Path, mode: str, expected: str) -> None:
    calls = tmp_path / "systemctl.calls"
    _fake(tmp_path / "bin", "systemctl", f'echo "$*" >> {calls}\n')
    path = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    result = install(tmp_path / "units", "--enable", mode, path=path)
    assert result.returncode == 0, result.stderr
    assert calls.read_text() == expected


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--user", "no-such-user-here"], "--user no-such-user-here does not exist"),
        (["--python", "/opt/my python"], "must be an absolute path"),
        (["--python", "/nonexistent/python"], "is not an executable"),
        (["--env-file", "/etc/quant%i.env"], "must be an absolute path"),
        (["--once-at", "25:00"], "--once-at '25:00' is not HH:MM"),
        (["--zone", "Mars/Olympus"], "is not a time zone"),
        (["--worker-args", "--live; rm -rf /"], "--worker-args"),
        (["--enable", "everything"], "--enable takes worker or once"),
        (["--frobnicate"], "unknown option --frobnicate"),
    ],
)
def test_install_refuses_a_bad_value_by_name(tmp_path: Path, args: list[str], said: str) -> None:
    result = install(tmp_path / "units", *args)
    assert result.returncode == 2
    assert said in result.stderr
    assert not (tmp_path / "units").exists()  # nothing written


# --------------------------------------------------------------------------- the shell lines


def _exec_line(unit: Path, key: str, instance: str) -> str:
    (value,) = parse(unit)["Service"][key]
    # What systemd hands to the program: $$ is a literal $, %i the instance name.
    return value.replace("$$", "$").replace("%i", instance)


def _run_exec(line: str, path: str) -> subprocess.CompletedProcess[str]:
    import shlex

    return subprocess.run(
        shlex.split(line), capture_output=True, text=True, env={"PATH": path}, timeout=30
    )


def test_the_alert_logs_the_failed_units_last_line(rendered: Path, tmp_path: Path) -> None:
    logged = tmp_path / "logger.args"
    bin_dir = tmp_path / "bin"
    _fake(
        bin_dir,
        "journalctl",
        '[ "$1" = _SYSTEMD_UNIT=quant-health.service ] || exit 1\n'
        'echo "unhealthy: heartbeat 312 s old (max 60 s), state RUNNING, pid 1234"\n',
    )
    _fake(bin_dir, "logger", f'printf "%s|" "$@" > {logged}\n')
    line = _exec_line(rendered / "quant-alert@.service", "ExecStart", "quant-health.service")
    result = _run_exec(line, f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert logged.read_text() == (
        "-p|user.crit|-t|quant-alert|--|quant-health.service failed: unhealthy: heartbeat 312 s "
        "old (max 60 s), state RUNNING, pid 1234|"
    )


@pytest.mark.parametrize(("active", "code"), [(True, 1), (False, 0)])
def test_the_once_cycle_is_skipped_while_the_worker_runs(
    rendered: Path, tmp_path: Path, active: bool, code: int
) -> None:
    bin_dir = tmp_path / "bin"
    _fake(bin_dir, "systemctl", f"exit {0 if active else 3}\n")  # is-active: 0 active, 3 not
    line = _exec_line(rendered / "quant-worker-once.service", "ExecCondition", "")
    result = _run_exec(line, f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode == code  # 1: systemd skips the unit without marking it failed
    assert ("--once skipped" in result.stdout) is active
