"""RefreshWatch: when the worker refreshes its data, the back-off, the alerts, refresh.json."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config import load_config
from config.schema import AppConfig
from quant_core.calendar import TradingCalendar
from quant_core.data.refresh_status import RefreshOutcome, write_progress
from quant_core.errors import DataError
from quant_core.live.refresh_job import ThreadJob
from quant_core.live.refresh_watch import REFRESH_FILE, REFRESH_PROGRESS_FILE, RefreshWatch
from quant_core.live.state_refresh import RefreshStatus

ET = ZoneInfo("America/New_York")
WED, THU, FRI = dt.date(2026, 12, 2), dt.date(2026, 12, 3), dt.date(2026, 12, 4)
MON = dt.date(2026, 12, 7)
WAIT_S = 10.0


def et(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """An exchange-local wall time, as the UTC moment the worker passes."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=ET).astimezone(
        dt.UTC
    )


def outcome(through: dt.date | None, symbols: int = 500, rejected: int = 2) -> RefreshOutcome:
    return RefreshOutcome(
        data_through=through,
        symbols=symbols,
        requests=symbols,
        rows_written=symbols,
        rejected=rejected,
        factors=("momentum_20",),
    )


class FakeRefresh:
    """A RefreshFn playing ``results`` in turn: "ok", an outcome, or an exception to raise."""

    def __init__(self, *results: object, gate: threading.Event | None = None) -> None:
        self.results = list(results)
        self.calls: list[dt.date] = []
        self.gate = gate

    def __call__(self, cfg: AppConfig, through: dt.date, progress_path: Path) -> RefreshOutcome:
        self.calls.append(through)
        write_progress(progress_path, "ib history", 120, 500)
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)
        result = self.results.pop(0)
        if isinstance(result, BaseException):
            raise result
        return outcome(through) if result == "ok" else result  # type: ignore[return-value]


class Harness:
    """A watch on a ThreadJob running ``fn``, with the alerts and reports it made."""

    def __init__(self, cfg: AppConfig, calendar: TradingCalendar, live: Path, fn: FakeRefresh):
        self.cfg, self.calendar, self.live, self.fn = cfg, calendar, live, fn
        self.alerts: list[tuple[str, str]] = []
        self.reports: list[str] = []
        self.watch = self.build()

    def build(self) -> RefreshWatch:
        job = ThreadJob(self.fn, self.cfg, self.live / REFRESH_PROGRESS_FILE)
        return RefreshWatch(
            self.cfg,
            self.calendar,
            self.live,
            job,
            alert=lambda title, body: self.alerts.append((title, body)),
            report=self.reports.append,
        )

    def attempt(self, now: dt.datetime, data_end: dt.date, done: dt.datetime | None = None) -> bool:
        """Step at ``now`` (an attempt starts), then at ``done`` until it ends; step's answer."""
        assert not self.watch.running
        assert self.watch.step(now, data_end) is False
        assert self.watch.running, "no attempt started"
        return self.settle(done or now, data_end)

    def settle(self, now: dt.datetime, data_end: dt.date) -> bool:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            got = self.watch.step(now, data_end)
            if not self.watch.running:
                return got
            time.sleep(0.002)
        raise AssertionError("the attempt did not end")

    def saved(self) -> dict[str, object]:
        data = json.loads((self.live / REFRESH_FILE).read_text())
        assert isinstance(data, dict)
        return data


@pytest.fixture
def cfg(tmp_path: Path) -> AppConfig:
    overrides = [
        f"paths.data_dir={tmp_path}",
        "live.broker=ib",
        "live.refresh_retry_s=300",
        "live.refresh_retry_max_s=1000",
    ]
    return load_config("live", overrides, environ={})


def harness(cfg, calendar, tmp_path, *results, gate=None) -> Harness:
    return Harness(cfg, calendar, tmp_path / "live", FakeRefresh(*results, gate=gate))


def test_not_due_before_the_refresh_time_due_after_it(cfg, calendar, tmp_path):
    h = harness(cfg, calendar, tmp_path, "ok")
    before = et(FRI, 16, 29)
    assert h.watch.step(before, THU) is False
    assert not h.watch.running
    assert h.fn.calls == []
    status = h.watch.status(before, THU)
    assert (status.status, status.needed_through) == (RefreshStatus.IDLE, THU)
    after = et(FRI, 16, 31)
    status = h.watch.status(after, THU)
    assert (status.status, status.needed_through) == (RefreshStatus.DUE, FRI)
    assert status.summary == f"data through {THU}; refresh through {FRI} due"
    assert h.attempt(after, THU) is True
    assert h.fn.calls == [FRI]


def test_a_success_returns_true_once_and_is_kept_in_refresh_json(cfg, calendar, tmp_path):
    h = harness(cfg, calendar, tmp_path, "ok")
    start, done = et(FRI, 16, 31), et(FRI, 16, 41)
    assert h.attempt(start, THU, done) is True
    assert h.watch.step(done, FRI) is False  # reloaded: nothing more to do
    assert h.watch.step(et(FRI, 23, 0), FRI) is False
    assert h.fn.calls == [FRI]
    status = h.watch.status(done, FRI)
    assert status.status is RefreshStatus.IDLE
    assert status.summary == f"data through {FRI}, refreshed 16:41, 500 symbols, 2 rejected rows"
    assert (status.refreshed_at, status.started_at) == (done, start)
    assert (status.symbols, status.rejected, status.factors) == (500, 2, ("momentum_20",))
    assert status.attempts == 0
    assert status.error is None
    # The next day the date is said too.
    later = h.watch.status(et(MON, 9, 35), FRI).summary
    assert later.startswith(f"data through {FRI}, refreshed {FRI} 16:41, ")
    saved = h.saved()
    assert saved["refreshed_at"] == done.isoformat()
    assert saved["last"] == outcome(FRI).to_json()
    assert (saved["attempts"], saved["alerted"], saved["through"]) == (0, False, str(FRI))
    assert h.alerts == []
    assert h.reports == []


def test_a_worker_started_on_stale_data_refreshes_at_once(cfg, calendar, tmp_path):
    h = harness(cfg, calendar, tmp_path, "ok")
    monday_morning = et(MON, 9, 35)
    assert h.watch.status(monday_morning, WED).status is RefreshStatus.DUE
    assert h.attempt(monday_morning, WED) is True
    assert h.fn.calls == [FRI]  # the last session whose refresh time has passed


def test_an_early_close_moves_the_refresh_earlier(cfg, calendar, tmp_path):
    # 2026-11-27, the day after Thanksgiving, closes at 13:00: its refresh is due at 13:30.
    early = dt.date(2026, 11, 27)
    h = harness(cfg, calendar, tmp_path, "ok")
    assert h.watch.step(et(early, 13, 29), dt.date(2026, 11, 25)) is False
    assert h.fn.calls == []
    assert h.attempt(et(early, 13, 31), dt.date(2026, 11, 25)) is True
    assert h.fn.calls == [early]


def test_failures_back_off_doubling_to_the_cap_report_each_and_alert_once(cfg, calendar, tmp_path):
    boom = DataError("IB pacing violation for AAA")
    h = harness(cfg, calendar, tmp_path, boom, boom, boom, boom, "ok", boom)
    t = et(FRI, 16, 31)
    waits = []
    for n in range(1, 5):
        assert h.attempt(t, THU) is False
        status = h.watch.status(t, THU)
        assert (status.status, status.attempts) == (RefreshStatus.FAILED, n)
        assert status.error == "DataError: IB pacing violation for AAA"
        assert status.next_attempt_at is not None
        waits.append((status.next_attempt_at - t).total_seconds())
        # Not a moment before the back-off has passed.
        assert h.watch.step(status.next_attempt_at - dt.timedelta(seconds=1), THU) is False
        assert not h.watch.running
        t = status.next_attempt_at
    assert waits == [300, 600, 1000, 1000]  # 300 * 2**(n-1), capped at refresh_retry_max_s
    assert len(h.fn.calls) == 4
    assert len(h.reports) == 4
    assert h.reports[0] == (
        f"data refresh through {FRI} failed (attempt 1): DataError: IB pacing violation for AAA; "
        "next attempt 16:36"
    )
    assert [title for title, _ in h.alerts] == ["Data refresh failed"]
    body = h.alerts[0][1]
    assert "DataError: IB pacing violation for AAA" in body
    assert "Attempts: 1; next attempt 16:36 America/New_York" in body
    assert "the worker will not rebalance on stale data" in body
    summary = h.watch.status(t, THU).summary
    assert summary == (
        f"data through {THU}; refresh through {FRI} failed (4 attempts): "
        f"DataError: IB pacing violation for AAA; next attempt {t.astimezone(ET):%H:%M}"
    )
    # The success ends the run: one recovery alert, the count reset.
    assert h.attempt(t, THU) is True
    assert [title for title, _ in h.alerts] == ["Data refresh failed", "Data refresh recovered"]
    assert "after 4 failed attempts" in h.alerts[1][1]
    assert h.watch.status(t, FRI).attempts == 0
    # A new run of failures alerts again, once.
    monday = et(MON, 16, 31)
    assert h.attempt(monday, FRI) is False
    assert [title for title, _ in h.alerts].count("Data refresh failed") == 2


def test_a_success_that_leaves_the_data_short_is_a_failure(cfg, calendar, tmp_path):
    h = harness(cfg, calendar, tmp_path, outcome(THU), "ok")
    t = et(FRI, 16, 31)
    assert h.attempt(t, THU) is False  # nothing to reload for
    status = h.watch.status(t, THU)
    assert status.status is RefreshStatus.FAILED
    assert status.error == f"IB has no bars for {FRI} yet"
    assert status.next_attempt_at == t + dt.timedelta(seconds=300)
    assert status.refreshed_at is None  # not a success
    assert len(h.alerts) == 1
    assert h.attempt(t + dt.timedelta(seconds=300), THU) is True


def test_an_attempt_in_flight_blocks_and_shows_its_progress(cfg, calendar, tmp_path):
    gate = threading.Event()
    h = harness(cfg, calendar, tmp_path, "ok", gate=gate)
    t = et(FRI, 16, 31)
    assert h.watch.step(t, THU) is False
    assert h.watch.running
    deadline = time.monotonic() + WAIT_S
    while h.watch.status(t, THU).phase is None and time.monotonic() < deadline:
        time.sleep(0.002)
    status = h.watch.status(t, THU)
    assert status.status is RefreshStatus.RUNNING
    assert (status.phase, status.done, status.total) == ("ib history", 120, 500)
    assert status.summary == f"refreshing through {FRI}: ib history 120/500"
    for _ in range(5):  # steps while it runs start nothing more
        assert h.watch.step(t + dt.timedelta(hours=1), THU) is False
    assert h.watch.running
    assert h.fn.calls == [FRI]
    gate.set()
    assert h.settle(t, THU) is True
    assert not h.watch.running


def test_a_cancelled_attempt_counts_for_nothing(cfg, calendar, tmp_path):
    gate = threading.Event()
    h = harness(cfg, calendar, tmp_path, "ok", "ok", gate=gate)
    t = et(FRI, 16, 31)
    h.watch.step(t, THU)
    h.watch.cancel()
    assert not h.watch.running
    gate.set()
    assert h.attempt(t, THU) is True  # a new attempt at once: no back-off
    assert h.watch.status(t, FRI).attempts == 0
    assert h.reports == []


def test_a_restarted_watch_reads_refresh_json_and_keeps_the_back_off(cfg, calendar, tmp_path):
    boom = DataError("no answer from TWS")
    h = harness(cfg, calendar, tmp_path, "ok", boom, boom)
    assert h.attempt(et(THU, 16, 31), WED, et(THU, 16, 41)) is True
    t = et(FRI, 16, 31)
    assert h.attempt(t, THU) is False
    next_at = t + dt.timedelta(seconds=300)
    restarted = h.build()  # a new worker process: a new watch and job, the same files
    h.watch = restarted
    status = restarted.status(t, THU)
    assert (status.status, status.attempts, status.next_attempt_at) == (
        RefreshStatus.FAILED,
        1,
        next_at,
    )
    assert status.refreshed_at == et(THU, 16, 41)
    assert status.symbols == 500
    assert restarted.step(next_at - dt.timedelta(seconds=1), THU) is False  # still backing off
    assert not restarted.running
    assert h.attempt(next_at, THU) is False
    assert restarted.status(next_at, THU).attempts == 2
    assert [title for title, _ in h.alerts] == ["Data refresh failed"]  # not again after restart


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[1, 2]",
        '{"version": 1, "attempts": "three", "alerted": false, "last": null}',
        '{"version": 1, "last": null, "refreshed_at": "2026-12-04T16:41:00", "attempts": 0, '
        '"error": null, "next_attempt_at": null, "alerted": false, "through": null}',
        '{"version": 99}',
    ],
    ids=["torn", "not-an-object", "bad-count", "naive-time", "other-version"],
)
def test_an_unreadable_refresh_json_is_reported_and_ignored(cfg, calendar, tmp_path, text):
    live = tmp_path / "live"
    live.mkdir()
    (live / REFRESH_FILE).write_text(text)
    h = harness(cfg, calendar, tmp_path, "ok")
    assert len(h.reports) == 1
    assert REFRESH_FILE in h.reports[0]
    assert "could not be read" in h.reports[0]
    t = et(FRI, 16, 31)
    assert h.watch.status(t, THU).status is RefreshStatus.DUE
    assert h.attempt(t, THU) is True  # starts afresh, at once
    assert h.saved()["version"] == 1  # rewritten whole


def test_data_made_fresh_by_another_sync_ends_the_run(cfg, calendar, tmp_path):
    h = harness(cfg, calendar, tmp_path, DataError("TWS down"))
    t = et(FRI, 16, 31)
    assert h.attempt(t, THU) is False
    assert h.watch.step(t + dt.timedelta(seconds=10), FRI) is False  # run_data_sync.py did it
    assert [title for title, _ in h.alerts] == ["Data refresh failed", "Data refresh recovered"]
    assert "brought in by another sync" in h.alerts[1][1]
    status = h.watch.status(t, FRI)
    assert (status.status, status.attempts, status.next_attempt_at) == (
        RefreshStatus.IDLE,
        0,
        None,
    )
    assert h.saved()["attempts"] == 0


def test_bars_not_reloaded_after_a_success_do_not_refresh_every_heartbeat(cfg, calendar, tmp_path):
    h = harness(cfg, calendar, tmp_path, "ok", "ok")
    t = et(FRI, 16, 31)
    assert h.attempt(t, THU) is True
    assert h.watch.step(t, THU) is False  # the caller did not reload: a failure, backed off
    assert not h.watch.running
    assert h.fn.calls == [FRI]
    assert "were not reloaded" in h.reports[0]
    assert h.attempt(t + dt.timedelta(seconds=300), THU) is True


def test_a_job_that_cannot_start_is_a_failure_and_a_broken_alert_is_survived(
    cfg, calendar, tmp_path
):
    class Unstartable(ThreadJob):
        def start(self, through: dt.date) -> None:
            raise OSError("Resource temporarily unavailable")

    def broken_alert(title: str, body: str) -> None:
        raise RuntimeError("apprise is down")

    reports: list[str] = []
    job = Unstartable(FakeRefresh("ok"), cfg, tmp_path / REFRESH_PROGRESS_FILE)
    watch = RefreshWatch(cfg, calendar, tmp_path, job, alert=broken_alert, report=reports.append)
    t = et(FRI, 16, 31)
    assert watch.step(t, THU) is False
    assert not watch.running
    assert watch.status(t, THU).error == "OSError: Resource temporarily unavailable"
    assert len(reports) == 1


def test_off_without_a_job(cfg, calendar, tmp_path):
    reports: list[str] = []
    watch = RefreshWatch(
        cfg, calendar, tmp_path, None, alert=lambda t, b: None, report=reports.append
    )
    t = et(MON, 9, 35)
    assert watch.step(t, WED) is False
    assert not watch.running
    status = watch.status(t, WED)
    assert (status.status, status.data_through, status.needed_through) == (
        RefreshStatus.OFF,
        WED,
        FRI,
    )
    assert status.summary == f"data refresh off (live.refresh: none); data through {WED}"
    assert not (tmp_path / REFRESH_FILE).exists()
    assert reports == []


def test_naive_now_is_refused(cfg, calendar, tmp_path):
    h = harness(cfg, calendar, tmp_path, "ok")
    with pytest.raises(ValueError, match="aware"):
        h.watch.step(dt.datetime(2026, 12, 4, 21, 31), THU)  # noqa: DTZ001 - the point


def test_symbols_still_behind_are_named_in_the_summary(cfg, calendar, tmp_path):
    late = ("ABC", "DEF", "GHI", "JKL", "MNO", "PQR")
    behind = dataclasses.replace(outcome(FRI), behind=late)
    h = harness(cfg, calendar, tmp_path, behind)
    done = et(FRI, 16, 41)
    assert h.attempt(et(FRI, 16, 31), THU, done) is True
    summary = h.watch.status(done, FRI).summary
    assert summary.endswith("2 rejected rows, 6 behind (ABC, DEF, GHI, JKL, MNO...)")
    saved = h.saved()["last"]
    assert isinstance(saved, dict)
    assert RefreshOutcome.from_json(saved).behind == late  # kept across restarts
