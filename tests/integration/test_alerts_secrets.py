"""Alert URLs are secrets: a worker run as a user runs it pages, and prints none of them.

``run_live_strategy.py --replay`` with ``config/secrets.yaml`` holding two apprise URLs (a
local webhook that takes the alerts, and a service that is down, both with a password and a
token made of a marker), DEBUG logs: every session's daily report reaches the webhook once,
the failures to the dead service are logged, and the marker appears in no output, no log, no
state file, no journal and no stored config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.alerts.servers import Webhook, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MARKER = "Al3rt-MARKER-5c7d"
REPLAY = ("2010-03-01", "2010-03-12")


@pytest.fixture
def hook() -> Iterator[Webhook]:
    server = Webhook().start()
    yield server
    server.stop()


def _run(script: str, args: list[str], env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def _holding_marker(folder: Path) -> list[Path]:
    found = []
    for directory, _, names in os.walk(folder):  # not into the warehouse's symlink
        for name in names:
            path = Path(directory) / name
            if MARKER.encode() in path.read_bytes():
                found.append(path)
    return found


def test_a_replay_pages_every_daily_report_and_prints_no_url(tmp_path: Path, hook: Webhook) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QC_")}
    env.update(QC__PATHS__DATA_DIR=str(data))
    code, output = _run("run_data_sync.py", ["--source", "sample"], env)
    assert code == 0, output

    config = tmp_path / "config"
    config.mkdir()
    for name in ("base.yaml", "backtest.yaml", "live.yaml"):
        shutil.copy(ROOT / "config" / name, config / name)
    taken = hook.url(path=f"{MARKER}-token/x", auth=f"hookuser:{MARKER}-pw@")
    dead = f"json://alerts:{MARKER}-pw@127.0.0.1:{free_port()}/{MARKER}-down"
    (config / "secrets.yaml").write_text(f"alerts:\n  urls:\n    - '{taken}'\n    - '{dead}'\n")
    env.update(QC_CONFIG_DIR=str(config), QC__LOGGING__LEVEL="DEBUG")

    code, live = _run("run_live_strategy.py", ["--replay", ":".join(REPLAY)], env)
    assert code == 0, live
    code, backtest = _run("run_backtest.py", [f"--set=backtest.start={REPLAY[0]}"], env)
    assert code == 0, backtest

    state = json.loads((data / "live" / "dashboard_state.json").read_text())
    closes = [row["session"] for row in state["daily"]]  # every close the worker recorded
    assert len(closes) >= 8
    assert closes[-1] == REPLAY[1]
    assert Counter(hook.titles()) == Counter(f"Daily report {day}" for day in closes)
    assert all(hit.path == f"/{MARKER}-token/x" for hit in hook.hits)  # the URL was used

    assert " DEBUG " in live  # the level reached the loggers: apprise's included
    assert "service 2 (json)" in live  # the dead one: its failures logged, by number
    for output in (live, backtest):
        assert MARKER not in output
    assert _holding_marker(data) == []  # logs, state, journal, the stored config
    stored = list((data / "backtests").glob("*/config.json"))
    assert len(stored) == 1
    assert json.loads(stored[0].read_text())["alerts"]["urls"] == ["*" * 10] * 2
