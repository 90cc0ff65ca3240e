"""The headless live worker: a state machine that coordinates, and nothing more.

States: STARTING, CONNECTING, RUNNING, HALTED (a limit tripped or FLAT: no new strategy
orders), DISCONNECTED (reconnecting), STOPPED. Every transition is logged and shown in the state
file. Only RUNNING places strategy orders; CANCEL and FLAT work in every state.

Each heartbeat takes commands (``live/commands.py``), checks the account limits
(``live/risk_watch.py``), refreshes account, positions, orders and fills from the broker, and
writes ``dashboard_state.json``. Every session, the stops' exits go first
(``live/stop_exits.py``). A rebalance has the planner (``live/planner.py``) decide the
session's orders, checks them against the risk controls, journals them, then sends them; before
sending anything, the worker reconciles with the broker (``live/reconcile.py``), so a restarted
worker that finds its own orders for that session does not send them again.

Commands (``live/commands.py``): CANCEL and FLAT act in every state, FLAT leaving the worker
HALTED; STOP ends the worker, touching no order and no position, and latches: a worker started
again comes up STOPPED until it is started with ``--resume`` or receives RESUME, which also
leaves HALTED. A strategy that refuses to trade (``fitted`` without its model) halts it
(``live/refusal.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from config.schema import AppConfig
from quant_core.alerts.events import AlertSink, NullSink
from quant_core.broker import Broker, Order
from quant_core.calendar import get_calendar
from quant_core.data.panels import MarketData
from quant_core.live import commands, files, halted_book, reconnect, refusal, replay
from quant_core.live.alerting import WorkerAlerts
from quant_core.live.book_live import LiveBook
from quant_core.live.book_planner import BookPlanner
from quant_core.live.book_risk import BookRiskWatch
from quant_core.live.crash_hook import crash_point_for_tests
from quant_core.live.daily_close import DailyCloseWatch
from quant_core.live.inbox import CommandInbox
from quant_core.live.journal import Journal
from quant_core.live.plan_orders import Plan
from quant_core.live.planner import Planner
from quant_core.live.reconcile import reconcile_with_broker
from quant_core.live.refresh_job import RefreshJob
from quant_core.live.risk_state import RiskState
from quant_core.live.risk_watch import LimitWatch
from quant_core.live.state import (
    CommandAck,
    EquityPoint,
    Reconciliation,
    WorkerError,
    WorkerState,
)
from quant_core.live.state_doc import BrokerSnapshot, publish
from quant_core.live.stop_exits import StopWatch
from quant_core.live.upkeep import Upkeep
from quant_core.live.worker_options import WorkerOptions as WorkerOptions
from quant_core.live.worker_options import utc_now as utc_now
from quant_core.portfolio import risk
from quant_core.runs import config_digest, new_run_id
from quant_core.strategies.base import Strategy

logger = logging.getLogger(__name__)

EQUITY_SAMPLE_S = 60.0
EQUITY_POINTS = 2000
LAST_ACKS = 50
LAST_ERRORS = 50


class Worker:
    """Coordinate one broker, one strategy and the two files (see the module docstring).

    ``price_feed``: called with each new close of every symbol, for a broker that has no
    prices of its own (the simulated broker: ``live.replay.price_feed``); None for one that has
    (IB).
    """

    def __init__(
        self,
        cfg: AppConfig,
        data: MarketData,
        strategy: Strategy[Any],
        broker: Broker,
        live_dir: Path,
        journal: Journal,
        options: WorkerOptions = WorkerOptions(),
        clock: Callable[[], dt.datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], dt.datetime] = utc_now,
        price_feed: Callable[[np.ndarray], None] | None = None,
        refresh_job: RefreshJob | None = None,
    ) -> None:
        self.cfg, self.strategy, self.broker = cfg, strategy, broker
        self.live_dir, self.journal, self.options = live_dir, journal, options
        self.clock, self.sleep, self.wall = clock, sleep, wall
        self.price_feed = price_feed
        self.inbox = CommandInbox(live_dir)
        # Built now, before the first state file announces the worker: not on a command's time.
        self.calendar = get_calendar(cfg.calendar.exchange)
        self.state = WorkerState.STARTING
        self.reason = "starting"
        self.run_id = new_run_id(wall())
        self.started_at = wall()
        self.equity_points: deque[EquityPoint] = deque(maxlen=EQUITY_POINTS)
        self.acks: deque[CommandAck] = deque(maxlen=LAST_ACKS)
        self.answered = 0  # commands acknowledged by this process
        self.errors: deque[WorkerError] = deque(maxlen=LAST_ERRORS)
        self.breach: risk.Breach | None = None
        self.last_rebalance: dt.date | None = None
        self.next_rebalance: dt.date | None = None
        self.session: pd.Timestamp | None = None
        self.zone = ZoneInfo(self.calendar.tz)
        # The peak and the session's opening equity outlive the worker, so a restart (or the
        # next cron --once) does not reset the drawdown and daily-loss limits.
        self.risk_state = RiskState(live_dir, self.calendar)
        # Daily loss and drawdown at every heartbeat; the limits flat_on_breach acted on are
        # saved, so a restart (the next cron --once) does not liquidate again.
        self.limit_watch = LimitWatch(cfg.risk, self.risk_state)
        args = (cfg, strategy, broker, journal, data, self.calendar)
        kw: dict[str, Any] = {
            "mode": options.mode,
            "clock": lambda: self.clock(),  # read at each call: the market clock can be swapped
            "report": self.report_error,
            "progress": self.write_state,
        }
        # A book decides through its sleeves (live.book_planner); one strategy through Planner.
        self.books = None
        if options.book is not None:
            self.books = BookPlanner(*args, book=options.book, start=options.book_start, **kw)
        self.planner: Planner = self.books or Planner(*args, **kw)
        # Stops at every session, before the rebalance (live.stop_exits).
        self.stop_watch = StopWatch(cfg.risk, self.planner)
        # The held book's risk report, recomputed when the book changes (live.book_risk).
        self.book_risk = BookRiskWatch(self.planner.policy, self.calendar, self.report_error)
        # The account at each session's close, journaled and kept in the state (live.daily_close).
        self.daily = DailyCloseWatch()
        # Alerts go out through this sink, off the loop (quant_core.alerts); none by default.
        self.alerts: AlertSink = NullSink()
        self.alerting = WorkerAlerts(self)  # what pages (live.alerting), the outage timer too
        # The data refresh, the market's hours, the systemd watchdog (live.upkeep).
        self.upkeep = Upkeep(self, refresh_job)
        self.fresh_data = False  # a refresh succeeded: the driver reloads the bars
        self.stop_requested = False
        self.finished = False
        self.replay_finished: dt.date | None = None  # the last session of a replay run to its end
        self.reconciled: Reconciliation | None = None  # what reconcile() last found
        self.last_sample: dt.datetime | None = None
        self.before_disconnect: tuple[WorkerState, str] = (WorkerState.RUNNING, "connected")
        self.broker_snapshot: BrokerSnapshot | None = None  # the last figures read
        journal.start_run(self.run_id, options.mode, config_digest(cfg.sanitized()), wall())

    @property
    def book(self) -> LiveBook | None:
        """Return the book's sleeves (``--book``), or None for one strategy."""
        return None if self.books is None else self.books.live

    @property
    def data(self) -> MarketData:
        """Return the bars the worker decides from (the planner's; :meth:`reload` renews them)."""
        return self.planner.data

    # ------------------------------------------------------------------------ the machine

    def transition(self, new: WorkerState, reason: str, *, save: bool = True) -> None:
        """Move to ``new`` and log why; a halt is saved (``save``): a restart comes up HALTED."""
        if new is not self.state or reason != self.reason:
            logger.info("Worker state %s -> %s: %s", self.state, new, reason)
        self.alerting.transition(self.state, new, reason)
        self.state, self.reason = new, reason
        if new is WorkerState.HALTED and save:
            files.save_halt(self.live_dir, reason, self.wall())

    def lift_latches(self) -> None:
        """RESUME or --resume: neither the STOP latch nor a halt survives, nor the tripped limit."""
        files.lift_latches(self.live_dir)
        self.breach = None

    def start(self) -> None:
        """Connect (the sim broker is always there) and apply the STOP latch."""
        self.transition(WorkerState.CONNECTING, f"connecting to the {self.options.mode} broker")
        self.broker.connect()
        self.journal.set_account(self.run_id, self.broker.account_id)
        if self.books is not None:  # the sleeves restored, and checked against the broker
            mismatches = self.books.attach(self.broker.account().cash, self.wall())
            if mismatches:
                self.report_error(f"book: sleeves and broker differ: {'; '.join(mismatches)}")
        self.daily.load(self)  # the account's session closes so far
        # The first figure once connected.
        self.risk_state.connected(self.broker.account().net_liquidation)
        latched, halted = files.latched(self.live_dir), files.halt_reason(self.live_dir)
        if self.options.resume and (latched or halted is not None):
            self.lift_latches()
            self.transition(WorkerState.RUNNING, "started with --resume: latches cleared")
        elif halted is not None and not latched:
            still = f"still halted: {halted}; RESUME to trade again"
            self.transition(WorkerState.HALTED, still, save=False)  # on file already
        elif latched:
            self.transition(
                WorkerState.STOPPED,
                "latched by an earlier STOP; start with --resume or send RESUME",
            )
        else:
            self.transition(WorkerState.RUNNING, "connected")
        refusal.at_start(self)  # a strategy that cannot trade (no model): HALTED
        self.reconcile()
        self.upkeep.started()  # systemd: READY (live.sd_notify)
        self.heartbeat()

    def recover(self, error: Exception, attempt: int) -> bool:
        """Handle a lost connection (``live.reconnect``); True once reconnected and reconciled."""
        return reconnect.recover(self, error, attempt)

    def reconcile(self) -> None:
        """Read positions and our own open orders back from the broker before placing anything."""
        found = reconcile_with_broker(
            self.broker, self.journal, self.run_id, self.zone, self.local_today(), self.report_error
        )
        self.reconciled = replace(found, at=self.wall(), account=self.options.account or None)

    def heartbeat(self) -> None:
        """Take commands, check the account limits (``live.risk_watch``), write the state file.

        After a session's close (before the next open) the account's row of that close is
        journaled once (``live.daily_close``).
        """
        commands.take(self)  # each executed once and acknowledged
        if self.books is not None and not isinstance(self.clock, replay.ReplayClock):
            # A replay settles at each of its closes (live.replay), never past the session.
            self.books.settle()  # new executions attributed to the sleeves
        self.fresh_data |= self.upkeep.beat()  # the data refresh, the market's hours, watchdog
        self.limit_watch.check(self)
        if (closed := self.daily.due(self)) is not None:
            self.daily.record(self, closed)  # once per session, after its close
        self.alerting.rejections(self.broker.rejections())  # listed in the errors, and paged
        self.write_state()

    def report_error(self, message: str, *, alert: bool = True) -> None:
        """Log ``message`` and list it in the state's errors (once while it repeats); alert it."""
        if not self.errors or self.errors[-1].message != message:
            logger.error("%s", message)
            self.errors.append(WorkerError(self.wall(), message))
            if alert:  # an ERROR, or STALE_DATA for the planner's refusal (live.alerting)
                self.alerting.error(message)

    # ------------------------------------------------------------------------ rebalancing

    def due(self, now: dt.datetime) -> dt.date | None:
        """Return today's session if a scheduled rebalance is due now, else None (the planner's).

        Never while the data refresh runs (the bars and factors are not final until it ends),
        nor before the bars it brought are read.
        """
        return None if self.upkeep.holding or self.fresh_data else self.planner.due(now)

    def stops_due(self, now: dt.datetime) -> dt.date | None:
        """Return today's session if its stops are to be checked now (``live.stop_exits``)."""
        return None if self.upkeep.holding or self.fresh_data else self.stop_watch.due(now)

    def rebalance_next(self) -> list[Order]:
        """Decide for the session after the data's last close (a live decision, now)."""
        return self.rebalance(len(self.data.dates), self.planner.next_session())

    def stops(self, t: int, session: dt.date | None = None) -> list[Order]:
        """Send the exits of the stops tripped at the close of row t-1 (``live.stop_exits``)."""
        session = session or pd.Timestamp(self.data.dates[t]).date()
        return self.stop_watch.send(self, t, session)

    def stops_next(self) -> list[Order]:
        """Check the stops for the session after the data's last close (now, before a rebalance)."""
        return self.stops(len(self.data.dates), self.planner.next_session())

    def rebalance(self, t: int, session: dt.date | None = None) -> list[Order]:
        """Decide and send the orders for the session at row ``t`` (from data through t-1)."""
        session = session or pd.Timestamp(self.data.dates[t]).date()
        placed = self._decide(t, session)
        if not placed:  # a decision that trades is journaled with its orders, before sending
            outcome = f"no orders ({self.state.value}: {self.reason})"
            shape = self.planner.shape  # a decision made, with nothing to send
            shape = shape if shape is not None and shape.session == session else None
            self.journal.decision(self.run_id, session, self.wall(), outcome, 0, shape)
        return placed

    def _decide(self, t: int, session: dt.date) -> list[Order]:
        halted_book.halt_first(self)  # a book: the account's limits before its plan
        if halted_book.sends_exits(self):  # a halted book's sleeves' own stops still fire
            return halted_book.send_exits(self, t, session)
        if self.state not in WorkerState.TRADING:
            logger.info(
                "Rebalance for %s skipped: worker is %s (%s)", session, self.state, self.reason
            )
            return []
        plan = refusal.plan_or_halt(self, t, session)  # a strategy's refusal halts the worker
        if plan is None:
            return []
        figures = self.risk_state
        breach = self.planner.check(plan, figures.day_start_equity, figures.peak_equity)
        if breach is not None:
            self.breach = breach
            self.transition(WorkerState.HALTED, f"risk limit {breach.limit}: {breach.reason}")
            return []
        placed = self.send(session, plan)
        self.last_rebalance = session
        logger.info("Rebalance for %s: %d order(s) sent", session, len(placed))
        return placed

    def send(self, session: dt.date, plan: Plan) -> list[Order]:
        """Send ``plan``'s orders for ``session``; return them as the broker accepted them.

        Write-ahead: the batch and its decision are journaled before anything is sent, the
        broker's ids after; a stop in between is settled at the next start (live/reconcile.py).
        """
        self.journal.intend(
            self.run_id, session, plan.orders, self.clock(), self.wall(), shape=plan.shape
        )
        crash_point_for_tests("before_placing")
        placed = self.broker.place(plan.orders)
        crash_point_for_tests("placed")
        self.journal.placed(self.run_id, placed)
        return placed

    def reload(self, data: MarketData) -> None:
        """Take newly synced bars: new marks, and the next decision sees the new close."""
        if not data.symbol_index.equals(self.data.symbol_index):
            self.report_error(
                "the dataset's symbols changed: restart the worker to trade the new universe"
            )
            return
        self.planner.reload(data)
        self.mark_latest()
        logger.info("New bars: the data now ends %s", pd.Timestamp(data.dates[-1]).date())

    def mark_latest(self) -> None:
        """Give the data's last close to a broker without prices of its own (``price_feed``)."""
        if self.price_feed is not None:
            self.price_feed(self.data.panels["close"][-1])

    def sample_equity(self, every_s: float = EQUITY_SAMPLE_S) -> None:
        """Add an equity point to the state and the journal, at most every ``every_s`` seconds."""
        now = self.wall()
        if self.last_sample is None or (now - self.last_sample).total_seconds() >= every_s:
            self.last_sample = now
            account = self.broker.account()
            at = now.replace(microsecond=0)  # to the second
            self.equity_points.append(EquityPoint(at, account.net_liquidation))
            self.journal.equity(self.run_id, now, account.net_liquidation, account.cash)
            self.next_rebalance = self.planner.next_due(self.local_today())

    def track_equity(self, day: dt.date, equity: float | None = None) -> None:
        """Roll the risk day and raise the peak (``live.risk_state``) by the broker's figure.

        ``equity``: the broker's net liquidation, when the caller has just read it.
        """
        equity = self.broker.account().net_liquidation if equity is None else equity
        self.risk_state.track(day, equity)

    def local_today(self) -> dt.date:
        """Return today's date at the exchange, by the market clock."""
        return self.clock().astimezone(self.zone).date()

    # ----------------------------------------------------------------------------- replay

    def replay(self, first: int, last: int) -> None:
        """Step through sessions ``first..last`` on the simulated broker (``live.replay``)."""
        replay.run(self, first, last)

    def finish(self) -> None:
        """Write the final state and close the run in the journal (once)."""
        if self.finished:
            return
        self.finished = True
        self.upkeep.stopping()  # a running refresh's child process ends; systemd: STOPPING
        logger.info("Worker finished in state %s (%s)", self.state, self.reason)
        if self.state is not WorkerState.STOPPED:
            # The process ends (replay done, --once, a signal): say so, without latching.
            self.transition(
                WorkerState.STOPPED, f"worker exited while {self.state} ({self.reason})"
            )
        self.write_state()
        self.journal.end_run(self.run_id, self.wall())

    # ------------------------------------------------------------------------ state file

    def write_state(self) -> None:
        """Write ``dashboard_state.json`` (``live.state_doc.publish``); ping the watchdog."""
        publish(self)
        self.upkeep.alive()
