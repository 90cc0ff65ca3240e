"""Decisions settled by batch (stop exits apart from the rebalance), and what shaped one kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from quant_core.broker import Order, Side
from quant_core.live.journal import Journal
from quant_core.live.journal_decisions import decision_shape
from quant_core.live.reconcile import reconcile_journal
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import BindingRow, LastDecision
from quant_core.portfolio.construction import LeftOut, Reason
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.policy import Binding
from quant_core.strategies.decide import Decision

ZONE = ZoneInfo("America/New_York")
NOW = dt.datetime(2010, 1, 5, 15, 0, tzinfo=dt.UTC)
SESSION = dt.date(2010, 1, 5)
STOP = [Order("", "qc:2010-01-05:D", "D", Side.SELL, 7.0, reason="stop_loss")]
REBALANCE = [Order("", f"qc:2010-01-05:{s}", s, Side.BUY, 5.0) for s in "ABC"]
STOPS_OUTCOME = "stops: D stop_loss at 9.00"


def sim() -> SimBroker:
    symbols = pd.Index(list("ABCD"), dtype=object)
    return SimBroker(symbols, 10_000.0, CostModel(), "pro_rata", False, lambda: NOW)


def outcomes(journal: Journal) -> dict[str, tuple[str, Any]]:
    rows = journal.table("decisions").itertuples()
    return {
        "stops" if str(r.outcome).startswith("stops") else "rebalance": (str(r.outcome), r.orders)
        for r in rows
    }


def test_a_rebalance_not_sent_counts_its_own_orders_not_the_stop_exits(tmp_path: Path) -> None:
    journal, broker = Journal(tmp_path / "j.duckdb"), sim()
    journal.intend("run", SESSION, STOP, NOW, NOW, STOPS_OUTCOME)
    journal.placed("run", broker.place(STOP))  # the exits reached the broker
    journal.intend("run", SESSION, REBALANCE, NOW, NOW)  # killed before this batch was sent

    reconcile_journal(journal, "next", broker.open_orders(), broker.fills(), ZONE, SESSION)

    found = outcomes(journal)
    assert found["rebalance"][0].startswith("not sent: the worker stopped before sending its 3 ")
    assert found["rebalance"][1] == 0
    assert found["stops"] == (STOPS_OUTCOME, 1)  # sent: left as it was


def test_a_stop_batch_killed_before_it_was_sent_is_settled_and_keeps_its_stops(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.duckdb")
    journal.intend("killed", SESSION, STOP, NOW, NOW, STOPS_OUTCOME)

    done = reconcile_journal(journal, "next", [], [], ZONE, SESSION)

    assert done.decisions_corrected == 1
    [row] = journal.table("decisions").itertuples()
    assert str(row.outcome) == (
        "stops not sent: the worker stopped before sending its 1 order(s) "
        "(reconciled at the next start): D stop_loss at 9.00"
    )
    assert row.orders == 0
    assert journal.last_rebalance() is None
    # Settled once: a later start changes nothing.
    assert reconcile_journal(journal, "again", [], [], ZONE, SESSION).decisions_corrected == 0


def test_a_stop_batch_cut_short_says_so(tmp_path: Path) -> None:
    journal, broker = Journal(tmp_path / "j.duckdb"), sim()
    two = [*STOP, Order("", "qc:2010-01-05:A", "A", Side.SELL, 2.0, reason="take_profit")]
    journal.intend("killed", SESSION, two, NOW, NOW, STOPS_OUTCOME + "; A take_profit")
    broker.place(two[:1])

    reconcile_journal(journal, "next", broker.open_orders(), broker.fills(), ZONE, SESSION)

    [row] = journal.table("decisions").itertuples()
    assert str(row.outcome).startswith("stops cut short: 1 of 2 order(s) sent before the worker")
    assert str(row.outcome).endswith(": D stop_loss at 9.00; A take_profit")
    assert row.orders == 1


def test_what_shaped_a_decision_is_kept_with_it_and_read_back(tmp_path: Path) -> None:
    symbols = np.array(["A", "B", "C", "D"], dtype=object)
    decision = Decision(
        orders=np.zeros(4),
        weights=np.zeros(4),
        left_out=(LeftOut(1, Reason.SHORT_HISTORY), LeftOut(3, Reason.NO_SCORE)),
        binding=(
            Binding("fallback", "min_variance: solver failed"),
            Binding("max_weight", "2 name(s) clipped to 5.00%"),
            Binding("max_gross", "gross scaled 1.20 -> 1.00"),
        ),
    )
    shape = decision_shape(decision, symbols, SESSION)
    assert shape == LastDecision(
        session=SESSION,
        bindings=(
            BindingRow("max_weight", "2 name(s) clipped to 5.00%"),
            BindingRow("max_gross", "gross scaled 1.20 -> 1.00"),
        ),
        left_out=2,
        left_out_names=("B", "D"),
        fallback="min_variance: solver failed",
    )
    journal = Journal(tmp_path / "j.duckdb")
    assert journal.last_decision() is None
    journal.intend("run", SESSION, REBALANCE, NOW, NOW, shape=shape)
    journal.intend("run", SESSION, STOP, NOW, NOW, STOPS_OUTCOME)  # stops: no shape
    assert journal.last_decision() == shape
    later = LastDecision(session=SESSION + dt.timedelta(days=1))
    journal.decision("run", later.session, NOW, "no orders (RUNNING: )", 0, later)
    assert journal.last_decision() == later
    many = LastDecision(session=SESSION, left_out=12, left_out_names=tuple("ABCDEFGHIJKL"))
    assert many.kept().left_out_names == tuple("ABCDEFGHIJ")
    assert many.kept().left_out == 12
