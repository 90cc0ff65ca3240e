"""A replay killed between its broker's fills and their journal rows, then continued.

The simulated account is saved with the open's executions; a kill before the journal's
transaction commits leaves them out of the journal. Continued (``--continue`` from the next
session), the worker starts on the account's own moment, not the replay clock's 1970: it sees
that day's executions and journals them as recovered, as a live worker's restart does (found by
review: they were lost for good, and the journal's fills no longer added up to the positions).
"""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path

import pandas as pd
import pytest

from tests.integration.test_crash_safety import _journal_table as _table
from tests.integration.test_crash_safety import _sim_account as _account
from tests.integration.test_crash_safety import _worker
from tests.integration.test_crash_safety import live_warehouse as live_warehouse  # a fixture

pytestmark = pytest.mark.integration

SPAN_END = "2010-06-30"


def test_a_replay_killed_before_journalling_its_fills_and_continued_recovers_them(
    tmp_path: Path, live_warehouse: Path
) -> None:
    data_dir = tmp_path / "w"
    killed = _worker(
        data_dir, live_warehouse, "--replay", f"2010-06-01:{SPAN_END}", crash="journaling_fills"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    account = _account(data_dir)
    day = dt.datetime.fromisoformat(account["as_of"]).date()
    lost = {e["exec_id"] for e in account["executions"]}
    assert lost  # the open's executions: in the account ...
    assert not lost & set(_table(data_dir, "fills")["exec_id"])  # ... not in the journal

    start = (pd.Timestamp(day) + pd.offsets.BDay(1)).date()  # no holiday in June 2010
    on = _worker(data_dir, live_warehouse, "--replay", f"{start}:{SPAN_END}", "--continue")
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


def test_a_continued_replay_records_each_close_once(tmp_path: Path, live_warehouse: Path) -> None:
    # The continued replay marks the close before its first session again (its decisions start
    # there); that close's equity row is the first part's, not recorded a second time.
    data_dir = tmp_path / "w"
    first = _worker(data_dir, live_warehouse, "--replay", "2010-06-01:2010-06-15")
    assert first.returncode == 0, first.stderr[-3000:]
    on = _worker(data_dir, live_warehouse, "--replay", f"2010-06-16:{SPAN_END}", "--continue")
    assert on.returncode == 0, on.stderr[-3000:]
    equity = _table(data_dir, "equity")
    assert equity["ts"].is_unique, equity[equity["ts"].duplicated(keep=False)]
    closes = pd.DatetimeIndex(equity["ts"]).tz_convert("America/New_York").date
    assert list(closes) == sorted(set(closes))  # one row per session, in order
