"""IB's correction of an execution replaces it in the journal, not adds to it.

IB corrects an execution with another ``execDetails`` whose id differs in its last part only
(``....01.01`` -> ``....01.02``). The journal deduplicated by the exact id and so held both:
1960 AAPL at 150.00 and 1960 at 150.05, 3920 shares against the broker's 1960.
"""

from __future__ import annotations

from pathlib import Path

from quant_core.live.journal_fills import execution
from tests.fake_tws import protocol as p
from tests.fake_tws.server import FakeTWS
from tests.integration.test_worker_ib import close_worker, fake, make_worker

__all__ = ["fake"]  # fixture


def test_an_ib_exec_id_names_its_execution_without_the_correction_number() -> None:
    assert execution("0000e0d5.6536a6b4.01.02") == "0000e0d5.6536a6b4.01"
    assert execution("sim-20100111-0003") == "sim-20100111-0003"  # another broker's: whole
    assert execution("") == ""


def test_a_corrected_execution_is_journaled_once_at_its_corrected_price(
    tmp_path: Path, fake: FakeTWS
) -> None:
    w = make_worker(tmp_path, fake)
    try:
        assert w.rebalance_next()
        w.journal.fills(w.run_id, w.broker.settle(0.5))
        with fake.lock:
            order, exec_id, shares, _, stamp, fee = next(
                e for e in fake.executions if e[0].stock.symbol == "AAPL"
            )
            fixed = exec_id[:-2] + "02"  # IB's correction: the same execution, repriced
            for conn in fake._connections:
                conn.send(p.exec_details(order, fixed, shares, 150.05, stamp, conn.server_version))
                conn.send(p.commission_report(fixed, fee + 0.5))
        w.journal.fills(w.run_id, w.broker.settle(0.5))
        w.journal.fills(w.run_id, w.broker.fills())  # both reported again (a restart): no change

        fills = w.journal.table("fills")
        aapl = fills[fills["symbol"] == "AAPL"]
        held = {x.symbol: x.quantity for x in w.broker.positions()}
        assert len(aapl) == 1
        assert aapl["quantity"].sum() == held["AAPL"] == shares
        assert aapl["price"].iloc[0] == 150.05
        assert aapl["commission"].iloc[0] == fee + 0.5
        assert aapl["exec_id"].iloc[0] == exec_id  # the row keeps the id it was recorded under
    finally:
        close_worker(w)
