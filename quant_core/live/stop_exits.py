"""The worker's stops: the backtest's rules on the broker's positions, at every session.

On every session, at ``live.rebalance_time`` (the worker's stand-in for the open) and before the
rebalance, :meth:`StopWatch.send` decides from the last completed close, by the code the backtest
runs (``portfolio.stops``), which positions a stop closes, and sends their exits:

* each position's average cost, entry session and best close since entry are folded from the
  journal's executions on this account (:func:`journal_basis`), session by session, marked at
  each close: the same :class:`~quant_core.portfolio.stops.CostBasis` steps as the engine's, in
  the same order, so a restart (even after ``kill -9``) derives the same figures. Executions of
  the session being decided are left out (the engine's basis is that of the close of T-1);
* a position the journal's executions do not explain (held before the journal, or on the other
  side) has no average cost: its stops are not checked, and that is reported;
* the exits go under the strategy references of the session (``qc:<session>:<symbol>``), written
  ahead in the journal with a decision that begins ``stops`` and names each stop, and are listed
  in the state's errors. The rebalance of the same session, sent after them, finds the name
  already sent and leaves it alone: the stop wins at T, as in the backtest. A restart checks the
  session again and sends only what is not yet sent;
* exits are sent while RUNNING or HALTED (an exit only reduces: a halt holds new strategy
  orders, not a stop), never while STOPPED (STOP touches nothing) and without the pre-trade
  controls (like FLAT's orders).

The account limits are not here: the heartbeat's ``live/risk_watch.py`` halts new orders and,
with ``risk.on_breach: flat``, closes every position.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from config.schema import RiskConfig
from quant_core.broker import Order, OrderRef, Side
from quant_core.data.panels import MarketData
from quant_core.live.journal import STOPS
from quant_core.live.state import WorkerState
from quant_core.portfolio.stops import CostBasis, StopRules, stop_hits

if TYPE_CHECKING:
    from quant_core.live.planner import Planner
    from quant_core.live.worker import Worker

logger = logging.getLogger(__name__)

STOPS_NAMED = 5  # stops named in the state's error line (the journal's decision names all)
SENDS_EXITS = frozenset({WorkerState.RUNNING, WorkerState.HALTED})


@dataclass(frozen=True, slots=True)
class StopPlan:
    """One session's stop exits, not yet sent, and what tripped each."""

    session: dt.date
    orders: list[Order]
    stops: list[str]  # one description per exit, in the order of ``orders``

    @property
    def outcome(self) -> str:
        """Return the journal's decision for the batch: ``stops: <each stop>``."""
        return f"{STOPS}: " + "; ".join(self.stops)


def journal_basis(
    fills: pd.DataFrame, data: MarketData, closes: np.ndarray, zone: ZoneInfo, t: int
) -> CostBasis:
    """Fold ``fills`` (``Journal.account_fills``) into the cost basis of the close of row t-1.

    Each execution belongs to its session (its time at the exchange); the sessions from the
    first one to row t-1 each take their executions in order, then their (forward-filled) close,
    as the engine does. Executions of row t or later, or in symbols outside the universe, are
    left out.
    """
    basis = CostBasis.empty(len(data.symbols))
    if fills.empty:
        return basis
    days = pd.to_datetime(fills["ts"], utc=True).dt.tz_convert(zone).dt.date
    rows = np.searchsorted(data.dates, np.array(days.tolist(), dtype=data.dates.dtype))
    where = data.symbol_index.get_indexer(pd.Index(fills["symbol"]))
    sign = np.where(fills["side"].to_numpy() == Side.BUY.value, 1.0, -1.0)
    signed = sign * fills["quantity"].to_numpy(dtype=float)
    prices = fills["price"].to_numpy(dtype=float)
    keep = np.flatnonzero((rows < t) & (where >= 0))
    if not keep.size:
        return basis
    by_row: dict[int, list[int]] = {}
    for k in keep.tolist():
        by_row.setdefault(int(rows[k]), []).append(k)
    for row in range(min(by_row), t):
        for k in by_row.get(row, []):  # one at a time: a symbol may trade twice in a session
            basis = basis.fill(row, where[k : k + 1], signed[k : k + 1], prices[k : k + 1])
        basis = basis.close(closes[row])
    return basis


class StopWatch:
    """Check one worker's stops once per session and send their exits (module docstring)."""

    def __init__(self, cfg: RiskConfig, planner: Planner) -> None:
        self.rules = StopRules.from_config(cfg)
        self.planner = planner
        self.checked: dt.date | None = None  # the session last checked by this process

    def due(self, now: dt.datetime) -> dt.date | None:
        """Return today's session if its stops are to be checked now, else None.

        Every session (not only rebalance days) between the rebalance time and the close, once
        per session and process, on data that ends at the previous session (else reported).
        """
        if not self.rules.active:
            return None
        planner = self.planner
        today = planner.trading_now(now)
        if today is None or self.checked == today:
            return None
        previous = planner.calendar.previous_session(today)
        last = planner.data.dates[-1]
        if last != np.datetime64(previous, "D"):
            planner.report(
                f"stops for {today} not checked: the data ends {pd.Timestamp(last).date()}, not "
                f"the previous session {previous}; {planner.fresh_data_hint()}"
            )
            return None
        return today

    def plan(self, t: int, session: dt.date) -> StopPlan:
        """Return the exits of the stops tripped at the close of row t-1, for ``session``."""
        planner, data = self.planner, self.planner.data
        positions = planner.ledger().positions
        fills = planner.journal.account_fills(planner.mode, planner.broker.account_id)
        basis = journal_basis(fills, data, planner.closes, planner.zone, t)
        unexplained = np.flatnonzero(
            (positions != 0) & (np.sign(basis.shares) != np.sign(positions))
        )
        if unexplained.size:
            named = ", ".join(str(data.symbols[i]) for i in unexplained[:STOPS_NAMED])
            planner.report(
                f"stops for {session}: {unexplained.size} position(s) the journal's executions "
                f"do not explain ({named}): no average cost, their stops are not checked"
            )
        hits = stop_hits(self.rules, basis, positions, planner.marks_before(t))
        if not hits:
            return StopPlan(session, [], [])
        symbols = {str(data.symbols[h.index]) for h in hits}
        _, sent = planner.already_sent(session, symbols)
        order_type = planner.order_type(session)
        orders, stops = [], []
        for hit in hits:
            symbol = str(data.symbols[hit.index])
            if symbol in sent:
                continue
            held = float(positions[hit.index])
            side = Side.SELL if held > 0 else Side.BUY
            ref = OrderRef.strategy(session, symbol)
            orders.append(
                Order("", ref, symbol, side, abs(held), order_type, reason=hit.kind.value)
            )
            stops.append(hit.describe(symbol))
        return StopPlan(session, orders, stops)

    def send(self, worker: Worker, t: int, session: dt.date) -> list[Order]:
        """Check the stops for the session at row ``t``; journal and send the exits."""
        if not self.rules.active:
            return []
        if worker.state not in SENDS_EXITS:
            logger.info("Stops for %s not checked: worker is %s", session, worker.state)
            return []
        plan = self.plan(t, session)
        if plan.orders:
            # Write-ahead, as a rebalance: a stop in between is settled at the next start.
            worker.journal.intend(
                worker.run_id, session, plan.orders, worker.clock(), worker.wall(), plan.outcome
            )
            placed = worker.broker.place(plan.orders)
            worker.journal.placed(worker.run_id, placed)
            more = len(plan.stops) - STOPS_NAMED
            worker.report_error(
                f"stops for {session}: {len(placed)} exit(s) sent for the open: "
                + "; ".join(plan.stops[:STOPS_NAMED])
                + (f" and {more} more" if more > 0 else "")
            )
            self.checked = session
            return placed
        self.checked = session
        return []
