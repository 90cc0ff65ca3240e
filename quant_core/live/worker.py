"""The headless live worker: a state machine that coordinates, and nothing more.

States: STARTING, CONNECTING, RUNNING, HALTED (a limit tripped or FLAT: no new strategy
orders), DISCONNECTED (reconnecting), STOPPED. Every transition is logged and shown in the state
file. Only RUNNING places strategy orders; CANCEL and FLAT work in every state.

Each heartbeat takes commands (``files.CommandInbox``), refreshes account, positions, orders and
fills from the broker, and writes ``dashboard_state.json``. A rebalance asks the strategy through
the same code as the backtest (``portfolio.rebalance.target_orders``: signal from the last
completed close, target shares from that close and the cash buffer), checks every order against
the risk controls, and sends the batch tagged ``qc:<session>:<symbol>``; before sending, it
reconciles with the broker, so a restarted worker that finds its own orders for that session
does not send them again.

Commands, exactly: CANCEL cancels every open order. FLAT cancels open orders, closes every
position at market, re-checks until flat or ``live.flat_timeout_s``, reports what is left and
leaves the worker HALTED. STOP writes state STOPPED and ends the worker, touching no order and
no position; it latches (``stopped.latch``): a worker started again comes up STOPPED until it is
started with ``--resume`` or receives RESUME. RESUME leaves HALTED or the latched STOPPED.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from config.schema import MOO_CUTOFF, AppConfig
from quant_core.atomic import atomic_write_json, json_safe, read_json_object
from quant_core.broker import Account, Broker, Fill, Order, OrderType, Position, Side
from quant_core.calendar import get_calendar
from quant_core.errors import TemporaryBrokerError
from quant_core.live import commands, replay
from quant_core.live.crash_hook import crash_point_for_tests
from quant_core.live.files import CommandInbox, write_state
from quant_core.live.journal import Journal
from quant_core.live.reconcile import reconcile_journal
from quant_core.live.risk_watch import LimitWatch
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import AUDIT_FILE as AUDIT_FILE
from quant_core.live.state import HALT_FILE as HALT_FILE
from quant_core.live.state import LATCH_FILE as LATCH_FILE
from quant_core.live.state import RISK_FILE as RISK_FILE
from quant_core.live.state import WorkerState as WorkerState
from quant_core.live.state_doc import document
from quant_core.portfolio import risk
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.ledger import FillStatus, Ledger, execute
from quant_core.portfolio.rebalance import (
    first_rows,
    forward_fill,
    gone_at,
    target_orders,
)
from quant_core.strategies.base import MarketData, Strategy

logger = logging.getLogger(__name__)

RECONNECT_BASE_S = 1.0  # first back-off, doubled per failed attempt, with jitter
RECONNECT_MAX_S = 60.0
LINK_LOST = 1100  # IB: TWS lost its link to IB; it restores it by itself (1101 / 1102)
LINK_POLL_S = 2.0  # how often a worker waiting for that asks again
DISCONNECTED_POLL_S = 0.25  # how often a disconnected worker looks for commands
EQUITY_SAMPLE_S = 60.0
LAST_EQUITY_SAVE_S = 30.0
EQUITY_POINTS = 2000
LAST_ACKS = 50
LAST_ERRORS = 50
CUTS_LISTED = 5  # truncated buys named in the state's error line


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How this worker was started."""

    mode: str = "sim"
    resume: bool = False
    speed_s: float = 0.0
    account: str = ""  # how the broker's account began, when the run chose (a replay's sim)


def utc_now() -> dt.datetime:
    """Return the wall clock, timezone-aware."""
    return dt.datetime.now(dt.UTC)


def _schedule_due(calendar: Any, last: dt.date, today: dt.date, rule: int | str) -> bool:
    if isinstance(rule, int):
        between = calendar.sessions_in_range(last, today)
        return len(between) - 1 >= rule
    if rule == "weekly":
        return last.isocalendar()[:2] != today.isocalendar()[:2]
    return (last.year, last.month) != (today.year, today.month)


class Worker:
    """Coordinate one broker, one strategy and the two files (see the module docstring)."""

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
    ) -> None:
        self.cfg, self.data, self.strategy, self.broker = cfg, data, strategy, broker
        self.live_dir, self.journal, self.options = live_dir, journal, options
        self.clock, self.sleep, self.wall = clock, sleep, wall
        self.inbox = CommandInbox(live_dir)
        self.controls = risk.controls_from_config(cfg.risk)
        self.costs = CostModel.from_config(cfg.costs)
        # Built now, before the first state file announces the worker: not on a command's time.
        self.calendar = get_calendar(cfg.calendar.exchange)
        self.state = WorkerState.STARTING
        self.reason = "starting"
        self.run_id = f"{wall():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        self.started_at = wall()
        self.equity_points: deque[tuple[str, float]] = deque(maxlen=EQUITY_POINTS)
        self.acks: deque[dict[str, Any]] = deque(maxlen=LAST_ACKS)
        self.answered = 0  # commands acknowledged by this process
        self.errors: deque[dict[str, Any]] = deque(maxlen=LAST_ERRORS)
        self.breach: risk.Breach | None = None
        self.last_rebalance: str | None = None
        self.next_rebalance: str | None = None
        self.session: pd.Timestamp | None = None
        self.zone = ZoneInfo(self.calendar.tz)
        # The peak and the session's opening equity outlive the worker, so a restart (or the
        # next cron --once) does not reset the drawdown and daily-loss limits.
        self.saved_risk = read_json_object(live_dir / RISK_FILE) or {}
        self.peak_equity = float(self.saved_risk.get("peak_equity", 0.0))
        self.risk_day = str(self.saved_risk.get("day", ""))
        self.day_start_equity = float(self.saved_risk.get("day_start_equity", 0.0))
        # The last net liquidation seen, and its day: a worker that first sees a day after a
        # loss (cron --once, a restart) measures the day from the previous session's last figure.
        self.last_equity = float(self.saved_risk.get("last_equity", math.nan))
        self.last_equity_day = str(self.saved_risk.get("last_equity_day", ""))
        self._last_equity_saved = time.monotonic()
        # Daily loss and drawdown at every heartbeat; the limits flat_on_breach acted on are
        # saved, so a restart (the next cron --once) does not liquidate again.
        self.limit_watch = LimitWatch(cfg.risk, self.saved_risk.get("flattened", []))
        self.stop_requested = False
        self.finished = False
        self.stale_refusal: str | None = None  # why due() last refused a rebalance (stale data)
        self.replay_finished: str | None = None  # the last session of a replay run to its end
        self.first_bar = first_rows(data)
        self.closes = forward_fill(data.panels["close"])
        self.reconciled: dict[str, Any] = {}
        self.last_sample: dt.datetime | None = None
        self.before_disconnect: tuple[WorkerState, str] = (WorkerState.RUNNING, "connected")
        self._snapshot: (
            tuple[Account, list[Position], list[Order], list[Fill], dt.datetime] | None
        ) = None
        digest = json.dumps(cfg.sanitized(), sort_keys=True, default=str).encode()
        journal.start_run(self.run_id, options.mode, hashlib.sha256(digest).hexdigest(), wall())

    # ------------------------------------------------------------------------ the machine

    def transition(self, new: WorkerState, reason: str) -> None:
        """Move to ``new`` and log why."""
        if new is not self.state or reason != self.reason:
            logger.info("Worker state %s -> %s: %s", self.state, new, reason)
        self.state, self.reason = new, reason
        if new is WorkerState.HALTED and not reason.startswith("still halted"):
            self._save_halt(reason)

    def _save_halt(self, reason: str) -> None:
        # Saved, so that a restart comes up HALTED too, until RESUME or --resume.
        halt = {"reason": reason, "at": self.wall().isoformat()}
        atomic_write_json(self.live_dir / HALT_FILE, halt)

    def _lift_latches(self) -> None:
        # RESUME or --resume: neither the STOP latch nor a halt survives, nor the tripped limit.
        (self.live_dir / LATCH_FILE).unlink(missing_ok=True)
        (self.live_dir / HALT_FILE).unlink(missing_ok=True)
        self.breach = None

    def start(self) -> None:
        """Connect (the sim broker is always there) and apply the STOP latch."""
        self.transition(WorkerState.CONNECTING, f"connecting to the {self.options.mode} broker")
        self.broker.connect()
        self.journal.set_account(self.run_id, self.account_key())
        equity = self.broker.account().net_liquidation  # the first figure once connected
        self.peak_equity = max(self.peak_equity, equity)
        if "day_start_equity" not in self.saved_risk:
            self.day_start_equity = equity
        latch = self.live_dir / LATCH_FILE
        halt = self.live_dir / HALT_FILE
        if self.options.resume and (latch.exists() or halt.exists()):
            self._lift_latches()
            self.transition(WorkerState.RUNNING, "started with --resume: latches cleared")
        elif halt.exists() and not latch.exists():
            reason = json.loads(halt.read_text(encoding="utf-8")).get("reason", "halted")
            self.transition(WorkerState.HALTED, f"still halted: {reason}; RESUME to trade again")
        elif latch.exists():
            self.transition(
                WorkerState.STOPPED,
                "latched by an earlier STOP; start with --resume or send RESUME",
            )
        else:
            self.transition(WorkerState.RUNNING, "connected")
        self.reconcile()
        self.heartbeat()

    def recover(self, error: Exception, attempt: int) -> bool:
        """Handle a lost connection: DISCONNECTED, back off, reconnect, reconcile; True if back.

        The state the worker was in (RUNNING, HALTED, STOPPED) is restored after reconciling,
        so nothing is sent before the broker's positions and our open orders are read back.
        """
        if self.state is not WorkerState.DISCONNECTED:
            self.before_disconnect = (self.state, self.reason)
            self.transition(WorkerState.DISCONNECTED, f"{error}; reconnecting")
            self._error(str(error))
        delay = min(RECONNECT_MAX_S, RECONNECT_BASE_S * 2**attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security
        if getattr(error, "code", None) == LINK_LOST:  # TWS is up, its link to IB is not
            delay = min(delay, LINK_POLL_S)
        self.write_state()
        # Commands keep being answered while the broker is away (STOP in full; see
        # _while_disconnected for the others), in slices of the back-off.
        deadline = time.monotonic() + delay
        written = time.monotonic()
        while (left := deadline - time.monotonic()) > 0 and not self.stop_requested:
            answered = self.answered
            try:
                self.sleep(min(left, DISCONNECTED_POLL_S))
            except TemporaryBrokerError:  # the socket went too (TWS restarting): connect()
                time.sleep(min(left, DISCONNECTED_POLL_S))  # below starts afresh
            self.take_commands()
            due = time.monotonic() - written >= self.cfg.live.heartbeat_s
            if self.answered != answered or due:
                self.write_state()  # a heartbeat, and the answers, while disconnected
                written = time.monotonic()
        if self.stop_requested:
            return False
        try:
            self.broker.connect()
        except TemporaryBrokerError as again:
            logger.warning("Reconnect attempt %d failed: %s", attempt + 1, again)
            return False
        self.reconcile()
        state, reason = self.before_disconnect
        self.transition(state, f"reconnected; {reason}")
        return True

    def reconcile(self) -> None:
        """Read positions and our own open orders back from the broker before placing anything."""
        positions = self.broker.positions()
        ours = [o for o in self.broker.open_orders() if o.ref.startswith(("qc:", "flat:"))]
        sessions = sorted({o.ref.split(":")[1] for o in ours if o.ref.startswith("qc:")})
        foreign = [o for o in ours if "/" in o.order_id]  # placed under another client id
        if foreign:
            self._error(
                f"{len(foreign)} open order(s) of ours were placed under another IB client id "
                f"({', '.join(f'{o.ref} as {o.order_id}' for o in foreign[:5])}): this worker "
                "sees them (it will not send them again) but cannot cancel them; cancel them in "
                "TWS, or run with that ib.client_id"
            )
        # What a stop left half-done (intents, executions not journaled) is settled first.
        journal = reconcile_journal(
            self.journal, self.run_id, ours, self.broker.fills(), self.zone, self.local_today()
        )
        if journal.changed():
            logger.warning("Journal reconciled with the broker: %s", journal.describe())
        if journal.unconfirmed_orders:
            self._error(f"journal reconciled: {journal.describe()}")
        self.reconciled = {
            "at": self.wall().isoformat(),
            "positions": len(positions),
            "our_open_orders": len(ours),
            "open_order_sessions": sessions,
            "journal": journal.counts(),
            "account": self.options.account or None,
        }
        logger.info(
            "Reconciled with the broker: %d position(s), %d open order(s) of ours%s",
            len(positions),
            len(ours),
            f" for session(s) {', '.join(sessions)}" if sessions else "",
        )

    def heartbeat(self) -> None:
        """Take commands, check the account limits (``live.risk_watch``), write the state file."""
        self.take_commands()
        self.limit_watch.check(self)
        for order in self.broker.rejections():
            self._error(
                f"order {order.ref} ({order.side.value} {order.quantity:g} {order.symbol}) "
                f"was rejected: {order.reason}"
            )
        self.write_state()

    # -------------------------------------------------------------------------- commands

    def take_commands(self) -> None:
        """Execute every waiting command once and acknowledge it (``live.commands``)."""
        commands.take(self)

    # ------------------------------------------------------------------------ rebalancing

    def due(self, now: dt.datetime) -> dt.date | None:
        """Return today's session if a scheduled rebalance is due now, else None.

        Due: today is a session of the exchange, it is between ``live.rebalance_time``
        (exchange time) and the session's close, no rebalance was decided for today, the
        schedule says so (sessions since the last one, or a new week or month), and the data's
        last close is the previous session: a decision on stale prices is refused and reported.
        """
        calendar = self.calendar
        local = now.astimezone(self.zone)
        today = local.date()
        if not calendar.is_session(np.array([today], dtype="datetime64[D]"))[0]:
            return None
        close = calendar.close_of(today)
        if local.time() < self.cfg.live.rebalance_time or (close is not None and now >= close):
            return None
        last = self.journal.last_rebalance()
        if last is not None and last >= today:
            return None
        if last is not None and not _schedule_due(
            calendar, last, today, self.cfg.strategy.rebalance
        ):
            return None
        previous = calendar.previous_session(today)
        data_end = self.data.dates[-1]
        if data_end != np.datetime64(previous, "D"):
            self.stale_refusal = (
                f"rebalance for {today} refused: the data ends {pd.Timestamp(data_end).date()}, "
                f"not the previous session {previous}; run run_data_sync.py"
            )
            self._error(self.stale_refusal)
            return None
        self.stale_refusal = None
        return today

    def _error(self, message: str) -> None:
        if not self.errors or self.errors[-1]["message"] != message:
            logger.error("%s", message)
            self.errors.append({"at": self.wall().isoformat(), "message": message})

    def rebalance_next(self) -> list[Order]:
        """Decide for the session after the data's last close (a live decision, now)."""
        last = pd.Timestamp(self.data.dates[-1]).date()
        sessions = self.calendar.sessions
        upcoming = sessions[sessions > np.datetime64(last, "D")]
        return self.rebalance(len(self.data.dates), pd.Timestamp(upcoming[0]).date())

    def rebalance(self, t: int, session: dt.date | None = None) -> list[Order]:
        """Decide and send the orders for the session at row ``t`` (from data through t-1)."""
        session = session or pd.Timestamp(self.data.dates[t]).date()
        placed = self._decide(t, session)
        if not placed:  # a decision that trades is journaled with its orders, before sending
            outcome = f"no orders ({self.state.value}: {self.reason})"
            self.journal.decision(self.run_id, session, self.wall(), outcome, 0)
        return placed

    def _decide(self, t: int, session: dt.date) -> list[Order]:
        if self.state not in WorkerState.TRADING:
            logger.info(
                "Rebalance for %s skipped: worker is %s (%s)", session, self.state, self.reason
            )
            return []
        prefix = f"qc:{session}:"
        mine = [o for o in self.broker.open_orders() if o.ref.startswith("qc:")]
        # A symbol whose order for this session is at the broker (open, or already filled:
        # a batch cut by a drop, or a restart) is not sent again; the rest of the batch is.
        resting = [o for o in mine if o.ref.startswith(prefix)]
        sent = {o.symbol for o in resting}
        sent |= {f.symbol for f in self.broker.fills() if f.ref.startswith(prefix)}
        # The journal too: the broker's report of the day's executions ends with its day.
        sent |= self.journal.sent_symbols(prefix, self.options.mode, self.account_key())
        if sent:
            logger.warning(
                "Orders for %s were already sent for %s (at the broker or in the journal): "
                "not sending those again",
                session,
                ", ".join(sorted(sent)),
            )
        for order in mine:  # an earlier session's orders never filled: they go, not pile up
            if order.ref.startswith(prefix):
                continue
            logger.warning(
                "Cancelling %s left from an earlier rebalance (%s)", order.order_id, order.ref
            )
            self.broker.cancel(order.order_id)
        ledger = self.ledger()
        vector = target_orders(
            self.strategy,
            self.data,
            t,
            ledger,
            self.marks_before(t),
            self.cfg.portfolio.cash_buffer,
            self.cfg.portfolio.fractional_shares,
            pd.Timestamp(session),
            ended=self.gone(t),
        )
        vector[np.isin(self.data.symbols, sorted(sent))] = 0.0
        waiting = self._remaining(resting)  # this session's orders still open at the broker
        prices = self.current_prices(vector + waiting, t)
        vector = self.affordable(vector, ledger, prices, t, session, waiting)
        index = np.flatnonzero(vector)
        order_type = self.order_type(session)
        orders = [
            Order(
                "",
                f"{prefix}{self.data.symbols[i]}",
                str(self.data.symbols[i]),
                Side.BUY if vector[i] > 0 else Side.SELL,
                float(abs(vector[i])),
                order_type,
            )
            for i in index
        ]
        notional = {
            o.symbol: o.signed * float(np.nan_to_num(prices[i]))
            for o, i in zip(orders, index, strict=True)
        }
        view = self._risk_view()
        if not np.isfinite(view.equity):  # a limit measured on no figure would halt wrongly
            raise TemporaryBrokerError(
                f"rebalance for {session} postponed: the broker has not reported the account's "
                "net liquidation yet"
            )
        breach = risk.check(self.controls, notional, view)
        if breach is not None:
            self.breach = breach
            self.transition(WorkerState.HALTED, f"risk limit {breach.limit}: {breach.reason}")
            return []
        # Write-ahead: the batch and its decision are journaled before anything is sent, the
        # broker's ids after; a stop in between is settled at the next start (live/reconcile.py).
        self.journal.intend(self.run_id, session, orders, self.clock(), self.wall())
        crash_point_for_tests("before_placing")
        placed = self.broker.place(orders)
        crash_point_for_tests("placed")
        self.journal.placed(self.run_id, placed)
        self.last_rebalance = str(session)
        logger.info("Rebalance for %s: %d order(s) sent", session, len(placed))
        return placed

    def current_prices(self, vector: np.ndarray, t: int) -> np.ndarray:
        """Return the broker's prices now for the symbols ordered, else the T-1 closes.

        IB gives live quotes (delayed ones without a subscription); the simulated broker its
        marks. A broker that cannot quote (a timeout) leaves the T-1 closes in place.
        """
        prices = np.array(self.marks_before(t), dtype=float)
        index = np.flatnonzero(vector)
        if not index.size:
            return prices
        try:
            # Quoting hundreds of symbols takes a while at IB: the heartbeat goes on meanwhile
            # (commands wait: a FLAT must not run in the middle of a rebalance).
            symbols = [str(self.data.symbols[i]) for i in index]
            quotes = self.broker.quotes(symbols, on_batch=self.write_state)
        except TimeoutError:
            quotes = {}
        missing = []
        for i in index:
            price = quotes.get(str(self.data.symbols[i]))
            if price is not None and np.isfinite(price) and price > 0:
                prices[i] = price
            else:
                missing.append(str(self.data.symbols[i]))
        if missing:
            named = ", ".join(missing[:CUTS_LISTED]) + ("..." if len(missing) > CUTS_LISTED else "")
            self._error(
                f"no current price for {len(missing)} of {index.size} symbol(s) ({named}): "
                "their cash is checked at the T-1 close"
            )
        return prices

    def _remaining(self, orders: list[Order]) -> np.ndarray:
        # Signed shares still to fill, per symbol of the universe.
        out = np.zeros(len(self.data.symbols))
        where = self.data.symbol_index.get_indexer(pd.Index([o.symbol for o in orders]))
        for order, i in zip(orders, where, strict=True):
            if i >= 0:
                sign = 1.0 if order.side is Side.BUY else -1.0
                out[i] += sign * max(order.quantity - order.filled, 0.0)
        return out

    def affordable(
        self,
        vector: np.ndarray,
        ledger: Ledger,
        prices: np.ndarray,
        t: int,
        session: dt.date,
        waiting: np.ndarray | None = None,
    ) -> np.ndarray:
        """Truncate the buys the cash cannot pay at ``prices``, by the backtest's shortfall rule.

        The targets were sized on the T-1 closes with the cash buffer; a gap up since then can
        make them unaffordable. The same kernel as the backtest's fills (``ledger.execute``,
        sells first, costs included) decides what the cash pays now; the cuts are reported.
        Orders of this session still open at the broker (``waiting``) are counted first, as if
        filled at ``prices``: their buys hold cash already, their sells will bring some in.
        """
        rule, fractional = self.cfg.portfolio.shortfall, self.cfg.portfolio.fractional_shares
        if waiting is not None and waiting.any():
            ledger, _ = execute(ledger, waiting, prices, self.costs, rule, fractional)
        _, fills = execute(ledger, vector, prices, self.costs, rule, fractional)
        out = vector.copy()
        cut = fills.status == FillStatus.TRUNCATED_CASH.value
        if not cut.any():
            return out
        index, wanted, filled = fills.index[cut], fills.requested[cut], fills.filled[cut]
        out[index] = filled
        # One line for the whole batch (a gap-up can cut hundreds of buys): the largest cuts
        # by value, each with its quote and T-1 close; every order is in the journal.
        lost = (wanted - filled) * prices[index]
        marks = self.marks_before(t)
        largest = [
            f"{self.data.symbols[i]} {w:g}->{f:g} at ${prices[i]:,.2f} (T-1 ${marks[i]:,.2f})"
            for i, w, f in sorted(
                zip(index, wanted, filled, strict=True),
                key=lambda row: -float((row[1] - row[2]) * prices[row[0]]),
            )[:CUTS_LISTED]
        ]
        self._error(
            f"rebalance for {session}: {cut.sum()} BUY order(s) cut by "
            f"${lost.sum():,.0f} in all: the cash does not pay them at the current prices "
            f"({self.cfg.portfolio.shortfall}); largest: {'; '.join(largest)}"
        )
        return out

    def order_type(self, session: dt.date) -> OrderType:
        """Return the order type to send for ``session``: ``live.order_type``, if still possible.

        Market-on-open orders are taken until the auction cutoff (09:28 exchange time); a
        rebalance later on the session's day (forced, or a late start) sends market orders
        instead, and says so.
        """
        if self.cfg.live.order_type != "market_on_open":
            return OrderType.MARKET
        local = self.clock().astimezone(self.zone)
        if local.date() == session and local.time() >= MOO_CUTOFF:
            self._error(
                f"rebalance for {session} at {local:%H:%M}: past the opening auction's cutoff "
                f"({MOO_CUTOFF:%H:%M}); sent as market orders"
            )
            return OrderType.MARKET
        return OrderType.MARKET_ON_OPEN

    def ledger(self) -> Ledger:
        """Return cash and shares per symbol of the universe, as the broker reports them."""
        shares = np.zeros(len(self.data.symbols))
        where = self.data.symbol_index.get_indexer(
            pd.Index([p.symbol for p in self.broker.positions()])
        )
        for position, i in zip(self.broker.positions(), where, strict=True):
            if i < 0:
                self._error(
                    f"position in {position.symbol} is outside the strategy's universe; left alone"
                )
                continue
            shares[i] = position.quantity
        return Ledger(self.broker.account().cash, shares)

    def account_key(self) -> str:
        """Return the broker account traded: the simulated account's id, or IB's code."""
        return str(getattr(self.broker, "account_id", "") or "")

    def gone(self, t: int) -> np.ndarray:
        """Return the symbols treated as gone at row ``t`` (the backtest's rule, gone_at)."""
        return gone_at(self.data, t, self.cfg.portfolio.exit_after_missing, self.first_bar)

    def marks_before(self, t: int) -> np.ndarray:
        """Return the closes of T-1 for row ``t`` (the last close when ``t`` is past the data)."""
        return np.asarray(self.closes[min(t, len(self.closes)) - 1])

    def reload(self, data: MarketData) -> None:
        """Take newly synced bars: new marks, and the next decision sees the new close."""
        if not data.symbol_index.equals(self.data.symbol_index):
            self._error(
                "the dataset's symbols changed: restart the worker to trade the new universe"
            )
            return
        self.data, self.first_bar = data, first_rows(data)
        self.closes = forward_fill(data.panels["close"])
        if isinstance(self.broker, SimBroker):
            self.broker.mark(data.panels["close"][-1])
        logger.info("New bars: the data now ends %s", pd.Timestamp(data.dates[-1]).date())

    def sample_equity(self, every_s: float = EQUITY_SAMPLE_S) -> None:
        """Add an equity point to the state and the journal, at most every ``every_s`` seconds."""
        now = self.wall()
        if self.last_sample is None or (now - self.last_sample).total_seconds() >= every_s:
            self.last_sample = now
            account = self.broker.account()
            self.equity_points.append((now.isoformat(timespec="seconds"), account.net_liquidation))
            self.journal.equity(self.run_id, now, account.net_liquidation, account.cash)
            self.next_rebalance = self.plan_next(self.local_today())

    def plan_next(self, today: dt.date) -> str | None:
        """Return the next session the schedule will rebalance on, from today on."""
        last = self.journal.last_rebalance()
        rule = self.cfg.strategy.rebalance
        upcoming = self.calendar.sessions[self.calendar.sessions >= np.datetime64(today, "D")]
        for day in upcoming[:60]:
            session = pd.Timestamp(day).date()
            if last is None or (
                session > last and _schedule_due(self.calendar, last, session, rule)
            ):
                return str(session)
        return None

    def track_equity(self, day: dt.date, equity: float | None = None) -> None:
        """Roll the risk day at a new session and raise the peak; saved when they change.

        ``equity``: the broker's net liquidation, when the caller has just read it.
        """
        equity = self.broker.account().net_liquidation if equity is None else equity
        if not np.isfinite(equity):  # no figure from the broker yet: nothing to measure from
            return
        changed = False
        if str(day) != self.risk_day:
            # The day opens at the previous session's last figure when this worker saw it;
            # otherwise at the first figure seen today.
            previous = self.calendar.previous_session(day)
            known = self.last_equity_day == str(previous) and self.last_equity > 0
            opening = self.last_equity if known else equity
            self.risk_day, self.day_start_equity, changed = str(day), opening, True
        if equity > self.peak_equity:
            self.peak_equity, changed = equity, True
        if equity != self.last_equity or str(day) != self.last_equity_day:
            self.last_equity, self.last_equity_day = equity, str(day)
            # At most every LAST_EQUITY_SAVE_S: a kill loses the last figure of that long.
            changed |= time.monotonic() - self._last_equity_saved >= LAST_EQUITY_SAVE_S
        if changed:
            self.save_risk()

    def save_risk(self) -> None:
        """Save the peak, the risk day and its opening equity, and the limits flattened on."""
        state = {
            "peak_equity": self.peak_equity,
            "day": self.risk_day,
            "day_start_equity": self.day_start_equity,
            "flattened": sorted(self.limit_watch.flattened),
            "last_equity": self.last_equity,
            "last_equity_day": self.last_equity_day,
        }
        atomic_write_json(self.live_dir / RISK_FILE, json_safe(state))
        self._last_equity_saved = time.monotonic()

    def local_today(self) -> dt.date:
        """Return today's date at the exchange, by the market clock."""
        return self.clock().astimezone(self.zone).date()

    def _risk_view(self) -> risk.RiskView:
        marks = np.nan_to_num(self.marks_before(len(self.data.dates)))
        values = self.ledger().positions * marks
        held = np.flatnonzero(values)
        equity = self.broker.account().net_liquidation
        return risk.RiskView(
            equity,
            self.day_start_equity,
            self.peak_equity,
            {str(self.data.symbols[i]): float(values[i]) for i in held},
        )

    # ----------------------------------------------------------------------------- replay

    def replay(self, first: int, last: int) -> None:
        """Step through sessions ``first..last`` on the simulated broker (``live.replay``)."""
        replay.run(self, first, last)

    def finish(self, replay_end: dt.date | None = None) -> None:
        """Write the final state and close the run in the journal (once).

        ``replay_end``: the last session of a replay that ran to its end; the state says the
        replay finished (``worker.replay_finished``), not that the worker exited mid-way.
        """
        if self.finished:
            return
        self.finished = True
        logger.info("Worker finished in state %s (%s)", self.state, self.reason)
        if replay_end is not None:
            self.replay_finished = str(replay_end)
            running = self.state is WorkerState.RUNNING
            note = "" if running else f"; it ended {self.state}: {self.reason}"
            self.transition(WorkerState.STOPPED, f"replay finished on {replay_end}{note}")
        elif self.state is not WorkerState.STOPPED:
            # The process ends (replay done, --once, a signal): say so, without latching.
            self.transition(
                WorkerState.STOPPED, f"worker exited while {self.state} ({self.reason})"
            )
        self.write_state()
        self.journal.end_run(self.run_id, self.wall())

    # ------------------------------------------------------------------------ state file

    def write_state(self) -> None:
        """Write ``dashboard_state.json`` (no secret is ever part of it).

        While DISCONNECTED the broker's figures are the last ones read while connected (a
        dropped client forgets its account), and ``broker_as_of`` says when they were read.
        """
        now = self.wall()
        if self.state is WorkerState.DISCONNECTED and self._snapshot is not None:
            account, positions, orders, all_fills, as_of = self._snapshot
        else:
            account, positions = self.broker.account(), self.broker.positions()
            orders, all_fills, as_of = self.broker.open_orders(), self.broker.fills(), now
            self._snapshot = (account, positions, orders, all_fills, as_of)
        today = self.local_today()
        fills = [f for f in all_fills if f.time.astimezone(self.zone).date() == today]
        write_state(self.live_dir, document(self, account, positions, orders, fills, now, as_of))
