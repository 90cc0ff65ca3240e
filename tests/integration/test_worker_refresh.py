"""The worker's own data refresh (live.refresh: broker) end to end: fake TWS, real client.

A worker on the IB broker with an injected market clock (its ``clock`` and ``wall``), driven
heartbeat by heartbeat through ``live.run``'s own loop step (``_beat``), refreshes its
IB-sourced dataset through ``ib.refresh.refresh_through`` in a spawned child process
(``ProcessJob``): the fake TWS serves the history the child asks for on its own client id.
The child reads the real wall clock only to keep future bars out, so every session used here
is in the past (today is 2026-12-05 when these were written).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from config import load_config
from config.schema import AppConfig, IBConfig
from quant_core.alerts.events import AlertEvent
from quant_core.calendar import TradingCalendar
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.factors.compute import compute_factors
from quant_core.ib.broker import IBBroker
from quant_core.ib.history import IBHistorySource, Pacer
from quant_core.ib.refresh import refresh_through
from quant_core.live import run
from quant_core.live.bars_watch import BarsWatch, market
from quant_core.live.files import JOURNAL_FILE, read_state
from quant_core.live.journal import Journal
from quant_core.live.market_clock import needed_through
from quant_core.live.refresh_job import ProcessJob
from quant_core.live.refresh_watch import FAILED_TITLE, RECOVERED_TITLE, REFRESH_PROGRESS_FILE
from quant_core.live.state import WorkerMode, WorkerState
from quant_core.live.worker import Worker, WorkerOptions
from quant_core.strategies import build_strategy
from tests.fake_tws import LIB, client_problems
from tests.fake_tws.server import FakeTWS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("America/New_York")
SYMBOLS = ("AAPL", "MSFT", "XOM")
FIRST = dt.date(2026, 5, 1)  # the first bar served and synced
D = dt.date(2026, 12, 2)  # Wednesday: the session the worker trades
D_1 = dt.date(2026, 12, 1)  # its previous session: the data must reach it
STORED = dt.date(2026, 11, 27)  # D-3 sessions (the Friday after Thanksgiving, a 13:00 close)
EARLY = dt.date(2026, 11, 27)  # XNYS closes at 13:00
BEFORE_EARLY = dt.date(2026, 11, 25)  # the session before it (Thanksgiving is a holiday)
STORED_FACTORS = ["volatility_20"]  # computed before the refresh; the strategy's is momentum_20
CLIENT_ID = 21
WAIT_S = 60.0  # a refresh that has not ended after this long fails the test

Bar = tuple[str, float, float, float, float, float]


def history(calendar: TradingCalendar, base: float, drift: float, end: dt.date) -> list[Bar]:
    """Daily bars from FIRST through ``end``: a drift of its own with a weekly wiggle."""
    rows = []
    for k, day in enumerate(calendar.sessions_in_range(FIRST, end)):
        close = round(base * (1 + drift * k) + (k % 5) * 0.4, 2)
        stamp = pd.Timestamp(day).strftime("%Y%m%d")
        rows.append((stamp, close - 0.5, close + 1.0, close - 1.0, close, 1000.0 + k))
    return rows


def serve(fake: FakeTWS, calendar: TradingCalendar, end: dt.date) -> None:
    """Serve every symbol's history through ``end``, quoting each at its last close."""
    # Each its own drift: their momentum differs on every session (the strategy's z-scores).
    fake.history = {
        s: history(calendar, 50.0 * (i + 1), 0.001 * (i + 1), end) for i, s in enumerate(SYMBOLS)
    }
    fake.prices = {s: bars[-1][4] for s, bars in fake.history.items()}


def at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    """Return New York's ``hour:minute`` on ``day``, in UTC."""
    return dt.datetime.combine(day, dt.time(hour, minute), ZONE).astimezone(dt.UTC)


class MarketClock:
    """The worker's clock, moved by the test."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, day: dt.date, hour: int, minute: int) -> None:
        self.now = at(day, hour, minute)


class Recording:
    """An alert sink that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[AlertEvent, str, str]] = []

    def notify(self, event: AlertEvent, title: str, body: str) -> None:
        self.sent.append((event, title, body))

    def close(self, timeout: float = 5.0) -> None:
        """Nothing queued."""

    def titles(self, event: AlertEvent) -> list[str]:
        return [title for e, title, _ in self.sent if e is event]


class NoWait:
    def __call__(self, seconds: float) -> None:
        """Pacing is the refresh's business, not the first sync's."""


@pytest.fixture(autouse=True)
def _client_logs_are_clean(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Iterator[None]:
    # The worker's client logs here; the refresh children log to the inherited stderr.
    caplog.set_level(logging.WARNING, logger=LIB)
    yield
    assert client_problems(caplog.records) == []
    assert child_problems(capfd.readouterr().err) == []


def child_problems(stderr: str) -> list[str]:
    """Return the decode errors and unmatched order messages a child process logged."""
    return [
        line
        for line in stderr.splitlines()
        if (f"{LIB}.Decoder" in line and "ERROR" in line) or "No order found" in line
    ]


@pytest.fixture
def fake() -> Iterator[FakeTWS]:
    server = FakeTWS(prices={}).start()
    yield server
    server.stop()


def config(tmp_path: Path, fake: FakeTWS, *overrides: str) -> AppConfig:
    return load_config("live", settings(tmp_path, fake, *overrides), environ={})


def settings(data_dir: Path, fake: FakeTWS, *overrides: str) -> list[str]:
    return [
        f"paths.data_dir={data_dir}",
        "data.dataset=ib",
        "live.broker=ib",
        "live.refresh=broker",
        f"ib.port={fake.port}",
        f"ib.client_id={CLIENT_ID}",
        "risk.max_position_weight=null",
        "strategy.name=multi_factor",
        f"strategy.params.factors={json.dumps({'momentum_20': 1.0})}",
        "strategy.params.top_quantile=1.0",  # all three held, a third each
        *overrides,
    ]


def stale_dataset(fake: FakeTWS, calendar: TradingCalendar, data_dir: Path, end: dt.date) -> None:
    """Sync dataset ``ib`` from the fake through ``end`` (run_data_sync.py --source ib's way)."""
    warehouse = Warehouse(data_dir / "warehouse")
    source = IBHistorySource(
        IBConfig(port=fake.port, client_id=7),
        list(SYMBOLS),
        FIRST,
        end,
        pacer=Pacer(sleep=NoWait()),
    )
    report = sync(source, warehouse, calendar, "ib")
    assert report.last_date == end
    compute_factors(warehouse, "ib", STORED_FACTORS)
    fake.history_requests.clear()


class Driven:
    """A started worker on the fake TWS, and the loop step that drives it (``run._beat``)."""

    def __init__(self, cfg: AppConfig, clock: MarketClock) -> None:
        self.cfg, self.clock = cfg, clock
        self.warehouse = Warehouse(cfg.paths.data_dir / "warehouse")
        folder = run.live_dir(cfg)
        folder.mkdir(parents=True, exist_ok=True)
        broker = IBBroker(cfg.ib, timeout_s=5)
        self.job = ProcessJob(refresh_through, cfg, folder / REFRESH_PROGRESS_FILE)
        self.alerts = Recording()
        self.worker = Worker(
            cfg,
            market(self.warehouse, cfg),
            build_strategy(cfg.strategy.name, cfg.strategy.params),
            broker,
            folder,
            Journal(folder / JOURNAL_FILE),
            WorkerOptions(mode=WorkerMode.IB_PAPER),
            clock=clock,
            sleep=broker.wait,
            wall=clock,  # as in production (both the real clock): _beat asks due(wall())
            refresh_job=self.job,
        )
        self.worker.alerts = self.alerts
        self.version = self.warehouse.bars_version(cfg.data.dataset)
        self.worker.start()

    def beat(self) -> None:
        self.version = run._beat(self.worker, BarsWatch(self.warehouse, self.cfg), self.version)

    def state(self) -> dict[str, Any]:
        state = read_state(self.worker.live_dir)
        assert state is not None
        return state

    def errors(self) -> list[str]:
        return [e.message for e in self.worker.errors]

    def close(self) -> None:
        self.worker.finish()
        self.worker.journal.close()
        self.worker.broker.disconnect()


@pytest.fixture
def driven() -> Iterator[list[Driven]]:
    made: list[Driven] = []
    yield made
    for d in made:
        d.close()


def start(made: list[Driven], cfg: AppConfig, clock: MarketClock) -> Driven:
    d = Driven(cfg, clock)
    made.append(d)
    return d


def until_settled(d: Driven, fake: FakeTWS) -> None:
    """Beat until the running attempt has ended; meanwhile nothing is due, nothing is sent."""
    deadline = time.monotonic() + WAIT_S
    while d.worker.upkeep.holding:
        assert time.monotonic() < deadline, f"the refresh never ended: {d.state()['refresh']}"
        refusals = [e for e in d.errors() if "refused" in e]
        assert d.worker.due(d.clock()) is None
        assert [e for e in d.errors() if "refused" in e] == refusals  # not even asked
        assert fake.orders == {}
        d.worker.sleep(0.05)
        d.beat()


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(ZONE)


# ----------------------------------------------------------------------------- stale start


def test_a_stale_worker_refreshes_recomputes_then_rebalances(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, driven: list[Driven]
) -> None:
    serve(fake, calendar, D_1)
    stale_dataset(fake, calendar, tmp_path, STORED)
    warehouse = Warehouse(tmp_path / "warehouse")
    before = warehouse.factor_store.panel("ib", "volatility_20")
    clock = MarketClock(at(D, 9, 0))

    d = start(driven, config(tmp_path, fake), clock)

    # Stale at start (the data ends Friday, Tuesday is needed): the refresh starts at once.
    assert d.worker.upkeep.holding
    running = d.state()["refresh"]
    assert running["status"] == "running"
    assert running["summary"].startswith("refreshing through 2026-12-01: ")
    assert running["needed_through"] == "2026-12-01"
    assert d.state()["market"]["waiting"] == "before the open: waiting until 09:30 America/New_York"
    clock.set(D, 9, 36)  # the rebalance time passes while the refresh runs
    until_settled(d, fake)
    d.beat()  # the next step reads the new bars back, then the rebalance is due

    refresh = d.state()["refresh"]
    assert refresh["status"] == "idle"
    assert (
        refresh["summary"] == "data through 2026-12-01, refreshed 09:36, 3 symbols, 0 rejected rows"
    )
    assert sorted(refresh["factors"]) == ["momentum_20", "volatility_20"]
    # One incremental request per symbol ("N D" back to Friday); nothing asked twice.
    assert sorted(r[1] for r in fake.history_requests) == sorted(SYMBOLS)
    assert all(re.fullmatch(r"\d+ D", r[3]) for r in fake.history_requests)
    # The bars and the factors reach Tuesday; the stored factor was extended, not rewritten.
    assert pd.Timestamp(d.worker.data.dates[-1]).date() == D_1
    after = warehouse.factor_store.panel("ib", "volatility_20")
    pd.testing.assert_frame_equal(after.loc[: pd.Timestamp(STORED)], before)
    new = after.loc[pd.Timestamp(STORED) + pd.Timedelta(days=1) :]
    assert [pd.Timestamp(x).date() for x in new.index] == [dt.date(2026, 11, 30), D_1]
    assert np.isfinite(new.to_numpy()).all()
    assert warehouse.factor_store.last_date("ib", "momentum_20") == D_1
    # Then, and only then, the session's rebalance went to the fake TWS.
    refs = sorted(o.order_ref for o in fake.orders.values())
    assert [r.rsplit(":", 1)[0] for r in refs] == ["qc:2026-12-02"] * 3
    d.beat()  # the state written next shows it; nothing is sent twice
    assert len(fake.orders) == 3
    assert d.state()["rebalance"]["last"] == "2026-12-02"
    assert d.worker.state is WorkerState.RUNNING
    assert d.alerts.titles(AlertEvent.REFRESH) == []  # a refresh that succeeds pages nobody


def test_the_beat_a_refresh_ends_in_reports_no_stale_data(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, driven: list[Driven]
) -> None:
    serve(fake, calendar, D_1)
    stale_dataset(fake, calendar, tmp_path, STORED)
    clock = MarketClock(at(D, 9, 36))  # started after the rebalance time, on stale data

    d = start(driven, config(tmp_path, fake), clock)
    until_settled(d, fake)
    d.beat()

    assert len(fake.orders) == 3
    # The refresh was running or had just succeeded: never a "stale data" refusal or page.
    assert [e for e in d.errors() if "refused" in e] == []
    assert d.alerts.titles(AlertEvent.STALE_DATA) == []


# ---------------------------------------------------------------------------------- failure


def test_a_failing_refresh_keeps_the_worker_running_not_trading_alerting_once(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, driven: list[Driven]
) -> None:
    serve(fake, calendar, D_1)
    stale_dataset(fake, calendar, tmp_path, STORED)
    served = fake.history
    fake.history = {}  # IB answers 200 (no security definition) for every symbol
    clock = MarketClock(at(D, 9, 34))
    d = start(driven, config(tmp_path, fake), clock)

    until_settled(d, fake)  # attempt 1: nothing came back

    failed = d.state()["refresh"]
    assert failed["status"] == "failed"
    assert failed["attempts"] == 1
    assert local(failed["next_attempt_at"]) == at(D, 9, 39)  # live.refresh_retry_s: 300
    assert "IB has no bars for 2026-12-01 yet" in failed["error"]
    assert d.alerts.titles(AlertEvent.REFRESH) == [FAILED_TITLE]

    clock.set(D, 9, 36)  # the rebalance time, within the back-off: refused, nothing sent
    d.beat()
    assert not d.worker.upkeep.holding
    assert d.worker.state is WorkerState.RUNNING
    assert fake.orders == {}
    refusal = (
        "rebalance for 2026-12-02 refused: the data ends 2026-11-27, not the previous session "
        "2026-12-01; waiting for the worker's data refresh (live.refresh: broker)"
    )
    assert refusal in d.errors()  # the state's errors, from the next write on
    assert d.alerts.titles(AlertEvent.REFRESH) == [FAILED_TITLE]

    # Attempt 2 after the back-off: IB knows the symbols again, but has no bar after Friday.
    stamp = pd.Timestamp(STORED).strftime("%Y%m%d")
    fake.history = {s: [b for b in bars if b[0] <= stamp] for s, bars in served.items()}
    clock.set(D, 9, 40)
    d.beat()
    assert d.worker.upkeep.holding
    until_settled(d, fake)
    again = d.state()["refresh"]
    assert (again["status"], again["attempts"]) == ("failed", 2)
    assert local(again["next_attempt_at"]) == at(D, 9, 50)  # doubled
    assert again["summary"] == (
        "data through 2026-11-27; refresh through 2026-12-01 failed (2 attempts): IB has no "
        "bars for 2026-12-01 yet; next attempt 09:50"
    )
    assert d.alerts.titles(AlertEvent.REFRESH) == [FAILED_TITLE]  # still once
    assert d.worker.state is WorkerState.RUNNING
    assert fake.orders == {}

    # IB serves again; after the back-off the retry succeeds, pages recovery, then trades.
    fake.history = served
    clock.set(D, 9, 49)
    d.beat()
    assert not d.worker.upkeep.holding  # still backing off
    clock.set(D, 9, 51)
    d.beat()
    until_settled(d, fake)
    d.beat()

    done = d.state()["refresh"]
    assert (done["status"], done["attempts"], done["error"]) == ("idle", 0, None)
    assert done["summary"] == "data through 2026-12-01, refreshed 09:51, 3 symbols, 0 rejected rows"
    assert d.alerts.titles(AlertEvent.REFRESH) == [FAILED_TITLE, RECOVERED_TITLE]
    _, _, body = d.alerts.sent[[t for _, t, _ in d.alerts.sent].index(RECOVERED_TITLE)]
    assert "after 2 failed attempts" in body
    assert len(fake.orders) == 3
    d.beat()  # the state written next shows it; nothing is sent twice
    assert len(fake.orders) == 3
    assert d.state()["rebalance"]["last"] == "2026-12-02"


def test_a_refresh_rejected_whole_is_retried_against_ib(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, driven: list[Driven]
) -> None:
    serve(fake, calendar, D_1)
    stale_dataset(fake, calendar, tmp_path, STORED)
    served = fake.history
    stamp = pd.Timestamp(STORED).strftime("%Y%m%d")
    fake.history = {  # every new bar has its high below its low
        s: [(t, o, lo - 5.0 if t > stamp else h, lo, c, v) for t, o, h, lo, c, v in bars]
        for s, bars in served.items()
    }
    clock = MarketClock(at(D, 9, 0))
    d = start(driven, config(tmp_path, fake), clock)
    until_settled(d, fake)
    failed = d.state()["refresh"]
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert failed["error"].startswith("DataError: ib:ADJUSTED_LAST refresh: no valid rows")

    fake.history = served  # IB's bars are right again
    fake.history_requests.clear()
    clock.set(D, 9, 6)
    d.beat()
    until_settled(d, fake)

    assert len(fake.history_requests) == 3  # asked again
    assert d.state()["refresh"]["status"] == "idle"


# ------------------------------------------------------------------------------ early close


def test_an_early_close_refuses_a_later_rebalance_and_moves_the_refresh(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, driven: list[Driven]
) -> None:
    assert calendar.is_early_close(EARLY)
    serve(fake, calendar, EARLY)
    stale_dataset(fake, calendar, tmp_path, BEFORE_EARLY)
    clock = MarketClock(at(EARLY, 10, 0))
    d = start(driven, config(tmp_path, fake, "live.rebalance_time=14:00"), clock)
    d.beat()

    assert not d.worker.upkeep.holding  # Wednesday's data is what Friday needs before 13:30
    market = d.state()["market"]
    assert market["early_close"] is True
    assert local(market["closes_at"]).time() == dt.time(13, 0)
    assert local(market["refresh_at"]).time() == dt.time(13, 30)
    assert market["rebalance_at"] is None
    refusal = (
        "rebalance for 2026-11-27 refused: live.rebalance_time 14:00 is at or after the "
        "session's early close 13:00 America/New_York; the schedule takes it at the next session"
    )
    assert refusal in d.errors()

    clock.set(EARLY, 13, 29)
    d.beat()
    idle = d.state()["refresh"]
    assert (idle["status"], idle["needed_through"]) == ("idle", "2026-11-25")
    assert not d.worker.upkeep.holding
    assert fake.history_requests == []

    clock.set(EARLY, 13, 31)  # half an hour after the early close, not at 16:30
    d.beat()
    assert d.worker.upkeep.holding
    assert d.state()["refresh"]["status"] == "running"
    until_settled(d, fake)
    clock.set(EARLY, 14, 0)
    d.beat()

    done = d.state()["refresh"]
    assert done["summary"] == "data through 2026-11-27, refreshed 13:31, 3 symbols, 0 rejected rows"
    assert pd.Timestamp(d.worker.data.dates[-1]).date() == EARLY
    assert fake.orders == {}  # 14:00 is after the close: no rebalance that day
    messages = [e["message"] for e in d.state()["errors"]]
    assert messages.count(refusal) == 1  # once that day
    assert [m for m in messages if "the data ends" in m] == []


# ------------------------------------------------------------------------------------ --once


def test_once_refreshes_stale_data_before_its_rebalance(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path
) -> None:
    # A subprocess runs on the real clock: the sessions are worked out from it. --once cannot
    # be given a market clock, so the rebalance is forced; its session tells what data it saw.
    needed = needed_through(calendar, dt.datetime.now(dt.UTC), dt.time(16, 30))
    assert needed is not None
    sessions = [pd.Timestamp(s).date() for s in calendar.sessions_in_range(FIRST, needed)]
    stored, after = sessions[-4], calendar.next_session(needed)
    serve(fake, calendar, needed)
    stale_dataset(fake, calendar, tmp_path, stored)
    args: list[str] = []
    for setting in settings(tmp_path, fake):
        args += ["--set", setting]

    result = subprocess.run(
        [sys.executable, str(ROOT / "run_live_strategy.py"), "--once", "--force-rebalance", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path)},
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert child_problems(result.stderr) == []
    state = read_state(tmp_path / "live")
    assert state is not None
    refresh = state["refresh"]
    assert refresh["status"] == "idle"
    assert re.fullmatch(
        rf"data through {needed}, refreshed \d\d:\d\d, 3 symbols, 0 rejected rows",
        refresh["summary"],
    )
    assert sorted(r[1] for r in fake.history_requests) == sorted(SYMBOLS)
    # Decided from the refreshed bars: for the session after `needed`, not after `stored`.
    assert {o.order_ref.rsplit(":", 1)[0] for o in fake.orders.values()} == {f"qc:{after}"}
    assert len(fake.orders) == 3
    assert state["rebalance"]["last"] == str(after)
