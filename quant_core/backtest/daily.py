"""The engine's session-by-session loop, for runs with stops or account limits.

At the open of each session T, from what was known at the close of T-1:

1. on a rebalance session, the rebalance's orders (:meth:`Replay.decide`); while the account is
   halted, none at all, sales included, as in the halted worker: the skipped rebalance is
   recorded (kind ``halt``, "rebalance not traded");
2. a breach at the close of T-1 with ``risk.on_breach: flat``: every position closed
   (status ``halt_flat``); a sale without an open is ordered again at every open while the
   halt lasts, until none is left;
3. every stop tripped at the close of T-1 closes its position (status ``stop_loss``,
   ``trailing_stop`` or ``take_profit``): the stop wins over the rebalance of T, so a stopped
   name is not bought back before the next scheduled rebalance;
4. the orders execute at the open of T as one batch, like a rebalance's; the fills fold into
   each position's average cost (:class:`quant_core.portfolio.stops.CostBasis`).

At the close of T: positions are marked, the cost basis takes the close, and the stops
(:func:`quant_core.portfolio.stops.stop_hits`) and the account limits
(:class:`quant_core.portfolio.halts.AccountHalt`) are checked for the open of T+1. Every stop and
halt is recorded in the run's decisions, dated by the session it acts at. The last session's close
acts on nothing: the run ends there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from quant_core.portfolio.halts import HALT_FLAT, AccountHalt, HaltEvent
from quant_core.portfolio.stops import CostBasis, StopHit, stop_hits
from quant_core.types import ProgressFn

if TYPE_CHECKING:
    from quant_core.backtest.engine import Replay


def run(replay: Replay, rows: np.ndarray, progress: ProgressFn | None = None) -> None:
    """Trade and mark every session of ``replay`` (module docstring)."""
    settings = replay.settings
    rebalances = set(rows.tolist())
    basis = CostBasis.empty(len(replay.data.symbols))
    halt = AccountHalt.start(settings.initial_cash)
    hits: tuple[StopHit, ...] = ()
    flatten = False
    cause = ("", "")  # the halt in force: its limit, and what tripped it when
    done = 0
    for t in range(replay.first, replay.last + 1):
        halted = halt.halted(t)
        if halted and t in rebalances:
            replay.log.add(t, "halt", cause[0], f"rebalance not traded: halted by {cause[1]}")
        orders, gone, reasons = _orders(replay, t, t in rebalances and not halted, flatten, hits)
        if orders.any() or t in rebalances:  # a rebalance records its book, traded or not
            fills = replay.trade(t, orders, replay.gone(t) if gone is None else gone, reasons)
            basis = basis.fill(t, fills.index, fills.filled, fills.price)
        replay.revalue(t, t + 1)
        basis = basis.close(replay.close[t])
        if t in rebalances:
            done += 1
            if progress is not None:
                progress("backtest", done, len(rows))
        if t == replay.last:
            break
        hits = _stops(replay, basis, t)
        # A close-out with a sale unfilled (no open) is tried again at the next open, until flat
        # or the halt is over, as the worker's FLAT retries (live.flat_timeout_s).
        flatten = flatten and bool(replay.ledger.positions.any())
        replay.after_close(t)  # a book's sleeves check their own limits
        if settings.halts.active:
            halt, event = halt.close(settings.halts, t, replay.equity_at(t))
            if event is not None:
                flatten = event.flatten
                cause = _record_halt(replay, t, event)


def _orders(
    replay: Replay,
    t: int,
    rebalance: bool,
    flatten: bool,
    hits: tuple[StopHit, ...],
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    # The orders of the open of row t (steps 1 to 3 of the module docstring), the gone symbols
    # when the rebalance has computed them, and the status of each order a stop or breach made.
    positions = replay.ledger.positions
    reasons = np.full(positions.size, "", dtype=object)
    orders, gone = replay.session_orders(t, rebalance)
    if flatten:
        orders = -positions
        reasons[np.flatnonzero(positions)] = HALT_FLAT
    for hit in hits:
        orders[hit.index] = -positions[hit.index]
        reasons[hit.index] = hit.kind.value
    return orders, gone, reasons


def _stops(replay: Replay, basis: CostBasis, t: int) -> tuple[StopHit, ...]:
    # The stops tripped at the close of row t, recorded at the open of t + 1 where they act.
    rules = replay.settings.stops
    if not rules.active:
        return ()
    hits = stop_hits(rules, basis, replay.ledger.positions, replay.close[t])
    for hit in hits:
        symbol = str(replay.data.symbols[hit.index])
        replay.log.add(t + 1, "stop", symbol, f"{hit.describe(symbol)}; closed at this open")
    return hits


def _record_halt(replay: Replay, t: int, event: HaltEvent) -> tuple[str, str]:
    # Record the event at the open of t + 1; return its limit and cause (empty for a resume),
    # e.g. "max_drawdown (drawdown 26.00% of 25.00%) at the close of 2020-03-12".
    halts = replay.settings.halts
    closed = f"the close of {replay.data.date_index[t].date()}"
    if not event.tripped:
        detail = f"halt over: the limits are within bounds at {closed}; trading again"
        replay.log.add(t + 1, "halt", event.name, detail)
        return "", ""
    what = "; ".join(u.describe() for u in event.tripped)
    again = "still tripped when the halt ran out: " if event.renewed else ""
    sessions = halts.halt_sessions
    detail = f"{again}{what} at {closed}: no strategy orders for {sessions} session(s)"
    if event.flatten and replay.ledger.positions.any():
        detail += "; every position closed at this open (on_breach: flat)"
    replay.log.add(t + 1, "halt", event.name, detail)
    return event.name, f"{event.name} ({what}) at {closed}"
