"""Reconcile with the broker at start and reconnect: settle what a stopped worker left open.

Before placing anything, :func:`reconcile_with_broker` reads the broker's positions and our own
open orders (by their references, ``broker.OrderRef``) back, and reconciles the journal.

A worker can stop (kill -9, a power cut) between any two steps of a rebalance: after writing
its intents, while the broker takes them, after the broker filled them, while journaling the
fills. The broker is the truth about what happened (IB reports the day's executions after a
restart, and the simulated broker keeps them, see ``live/sim_broker.py``); at every start and
reconnect, before anything is placed, :func:`reconcile_journal` brings the journal in line:

1. executions the broker reports and the journal lacks are journaled, marked ``recovered``;
2. intents (``intended`` order rows, see ``live/journal.py``) are settled: the broker has the
   order open, or executions of it since the intent was written, so it was sent (its id and
   status are filled in); otherwise, if it was written today (the broker's day), it never
   reached the broker: ``unsent``; one written on an earlier day cannot be told apart from one
   sent and executed then (brokers report one day's executions): ``unconfirmed``, counted as
   sent, so it is never sent again, and reported for a look at the broker's statement;
3. decisions whose orders were all or partly unsent say so, and count what was sent;
4. an execution without an order row gets one, rebuilt from its executions and marked
   ``recovered`` (ours are found by reference and symbol, others by the broker's order id).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

import pandas as pd

from quant_core.broker import Broker, Fill, Order, OrderRef, OrderStatus, Side
from quant_core.live.journal import UNCONFIRMED, UNSENT, Journal
from quant_core.live.state import Reconciliation

logger = logging.getLogger(__name__)

SHARE_EPSILON = 1e-9  # fewer shares than this are none (commands.py's FLAT too)
CONFIRMED = "sent before the worker stopped; confirmed with the broker at the next start"
NEVER_SENT = "not at the broker at the next start (open or executed): the worker stopped first"
REBUILT = "rebuilt from the broker's executions at the next start"
UNCONFIRMED_REASON = (
    "written on {day}; the broker reports only today's executions, so whether it was sent "
    "cannot be told: counted as sent, never sent again; check the broker's statement"
)


@dataclass(frozen=True, slots=True)
class JournalReconciliation:
    """What reconciling the journal with the broker changed."""

    recovered_fills: int = 0
    confirmed_orders: int = 0
    unsent_orders: int = 0
    decisions_corrected: int = 0
    rebuilt_orders: int = 0
    unconfirmed_orders: int = 0

    def counts(self) -> dict[str, int]:
        """Return the counts by name (for the state file)."""
        return asdict(self)

    def changed(self) -> bool:
        """Return whether the journal needed any of it."""
        return any(self.counts().values())

    def describe(self) -> str:
        """Return one line for the log."""
        return (
            f"{self.recovered_fills} execution(s) recovered from the broker, "
            f"{self.confirmed_orders} order(s) confirmed as sent, {self.unsent_orders} marked "
            f"unsent, {self.unconfirmed_orders} from an earlier day unconfirmed (check the "
            f"broker's statement), {self.decisions_corrected} decision(s) corrected, "
            f"{self.rebuilt_orders} order row(s) rebuilt from executions"
        )


def reconcile_with_broker(
    broker: Broker,
    journal: Journal,
    run_id: str,
    zone: ZoneInfo,
    today: dt.date,
    report: Callable[[str], None],
) -> Reconciliation:
    """Read positions and our own open orders back from the broker and settle the journal.

    ``report`` records an error line for the state. Returns what the state shows of it:
    ``positions``, ``our_open_orders``, ``open_order_sessions`` and the ``journal``'s counts
    (the caller adds when, and the account).
    """
    positions = broker.positions()
    ours = [o for o in broker.open_orders() if OrderRef.is_ours(o.ref)]
    sessions = sorted({str(s) for o in ours if (s := OrderRef.session_of(o.ref)) is not None})
    foreign = [o for o in ours if o.other_client]  # placed under another client id
    if foreign:
        report(
            f"{len(foreign)} open order(s) of ours were placed under another IB client id "
            f"({', '.join(f'{o.ref} as {o.order_id}' for o in foreign[:5])}): this worker "
            "sees them (it will not send them again) but cannot cancel them; cancel them in "
            "TWS, or run with that ib.client_id"
        )
    # What a stop left half-done (intents, executions not journaled) is settled first.
    settled = reconcile_journal(journal, run_id, ours, broker.fills(), zone, today)
    if settled.changed():
        logger.warning("Journal reconciled with the broker: %s", settled.describe())
    if settled.unconfirmed_orders:
        report(f"journal reconciled: {settled.describe()}")
    logger.info(
        "Reconciled with the broker: %d position(s), %d open order(s) of ours%s",
        len(positions),
        len(ours),
        f" for session(s) {', '.join(sessions)}" if sessions else "",
    )
    return Reconciliation(
        positions=len(positions),
        our_open_orders=len(ours),
        open_order_sessions=tuple(sessions),
        journal=settled.counts(),
    )


def reconcile_journal(
    journal: Journal,
    run_id: str,
    open_orders: list[Order],
    fills: list[Fill],
    zone: ZoneInfo,
    today: dt.date,
) -> JournalReconciliation:
    """Bring ``journal`` in line with the broker's ``open_orders`` and ``fills`` (see above).

    ``today`` is the broker's day at the exchange: the day whose executions ``fills`` holds.
    """
    recovered = journal.fills(run_id, fills, recovered=True)
    confirmed, unsent, unconfirmed = _settle_intents(journal, open_orders, zone, today)
    corrected = journal.settle_decisions()
    rebuilt = _rebuild_orders(journal, zone)
    return JournalReconciliation(recovered, confirmed, unsent, corrected, rebuilt, unconfirmed)


def _settle_intents(
    journal: Journal, open_orders: list[Order], zone: ZoneInfo, today: dt.date
) -> tuple[int, int, int]:
    intents = journal.intents()
    if intents.empty:
        return 0, 0, 0
    resting = {(o.ref, o.symbol): o for o in open_orders}
    executed = journal.table("fills")
    resolved = []
    confirmed = unconfirmed = 0
    for row in intents.to_dict("records"):
        run_id, key = str(row["run_id"]), (str(row["ref"]), str(row["symbol"]))
        done = executed[
            (executed["ref"] == key[0])
            & (executed["symbol"] == key[1])
            # executions since the intent (IB stamps whole seconds), not an older namesake's
            & (executed["ts"] >= pd.Timestamp(row["ts"]).floor("s"))
        ]
        if key in resting:
            order = resting[key]
            resolved.append((run_id, *key, order.order_id, order.status.value, CONFIRMED))
        elif not done.empty:
            filled = float(done["quantity"].sum())
            status = OrderStatus.FILLED
            if filled < float(row["quantity"]) - SHARE_EPSILON:
                status = OrderStatus.PARTIALLY_FILLED
            order_id = str(done["order_id"].iloc[0])
            resolved.append((run_id, *key, order_id, status.value, CONFIRMED))
        elif (day := pd.Timestamp(row["ts"]).tz_convert(zone).date()) < today:
            reason = UNCONFIRMED_REASON.format(day=day)
            resolved.append((run_id, *key, "", UNCONFIRMED, reason))
            unconfirmed += 1
            continue
        else:
            resolved.append((run_id, *key, "", UNSENT, NEVER_SENT))
            continue
        confirmed += 1
    journal.resolve(resolved)
    return confirmed, len(resolved) - confirmed - unconfirmed, unconfirmed


def _rebuild_orders(journal: Journal, zone: ZoneInfo) -> int:
    orphans = journal.orphan_fills()
    if orphans.empty:
        return 0
    keys = ["order_id", "ref", "symbol", "side"]
    batches: dict[tuple[str, dt.date], tuple[list[Order], pd.Timestamp]] = {}
    for (order_id, ref, symbol, side), group in orphans.groupby(keys, sort=False):
        quantity = float(group["quantity"].sum())
        first = pd.Timestamp(group["ts"].min())
        order = Order(
            str(order_id),
            str(ref),
            str(symbol),
            Side(str(side)),
            quantity,
            status=OrderStatus.FILLED,
            filled=quantity,
            reason=REBUILT,
        )
        batch = (str(group["run_id"].iloc[0]), _session(str(ref), first, zone))
        orders, earliest = batches.get(batch, ([], first))
        batches[batch] = ([*orders, order], min(earliest, first))
    for (run_id, session), (orders, earliest) in batches.items():
        journal.orders(run_id, session, orders, earliest.to_pydatetime(), recovered=True)
    return sum(len(orders) for orders, _ in batches.values())


def _session(ref: str, first_fill: pd.Timestamp, zone: ZoneInfo) -> dt.date:
    # Our strategy orders name their session (OrderRef.strategy); others (FLAT, orders
    # placed in TWS) are dated by their first execution, at the exchange.
    if (session := OrderRef.session_of(ref)) is not None:
        return session
    stamp: dt.datetime = first_fill.tz_convert(zone).to_pydatetime()
    return stamp.date()
