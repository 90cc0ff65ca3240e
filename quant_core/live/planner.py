"""The worker's decisions: when a rebalance is due, and the session's orders it sends.

When: today is a session, past ``live.rebalance_time`` and before the close, the schedule
(``portfolio.schedule``) says so, and the data ends at the previous session (a decision on
stale prices is refused and reported). A session that closes at or before the rebalance time
(an early close, ``live/market_clock.py``) is refused and reported once: the schedule takes
the rebalance at the next session.

What: the strategy is asked through the same code as the backtest
(``strategies.decide.target_orders``: signal from the last completed close, re-weighted by
``portfolio.construction``, target shares from that close and the cash buffer). The planner
leaves out every symbol whose order for the session was already sent (open or filled at the
broker, or on record in the journal), cancels what an earlier session left open, checks the
buys against the cash at the broker's current prices (the backtest's fill kernel,
``portfolio.ledger.execute``) and tags each order with its reference (``broker.OrderRef``:
``qc:<session>:<symbol>``), so that a restarted worker finds its own orders for the session and
does not send them again, and with its decision price, the close of T-1 it was sized from
(``live/plan_orders.py``). The batch is checked against the pre-trade risk controls
(:meth:`Planner.check`); the worker journals it and sends it.

Stops: on every session, at the same time, the stops are checked from the last completed close
(``live/stop_exits.py``, the backtest's rules) and their exits sent under the same references
before the rebalance, which then leaves a stopped name alone (:meth:`Planner.already_sent`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from config.schema import MOO_CUTOFF, AppConfig
from quant_core.broker import Broker, Order, OrderRef, OrderType, Side
from quant_core.calendar import TradingCalendar
from quant_core.data.panels import MarketData, gone_at
from quant_core.errors import TemporaryBrokerError
from quant_core.live.journal import Journal
from quant_core.live.journal_decisions import decision_shape
from quant_core.live.market_clock import after_close_refusal
from quant_core.live.plan_orders import CUTS_LISTED, cuts_line, session_plan
from quant_core.live.plan_orders import Plan as Plan  # re-exported: live.refusal reads it here
from quant_core.live.state import LastDecision, WorkerMode
from quant_core.portfolio import risk, schedule
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.ledger import FillStatus, Ledger, execute
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.weight_cap import PositionCap
from quant_core.strategies.base import Strategy
from quant_core.strategies.decide import target_orders

logger = logging.getLogger(__name__)


class Planner:
    """Decide when to rebalance and the session's orders, for one strategy on one broker.

    ``report`` records an error line for the state (the worker's); ``progress`` is called
    between batches of a long quote request, so the heartbeat goes on meanwhile.
    """

    def __init__(
        self,
        cfg: AppConfig,
        strategy: Strategy[Any],
        broker: Broker,
        journal: Journal,
        data: MarketData,
        calendar: TradingCalendar,
        *,
        mode: WorkerMode,
        clock: Callable[[], dt.datetime],
        report: Callable[[str], None],
        progress: Callable[[], None],
    ) -> None:
        self.cfg, self.strategy, self.broker, self.journal = cfg, strategy, broker, journal
        self.calendar, self.zone = calendar, ZoneInfo(calendar.tz)
        self.mode, self.clock = mode, clock
        self.report, self.progress = report, progress
        self.costs = CostModel.from_config(cfg.costs)
        self.policy = PortfolioPolicy.from_config(cfg)
        self.controls = risk.controls_from_config(cfg.risk)
        self.stale_refusal: str | None = None  # why due() last refused a rebalance (stale data)
        self.refused: dt.date | None = None  # the last session refused for closing too early
        self.shape: LastDecision | None = None  # what shaped the last plan's weights
        self.cap = PositionCap(
            cfg.risk.max_position_weight, cfg.portfolio.fractional_shares, data.symbols
        )
        self.reload(data)

    def reload(self, data: MarketData) -> None:
        """Decide from ``data`` from now on (the same symbols: newly synced bars)."""
        self.data = data

    @property
    def closes(self) -> np.ndarray:
        """Return the data's closes forward-filled (built once per panel set, shared)."""
        return self.data.filled_close()

    @property
    def first_bar(self) -> np.ndarray:
        """Return each symbol's first row in the data (built once per panel set, shared)."""
        return self.data.first_bar()

    # ------------------------------------------------------------------------------- when

    def due(self, now: dt.datetime) -> dt.date | None:
        """Return today's session if a scheduled rebalance is due now, else None.

        Due: today is a session of the exchange, it is between ``live.rebalance_time``
        (exchange time) and the session's close, no rebalance was decided for today, the
        schedule says so (sessions since the last one, or a new week or month), and the data's
        last close is the previous session: a decision on stale prices is refused and reported
        (its last words say what brings the data: the worker's refresh, or run_data_sync.py).
        """
        today = self.trading_now(now)
        if today is None or not self.scheduled(today):
            return None
        previous = self.calendar.previous_session(today)
        data_end = self.data.dates[-1]
        if data_end != np.datetime64(previous, "D"):
            self.stale_refusal = (
                f"rebalance for {today} refused: the data ends {pd.Timestamp(data_end).date()}, "
                f"not the previous session {previous}; {self.fresh_data_hint()}"
            )
            self.report(self.stale_refusal)
            return None
        self.stale_refusal = None
        return today

    def fresh_data_hint(self) -> str:
        """Return what brings the missing sessions: the worker's refresh, or run_data_sync.py."""
        if self.cfg.live.refresh == "none":
            return "run run_data_sync.py"
        return "waiting for the worker's data refresh (live.refresh: broker)"

    def scheduled(self, today: dt.date) -> bool:
        """Return whether the schedule rebalances on session ``today`` (none decided for it yet)."""
        last = self.journal.last_rebalance()
        return last is None or (
            last < today
            and schedule.is_due(last, today, self.cfg.strategy.rebalance, self.calendar.sessions)
        )

    def trading_now(self, now: dt.datetime) -> dt.date | None:
        """Return today if it is a session and ``now`` between the rebalance time and the close.

        A session that closes at or before ``live.rebalance_time`` (an early close) is refused:
        from its open on, once per session, when the schedule rebalances on it, the reason is
        reported (``market_clock.after_close_refusal``).
        """
        local = now.astimezone(self.zone)
        today = local.date()
        close = self.calendar.close_of(today)
        if close is None:  # not a session
            return None
        refusal = after_close_refusal(self.calendar, today, self.cfg.live.rebalance_time)
        if refusal is not None:
            opened = self.calendar.open_of(today)
            if self.refused != today and opened is not None and now >= opened:
                if self.scheduled(today):
                    self.report(refusal)
                self.refused = today
            return None
        if local.time() < self.cfg.live.rebalance_time or now >= close:
            return None
        return today

    def next_due(self, today: dt.date) -> dt.date | None:
        """Return the next session the schedule will rebalance on, from today on."""
        last = self.journal.last_rebalance()
        rule = self.cfg.strategy.rebalance
        return schedule.next_due(last, today, rule, self.calendar.sessions)

    def next_session(self) -> dt.date:
        """Return the session after the data's last close: the one a live decision is for."""
        last = pd.Timestamp(self.data.dates[-1]).date()
        sessions = self.calendar.sessions
        return pd.Timestamp(sessions[sessions > np.datetime64(last, "D")][0]).date()

    # ------------------------------------------------------------------------------- what

    def plan(self, t: int, session: dt.date) -> Plan:
        """Return the orders for the session at row ``t`` (from data through t-1), not sent."""
        resting, sent = self.already_sent(session)
        ledger = self.ledger()
        decision = target_orders(
            self.strategy,
            self.data,
            t,
            ledger,
            self.marks_before(t),
            self.cfg.portfolio.cash_buffer,
            self.cfg.portfolio.fractional_shares,
            pd.Timestamp(session),
            ended=self.gone(t),
            policy=self.policy,
        )
        vector = decision.orders
        vector[np.isin(self.data.symbols, sorted(sent))] = 0.0
        waiting = self._remaining(resting)  # this session's orders still open at the broker
        prices = self.current_prices(vector + waiting, t)
        vector, trim = self.cap.trim(vector, ledger, prices, self.marks_before(t))  # as backtests
        if trim is not None:  # logged, and journaled with the decision as the backtest records it
            logger.warning("Rebalance for %s: %s", session, trim.detail)
            decision = replace(decision, binding=(*decision.binding, trim))
        self.shape = decision_shape(decision, self.data.symbols, session)
        vector = self.affordable(vector, ledger, prices, t, session, waiting)
        marks = self.marks_before(t)  # each order's decision price (live.plan_orders)
        order_type = self.order_type(session)
        return session_plan(
            session, self.data.symbols, vector, order_type, prices, marks, self.shape
        )

    def already_sent(
        self, session: dt.date, symbols: set[str] | None = None
    ) -> tuple[list[Order], set[str]]:
        """Return this session's strategy orders open at the broker, and the symbols already sent.

        A symbol whose order for the session is at the broker (open, or already filled: a batch
        cut by a drop, or a restart) or in the journal is not sent again (a stop's exit is sent
        first: the rebalance then leaves the name alone). An earlier session's orders that never
        filled are cancelled, not left to pile up (only those in ``symbols``, when given).
        """
        prefix = OrderRef.session_prefix(session)
        mine = [o for o in self.broker.open_orders() if OrderRef.is_strategy(o.ref)]
        resting = [o for o in mine if o.ref.startswith(prefix)]
        sent = {o.symbol for o in resting}
        sent |= {f.symbol for f in self.broker.fills() if f.ref.startswith(prefix)}
        # The journal too: the broker's report of the day's executions ends with its day.
        sent |= self.journal.sent_symbols(prefix, self.mode, self.broker.account_id)
        if sent:
            logger.warning(
                "Orders for %s were already sent for %s (at the broker or in the journal): "
                "not sending those again",
                session,
                ", ".join(sorted(sent)),
            )
        for order in mine:
            if order.ref.startswith(prefix) or (
                symbols is not None and order.symbol not in symbols
            ):
                continue
            logger.warning(
                "Cancelling %s left from an earlier rebalance (%s)", order.order_id, order.ref
            )
            self.broker.cancel(order.order_id)
        return resting, sent

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
            quotes = self.broker.quotes(symbols, on_batch=self.progress)
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
            self.report(
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
        largest = cuts_line(self.data.symbols, index, wanted, filled, prices, self.marks_before(t))
        self.report(
            f"rebalance for {session}: {cut.sum()} BUY order(s) cut by "
            f"${lost.sum():,.0f} in all: the cash does not pay them at the current prices "
            f"({self.cfg.portfolio.shortfall}); largest: {largest}"
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
            self.report(
                f"rebalance for {session} at {local:%H:%M}: past the opening auction's cutoff "
                f"({MOO_CUTOFF:%H:%M}); sent as market orders"
            )
            return OrderType.MARKET
        return OrderType.MARKET_ON_OPEN

    def ledger(self) -> Ledger:
        """Return cash and shares per symbol of the universe, as the broker reports them."""
        shares = np.zeros(len(self.data.symbols))
        positions = self.broker.positions()
        where = self.data.symbol_index.get_indexer(pd.Index([p.symbol for p in positions]))
        for position, i in zip(positions, where, strict=True):
            if i < 0:
                self.report(
                    f"position in {position.symbol} is outside the strategy's universe; left alone"
                )
                continue
            shares[i] = position.quantity
        return Ledger(self.broker.account().cash, shares)

    def check(self, plan: Plan, day_start_equity: float, peak_equity: float) -> risk.Breach | None:
        """Check ``plan`` against the pre-trade risk controls; return the breach, if any.

        Raises
        ------
        TemporaryBrokerError
            The broker has not reported the account's net liquidation yet: a limit measured
            on no figure would halt wrongly, so the rebalance is postponed.
        """
        marks = self.marks_before(len(self.data.dates)) if plan.prices is None else plan.prices
        values = self.ledger().positions * np.nan_to_num(marks)  # the trim's valuation
        held = np.flatnonzero(values)
        equity = self.broker.account().net_liquidation
        view = risk.RiskView(
            equity,
            day_start_equity,
            peak_equity,
            {str(self.data.symbols[i]): float(values[i]) for i in held},
        )
        if not np.isfinite(view.equity):
            raise TemporaryBrokerError(
                f"rebalance for {plan.session} postponed: the broker has not reported the "
                "account's net liquidation yet"
            )
        return risk.check(self.controls, plan.notional, view)

    def gone(self, t: int) -> np.ndarray:
        """Return the symbols treated as gone at row ``t`` (the backtest's rule, gone_at)."""
        return gone_at(self.data, t, self.cfg.portfolio.exit_after_missing, self.first_bar)

    def marks_before(self, t: int) -> np.ndarray:
        """Return the closes of T-1 for row ``t`` (the last close when ``t`` is past the data)."""
        return np.asarray(self.closes[min(t, len(self.closes)) - 1])
