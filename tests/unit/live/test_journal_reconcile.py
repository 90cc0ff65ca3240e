"""Reconciling the journal with the broker at start: intents settled, lost fills recovered."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from quant_core.broker import Order, Side
from quant_core.live.journal import Journal
from quant_core.live.reconcile import JournalReconciliation, reconcile_journal
from quant_core.live.sim_broker import SimBroker
from quant_core.portfolio.costs import CostModel

ZONE = ZoneInfo("America/New_York")
NOW = dt.datetime(2010, 1, 5, 15, 0, tzinfo=dt.UTC)
SESSION = dt.date(2010, 1, 5)
BATCH = [
    Order("", "qc:2010-01-05:A", "A", Side.BUY, 10.0),
    Order("", "qc:2010-01-05:B", "B", Side.BUY, 5.0),
]


def sim() -> SimBroker:
    symbols = pd.Index(["A", "B"], dtype=object)
    return SimBroker(symbols, 10_000.0, CostModel(), "pro_rata", False, lambda: NOW)


def by_symbol(journal: Journal, table: str) -> pd.DataFrame:
    return journal.table(table).set_index("symbol").sort_index()


def test_intents_the_broker_has_are_confirmed_the_others_marked_unsent(tmp_path: Path) -> None:
    journal, broker = Journal(tmp_path / "j.duckdb"), sim()
    journal.intend("killed", SESSION, BATCH, NOW, NOW)
    [placed] = broker.place(BATCH[:1])  # the stop came after A reached the broker, before B

    done = reconcile_journal(journal, "next", broker.open_orders(), broker.fills(), ZONE, SESSION)

    assert done == JournalReconciliation(confirmed_orders=1, unsent_orders=1, decisions_corrected=1)
    orders = by_symbol(journal, "orders")
    assert list(orders["status"]) == ["submitted", "unsent"]
    assert orders.loc["A", "order_id"] == placed.order_id
    [decision] = journal.table("decisions").itertuples()
    assert str(decision.outcome).startswith("cut short: 1 of 2 order(s) sent")
    assert decision.orders == 1
    assert journal.last_rebalance() is None  # not done: the next decision sends the rest


def test_a_batch_that_never_reached_the_broker_is_not_a_rebalance(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.duckdb")
    journal.intend("killed", SESSION, BATCH, NOW, NOW)

    reconcile_journal(journal, "next", [], [], ZONE, SESSION)

    assert set(journal.table("orders")["status"]) == {"unsent"}
    [decision] = journal.table("decisions").itertuples()
    assert str(decision.outcome).startswith("not sent: the worker stopped before sending its 2")
    assert decision.orders == 0
    assert journal.last_rebalance() is None


def test_fills_the_journal_lacks_are_recovered_with_an_order_row(tmp_path: Path) -> None:
    journal, broker = Journal(tmp_path / "j.duckdb"), sim()
    broker.place(BATCH)  # e.g. a worker killed before it journaled anything of these
    fills = broker.open_session(np.array([10.0, 20.0]))

    done = reconcile_journal(journal, "next", broker.open_orders(), broker.fills(), ZONE, SESSION)

    assert done == JournalReconciliation(recovered_fills=2, rebuilt_orders=2)
    journaled = by_symbol(journal, "fills")
    assert list(journaled["exec_id"]) == [f.exec_id for f in fills]
    assert journaled["recovered"].all()
    orders = by_symbol(journal, "orders")
    assert list(orders["quantity"]) == [10.0, 5.0]
    assert list(orders["order_id"]) == [f.order_id for f in fills]
    assert set(orders["session"]) == {SESSION}  # from the reference
    assert set(orders["status"]) == {"filled"}
    assert orders["recovered"].all()
    assert not reconcile_journal(journal, "again", [], broker.fills(), ZONE, SESSION).changed()


def test_an_intent_executed_since_is_confirmed_from_its_executions(tmp_path: Path) -> None:
    journal, broker = Journal(tmp_path / "j.duckdb"), sim()
    batch = [BATCH[0], Order("", "qc:2010-01-05:B", "B", Side.BUY, 1000.0)]
    journal.intend("killed", SESSION, batch, NOW, NOW)
    for order in batch:  # A fills; B's 20,000 is more than the cash: cut
        broker.place([order])
        broker.open_session(np.array([10.0, 20.0]))

    reconcile_journal(journal, "next", broker.open_orders(), broker.fills(), ZONE, SESSION)

    orders = by_symbol(journal, "orders")
    assert list(orders["status"]) == ["filled", "partially_filled"]
    assert list(orders["order_id"]) == [f.order_id for f in broker.fills()]
    assert journal.table("fills")["recovered"].all()
    assert len(journal.table("orders")) == 2  # nothing rebuilt: A's row is its intent


def test_an_intent_of_an_earlier_day_unseen_by_the_broker_counts_as_sent(tmp_path: Path) -> None:
    # Killed after placing on the 5th; restarted on the 6th, the broker reports only the 6th's
    # executions: whether the batch was sent cannot be told, so it is never sent again.
    journal = Journal(tmp_path / "j.duckdb")
    journal.start_run("killed", "sim", "0" * 64, NOW)
    journal.set_account("killed", "acc")
    journal.intend("killed", SESSION, BATCH, NOW, NOW)

    done = reconcile_journal(journal, "next", [], [], ZONE, SESSION + dt.timedelta(days=1))

    assert done == JournalReconciliation(unconfirmed_orders=2)
    orders = journal.table("orders")
    assert set(orders["status"]) == {"unconfirmed"}
    assert orders["reason"].str.contains("check the broker's statement").all()
    assert journal.sent_symbols("qc:2010-01-05:", "sim", "acc") == {"A", "B"}
    [decision] = journal.table("decisions").itertuples()
    assert decision.orders == 2  # not corrected to "not sent"
    assert journal.last_rebalance() == SESSION
