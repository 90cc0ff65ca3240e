"""What the daily report reads and keeps: orders' decision prices and purposes, fills' arrival
prices (the simulated broker's, journaled), the report rows (replaced, never doubled), and a
journal written before these columns still opens."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from quant_core.broker import Fill, Order, OrderStatus, Side
from quant_core.live.journal import Journal
from quant_core.live.sim_broker import SimBroker
from quant_core.portfolio.costs import CostModel

AT = dt.datetime(2024, 3, 5, 14, 30, tzinfo=dt.UTC)
DAY = dt.date(2024, 3, 5)


def _journal(tmp_path: Path) -> Journal:
    journal = Journal(tmp_path / "journal.duckdb")
    journal.start_run("r1", "ib-paper", "cfg", AT)
    journal.set_account("r1", "DU1")
    return journal


def _figures(session: dt.date, equity: float) -> dict[str, object]:
    return {
        "session": session,
        "equity": equity,
        "cash": 1.0,
        "pnl": None,
        "realized_pnl": 0.0,
        "fills": 0,
        "commission": 0.0,
        "shortfall": 0.0,
    }


def test_orders_keep_their_decision_price_and_purpose_through_the_brokers_answer(
    tmp_path: Path,
) -> None:
    journal = _journal(tmp_path)
    rebalance = Order("", "qc:2024-03-05:A", "A", Side.BUY, 10, decision_price=99.5)
    stop = Order("", "qc:2024-03-05:B", "B", Side.SELL, 5, reason="stop_loss")
    journal.intend("r1", DAY, [rebalance, stop], AT, AT)
    # IB answers with its own status text in the reason, and no decision price.
    answered = [
        Order("7", "qc:2024-03-05:A", "A", Side.BUY, 10, status=OrderStatus.SUBMITTED,
              reason="PreSubmitted"),
        Order("8", "qc:2024-03-05:B", "B", Side.SELL, 5, status=OrderStatus.SUBMITTED,
              reason="Submitted"),
    ]  # fmt: skip
    journal.placed("r1", answered)
    journal.fills(
        "r1",
        [
            Fill("7", "qc:2024-03-05:A", "A", Side.BUY, 10, 100.0, 1.0, AT, "e1"),
            Fill("8", "qc:2024-03-05:B", "B", Side.SELL, 5, 50.0, 1.0, AT, "e2", 50.5),
            Fill("9", "flat:c1", "A", Side.SELL, 10, 101.0, 1.0, AT, "e3"),
        ],
    )

    fills = journal.report_fills("ib-paper", "DU1")

    assert fills["exec_id"].tolist() == ["e1", "e2", "e3"]
    assert fills["decision_price"].tolist()[0] == 99.5
    assert fills["decision_price"].isna().tolist() == [False, True, True]
    assert fills["purpose"].tolist() == ["", "stop_loss", ""]
    assert fills["arrival_price"].isna().tolist() == [True, False, True]
    assert journal.report_fills("ib-paper", "other").empty  # another account's: none
    journal.close()


def test_a_report_recorded_again_replaces_its_row_and_learns_arrivals(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    journal.fills(
        "r1",
        [
            Fill("7", "qc:2024-03-05:A", "A", Side.BUY, 10, 100.0, 1.0, AT, "e1"),
            Fill("8", "qc:2024-03-05:B", "B", Side.BUY, 10, 20.0, 1.0, AT, "e2", 19.0),
        ],
    )
    journal.record_report("ib-paper", "DU1", "r1", AT, _figures(DAY, 100.0), "{}", {"e1": 99.0})
    later = AT + dt.timedelta(hours=1)
    journal.record_report(
        "ib-paper", "DU1", "r1", later, _figures(DAY, 101.0), '{"a": 1}', {"e2": 18.0}
    )
    journal.record_report(
        "ib-paper", "DU1", "r1", later, _figures(DAY + dt.timedelta(days=1), 102.0), "{}"
    )

    rows = journal.report_rows("ib-paper", "DU1")
    assert rows["session"].tolist() == [DAY, DAY + dt.timedelta(days=1)]
    assert rows["equity"].tolist() == [101.0, 102.0]
    assert journal.report_documents("ib-paper", "DU1", [DAY]) == {DAY: '{"a": 1}'}
    assert journal.last_report_at("ib-paper", "DU1") == later
    # An arrival price is set once: a later guess does not overwrite the broker's.
    fills = journal.report_fills("ib-paper", "DU1")
    assert fills["arrival_price"].tolist() == [99.0, 19.0]
    assert len(journal.table("report_daily")) == 2
    journal.close()


def test_a_journal_from_before_the_reports_opens(tmp_path: Path) -> None:
    path = tmp_path / "journal.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE orders (run_id VARCHAR, session DATE, order_id VARCHAR, ref VARCHAR, "
        "symbol VARCHAR, side VARCHAR, quantity DOUBLE, status VARCHAR, reason VARCHAR, "
        "ts TIMESTAMPTZ)"
    )
    con.execute(
        "CREATE TABLE fills (run_id VARCHAR, order_id VARCHAR, ref VARCHAR, symbol VARCHAR, "
        "side VARCHAR, quantity DOUBLE, price DOUBLE, commission DOUBLE, ts TIMESTAMPTZ)"
    )
    con.execute("CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, mode VARCHAR, "
                "config_sha256 VARCHAR, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ)")  # fmt: skip
    con.execute("INSERT INTO runs VALUES ('old', 'sim', 'x', ?, NULL)", [AT])
    con.execute(
        "INSERT INTO orders VALUES ('old', ?, '1', 'qc:2024-03-05:A', 'A', 'BUY', 3, 'filled', "
        "'', ?)",
        [DAY, AT],
    )
    con.execute(
        "INSERT INTO fills VALUES ('old', '1', 'qc:2024-03-05:A', 'A', 'BUY', 3, 10, 1, ?)", [AT]
    )
    con.close()

    journal = Journal(path)
    fills = journal.report_fills("sim", "")
    assert fills["symbol"].tolist() == ["A"]
    assert np.isnan(fills["decision_price"].iloc[0])
    assert np.isnan(fills["arrival_price"].iloc[0])
    assert journal.report_rows("sim", "").empty
    journal.close()


class _Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2024, 3, 5, 14, 30, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def test_the_simulated_broker_knows_each_fills_arrival_price(tmp_path: Path) -> None:
    clock = _Clock()
    symbols = pd.Index(["A", "B", "G"])
    store = tmp_path / "sim.json"
    broker = SimBroker(
        symbols, 10_000.0, CostModel(slippage_bps=10.0), "pro_rata", False, clock, store
    )
    broker.mark(np.array([10.0, 20.0, 5.0]))
    broker.place([Order("", "qc:x:A", "A", Side.BUY, 10), Order("", "qc:x:G", "G", Side.BUY, 10)])
    broker.open_session(np.array([10.5, 21.0, 5.5]))
    broker.place([Order("", "qc:y:G", "G", Side.SELL, 10), Order("", "qc:y:B", "B", Side.BUY, 5)])
    # G is gone (no open): its sale fills at its last close, the price it aims at.
    opened = broker.open_session(
        np.array([11.0, 22.0, np.nan]), exits=np.array([np.nan, np.nan, 5.2])
    )

    assert {f.symbol: f.arrival_price for f in opened} == {"G": 5.2, "B": 22.0}
    g = next(f for f in opened if f.symbol == "G")
    assert g.price == pytest.approx(5.2 * (1 - 10 / 1e4))  # slippage is the cost against it
    assert broker.session_opens(["A", "B", "G", "Z"], clock.now.date()) == {"A": 11.0, "B": 22.0}
    assert broker.session_opens(["A"], dt.date(2024, 3, 4)) == {}  # not the session it knows
    broker.place([Order("", "flat:c", "A", Side.SELL, 10)])
    assert [f.arrival_price for f in broker.fill_now()] == [None]  # mid-session: not at the open
    # The day's executions come back from the account's file with their arrival prices.
    again = SimBroker(
        symbols, 10_000.0, CostModel(slippage_bps=10.0), "pro_rata", False, clock, store
    )
    assert [(f.exec_id, f.arrival_price) for f in again.fills()] == [
        (f.exec_id, f.arrival_price) for f in broker.fills()
    ]
    assert [f.arrival_price for f in again.fills()] == [10.5, 5.5, 5.2, 22.0, None]
