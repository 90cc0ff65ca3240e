"""The state document the worker writes to ``dashboard_state.json``, built from what it holds.

:func:`document` builds it: the worker's state and reasons, the broker's figures (the last ones
read while connected when it is DISCONNECTED), positions, open orders, today's fills, the equity
points, the risk limits, the schedule, the reconciliation, commands, errors, the book's risk
report (``live/book_risk.py``), what shaped the last rebalance (from the journal), the data
refresh and the market's hours (``live/upkeep.py``), and a book's sleeves (``book``: the
:class:`~quant_core.live.book_status.BookStatus` of ``worker.book`` at the last close the book
marked, null for a plain strategy), as the typed
:class:`~quant_core.live.state.DashboardState`.
:func:`publish` reads the broker and writes it.
No secret is ever part of it.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quant_core.broker import Account, Fill, Order, Position
from quant_core.live import files
from quant_core.live.book_status import BookStatus
from quant_core.live.state import (
    FILLS_KEPT,
    AccountSummary,
    DashboardState,
    FillRow,
    LastDecision,
    OpenOrderRow,
    PositionRow,
    RebalanceSchedule,
    RiskStatus,
    RiskSummary,
    WorkerInfo,
    WorkerMode,
    WorkerState,
)

if TYPE_CHECKING:
    from quant_core.live.worker import Worker


@dataclass(frozen=True, slots=True)
class BrokerSnapshot:
    """The broker's figures as last read, and when (shown while DISCONNECTED)."""

    account: Account
    positions: list[Position]
    orders: list[Order]
    fills: list[Fill]
    as_of: dt.datetime


def publish(worker: Worker) -> None:
    """Write ``dashboard_state.json`` for ``worker`` now (no secret is ever part of it).

    While DISCONNECTED the broker's figures are the last ones read while connected (a dropped
    client forgets its account), and ``broker_as_of`` says when they were read.
    """
    now = worker.wall()
    snapshot = worker.broker_snapshot
    if worker.state is not WorkerState.DISCONNECTED or snapshot is None:
        broker = worker.broker
        snapshot = BrokerSnapshot(
            broker.account(), broker.positions(), broker.open_orders(), broker.fills(), now
        )
        worker.broker_snapshot = snapshot
    # Recomputed only when the book (or the bars) changed since the last state written.
    worker.book_risk.update(
        snapshot.positions, snapshot.account.net_liquidation, worker.data, worker.clock(), now
    )
    today = worker.local_today()
    fills = [f for f in snapshot.fills if f.time.astimezone(worker.zone).date() == today]
    state = document(
        worker, snapshot.account, snapshot.positions, snapshot.orders, fills, now, snapshot.as_of
    )
    files.write_state(worker.live_dir, state)


def document(
    worker: Worker,
    account: Account,
    positions: list[Position],
    orders: list[Order],
    fills: list[Fill],
    now: dt.datetime,
    as_of: dt.datetime,
) -> DashboardState:
    """Return the state document of ``worker`` at ``now`` (broker figures read at ``as_of``)."""
    nav = account.net_liquidation
    return DashboardState(
        worker=_worker_info(worker, now, as_of),
        account=AccountSummary(
            net_liquidation=nav,
            cash=account.cash,
            buying_power=account.buying_power,
            daily_pnl=account.daily_pnl
            if account.daily_pnl is not None
            else nav - worker.risk_state.day_start_equity,
            unrealized_pnl=account.unrealized_pnl,
            realized_pnl=account.realized_pnl,
        ),
        positions=tuple(
            PositionRow(
                p.symbol,
                p.quantity,
                p.avg_cost,
                p.market_price,
                p.market_value,
                p.market_value / nav if nav else None,
            )
            for p in positions
        ),
        open_orders=tuple(
            OpenOrderRow(o.order_id, o.ref, o.symbol, o.side, o.quantity, o.filled, o.status)
            for o in orders
        ),
        fills_today=tuple(
            FillRow(f.order_id, f.symbol, f.side, f.quantity, f.price, f.commission, f.time)
            for f in fills[-FILLS_KEPT:]
        ),
        equity=tuple(worker.equity_points),
        risk=RiskSummary(
            RiskStatus.TRIPPED if worker.breach else RiskStatus.OK,
            worker.breach.limit if worker.breach else None,
            worker.breach.reason if worker.breach else None,
            # Daily loss, drawdown: limit and usage.
            worker.limit_watch.rows(),
            worker.cfg.risk.flattens,
        ),
        rebalance=RebalanceSchedule(worker.last_rebalance, worker.next_rebalance),
        reconciled=worker.reconciled,
        commands=tuple(worker.acks),
        errors=tuple(worker.errors),
        book_risk=worker.book_risk.current,
        last_decision=_last_decision(worker),
        daily=tuple(worker.daily.rows),
        refresh=worker.upkeep.refresh_state(),
        market=worker.upkeep.market,
        book=_book(worker),
    )


def _book(worker: Worker) -> BookStatus | None:
    # Each sleeve at the last close the book marked (its fills attributed through it): a
    # replay never shows a close it has not reached, and no broker call is made for it.
    return None if worker.book is None else worker.book.status()


def _last_decision(worker: Worker) -> LastDecision | None:
    # From the journal, so a restarted worker shows it too (a small read: a row per rebalance).
    last = worker.journal.last_decision()
    return last.kept() if last is not None else None


def _worker_info(worker: Worker, now: dt.datetime, as_of: dt.datetime) -> WorkerInfo:
    mode = worker.options.mode
    return WorkerInfo(
        pid=os.getpid(),
        state=worker.state,
        reason=worker.reason,
        mode=mode,
        account="SIM"
        if mode is WorkerMode.SIM
        else worker.broker.account_id or worker.cfg.ib.account,
        run_id=worker.run_id,
        started_at=worker.started_at,
        heartbeat_at=now,
        session=worker.session.date() if worker.session is not None else None,
        strategy=worker.strategy.name,
        # STOP's latch: a worker heartbeating while STOPPED was started under it.
        latched=files.latched(worker.live_dir),
        halted_latch=files.halted(worker.live_dir),
        exited=worker.finished,  # the last state of a process that has ended
        replay_finished=worker.replay_finished,  # a replay's end, not a crash
        broker_as_of=as_of,
    )
