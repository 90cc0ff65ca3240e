"""A kill -9 after a session's close row is journaled but before its report is: the restart,
the same evening, makes the report (the close row on record must not make it look done)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from quant_core.alerts.events import AlertEvent
from quant_core.live.crash_hook import ENV as CRASH_ENV
from quant_core.live.journal import Journal
from quant_core.live.replay import ReplayClock
from quant_core.live.report_files import html_name
from tests.factories import market
from tests.integration.test_worker_reports import CLOSES, ROOT, make, reports

pytestmark = pytest.mark.integration

# The start reports the first close; the replay reports it again, then the second close's
# report is killed inside its transaction (rolled back): that close's row is committed.
KILLED = """
import sys
from pathlib import Path
from tests.integration.test_worker_reports import make
make(Path(sys.argv[1])).replay(1, 3)
"""


def test_a_kill_after_the_close_row_before_the_report_is_made_up_at_restart(
    tmp_path: Path,
) -> None:
    env = {**os.environ, CRASH_ENV: "recording_report@3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", KILLED, str(tmp_path)], cwd=ROOT, env=env, check=False
    )
    assert done.returncode == -9
    first, second = (pd.Timestamp(d).date() for d in market(CLOSES).dates[:2])
    journal = Journal(tmp_path / "live" / "journal.duckdb")
    assert sorted(journal.table("daily_close")["session"]) == [first, second]
    assert journal.table("report_daily")["session"].tolist() == [first]
    journal.close()

    worker = make(tmp_path)  # the same account (sim.json), its clock then the same evening
    assert isinstance(worker.clock, ReplayClock)
    worker.clock.at(second, ReplayClock.CLOSE)
    worker.heartbeat()

    rows = worker.journal.table("report_daily")
    assert sorted(rows["session"]) == [first, second]
    assert (reports(tmp_path) / html_name(second)).is_file()
    daily = pd.read_parquet(reports(tmp_path) / "daily.parquet")
    assert daily["session"].tolist() == [first, second]
    sent = [s for s in worker.alerts.sent if s[0] is AlertEvent.DAILY_REPORT]  # type: ignore[attr-defined]
    assert [s[1] for s in sent] == [f"Daily report {second.isoformat()}"]
    closes = worker.journal.table("daily_close")
    assert sorted(closes["session"]) == [first, second]  # replaced, not doubled
    worker.heartbeat()  # made once: not due again
    assert len(worker.journal.table("report_daily")) == 2
    worker.journal.close()


STARTING = """
import sys
from pathlib import Path
from tests.integration.test_worker_reports import make
make(Path(sys.argv[1]))
"""


def test_a_kill_while_the_files_are_renamed_leaves_nothing_behind_after_restart(
    tmp_path: Path,
) -> None:
    # The first report's files: the first renamed, the others still temporary files.
    env = {**os.environ, CRASH_ENV: "renaming_reports@1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", STARTING, str(tmp_path)], cwd=ROOT, env=env, check=False
    )
    assert done.returncode == -9
    folder = reports(tmp_path)
    left = sorted(p.name for p in folder.iterdir())
    assert len(left) == 5
    assert sum(name.endswith(".tmp") for name in left) == 4

    worker = make(tmp_path)

    first = pd.Timestamp(market(CLOSES).dates[0]).date()
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        ["fills.parquet", "round_trips.parquet", "positions.parquet", "daily.parquet",
         html_name(first)]
    )  # fmt: skip
    assert pd.read_parquet(folder / "daily.parquet")["session"].tolist() == [first]
    worker.journal.close()
