"""Review of the worker's data refresh: a hung child, its log, its cancel, the retry cache.

- A refresh child that stops making progress (a hang: IB, a lock, a library) is stopped and
  counted as a failure, so the worker is not held out of trading, unalerted, forever.
- The child's own log (stderr: the journal under systemd) blanks the secrets the worker
  remembered, as the worker's log does.
- A cancelled child (the worker stops) leaves one line in the log, not two tracebacks.
- A retry after a failure half-way asks IB again for a symbol whose kept answer did not reach
  the session: a lag of IB's at the first attempt is not replayed into the warehouse.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from config import load_config
from config.redact import remember
from config.schema import AppConfig
from quant_core.calendar import TradingCalendar
from quant_core.data.refresh_status import RefreshOutcome
from quant_core.data.warehouse import Warehouse
from quant_core.errors import DataError
from quant_core.ib.history import IBHistorySource, Pacer
from quant_core.ib.refresh import REFRESH_CACHE, refresh_through
from quant_core.live import run
from quant_core.live.refresh_job import ProcessJob, RefreshFn
from quant_core.live.refresh_watch import FAILED_TITLE, RefreshWatch
from quant_core.live.state_refresh import RefreshStatus
from tests import refresh_fns
from tests.fake_tws.server import FakeTWS
from tests.integration import test_worker_refresh as worker_refresh
from tests.integration.test_ib_refresh import EVENING, D, NoWait, first_sync, history
from tests.integration.test_ib_refresh import config as ib_config

pytestmark = pytest.mark.integration

FRIDAY = dt.date(2026, 12, 4)
WAIT_S = 30.0  # spawning a child costs 1-2 s; this is the ceiling
SECRET = "hunter2-refresh-secret"  # noqa: S105 - what tests/refresh_fns.raising puts in its error
ZONE = ZoneInfo("America/New_York")
SYMBOLS = ("AAPL", "MSFT", "XOM")


@pytest.fixture
def cfg(tmp_path: Path) -> AppConfig:
    return load_config("live", [f"paths.data_dir={tmp_path}", "live.broker=ib"], environ={})


def job(fn: RefreshFn, cfg: AppConfig, tmp_path: Path, **kw: Any) -> ProcessJob:
    return ProcessJob(fn, cfg, tmp_path / "refresh-progress.json", **kw)


def finish(job: ProcessJob) -> RefreshOutcome | str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        result = job.poll()
        if result is not None:
            return result
        time.sleep(0.02)
    job.cancel()
    raise AssertionError("the child did not answer")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ------------------------------------------------------------------------- a hung refresh


def test_a_refresh_that_makes_no_progress_is_stopped_as_a_failure(cfg, tmp_path):
    # Progress once, then a hang (the limit leaves room for the spawn).
    refresh = job(refresh_fns.slow, cfg, tmp_path, stall_s=6.0)
    refresh.start(FRIDAY)
    pid = refresh.pid
    assert pid is not None

    result = finish(refresh)

    assert isinstance(result, str)
    assert result.startswith("refresh process made no progress for ")
    assert "(at ib history 120/500): stopped" in result
    assert not refresh.running
    assert not alive(pid)


def test_a_refresh_that_keeps_progressing_is_left_alone(cfg, tmp_path):
    # The child runs longer than the limit, progressing all along.
    refresh = job(refresh_fns.progressing, cfg, tmp_path, stall_s=refresh_fns.PROGRESS_STALL_S)
    refresh.start(FRIDAY)

    result = finish(refresh)

    assert isinstance(result, RefreshOutcome)
    assert result.data_through == FRIDAY


def test_the_default_stall_limit_outlasts_ibs_longest_silence(cfg, tmp_path):
    # The pacer may wait a whole 10-minute window, and 5 pacing violations 60 s each, between
    # two progress writes: only a refresh silent far longer than that is taken for hung.
    assert job(refresh_fns.succeeding, cfg, tmp_path).stall_s >= 1800.0


def test_a_hung_refresh_fails_alerts_once_and_releases_the_worker(cfg, tmp_path, calendar):
    alerts: list[str] = []
    errors: list[str] = []
    watch = RefreshWatch(
        cfg,
        calendar,
        tmp_path,
        job(refresh_fns.slow, cfg, tmp_path, stall_s=1.0),
        alert=lambda title, body: alerts.append(title),
        report=errors.append,
    )
    now = dt.datetime(2026, 12, 7, 9, 0, tzinfo=ZONE)  # Monday: the data must reach Friday
    watch.step(now, dt.date(2026, 12, 3))
    assert watch.running  # the worker sends no rebalance meanwhile

    deadline = time.monotonic() + WAIT_S
    while watch.running and time.monotonic() < deadline:
        watch.step(now, dt.date(2026, 12, 3))
        time.sleep(0.05)

    assert not watch.running  # no longer held: the planner refuses on stale data and says so
    status = watch.status(now, dt.date(2026, 12, 3))
    assert status.status is RefreshStatus.FAILED
    assert status.error is not None
    assert "made no progress" in status.error
    assert alerts == [FAILED_TITLE]
    assert len(errors) == 1


# ----------------------------------------------------------------------------- the child's log


def test_the_childs_log_blanks_remembered_secrets(cfg, tmp_path, capfd):
    remember(SECRET)  # as load_config remembers secrets.yaml's values
    refresh = job(refresh_fns.raising, cfg, tmp_path)
    refresh.start(FRIDAY)

    assert finish(refresh) == f"DataError: no valid bars for {FRIDAY}; token ***"

    err = capfd.readouterr().err
    assert "The refresh through 2026-12-04 failed" in err  # the child did log it
    assert "token ***" in err
    assert SECRET not in err


def test_a_cancelled_child_logs_one_line_not_tracebacks(cfg, tmp_path, capfd):
    refresh = job(refresh_fns.slow, cfg, tmp_path)
    refresh.start(FRIDAY)
    deadline = time.monotonic() + WAIT_S
    while refresh.progress() is None and time.monotonic() < deadline:
        time.sleep(0.02)

    refresh.cancel()

    err = capfd.readouterr().err
    assert "refresh through 2026-12-04 cancelled" in err
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err


# ------------------------------------------------------------------------ the retry's cache


@pytest.fixture
def fake(calendar: TradingCalendar) -> Iterator[FakeTWS]:
    server = FakeTWS(prices={}).start()
    server.history = {s: history(calendar, 50.0 * (i + 1)) for i, s in enumerate(SYMBOLS)}
    yield server
    server.stop()


def ib_refresh(cfg: AppConfig, tmp_path: Path) -> RefreshOutcome:
    return refresh_through(
        cfg,
        D,
        tmp_path / "live" / "refresh-progress.json",
        pacer=Pacer(sleep=NoWait()),
        clock=lambda: EVENING,
    )


def test_a_retry_asks_again_for_an_answer_that_did_not_reach_the_session(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = Warehouse(tmp_path / "warehouse")
    first_sync(fake, calendar, warehouse)
    cfg = ib_config(tmp_path, fake)
    served = fake.history["MSFT"]
    fake.history["MSFT"] = history(calendar, 100.0, dt.date(2024, 6, 27))  # IB lags on MSFT
    real = IBHistorySource.fetch_chunk

    def no_answer_for_xom(self: IBHistorySource, conn: Any, symbol: str, *a: Any) -> Any:
        if symbol == "XOM":  # the first attempt breaks half-way (a timeout, a disconnect)
            raise DataError("IB history for XOM: no answer")
        return real(self, conn, symbol, *a)

    monkeypatch.setattr(IBHistorySource, "fetch_chunk", no_answer_for_xom)
    with pytest.raises(DataError, match="no answer"):
        ib_refresh(cfg, tmp_path)
    monkeypatch.undo()
    fake.history["MSFT"] = served  # IB has MSFT's Friday by the retry
    fake.history_requests.clear()

    outcome = ib_refresh(cfg, tmp_path)

    # AAPL's answer reached Friday: kept. MSFT's did not: asked again, not replayed.
    assert sorted(r[1] for r in fake.history_requests) == ["MSFT", "XOM"]
    bars = warehouse.read_bars("ib")
    last = bars.groupby("symbol")["date"].max()
    assert (last == pd.Timestamp(D)).all(), last
    assert not [n for n in outcome.notes if "no bar after the last stored one" in n]


def test_a_success_clears_a_cache_file_a_kill_left_half_written(
    fake: FakeTWS, calendar: TradingCalendar, tmp_path: Path
) -> None:
    warehouse = Warehouse(tmp_path / "warehouse")
    first_sync(fake, calendar, warehouse)
    cfg = ib_config(tmp_path, fake)
    folder = tmp_path / "cache" / REFRESH_CACHE / "ib"
    folder.mkdir(parents=True)
    torn = folder / "AAPL-ADJUSTED_LAST-20240627-3D-20240627.partial"  # an earlier attempt's
    torn.write_bytes(b"PAR1 cut short")  # a kill between writing and renaming it

    outcome = ib_refresh(cfg, tmp_path)

    assert outcome.data_through == D
    assert list(folder.iterdir()) == []


# -------------------------------------------------------------------- --once after a death


def refresh_then_die(cfg: AppConfig, through: dt.date, progress_path: Path) -> RefreshOutcome:
    """Store the sessions like the real refresh, then die before answering (the OOM killer)."""
    refresh_through(cfg, through, progress_path)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


@pytest.fixture
def driven() -> Iterator[list[worker_refresh.Driven]]:
    made: list[worker_refresh.Driven] = []
    yield made
    for d in made:
        d.close()


def test_once_reads_the_bars_a_refresh_stored_before_it_died(
    fake: FakeTWS,
    calendar: TradingCalendar,
    tmp_path: Path,
    driven: list[worker_refresh.Driven],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker_refresh.serve(fake, calendar, worker_refresh.D_1)
    worker_refresh.stale_dataset(fake, calendar, tmp_path, worker_refresh.STORED)
    monkeypatch.setattr(worker_refresh, "refresh_through", refresh_then_die)
    clock = worker_refresh.MarketClock(worker_refresh.at(worker_refresh.D, 9, 36))
    d = worker_refresh.start(driven, worker_refresh.config(tmp_path, fake), clock)
    assert d.worker.upkeep.holding

    run._one_cycle(d.worker, d.warehouse, d.cfg, False, d.version)  # --once: no DataError

    refresh = d.state()["refresh"]
    assert refresh["status"] == "idle"  # the data reaches Tuesday: nothing is due
    assert refresh["attempts"] == 0
    assert pd.Timestamp(d.worker.data.dates[-1]).date() == worker_refresh.D_1
    assert {o.order_ref.rsplit(":", 1)[0] for o in fake.orders.values()} == {"qc:2026-12-02"}
