"""A secret is never printed: a marker secret through every config path and every entry point.

Each path (environment variable, ``--set``, ``secrets.yaml`` valid, broken and schema-invalid,
a secret-named key the schema does not know) goes through each entry point as a user runs it
(a subprocess, its own config folder, a data folder in a tmp dir, DEBUG logs where the config
loads). The marker must appear in no stdout, no stderr and no file written under the data dir
(logs, the worker's state and journal, stored backtest configs); the key and the source must.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MARKER = "S3cr3t-MARKER-91f2"
SCRIPTS = (
    "run_backtest.py",
    "run_live_strategy.py",
    "run_data_sync.py",
    "run_factor_computation.py",
)
ARGS = {"run_live_strategy.py": ["--once"]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets-data")


@pytest.fixture(scope="module")
def valid_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Secrets.yaml holding the marker (a SecretStr, an account id kept there), DEBUG logs."""
    secrets = f"cockpit: {{password_hash: {MARKER}}}\nib: {{account: {MARKER}}}\n"
    config = _config_dir(tmp_path_factory.mktemp("secrets-config"), secrets)
    data = tmp_path_factory.mktemp("secrets-synced")
    return _env(config, data, {"QC__LOGGING__LEVEL": "DEBUG"})


@pytest.fixture(scope="module")
def synced(valid_env: dict[str, str]) -> Path:
    """A data dir holding sp500-2010, synced under ``valid_env``; the output kept beside it."""
    data = Path(valid_env["QC__PATHS__DATA_DIR"])
    code, output = _finish(_start("run_data_sync.py", ["--source", "sample"], valid_env))
    assert code == 0, output
    (data / "sync-output.txt").write_text(output)
    return data


def _config_dir(tmp_path: Path, secrets: str | None) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    for name in ("base.yaml", "backtest.yaml", "live.yaml"):
        shutil.copy(ROOT / "config" / name, folder / name)
    if secrets is not None:
        (folder / "secrets.yaml").write_text(secrets)
    return folder


def _env(config: Path, data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QC_")}
    env.update(QC_CONFIG_DIR=str(config), QC__PATHS__DATA_DIR=str(data_dir), **extra)
    return env


def _start(script: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, str(ROOT / script), *ARGS.get(script, []), *args]
    return subprocess.Popen(
        command, env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout + stderr


def _files_holding_marker(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and MARKER.encode() in p.read_bytes()]


# Each case sends the marker down several paths at once: the error lists every bad key, so each
# key (and its source) must be named while the marker is printed by none of them.
CASES = {
    "env and --set": (
        {"QC__IB__PASSWORD": MARKER, "QC__IB__UNKNOWN": MARKER},
        ["--set", f"ib.api_key={MARKER}", "--set", f"ib.other={MARKER}"],
        f"ib: {{tws_timezone: {MARKER}}}\ncosts: {{model: {MARKER}}}\n",
        [
            "ib.password = '***' (from environment variable QC__IB__PASSWORD)",
            "ib.unknown = '***' (from environment variable QC__IB__UNKNOWN)",
            "ib.api_key = '***' (from --set ib.api_key)",
            "ib.other = '***' (from --set ib.other)",
            "ib.tws_timezone = '***' (from ",  # secrets.yaml, schema-invalid
            "costs = '***' (from ",
        ],
    ),
    "secrets.yaml broken": (
        {},
        [],
        f'ib:\n  host: x\n  password: "{MARKER}\n',
        ["secrets.yaml: not valid YAML: line 4"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_config_names_key_and_source_never_the_secret(
    case: str, tmp_path: Path, data_dir: Path
) -> None:
    extra, args, secrets, expected = CASES[case]
    env = _env(_config_dir(tmp_path, secrets), data_dir, extra)
    running = {script: _start(script, args, env) for script in SCRIPTS}
    for script, process in running.items():
        code, output = _finish(process)
        assert code == 2, f"{script}: {output}"
        for fragment in expected:
            assert fragment in output, f"{script}: {fragment!r} missing from\n{output}"
        assert MARKER not in output, f"{script} printed the secret:\n{output}"
    assert _files_holding_marker(data_dir) == []


def test_a_secret_named_strategy_parameter_is_not_echoed(tmp_path: Path, synced: Path) -> None:
    # The strategy's own parameter check quotes the value; the entry points' logs blank it.
    env = _env(_config_dir(tmp_path, None), synced, {})
    args = ["--set", f"strategy.params.api_key={MARKER}"]
    running = {s: _start(s, args, env) for s in ("run_backtest.py", "run_live_strategy.py")}
    for script, process in running.items():
        code, output = _finish(process)
        assert code == 2, f"{script}: {output}"
        assert "api_key = '***'" in output, f"{script}: {output}"
        assert MARKER not in output, f"{script} printed the secret:\n{output}"


def test_valid_secrets_reach_no_output_and_no_file(synced: Path, valid_env: dict[str, str]) -> None:
    # Every entry point runs for real at DEBUG with secrets.yaml holding the marker (a
    # SecretStr and an account id kept there); then every file under the data dir is read.
    outputs = [(synced / "sync-output.txt").read_text()]
    runs = [
        ("run_factor_computation.py", ["--factors", "momentum_126"]),
        ("run_backtest.py", []),
        ("run_live_strategy.py", ["--force-rebalance"]),
    ]
    for script, args in runs:
        code, output = _finish(_start(script, args, valid_env))
        assert code == 0, f"{script}: {output}"
        assert MARKER not in output, f"{script} printed the secret:\n{output}"
        outputs.append(output)
    assert any(" DEBUG " in output for output in outputs)  # the level reached the loggers

    stored = list((synced / "backtests").glob("*/config.json"))
    assert len(stored) == 1
    config = json.loads(stored[0].read_text())
    masked = "*" * 10
    assert config["cockpit"]["password_hash"] == masked
    assert config["ib"]["account"] == masked
    live = synced / "live"
    for name in ("dashboard_state.json", "journal.duckdb", "worker.log", "sim_account.json"):
        assert (live / name).is_file(), name
    assert json.loads((live / "dashboard_state.json").read_text())["fills_today"]
    assert _files_holding_marker(synced) == []
