"""The worker's daily reports over a sim replay: one per session, the files readable with the
contract's columns, a FLAT in its day's commands and its fills marked ``flat``, a restart
replaying the same sessions doubling nothing, and a kill -9 between the journal and the files
losing nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from config import load_config
from quant_core.alerts.events import AlertEvent
from quant_core.analytics.round_trips import ROUND_TRIP_COLUMNS
from quant_core.live.crash_hook import ENV as CRASH_ENV
from quant_core.live.daily_report import REPORT_FILL_COLUMNS
from quant_core.live.files import send_command
from quant_core.live.journal import Journal
from quant_core.live.journal_reports import DAILY_COLUMNS
from quant_core.live.replay import ReplayClock
from quant_core.live.report_book import POSITION_COLUMNS
from quant_core.live.report_files import html_name
from quant_core.live.sim_broker import SimBroker
from quant_core.live.worker import Worker
from quant_core.portfolio.costs import CostModel
from tests.factories import Fixed, market

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 12
RNG = np.random.default_rng(5)
CLOSES: dict[str, list[Any]] = {
    s: list(np.round(40 * np.cumprod(1 + RNG.normal(0, 0.02, SESSIONS)), 2)) for s in "ABCD"
}
# Opens apart from the closes: a fill's arrival price (the open) is not its decision price.
OPENS: dict[str, list[Any]] = {
    s: list(np.round(np.array(c) * (1 + RNG.normal(0, 0.01, SESSIONS)), 2))
    for s, c in CLOSES.items()
}
FLAT_AFTER = 7  # FLAT is sent after this session's close: executed at the next session


class Recorder:
    """An alert sink that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[AlertEvent, str, str]] = []

    def notify(self, event: AlertEvent, title: str, body: str) -> None:
        self.sent.append((event, title, body))

    def close(self, timeout: float = 5.0) -> None:
        """Nothing queued."""


def make(tmp: Path) -> Worker:
    cfg = load_config(
        "live",
        [f"paths.data_dir={tmp}", "risk.max_position_weight=null", "strategy.rebalance=3"],
        environ={},
    )
    data = market(CLOSES, OPENS)
    clock = ReplayClock("America/New_York")
    clock.at(dt.date(2010, 1, 4), ReplayClock.CLOSE)
    live = tmp / "live"
    costs = CostModel.from_config(cfg.costs)
    broker = SimBroker(
        data.symbol_index, 100_000.0, costs, "pro_rata", False, clock, live / "sim.json"
    )
    weights = {"A": 0.3, "B": 0.3, "C": -0.2}
    worker = Worker(
        cfg, data, Fixed(weights), broker, live, Journal(live / "journal.duckdb"), clock=clock
    )
    worker.alerts = Recorder()
    worker.start()
    return worker


def flat_after(worker: Worker, session: int) -> None:
    """Send FLAT once the replay has closed ``session`` (the replay sleeps after each close)."""
    closed = iter(range(1, SESSIONS))

    def sleep(seconds: float) -> None:
        if next(closed) == session:
            send_command(worker.live_dir, "FLAT")

    worker.sleep = sleep


def reports(tmp: Path) -> Path:
    return tmp / "live" / "reports"


def test_one_report_per_session_with_the_contracts_files(tmp_path: Path) -> None:
    worker = make(tmp_path)
    flat_after(worker, FLAT_AFTER)
    equity0 = worker.broker.account().net_liquidation

    worker.replay(1, SESSIONS - 1)

    sessions = [pd.Timestamp(d).date() for d in worker.data.dates]
    folder = reports(tmp_path)
    pages = sorted(p.name for p in folder.glob("daily-*.html"))
    assert pages == sorted(html_name(s) for s in sessions)  # the close before the first too
    fills = pd.read_parquet(folder / "fills.parquet")
    trips = pd.read_parquet(folder / "round_trips.parquet")
    positions = pd.read_parquet(folder / "positions.parquet")
    daily = pd.read_parquet(folder / "daily.parquet")
    assert list(fills.columns) == list(REPORT_FILL_COLUMNS)
    assert list(trips.columns) == list(ROUND_TRIP_COLUMNS)
    assert list(positions.columns) == list(POSITION_COLUMNS)
    assert list(daily.columns) == list(DAILY_COLUMNS)
    assert daily["session"].tolist() == sessions
    assert str(fills["ts"].dtype).endswith("UTC]")
    assert isinstance(fills["session"].iloc[0], dt.date)

    journal_fills = worker.journal.table("fills")
    assert len(fills) == len(journal_fills) > 6
    assert fills["commission"].sum() == pytest.approx(journal_fills["commission"].sum())
    # The strategy's fills: decided on the close of T-1, aimed at the session's open.
    rows = np.searchsorted(worker.data.dates, np.array(fills["session"], dtype="datetime64[D]"))
    cols = worker.data.symbol_index.get_indexer(pd.Index(fills["symbol"]))
    strategy = (fills["reason"] == "").to_numpy()
    closes, opens = worker.data.panels["close"], worker.data.panels["open"]
    assert fills["decision_price"][strategy].tolist() == closes[rows - 1, cols][strategy].tolist()
    assert fills["arrival_price"][strategy].tolist() == opens[rows, cols][strategy].tolist()
    q, p = fills["quantity"], fills["price"]
    assert fills["slippage_decision"].tolist() == pytest.approx(
        (q * (p - fills["decision_price"])).tolist()
    )
    assert fills["slippage_arrival"].tolist() == pytest.approx(
        (q * (p - fills["arrival_price"])).tolist()
    )
    assert (fills["slippage_arrival"][strategy] > 0).all()  # the cost model's slippage, a cost

    # FLAT: in the commands of the session it ran in, its fills marked so, nothing held after.
    flat_day = sessions[FLAT_AFTER + 1]
    flats = fills[fills["reason"] == "flat"]
    assert set(flats["session"]) == {flat_day}
    assert flats["ref"].str.startswith("flat:").all()
    documents = worker.journal.report_documents("sim", worker.broker.account_id)
    commands = {s: [c["command"] for c in json.loads(d)["commands"]] for s, d in documents.items()}
    assert commands[flat_day] == ["FLAT"]
    assert all(not c for s, c in commands.items() if s != flat_day)
    page = (folder / html_name(flat_day)).read_text(encoding="utf-8")
    assert "FLAT" in page
    assert "flat: " in page
    assert positions["quantity"].eq(0).all() or positions.empty
    assert set(trips["exit_reason"]) >= {"flat"}
    assert not trips["is_open"].any()
    # The journal keeps the same trips (a journal is the live run's record, as the run folder).
    kept = worker.journal.round_trips("sim", worker.broker.account_id)
    pd.testing.assert_frame_equal(
        kept.reset_index(drop=True),
        trips.sort_values(["entry_date", "symbol"], kind="stable").reset_index(drop=True),
        check_dtype=False,
    )

    # The figures add up: the session P&L to the equity's change, the trips to the account's.
    equity = worker.broker.account().net_liquidation
    assert daily["pnl"].iloc[1:].sum() == pytest.approx(equity - equity0)
    assert trips["pnl"].sum() == pytest.approx(equity - equity0, abs=0.01)
    shown = f"${equity:,.2f}"
    assert shown in (folder / html_name(sessions[-1])).read_text(encoding="utf-8")
    # An alert per session, its short text (the first close is taken at start, then again by
    # the replay: a sender's min_interval_s keeps the same title from going out twice).
    alerts = [a for a in worker.alerts.sent if a[0] is AlertEvent.DAILY_REPORT]  # type: ignore[attr-defined]
    assert list(dict.fromkeys(a[1] for a in alerts)) == [f"Daily report {s}" for s in sessions]
    assert alerts[-1][2].startswith(f"Close of {sessions[-1]}: equity {shown}")
    assert worker.broker.account_id not in "".join(a[2] for a in alerts)


def test_positions_and_pnl_at_a_close_while_holding(tmp_path: Path) -> None:
    worker = make(tmp_path)
    worker.replay(1, SESSIONS - 1)  # no FLAT: held to the end

    folder = reports(tmp_path)
    positions = pd.read_parquet(folder / "positions.parquet").set_index("symbol")
    held = {p.symbol: p for p in worker.broker.positions()}
    assert sorted(positions.index[positions["quantity"] != 0]) == sorted(held)
    for symbol, p in held.items():
        row = positions.loc[symbol]
        assert row["quantity"] == p.quantity
        assert row["market_price"] == p.market_price
        assert row["market_value"] == pytest.approx(p.quantity * p.market_price)
    # Every symbol traded is held: its realised and unrealised P&L is the account's whole gain.
    assert sorted(held) == ["A", "B", "C"]
    gain = worker.broker.account().net_liquidation - 100_000.0
    total = (positions["realized_pnl"] + positions["unrealized_pnl"]).sum()
    assert total == pytest.approx(gain, abs=0.01)
    assert (positions["avg_cost"] > 0).all()
    trips = pd.read_parquet(folder / "round_trips.parquet")
    assert trips["is_open"].sum() == len(held)
    assert trips["pnl"].sum() == pytest.approx(gain, abs=0.01)


def test_a_restart_replaying_the_same_sessions_doubles_nothing(tmp_path: Path) -> None:
    first = make(tmp_path)
    flat_after(first, FLAT_AFTER)
    first.replay(1, SESSIONS - 1)
    folder = reports(tmp_path)
    fills_before = pd.read_parquet(folder / "fills.parquet")
    trips_before = pd.read_parquet(folder / "round_trips.parquet")
    first.journal.close()

    again = make(tmp_path)  # the same folder, account and journal
    again.replay(1, SESSIONS - 1)

    fills = pd.read_parquet(folder / "fills.parquet")
    pd.testing.assert_frame_equal(fills, fills_before)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "round_trips.parquet"), trips_before)
    daily = pd.read_parquet(folder / "daily.parquet")
    assert daily["session"].is_unique
    assert len(daily) == SESSIONS
    rows = again.journal.table("report_daily")
    assert len(rows) == SESSIONS
    assert rows["session"].is_unique
    assert len(list(folder.glob("daily-*.html"))) == SESSIONS
    again.journal.close()


CRASHING_REPLAY = """
import sys
from pathlib import Path
from tests.integration.test_worker_reports import make
worker = make(Path(sys.argv[1]))
worker.replay(1, 11)
"""


def test_a_kill_between_the_journal_and_the_files_loses_nothing(tmp_path: Path) -> None:
    env = {**os.environ, CRASH_ENV: "writing_reports@5", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_REPLAY, str(tmp_path)], cwd=ROOT, env=env, check=False
    )
    assert done.returncode == -9  # killed at the fifth report, journaled, its files not written
    journal = Journal(tmp_path / "live" / "journal.duckdb")
    on_record = sorted(journal.table("report_daily")["session"])
    journal.close()
    # The first close at start (written), then again by the replay and three more (deferred).
    sessions = [pd.Timestamp(d).date() for d in market(CLOSES).dates[:4]]
    assert on_record == sessions
    folder = reports(tmp_path)
    assert [p.name for p in folder.glob("daily-*.html")] == [html_name(sessions[0])]

    worker = make(tmp_path)  # the start writes the files from the journal

    pages = sorted(p.name for p in folder.glob("daily-*.html"))
    assert pages == [html_name(s) for s in sessions]
    daily = pd.read_parquet(folder / "daily.parquet")
    assert daily["session"].tolist() == sessions
    fills = pd.read_parquet(folder / "fills.parquet")
    assert len(fills) == len(worker.journal.table("fills")) > 0
    worker.replay(1, SESSIONS - 1)  # and the replay goes on: every session once
    daily = pd.read_parquet(folder / "daily.parquet")
    assert daily["session"].is_unique
    assert len(daily) == SESSIONS
    worker.journal.close()


def test_a_page_lost_is_written_again_at_start(tmp_path: Path) -> None:
    worker = make(tmp_path)
    worker.replay(1, 4)
    worker.journal.close()
    folder = reports(tmp_path)
    lost = sorted(folder.glob("daily-*.html"))[2]
    text = lost.read_text(encoding="utf-8")
    lost.unlink()
    (folder / "fills.parquet").unlink()

    again = make(tmp_path)

    assert lost.read_text(encoding="utf-8") == text
    assert len(pd.read_parquet(folder / "fills.parquet")) == len(again.journal.table("fills"))
    again.journal.close()


def test_a_report_that_fails_leaves_the_close_and_the_worker_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quant_core.live import daily_close

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("no report today")

    worker = make(tmp_path)
    monkeypatch.setattr(daily_close, "record_report", broken)

    worker.replay(1, 3)

    assert len(worker.journal.table("daily_close")) == 4  # every close on record
    assert any(
        "daily report of" in e.message and "no report today" in e.message for e in worker.errors
    )
    last = worker.alerts.sent[-1]  # type: ignore[attr-defined]
    assert last[0] is AlertEvent.DAILY_REPORT
    assert "no report: see the errors" in last[2]
    worker.journal.close()
