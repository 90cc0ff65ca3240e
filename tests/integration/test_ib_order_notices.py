"""IB's messages on an order id that ib_async misreads: a notice on a live order, a refusal.

ib_async 2.1 ends an order (status Cancelled) on every message on its id that it does not know
for a warning. Two ways this went wrong, both through the real client and the fake TWS:

* 10349 ("Order TIF was set to DAY based on order preset"), which newer TWS versions send for
  an order placed without a time in force: the order is live at IB, but was missing from the
  worker's open orders, so CANCEL and FLAT did not cancel it (FLAT sent a new sale at every
  retry: a long became a large short at the open). The worker now always sends a TIF, and a
  10349 on an order sent without one (by hand, by another tool) leaves it open.
* a refusal under a code other than 201 (383: over TWS's precautionary size limit) vanished:
  no error in the state, no REJECT alert. It is now reported as a 201 is.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from quant_core.live.files import read_state, send_command
from quant_core.live.worker import Worker
from tests.fake_tws import protocol as p
from tests.fake_tws.server import TIF_PRESET, FakeTWS
from tests.integration.test_worker_ib import close_worker, fake, make_worker, worker

__all__ = ["fake", "worker"]  # fixtures

NOTICE = "Order TIF was set to DAY based on order preset."


def _rebalance(w: Worker) -> None:
    assert w.rebalance_next()
    w.journal.fills(w.run_id, w.broker.settle(0.5))
    w.heartbeat()


def _resting(fake: FakeTWS) -> list[p.FakeOrder]:
    return [o for o in fake.orders.values() if o.status == "Submitted"]


def test_every_order_is_sent_with_a_time_in_force(worker: Worker, fake: FakeTWS) -> None:
    _rebalance(worker)

    assert fake.orders
    assert fake.tif_blank == []
    assert {o.tif for o in fake.orders.values()} == {"DAY"}


def test_a_10349_leaves_the_order_open_and_cancel_cancels_it(worker: Worker, fake: FakeTWS) -> None:
    _rebalance(worker)
    [xom] = _resting(fake)  # XOM has no price at the fake: its buy rests
    with fake.lock:
        for conn in fake._connections:
            if conn.client_id == xom.client_id:
                conn.send(p.error(xom.order_id, TIF_PRESET, NOTICE, conn.server_version))
    worker.broker.settle(0.5)

    assert [o.symbol for o in worker.broker.open_orders()] == ["XOM"]
    send_command(worker.live_dir, "CANCEL")
    worker.heartbeat()
    worker.broker.settle(0.5)

    assert xom.order_id in fake.cancel_requests
    assert _resting(fake) == []
    assert worker.acks[-1].result == "cancelled 1 open order(s)"


def test_flat_cancels_an_order_a_10349_was_sent_for(worker: Worker, fake: FakeTWS) -> None:
    _rebalance(worker)
    [xom] = _resting(fake)
    with fake.lock:
        for conn in fake._connections:
            if conn.client_id == xom.client_id:
                conn.send(p.error(xom.order_id, TIF_PRESET, NOTICE, conn.server_version))
    worker.broker.settle(0.5)

    send_command(worker.live_dir, "FLAT")
    worker.heartbeat()
    worker.broker.settle(0.5)

    assert xom.order_id in fake.cancel_requests
    assert _resting(fake) == []
    assert "XOM" not in fake.positions


def test_a_refusal_under_another_code_is_reported_as_a_rejection(
    tmp_path: Path, fake: FakeTWS, caplog: pytest.LogCaptureFixture
) -> None:
    text = "size exceeds the Size Limit of 500 (Precautionary Settings)"
    fake.refuse["MSFT"] = (383, text)
    w = make_worker(tmp_path, fake)
    sent: list[tuple[str, str]] = []
    w.alerts.notify = lambda event, title, body: sent.append((str(event), title))  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.WARNING):
            _rebalance(w)
            w.heartbeat()
        state = read_state(w.live_dir)
        assert state is not None
        [error] = [e["message"] for e in state["errors"] if "rejected" in e["message"]]
        assert "MSFT" in error
        assert "IB 383" in error
        assert text in error
        assert "MSFT" not in {o["symbol"] for o in state["open_orders"]}
        assert any("REJECT" in event.upper() for event, _ in sent)
    finally:
        close_worker(w)
