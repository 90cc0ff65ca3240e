"""A halted account's book: its sleeves' own stops and flats still go out, as in the backtest.

A risk limit of the account (daily loss, drawdown) halts the worker: no strategy decides until
RESUME. A book's sleeves have limits of their own (stops, a drawdown with ``on_breach: flat``);
the backtest's halted book still sends what those trip (``backtest/daily.py``: the book's
session orders are its sleeves' exits, netted), and the worker sends them too: the sleeves'
exits only, no sleeve's decision, no allocation (:meth:`BookLive.decide` with ``halted``). They
reduce positions only, so the account's limits are not checked on them again.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import TYPE_CHECKING

from quant_core.broker import Order
from quant_core.live.state import WorkerState
from quant_core.portfolio import risk

if TYPE_CHECKING:
    from quant_core.live.worker import Worker

logger = logging.getLogger(__name__)


def halt_first(worker: Worker) -> None:
    """Halt a book's worker on an account limit breached before its plan is made.

    A single strategy's plan is checked as it is sent (``Worker._decide``). A book's plan takes
    its sleeves' exits when it is made: the account's daily loss and drawdown (which no order
    changes) are checked first, so that a halt found at this decision still sends those exits,
    as the backtest's halt found at the close before does.
    """
    if worker.books is None or worker.state not in WorkerState.TRADING:
        return
    equity = worker.broker.account().net_liquidation
    if not math.isfinite(equity):  # no figure yet: the plan's own check postpones it
        return
    figures = worker.risk_state
    view = risk.RiskView(equity, figures.day_start_equity, figures.peak_equity, {})
    breach = risk.check_account(worker.books.controls, view)
    if breach is not None:
        worker.breach = breach
        worker.transition(WorkerState.HALTED, f"risk limit {breach.limit}: {breach.reason}")


def sends_exits(worker: Worker) -> bool:
    """Return whether the worker, not trading, still sends its book's sleeves' exits."""
    return worker.state is WorkerState.HALTED and worker.books is not None


def send_exits(worker: Worker, t: int, session: dt.date) -> list[Order]:
    """Send the sleeves' exits due at the session of row ``t``; return the orders placed."""
    books = worker.books
    if books is None:  # sends_exits says so first
        return []
    plan = books.plan(t, session, halted=True)
    if not plan.orders:
        return []
    placed = worker.send(session, plan)  # write-ahead, as a rebalance's
    logger.info(
        "Halted (%s): the sleeves' own exits for %s, %d order(s) sent",
        worker.reason,
        session,
        len(placed),
    )
    return placed
