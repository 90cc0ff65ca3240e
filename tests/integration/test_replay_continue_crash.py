"""A replay killed between its broker's fills and their journal rows, then continued.

The simulated account is saved with the open's executions; a kill before the journal's
transaction commits leaves them out of the journal. Continued (``--continue`` from the next
session), the worker starts on the account's own moment, not the replay clock's 1970: it sees
that day's executions and journals them as recovered, as a live worker's restart does (found by
review: they were lost for good, and the journal's fills no longer added up to the positions).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from quant_core.live.crash_hook import ENV as CRASH_ENV
from quant_core.live.journal import Journal

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SPAN_END = "2010-06-30"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay-crash")
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(root)}
    sync = [sys.executable, str(ROOT / "run_data_sync.py")]
    subprocess.run(sync, env=env, check=True, capture_output=True, cwd=ROOT)
    return root / "warehouse"


def _worker(data_dir: Path, warehouse: Path, *args: str, crash: str | None = None) -> Any:
    if not (data_dir / "warehouse").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "warehouse").symlink_to(warehouse)
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env["QC__PATHS__DATA_DIR"] = str(data_dir)
    if crash is not None:
        env[CRASH_ENV] = crash
    command = [sys.executable, str(ROOT / "run_live_strategy.py"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, cwd=ROOT)


def _table(data_dir: Path, name: str) -> pd.DataFrame:
    journal = Journal(data_dir / "live" / "journal.duckdb")
    try:
        return journal.table(name)
    finally:
        journal.close()


def _account(data_dir: Path) -> dict[str, Any]:
    account: dict[str, Any] = json.loads((data_dir / "live" / "sim_account.json").read_text())
    return account


def test_a_replay_killed_before_journalling_its_fills_and_continued_recovers_them(
    tmp_path: Path, warehouse: Path
) -> None:
    data_dir = tmp_path / "w"
    killed = _worker(
        data_dir, warehouse, "--replay", f"2010-06-01:{SPAN_END}", crash="journaling_fills"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    account = _account(data_dir)
    day = dt.datetime.fromisoformat(account["as_of"]).date()
    lost = {e["exec_id"] for e in account["executions"]}
    assert lost  # the open's executions: in the account ...
    assert not lost & set(_table(data_dir, "fills")["exec_id"])  # ... not in the journal

    start = (pd.Timestamp(day) + pd.offsets.BDay(1)).date()  # no holiday in June 2010
    on = _worker(data_dir, warehouse, "--replay", f"{start}:{SPAN_END}", "--continue")
    assert on.returncode == 0, on.stderr[-3000:]

    fills = _table(data_dir, "fills")
    recovered = fills[fills["exec_id"].isin(lost)]
    assert set(recovered["exec_id"]) == lost
    assert recovered["recovered"].all()
    # Every share the account holds is in the journal's fills, and no other.
    signed = fills["quantity"].where(fills["side"] == "BUY", -fills["quantity"])
    net = signed.groupby(fills["symbol"]).sum()
    positions = pd.Series(_account(data_dir)["positions"], dtype=float)
    net = net[net != 0].sort_index()
    pd.testing.assert_series_equal(net, positions.sort_index(), check_names=False)
    # One equity row per close: the continued replay's first close is not recorded twice.
    equity = _table(data_dir, "equity")
    assert equity["ts"].is_unique, equity[equity["ts"].duplicated(keep=False)]


def test_a_continued_replay_records_each_close_once(tmp_path: Path, warehouse: Path) -> None:
    # The continued replay marks the close before its first session again (its decisions start
    # there); that close's equity row is the first part's, not recorded a second time.
    data_dir = tmp_path / "w"
    first = _worker(data_dir, warehouse, "--replay", "2010-06-01:2010-06-15")
    assert first.returncode == 0, first.stderr[-3000:]
    on = _worker(data_dir, warehouse, "--replay", f"2010-06-16:{SPAN_END}", "--continue")
    assert on.returncode == 0, on.stderr[-3000:]
    equity = _table(data_dir, "equity")
    assert equity["ts"].is_unique, equity[equity["ts"].duplicated(keep=False)]
    closes = pd.DatetimeIndex(equity["ts"]).tz_convert("America/New_York").date
    assert list(closes) == sorted(set(closes))  # one row per session, in order
