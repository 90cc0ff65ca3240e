"""The state document the worker writes to ``dashboard_state.json``, built from what it holds.

One function, :func:`document`: the worker's state and reasons, the broker's figures (the last
ones read while connected when it is DISCONNECTED), positions, open orders, today's fills, the
equity points, the risk limits, the schedule, the reconciliation, commands and errors. No
secret is ever part of it.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any

from quant_core.broker import Account, Fill, Order, Position

if TYPE_CHECKING:
    from quant_core.live.worker import Worker


def document(
    worker: Worker,
    account: Account,
    positions: list[Position],
    orders: list[Order],
    fills: list[Fill],
    now: dt.datetime,
    as_of: dt.datetime,
) -> dict[str, Any]:
    """Return the state document of ``worker`` at ``now`` (broker figures read at ``as_of``)."""
    from quant_core.live.worker import HALT_FILE, LATCH_FILE  # here: the worker imports this

    session = worker.session.date() if worker.session is not None else None
    return {
        "worker": {
            "pid": os.getpid(),
            "state": worker.state.value,
            "reason": worker.reason,
            "mode": worker.options.mode,
            "account": "SIM"
            if worker.options.mode == "sim"
            else getattr(worker.broker, "account_id", None) or worker.cfg.ib.account,
            "run_id": worker.run_id,
            "started_at": worker.started_at.isoformat(),
            "heartbeat_at": now.isoformat(),
            "session": str(session) if session else None,
            "strategy": worker.strategy.name,
            # STOP's latch: a worker heartbeating while STOPPED was started under it.
            "latched": (worker.live_dir / LATCH_FILE).exists(),
            "halted_latch": (worker.live_dir / HALT_FILE).exists(),
            "exited": worker.finished,  # the last state of a process that has ended
            "replay_finished": worker.replay_finished,  # a replay's end, not a crash
            "broker_as_of": as_of.isoformat(),
        },
        "account": {
            "net_liquidation": account.net_liquidation,
            "cash": account.cash,
            "buying_power": account.buying_power,
            "daily_pnl": account.daily_pnl
            if account.daily_pnl is not None
            else account.net_liquidation - worker.day_start_equity,
            "unrealized_pnl": account.unrealized_pnl,
            "realized_pnl": account.realized_pnl,
        },
        "positions": [
            {
                "symbol": p.symbol,
                "quantity": p.quantity,
                "avg_cost": p.avg_cost,
                "market_price": p.market_price,
                "market_value": p.market_value,
                "weight": p.market_value / account.net_liquidation
                if account.net_liquidation
                else None,
            }
            for p in positions
        ],
        "open_orders": [
            {
                "order_id": o.order_id,
                "ref": o.ref,
                "symbol": o.symbol,
                "side": o.side.value,
                "quantity": o.quantity,
                "filled": o.filled,
                "status": o.status.value,
            }
            for o in orders
        ],
        "fills_today": [
            {
                "order_id": f.order_id,
                "symbol": f.symbol,
                "side": f.side.value,
                "quantity": f.quantity,
                "price": f.price,
                "commission": f.commission,
                "time": f.time.isoformat(),
            }
            for f in fills[-500:]
        ],
        "equity": list(worker.equity_points),
        "risk": {
            "status": "tripped" if worker.breach else "ok",
            "limit": worker.breach.limit if worker.breach else None,
            "reason": worker.breach.reason if worker.breach else None,
            "limits": worker.limit_watch.rows(),  # daily loss, drawdown: limit and usage
            "flat_on_breach": worker.cfg.risk.flat_on_breach,
        },
        "rebalance": {"last": worker.last_rebalance, "next": worker.next_rebalance},
        "reconciled": worker.reconciled,
        "commands": list(worker.acks),
        "errors": list(worker.errors),
    }
