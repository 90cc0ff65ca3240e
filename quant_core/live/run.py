"""Build a worker from the config and run it: replay, one cycle, or the live loop."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from config.book_loader import load_book
from config.schema import AppConfig
from quant_core.alerts.events import AlertSink
from quant_core.alerts.sender import build_sink
from quant_core.book.sleeves import Book
from quant_core.book_setup import prepare_book
from quant_core.broker import Broker
from quant_core.calendar import get_calendar
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError, DataError, TemporaryBrokerError
from quant_core.live import replay, sim_account
from quant_core.live.allocators import settle_allocators
from quant_core.live.bars_watch import BarsWatch, market
from quant_core.live.crash_hook import crash_point_for_tests
from quant_core.live.files import HALT_FILE, JOURNAL_FILE, RISK_FILE, SIM_ACCOUNT_FILE
from quant_core.live.journal import Journal
from quant_core.live.refresh_job import ProcessJob, RefreshFn
from quant_core.live.refresh_watch import REFRESH_PROGRESS_FILE
from quant_core.live.report_files import REPORTS
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerMode, WorkerState
from quant_core.live.watcher import CommandWatcher
from quant_core.live.worker import Worker, WorkerOptions, utc_now
from quant_core.live.worker_lock import one_worker
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.research.attach import attach_model
from quant_core.research.model_factors import load_model_factors
from quant_core.strategies import build_strategy, check_schedule
from quant_core.strategies.base import Strategy
from quant_core.strategies.decide import check_policy

logger = logging.getLogger(__name__)

COMMAND_POLL_S = 0.02  # seconds between checks for a command when no event came
ONCE_SETTLE_S = 3.0  # --once: how long the broker gets to fill before the final state
ALERTS_CLOSE_S = 10.0  # at exit, how long the alerts still queued get to go out
ONCE_REFRESH_POLL_S = 1.0  # --once: how often a running data refresh is looked at


@dataclass(frozen=True, slots=True)
class LiveRequest:
    """What the command line asked for."""

    replay: tuple[dt.date, dt.date] | None = None
    speed_s: float = 0.0
    once: bool = False
    force_rebalance: bool = False
    resume: bool = False
    live: bool = False
    continue_account: bool = False  # --continue: a replay keeps trading the simulated account
    book: Path | None = None  # --book: a book of sleeves (config/books/<name>.yaml)


def live_dir(cfg: AppConfig) -> Path:
    """Return ``<data_dir>/live``, where the state, commands, journal and logs live."""
    return cfg.paths.data_dir / "live"


def check_mode(cfg: AppConfig, request: LiveRequest) -> WorkerMode:
    """Return the mode (sim, ib-paper, ib-live); refuse a live account without every consent."""
    if cfg.live.broker == "sim":
        if request.live or cfg.ib.trading_mode == "live":
            raise ConfigError(
                "live trading needs live.broker: ib, ib.trading_mode: live AND the --live flag; "
                "the simulated broker is paper only"
            )
        return WorkerMode.SIM
    if request.live != (cfg.ib.trading_mode == "live"):
        raise ConfigError(
            "live trading needs ib.trading_mode: live AND the --live flag; "
            f"got ib.trading_mode: {cfg.ib.trading_mode}, "
            f"--live {'given' if request.live else 'not given'}"
        )
    if request.live and not cfg.ib.account:
        raise ConfigError("a live account needs ib.account set to its id")
    return WorkerMode.IB_LIVE if request.live else WorkerMode.IB_PAPER


def run_worker(
    cfg: AppConfig,
    request: LiveRequest,
    broker: Broker | None = None,
    refresh: RefreshFn | None = None,
) -> WorkerState:
    """Run the worker as asked; return the state it ended in.

    ``broker`` is the IB broker when ``live.broker: ib`` (the entry point builds it: ``live``
    never imports ``ib``); the simulated broker otherwise. ``refresh`` fetches the sessions the
    warehouse misses (``ib.refresh.refresh_through``, with ``live.refresh: broker``): it runs in
    a child process of its own (``live/refresh_job.py``), never in a replay. One worker per
    data directory (``live/worker_lock.py``). With ``alerts.urls`` set, the worker pages through
    apprise (``quant_core.alerts``); what is still queued at the end gets
    ``ALERTS_CLOSE_S`` seconds to go out.
    """
    mode = check_mode(cfg, request)
    settle_allocators()  # a process that runs for months (live/allocators.py)
    alerts = build_sink(cfg.alerts)  # a URL apprise cannot use stops us here (ConfigError)
    try:
        with one_worker(live_dir(cfg)):  # a second worker on this account's state is refused
            return _run(cfg, request, broker, mode, alerts, refresh)
    finally:
        alerts.close(ALERTS_CLOSE_S)  # what is queued goes out (the last alerts: STOP, ...)


def _run(
    cfg: AppConfig,
    request: LiveRequest,
    broker: Broker | None,
    mode: WorkerMode,
    alerts: AlertSink,
    refresh: RefreshFn | None,
) -> WorkerState:
    if mode is not WorkerMode.SIM and broker is None:
        raise ConfigError("live.broker: ib needs the IB broker, which run_live_strategy.py builds")
    if mode is not WorkerMode.SIM and request.replay:
        raise ConfigError("--replay runs on the simulated broker (live.broker: sim)")
    sim_account.check_request(request.replay is not None, request.continue_account)
    folder = live_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    warehouse = Warehouse(cfg.paths.warehouse_location())
    if warehouse.store.remote and cfg.live.refresh == "broker" and not request.replay:
        raise ConfigError(
            f"live.refresh: broker stores the bars it fetches, and paths.warehouse="
            f"{warehouse.location} is read-only: set live.refresh: none (publish the local "
            "warehouse's new bars instead) or read a local warehouse"
        )
    loaded = warehouse.bars_version(cfg.data.dataset)  # bars written after this: read again
    data = market(warehouse, cfg)
    book, strategy, refusal = _strategy(cfg, request.book)
    zone = get_calendar(cfg.calendar.exchange).tz
    clock = replay.ReplayClock(zone) if request.replay else utc_now
    account = ""
    span = None  # the replay's first and last rows, checked before anything is moved
    if request.replay:
        span = replay.replay_span(cfg, request.replay, data, book, strategy)
        _refuse_another_modes_dir(folder)
    if broker is None:
        # A fresh replay account sets aside what was measured on the old one: its risk state,
        # and a halt its limits tripped (a STOP latch, a person's order, stays).
        # Its journal too: the orders and fills on record are the old account's; and the
        # daily reports written from them (live/report_files.py).
        files = (
            SIM_ACCOUNT_FILE,
            RISK_FILE,
            HALT_FILE,
            JOURNAL_FILE,
            f"{JOURNAL_FILE}.wal",
            REPORTS,
        )
        account = sim_account.start_account(
            folder, files, bool(request.replay), request.continue_account, utc_now()
        )
        broker = SimBroker(
            data.symbol_index,
            cfg.live.initial_cash,
            CostModel.from_config(cfg.costs),
            cfg.portfolio.shortfall,
            cfg.portfolio.fractional_shares,
            clock,
            folder / SIM_ACCOUNT_FILE,
            zone=ZoneInfo(zone),
        )
        if span is not None and request.continue_account:
            _continued(broker, clock, pd.Timestamp(data.dates[span[0]]).date(), folder)
    # A broker without prices of its own (the simulated one) is given the data's closes.
    price_feed = replay.price_feed(broker)
    if price_feed is not None and not request.replay:
        # Marked at the data's last close before the worker's first figure: the risk day
        # opens at today's prices, not at those an earlier run (a replay) left behind.
        price_feed(data.panels["close"][-1])
    journal = Journal(folder / JOURNAL_FILE)
    options = WorkerOptions(
        mode=mode,
        resume=request.resume,
        speed_s=request.speed_s,
        account=account,
        refusal=refusal,
        book=book,
        book_start=None if span is None else pd.Timestamp(data.dates[span[0]]).date(),
    )
    job = None
    if refresh is not None and cfg.live.refresh == "broker" and not request.replay:
        job = ProcessJob(refresh, cfg, folder / REFRESH_PROGRESS_FILE)
    # The worker waits through the broker: IB's client must go on processing TWS's messages.
    worker = Worker(
        cfg,
        data,
        strategy,
        broker,
        folder,
        journal,
        options,
        clock=clock,
        sleep=broker.wait,
        price_feed=price_feed,
        refresh_job=job,
    )
    worker.alerts = alerts  # alerts.urls set: apprise, off the loop (quant_core.alerts)
    with _signals_stop(worker) as signalled:
        _drive(worker, warehouse, cfg, request, span, loaded)
    if signalled:  # the worker has finished cleanly; now report the interruption (exit 130)
        raise KeyboardInterrupt(f"signal {signalled[0]}")
    return worker.state


def _continued(broker: SimBroker, clock: Any, start: dt.date, folder: Path) -> None:
    # A continued replay's account: refused if it was changed on or after ``start``; else the
    # replay clock starts where it was last changed, not at 1970, so the worker's start sees
    # that day's executions (a kill between the broker's fills and the journal's rows).
    sim_account.check_continuation(broker.as_of, start, folder / SIM_ACCOUNT_FILE)
    if isinstance(clock, replay.ReplayClock) and broker.as_of is not None:
        clock.resume(broker.as_of)


def _strategy(cfg: AppConfig, path: Path | None) -> tuple[Book | None, Strategy[Any], str | None]:
    # The book of --book (each sleeve's strategy built and its model attached: exit 4 without
    # it), or the config's strategy: stored models named as factors (model_<id>) so it can
    # build, and a strategy that trades a stored model (fitted) given it; without it the worker
    # starts HALTED with the reason (live/refusal.py), it does not stop.
    if path is not None:
        book = prepare_book(cfg, load_book(path))
        return book, book.sleeves[0].strategy, None
    load_model_factors(cfg.strategy.params, cfg.paths.data_dir)
    strategy = build_strategy(cfg.strategy.name, cfg.strategy.params)
    check_schedule(strategy, cfg.strategy.rebalance)
    check_policy(strategy, PortfolioPolicy.from_config(cfg))
    return None, strategy, attach_model(strategy, cfg.paths.data_dir)


def _refuse_another_modes_dir(folder: Path) -> None:
    # One data/live holds one account's state (journal, risk state, latches, the cockpit's
    # state file): a replay there would set aside, or overwrite, an IB account's.
    if not (folder / JOURNAL_FILE).is_file():
        return
    journal = Journal(folder / JOURNAL_FILE)
    try:
        others = journal.modes() - {WorkerMode.SIM.value}
    finally:
        journal.close()
    if others:
        raise ConfigError(
            f"{folder} holds the state of an {', '.join(sorted(others))} account (journal, risk "
            "state, latches): a replay there would set it aside. Replay in another data "
            "directory: --set paths.data_dir=<another folder> (with its own warehouse)"
        )


@contextmanager
def _signals_stop(worker: Worker) -> Iterator[list[int]]:
    """Turn SIGTERM and SIGINT into a stop request the worker obeys at its next step.

    Raising from a signal handler could cut a journal transaction or a broker call in half;
    a flag cannot. The caller raises ``KeyboardInterrupt`` once the worker has finished.
    """
    signalled: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield signalled  # signal handlers belong to the main thread; a caller's thread keeps its
        return

    def stop(signum: int, frame: object) -> None:
        logger.warning("Signal %d: stopping at the next step", signum)
        signalled.append(signum)
        worker.stop_requested = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield signalled
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _drive(
    worker: Worker,
    warehouse: Warehouse,
    cfg: AppConfig,
    request: LiveRequest,
    span: tuple[int, int] | None,
    loaded: int,
) -> None:
    # loaded: the warehouse's version read just before the worker's bars were: whatever is stored
    # after it (a sync by hand, the data refresh start()'s first heartbeat may begin) is read.
    try:
        worker.start()
        if worker.stop_requested:  # a signal during start-up
            return
        if span is not None:
            worker.replay(*span)
        elif request.once:
            _one_cycle(worker, warehouse, cfg, request.force_rebalance, loaded)
        else:
            _live_loop(worker, warehouse, cfg, loaded)
    finally:
        worker.finish()
        worker.journal.close()
        worker.broker.disconnect()


def _one_cycle(
    worker: Worker, warehouse: Warehouse, cfg: AppConfig, force: bool, loaded: int
) -> None:
    # live.refresh: broker: the sessions missing are fetched first (started at start-up's
    # heartbeat), the heartbeat going on; then the new bars are read, whoever stored them (a
    # refresh that stored its bars and then failed, say in its factors, included).
    while worker.upkeep.holding and not worker.stop_requested:
        worker.sleep(ONCE_REFRESH_POLL_S)
        worker.heartbeat()
    fresh = worker.fresh_data or warehouse.bars_version(cfg.data.dataset) != loaded
    if fresh and not worker.upkeep.holding:
        worker.fresh_data = False
        worker.reload(market(warehouse, cfg))
    # The data's last close is T-1; the next session is T. The simulated broker fills market
    # orders at the latest known price.
    worker.mark_latest()
    # Forced: now, whatever the schedule and the data's age (the operator asked). Otherwise only
    # when the schedule says so, on fresh data.
    if force or worker.stops_due(worker.wall()) is not None:
        worker.stops_next()  # the stops' exits first: the rebalance leaves a stopped name alone
    if force or worker.due(worker.wall()) is not None:
        worker.rebalance_next()
    # Market orders, ours now or left waiting by an earlier run, fill at the latest price.
    fills = worker.broker.settle(ONCE_SETTLE_S)
    crash_point_for_tests("filled")
    worker.journal.fills(worker.run_id, fills)
    worker.heartbeat()
    if not force and (refusal := worker.planner.stale_refusal) is not None:  # exit 1: cron alerts
        raise DataError(f"--once: {refusal}")


def _live_loop(worker: Worker, warehouse: Warehouse, cfg: AppConfig, loaded: int) -> None:
    # A heartbeat every live.heartbeat_s, and at once when a command arrives: watchdog wakes the
    # loop within a millisecond or so, but its inotify buffer can hold an event for 0.5 s, so
    # every COMMAND_POLL_S the loop also looks for a command itself (inbox/*.json or the legacy
    # command.json: a stat and a small directory scan, nothing written).
    # New bars synced into the warehouse are picked up, so a daily sync keeps the worker fresh.
    # A lost connection: DISCONNECTED, back-off, reconnect, reconcile, then trading again.
    worker.mark_latest()
    next_beat = 0.0
    attempts = 0
    version = loaded  # bars stored since they were read (during start()) are read at the first beat
    watch = BarsWatch(warehouse, cfg)
    with CommandWatcher(worker.live_dir, poll_s=COMMAND_POLL_S) as watcher:
        while not worker.stop_requested:
            if time.monotonic() >= next_beat or worker.inbox.waiting():
                try:
                    version = _beat(worker, watch, version)
                    attempts = 0
                except TemporaryBrokerError as exc:
                    while not worker.recover(exc, attempts) and not worker.stop_requested:
                        attempts += 1
                    attempts = 0
                next_beat = time.monotonic() + cfg.live.heartbeat_s
            watcher.wait()


def _beat(worker: Worker, watch: BarsWatch, version: int) -> int:
    worker.track_equity(worker.local_today())
    worker.heartbeat()  # where a refresh's end is seen (worker.fresh_data)
    # New bars: a sync by hand, or the worker's own refresh once it has ended (its factors too),
    # read before anything is decided in this beat.
    latest = watch.version()  # None: out of reach; the data read before is kept (bars_watch)
    moved = latest is not None and (worker.fresh_data or latest != version)
    data = watch.market() if moved and not worker.upkeep.holding else None
    if latest is not None and data is not None:
        worker.fresh_data, version = False, latest
        worker.reload(data)
        worker.write_state()  # the state shows the new data's end at once
    if worker.stops_due(worker.wall()) is not None:
        worker.stops_next()  # every session, before the rebalance (live.stop_exits)
    if worker.due(worker.wall()) is not None:
        worker.rebalance_next()
    worker.journal.fills(worker.run_id, worker.broker.settle(0.0))
    worker.sample_equity()
    return version
