"""Soak: a real worker through every session of a multi-year SYNTHETIC panel, at top speed.

The worker is the production one (``live.worker.Worker`` on the simulated broker, momentum
rebalancing weekly, stops at 15%), driven the way the live loop drives it, on a virtual market
clock (the worker's market clock and wall clock both: the schedule, the refresh moments and
command expiry follow it). For each session ``d``:

1. commands queued by ``send_command`` (every 50 sessions a CANCEL, a malformed file and a
   file with an unknown command; every 250 a FLAT, then RESUME at the next session);
2. the clock at ``d``'s ``live.rebalance_time``: one step of the live loop (``run._beat``:
   reload on fresh data, heartbeat with its commands, stops, rebalance, fills, equity);
3. every 100 sessions a broker drop after the rebalance: the broker's account reads raise
   ``TemporaryBrokerError`` and it refuses two reconnects; the loop's own recovery runs
   (``worker.recover``: DISCONNECTED, back-off, reconnect, reconcile);
4. the clock at ``d``'s refresh moment (``market_clock.refresh_moment``: 16:30, or 13:30 after
   an early close): steps until the worker's data refresh (a ``ThreadJob`` running
   ``soak_market.refresh_soak``, which syncs session ``d`` of the hidden panel into the real
   warehouse) has ended and the bars are reloaded, waiting between steps on the live loop's
   ``CommandWatcher`` (its watchdog thread sees every file the worker writes). Every 250
   sessions the refresh fails once; the clock then moves to the watch's next attempt.

Measured: ``VmRSS`` every ``--every`` sessions, split into the bars the worker holds (data: a
session more each day), DuckDB's memory for the journal, and the rest; file descriptors,
threads, live objects; the wall time between heartbeats (state-file writes) by phase; sessions
per second. With ``--trace``, tracemalloc's top growth sites (slower). The run is checked before
anything is printed (``soak_checks.verify``).

    python benchmarks/soak_worker.py [--symbols 200] [--sessions 2520] [--quick] [--trace]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import logging
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from benchmarks import soak_checks
from benchmarks.soak_market import SOAK, FlakySimBroker, HiddenPanel, refresh_soak, seed_warehouse
from benchmarks.soak_probe import (
    Checkpoint,
    Heartbeats,
    checkpoint,
    malloc_bytes,
    object_types,
    rss_bytes,
    trim_malloc,
)
from config import load_config
from config.schema import AppConfig
from quant_core.atomic import atomic_write_bytes
from quant_core.calendar import get_calendar
from quant_core.data.warehouse import Warehouse
from quant_core.errors import TemporaryBrokerError
from quant_core.live import reconnect, replay, run
from quant_core.live.allocators import settle_allocators
from quant_core.live.bars_watch import BarsWatch, market
from quant_core.live.files import INBOX, JOURNAL_FILE, SIM_ACCOUNT_FILE, inbox_name, send_command
from quant_core.live.journal import Journal
from quant_core.live.market_clock import refresh_moment
from quant_core.live.refresh_job import ThreadJob
from quant_core.live.refresh_watch import REFRESH_PROGRESS_FILE
from quant_core.live.state import RefreshStatus, WorkerMode
from quant_core.live.watcher import CommandWatcher
from quant_core.live.worker import Worker, WorkerOptions
from quant_core.portfolio.costs import CostModel
from quant_core.strategies import build_strategy

END = dt.date(2024, 12, 31)  # the hidden panel's last session
COMMANDS_EVERY, FLAT_EVERY, DROP_EVERY, FAIL_EVERY = 50, 250, 100, 250
DROP_REFUSALS = 2  # reconnects refused per drop
POLL_S = 0.005  # between heartbeats while the refresh runs (the loop's wait, shortened)
REFRESH_TIMEOUT_S = 120.0
OVERRIDES = (
    "data.dataset=soak",
    "strategy.name=momentum",
    "strategy.params.lookback=126",
    "strategy.params.top_quantile=0.2",
    "strategy.rebalance=weekly",
    "risk.stop_loss=0.15",
    "risk.max_daily_loss_frac=0.5",  # checked at every heartbeat, loose enough to keep trading
    "risk.max_drawdown_frac=0.95",
    "logging.level=INFO",
)


@dataclass
class Soak:
    """The worker under test, its clock and warehouse, and what the driver sent it."""

    cfg: AppConfig
    worker: Worker
    broker: FlakySimBroker
    warehouse: Warehouse
    clock: replay.ReplayClock
    panel: HiddenPanel
    first: int  # the panel's row of the first soaked session
    hb: Heartbeats = field(default_factory=Heartbeats)
    version: int = 0
    sent: dict[str, int] = field(default_factory=dict)  # commands and files queued, by kind
    failed_refreshes: list[dt.date] = field(default_factory=list)
    phase_s: dict[str, float] = field(default_factory=dict)  # wall seconds per driver phase
    watcher: CommandWatcher | None = None  # the live loop's: waits end early on a command

    # ------------------------------------------------------------------------ the live loop

    def step(self, phase: str) -> None:
        """One step of the live loop (``run._beat``), and its recovery from a lost broker."""
        self.hb.phase = phase
        start = time.perf_counter()
        try:
            self.version = run._beat(self.worker, BarsWatch(self.warehouse, self.cfg), self.version)
        except TemporaryBrokerError as exc:  # as run._live_loop handles it
            self.hb.phase = "reconnect"
            attempts = 0
            while not self.worker.recover(exc, attempts) and not self.worker.stop_requested:
                attempts += 1
        self.phase_s[phase] = self.phase_s.get(phase, 0.0) + time.perf_counter() - start

    def data_end(self) -> dt.date:
        """Return the last session of the worker's bars."""
        return self.worker.upkeep.data_end()

    # ------------------------------------------------------------------------ one session

    def session(self, i: int, day: dt.date) -> None:
        """Drive session ``day`` (the ``i``-th soaked): commands, rebalance, drop, refresh."""
        self.hb.session = i
        self.clock.at(day, self.cfg.live.rebalance_time)
        self.commands(i)  # issued now: taken at this step's heartbeat
        self.step("rebalance")
        if i % DROP_EVERY == DROP_EVERY // 2:
            self.broker.drop(DROP_REFUSALS)
            self.clock.at(day, dt.time(10, 0))
            self.step("drop")
            self.step("after drop")
        if i % FAIL_EVERY == 75:
            SOAK.fail_once(day)
            self.failed_refreshes.append(day)
        moment = refresh_moment(self.worker.calendar, day, self.cfg.live.refresh_time)
        if moment is None:
            raise RuntimeError(f"{day} is not a session of the calendar")
        self.clock.current = moment
        self.refresh(day)

    def refresh(self, day: dt.date) -> None:
        """Step until the refresh through ``day`` has ended and the bars are reloaded.

        Phases: ``close`` (the first step: the session's close row and daily report, the
        refresh started), ``refresh`` (while it runs, or waits for its retry); the reload of
        the new bars tags its own gap (``Heartbeats.wrap``).
        """
        deadline = time.monotonic() + REFRESH_TIMEOUT_S
        worker, phase = self.worker, "close"
        while self.data_end() < day or worker.upkeep.holding or worker.fresh_data:
            self.step(phase)
            phase = "refresh"
            if worker.upkeep.holding and self.watcher is not None:
                self.watcher.wait(POLL_S)
            elif self.data_end() < day:
                status = worker.upkeep.refresh_state()
                retry = status.next_attempt_at
                if status.status is RefreshStatus.FAILED and retry is not None:
                    self.clock.current = max(self.clock.current, retry + dt.timedelta(seconds=1))
            if time.monotonic() > deadline:
                raise RuntimeError(f"the refresh through {day} did not end: {status_line(self)}")

    def commands(self, i: int) -> None:
        """Queue this session's commands (see the module docstring)."""
        live, now = self.worker.live_dir, self.clock()
        if i % COMMANDS_EVERY == 10:
            self._send("CANCEL", lambda: send_command(live, "CANCEL", "soak", now))
            self._send("malformed", lambda: _raw(live, b'{"id": "x", "command": '))
            body = f'{{"id": "u{i}", "command": "DANCE", "issued_at": "{now.isoformat()}", '
            self._send("unknown", lambda: _raw(live, (body + '"source": "soak"}').encode()))
        if i % FLAT_EVERY == 30:
            self._send("FLAT", lambda: send_command(live, "FLAT", "soak", now))
        if i % FLAT_EVERY == 31:
            self._send("RESUME", lambda: send_command(live, "RESUME", "soak", now))

    def _send(self, kind: str, send: Any) -> None:
        send()
        self.sent[kind] = self.sent.get(kind, 0) + 1


def _raw(live: Path, body: bytes) -> None:
    atomic_write_bytes(live / INBOX / inbox_name(), body)


def status_line(soak: Soak) -> str:
    """Return the worker's state and its refresh's summary, for an error message."""
    worker = soak.worker
    return f"{worker.state}: {worker.reason}; {worker.upkeep.refresh_state().summary}"


# ---------------------------------------------------------------------------- building it


def config(folder: Path) -> AppConfig:
    """Return the soak's config: live.yaml, the overrides, and ``live.refresh: broker``.

    The config refuses ``live.refresh: broker`` with the simulated broker (it has no history);
    the soak's refresh is the hidden panel's, so the section is copied with it set.
    """
    cfg = load_config("live", [f"paths.data_dir={folder}", *OVERRIDES], environ={})
    return cfg.model_copy(update={"live": cfg.live.model_copy(update={"refresh": "broker"})})


def build(folder: Path, symbols: int, sessions: int, warmup: int, seed: int) -> Soak:
    """Seed the warehouse with the warm-up and build the worker as ``run._run`` does (sim)."""
    cfg = config(folder)
    calendar = get_calendar(cfg.calendar.exchange)
    panel = HiddenPanel(calendar, symbols, warmup + sessions, seed, END)
    seed_warehouse(cfg, panel, panel.session(warmup - 1))
    warehouse = Warehouse(cfg.paths.warehouse_location())
    data = market(warehouse, cfg)
    live = run.live_dir(cfg)
    live.mkdir(parents=True, exist_ok=True)
    clock = replay.ReplayClock(calendar.tz)
    clock.at(panel.session(warmup), dt.time(9, 0))  # before the first soaked session's open
    broker = FlakySimBroker(
        data.symbol_index,
        cfg.live.initial_cash,
        CostModel.from_config(cfg.costs),
        cfg.portfolio.shortfall,
        cfg.portfolio.fractional_shares,
        clock,
        live / SIM_ACCOUNT_FILE,
        zone=ZoneInfo(calendar.tz),
    )
    feed = replay.price_feed(broker)
    if feed is not None:
        feed(data.panels["close"][-1])
    worker = Worker(
        cfg,
        data,
        build_strategy(cfg.strategy.name, cfg.strategy.params),
        broker,
        live,
        Journal(live / JOURNAL_FILE),
        WorkerOptions(mode=WorkerMode.SIM, account="soak: fresh simulated account"),
        clock=clock,
        sleep=broker.wait,
        wall=clock,
        price_feed=feed,
        refresh_job=ThreadJob(refresh_soak, cfg, live / REFRESH_PROGRESS_FILE),
    )
    soak = Soak(cfg, worker, broker, warehouse, clock, panel, warmup)
    soak.version = warehouse.version(cfg.data.dataset)
    soak.hb.wrap(worker)
    return soak


def log_to(folder: Path, cfg: AppConfig) -> None:
    """Log as the worker does: INFO to a rotating ``worker.log`` (not to the terminal)."""
    folder.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(
        folder / "worker.log",
        maxBytes=int(cfg.live.log_max_mb * 1e6),
        backupCount=cfg.live.log_backups,
        encoding="utf-8",
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(cfg.logging.level)


# ---------------------------------------------------------------------------- the run


@dataclass
class Run:
    """What one soak measured."""

    soak: Soak
    points: list[Checkpoint]
    seconds: float
    types: tuple[Any, Any] | None = None  # object type counts: first checkpoint, end
    traced: tuple[tracemalloc.Snapshot, tracemalloc.Snapshot] | None = None
    # (VmRSS, malloc in use): at the end, once the journal is closed, once malloc is trimmed
    release: list[tuple[str, int, int]] = field(default_factory=list)


def drive(soak: Soak, sessions: int, every: int, trace: bool) -> Run:
    """Run ``sessions`` sessions, reading a checkpoint every ``every`` (after each of them)."""
    with CommandWatcher(soak.worker.live_dir, poll_s=run.COMMAND_POLL_S) as watcher:
        soak.watcher = watcher
        return _sessions(soak, sessions, every, trace)


def _sessions(soak: Soak, sessions: int, every: int, trace: bool) -> Run:
    data_dir = soak.cfg.paths.data_dir
    soak.worker.start()
    started = time.perf_counter()
    points = [checkpoint(soak.worker, 0, started, data_dir)]
    first_types: Any = None
    first_snap: tracemalloc.Snapshot | None = None
    for i in range(sessions):
        soak.session(i, soak.panel.session(soak.first + i))
        if (i + 1) % every and i + 1 != sessions:
            continue
        pause = time.perf_counter()
        points.append(checkpoint(soak.worker, i + 1, started, data_dir))
        print(progress_line(points[-1]), file=sys.stderr, flush=True)
        if first_types is None:  # warm: the first checkpoint after the start
            first_types = object_types()
            first_snap = tracemalloc.take_snapshot() if trace else None
        started += time.perf_counter() - pause  # the readings' time is not the worker's
        soak.hb.pause()
    seconds = time.perf_counter() - started
    out = Run(soak, points, seconds, (first_types, object_types()))
    if trace and first_snap is not None:
        out.traced = (first_snap, tracemalloc.take_snapshot())
    return out


def progress_line(p: Checkpoint) -> str:
    """Return one checkpoint as a progress line (stderr, while the run goes on)."""
    return (
        f"[soak] {p.session:>5} sessions  {p.at_s:8.1f} s  RSS {p.rss / 1e6:7.1f} MB  "
        f"bars {p.data / 1e6:5.1f} MB  duckdb {p.duckdb / 1e6:6.1f} MB  fds {p.fds}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=2520)
    parser.add_argument("--warmup", type=int, default=260, help="sessions stored before the run")
    parser.add_argument("--every", type=int, default=100, help="sessions between checkpoints")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="100 sessions, 20 symbols")
    parser.add_argument("--trace", action="store_true", help="tracemalloc's top growth sites")
    parser.add_argument("--dir", type=Path, help="keep the run's files here (default: a temp dir)")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.symbols, args.warmup, args.every = 100, 20, 130, 25
    settle_allocators()  # as run_worker does: the soak is the worker's process
    reconnect.RECONNECT_BASE_S = 0.001  # the back-off's shape, without its minutes
    if args.dir is not None and args.dir.exists() and any(args.dir.iterdir()):
        parser.error(f"--dir {args.dir} is not empty: the soak starts from nothing")
    with tempfile.TemporaryDirectory(prefix="quant-soak-") as tmp:
        folder = args.dir or Path(tmp)
        soak = build(folder, args.symbols, args.sessions, args.warmup, args.seed)
        log_to(folder / "soak-log", soak.cfg)
        if args.trace:
            tracemalloc.start()
        try:
            result = drive(soak, args.sessions, args.every, args.trace)
            soak.worker.finish()
            facts = soak_checks.verify(soak, args.sessions)
            result.release.append(("at the end", rss_bytes(), malloc_bytes()[0]))
        finally:
            soak.worker.journal.close()
        gc.collect()
        result.release.append(("journal closed", rss_bytes(), malloc_bytes()[0]))
        if trim_malloc():
            result.release.append(("malloc_trim(0)", rss_bytes(), malloc_bytes()[0]))
        pa.default_memory_pool().release_unused()  # Arrow's allocator (mimalloc) keeps its own
        result.release.append(("Arrow pool released", rss_bytes(), malloc_bytes()[0]))
        soak_checks.report(result, facts, args)


if __name__ == "__main__":
    main()
