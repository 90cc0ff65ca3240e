"""The live worker on the IB broker adapter, over the real IB client and the fake TWS."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config import load_config
from quant_core.broker import Order, Side
from quant_core.errors import ConfigError, TemporaryBrokerError
from quant_core.ib.broker import IBBroker
from quant_core.live.files import read_state, send_command
from quant_core.live.journal import Journal
from quant_core.live.state import WorkerMode, WorkerState
from quant_core.live.worker import Worker, WorkerOptions
from tests.factories import Fixed, market
from tests.fake_tws import LIB, client_problems
from tests.fake_tws.server import FakeTWS

pytestmark = pytest.mark.integration

CLOSES: dict[str, list[Any]] = {"AAPL": [150.0] * 5, "MSFT": [300.0] * 5, "XOM": [60.0] * 5}


@pytest.fixture
def fake() -> Iterator[FakeTWS]:
    server = FakeTWS(prices={"AAPL": 150.0, "MSFT": 300.0}).start()  # XOM has no price: rests
    yield server
    server.stop()


def make_worker(tmp_path: Path, fake: FakeTWS, *overrides: str) -> Worker:
    cfg = load_config(
        "live",
        [
            f"paths.data_dir={tmp_path}",
            "live.broker=ib",
            f"ib.port={fake.port}",
            "ib.client_id=21",
            "risk.max_position_weight=null",
            "live.flat_timeout_s=3",
            *overrides,
        ],
        environ={},
    )
    broker = IBBroker(cfg.ib, timeout_s=5)
    live = tmp_path / "live"
    journal = Journal(live / "journal.duckdb")
    w = Worker(
        cfg,
        market(CLOSES),
        Fixed({"AAPL": 0.3, "MSFT": 0.3, "XOM": 0.3}),
        broker,
        live,
        journal,
        WorkerOptions(mode=WorkerMode.IB_PAPER),
    )
    w.sleep = broker.wait  # let the IB client process messages while the worker waits
    w.start()
    return w


def close_worker(w: Worker) -> None:
    w.finish()
    w.journal.close()
    w.broker.disconnect()


@pytest.fixture
def worker(tmp_path: Path, fake: FakeTWS, caplog: pytest.LogCaptureFixture) -> Iterator[Worker]:
    caplog.set_level(logging.WARNING, logger=LIB)
    w = make_worker(tmp_path, fake)
    yield w
    close_worker(w)
    assert client_problems(caplog.records) == []


def _rebalance(worker: Worker) -> None:
    assert worker.rebalance_next()
    worker.journal.fills(worker.run_id, worker.broker.settle(0.5))
    worker.heartbeat()


def test_rebalance_fills_show_in_the_state_and_the_journal(worker: Worker, fake: FakeTWS) -> None:
    fake.set_daily_pnl(-42.0)
    _rebalance(worker)

    state = read_state(worker.live_dir)
    assert state is not None
    assert state["worker"]["mode"] == "ib-paper"
    assert state["worker"]["account"] == "DU1234567"  # the account reached, not a setting
    assert state["account"]["daily_pnl"] == -42.0  # IB's own figure (reqPnL), not ours
    held = {p["symbol"]: p["quantity"] for p in state["positions"]}
    # 0.3 x 1,000,000 x 0.98 / close: 1,960 AAPL and 980 MSFT; XOM has no price and rests.
    assert held == {"AAPL": 1960.0, "MSFT": 980.0}
    assert [(o["symbol"], o["status"]) for o in state["open_orders"]] == [("XOM", "submitted")]
    assert state["open_orders"][0]["ref"].startswith("qc:")
    fills = worker.journal.table("fills")
    assert sorted(fills["symbol"]) == ["AAPL", "MSFT"]
    assert (fills["commission"] > 0).all()


def test_cancel_flat_stop_on_ib(worker: Worker, fake: FakeTWS) -> None:
    _rebalance(worker)

    send_command(worker.live_dir, "CANCEL")
    worker.heartbeat()
    worker.broker.settle(0.3)
    assert worker.broker.open_orders() == []
    assert {p.symbol for p in worker.broker.positions()} == {"AAPL", "MSFT"}

    send_command(worker.live_dir, "FLAT")
    worker.heartbeat()
    assert worker.broker.positions() == []
    assert worker.broker.open_orders() == []
    assert worker.state is WorkerState.HALTED
    assert fake.positions == {}

    send_command(worker.live_dir, "STOP")
    worker.heartbeat()
    assert worker.state.value == "STOPPED"  # (mypy narrowed the attribute above)
    assert worker.stop_requested


def test_a_drop_mid_session_reconnects_and_never_doubles(worker: Worker, fake: FakeTWS) -> None:
    _rebalance(worker)  # XOM's order rests at the broker
    orders_before = len(fake.orders)

    fake.drop_connections()
    with pytest.raises(TemporaryBrokerError):
        worker.broker.settle(0.5)
    assert worker.recover(TemporaryBrokerError("connection lost"), 0)

    assert worker.state is WorkerState.RUNNING
    assert worker.reconciled is not None
    assert worker.reconciled.our_open_orders == 1
    assert worker.rebalance_next() == []  # this session's orders are at the broker already
    assert len(fake.orders) == orders_before


def test_rejections_and_partial_fills_are_reported_in_the_state(
    worker: Worker, fake: FakeTWS, caplog: pytest.LogCaptureFixture
) -> None:
    fake.reject["MSFT"] = "Insufficient buying power"
    fake.partial["AAPL"] = 0.5

    _rebalance(worker)

    state = read_state(worker.live_dir)
    assert state is not None
    [error] = [e["message"] for e in state["errors"] if "rejected" in e["message"]]
    assert "BUY 980 MSFT" in error
    assert "IB 201" in error
    assert "Insufficient buying power" in error
    orders = {o["symbol"]: o for o in state["open_orders"]}
    assert (orders["AAPL"]["status"], orders["AAPL"]["filled"]) == ("partially_filled", 980)
    assert orders["AAPL"]["quantity"] == 1960
    assert "MSFT" not in orders
    assert {p["symbol"]: p["quantity"] for p in state["positions"]} == {"AAPL": 980}
    assert [(f["symbol"], f["quantity"]) for f in state["fills_today"]] == [("AAPL", 980)]
    worker.heartbeat()
    worker.heartbeat()  # a rejection is reported once, not at every heartbeat
    logged = [r for r in caplog.records if "was rejected" in r.getMessage()]
    assert len(logged) == 1


def test_market_on_open_orders_wait_for_the_opening_auction(
    tmp_path: Path, fake: FakeTWS, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LIB)
    worker = make_worker(
        tmp_path, fake, "live.order_type=market_on_open", "live.rebalance_time=09:00"
    )
    try:
        _rebalance(worker)
        sent = {o.stock.symbol: o for o in fake.orders.values()}
        assert {s: (o.order_type, o.tif) for s, o in sent.items()} == {
            "AAPL": ("MKT", "OPG"),
            "MSFT": ("MKT", "OPG"),
            "XOM": ("MKT", "OPG"),
        }
        assert worker.broker.positions() == []  # nothing fills before the auction

        fake.prices["AAPL"] = 151.0
        fake.open_auction()
        fills = worker.broker.settle(0.5)

        assert sorted((f.symbol, f.quantity, f.price) for f in fills) == [
            ("AAPL", 1960, 151.0),
            ("MSFT", 980, 300.0),
        ]
    finally:
        close_worker(worker)
    assert client_problems(caplog.records) == []


def test_market_on_open_needs_a_rebalance_before_the_auction_cutoff(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"live.rebalance_time before 09:28 \(got 09:35\)"):
        load_config("live", ["live.order_type=market_on_open"], environ={})


def test_orders_are_never_sent_into_a_dead_connection(worker: Worker, fake: FakeTWS) -> None:
    fake.drop_connections()  # between two heartbeats: the client has not noticed yet

    with pytest.raises(TemporaryBrokerError):
        worker.rebalance_next()

    assert fake.orders == {}
    assert worker.journal.table("orders").empty  # nothing recorded as sent
    assert worker.recover(TemporaryBrokerError("connection lost"), 0)
    placed = worker.rebalance_next()  # the decision is made again, once
    assert len(placed) == 3
    assert len(fake.orders) == 3


def test_a_flat_cut_by_a_drop_leaves_the_worker_halted(worker: Worker, fake: FakeTWS) -> None:
    _rebalance(worker)
    fake.drop_connections()
    send_command(worker.live_dir, "FLAT")

    with pytest.raises(TemporaryBrokerError):
        worker.heartbeat()

    assert worker.state is WorkerState.HALTED  # it must not trade back in after reconnecting
    [ack] = list(worker.acks)
    assert ack.command == "FLAT"
    assert ack.result.startswith("interrupted")
    assert worker.recover(TemporaryBrokerError("connection lost"), 0)
    assert worker.state is WorkerState.HALTED


def test_a_restart_does_not_journal_the_days_fills_twice(tmp_path: Path, fake: FakeTWS) -> None:
    first = make_worker(tmp_path, fake)
    _rebalance(first)
    close_worker(first)

    again = make_worker(tmp_path, fake)  # a new process: TWS replays the day's executions
    try:
        replayed = again.broker.settle(0.5)
        again.journal.fills(again.run_id, replayed)

        assert sorted(f.symbol for f in replayed) == ["AAPL", "MSFT"]
        fills = again.journal.table("fills")
        assert sorted(fills["symbol"]) == ["AAPL", "MSFT"]
        assert fills["exec_id"].is_unique
    finally:
        close_worker(again)


def test_a_client_id_still_held_after_a_drop_is_retried(worker: Worker, fake: FakeTWS) -> None:
    fake.busy_client_ids.add(21)  # TWS has not yet let go of the dropped session
    fake.drop_connections()
    with pytest.raises(TemporaryBrokerError):
        worker.broker.settle(0.3)

    assert not worker.recover(TemporaryBrokerError("connection lost"), 0)  # retried, not fatal
    assert worker.state is WorkerState.DISCONNECTED

    fake.busy_client_ids.discard(21)
    assert worker.recover(TemporaryBrokerError("connection lost"), 1)
    assert worker.state.value == "RUNNING"  # (mypy narrowed the attribute above)


def test_a_gap_up_since_the_close_truncates_the_buys_at_the_quoted_prices(
    worker: Worker, fake: FakeTWS
) -> None:
    # Sized on the T-1 closes (AAPL 150): 1,960 AAPL, 980 MSFT, 4,900 XOM for 980,000 of the
    # 1,000,000 cash. AAPL now quotes 250: 1,078,000 in all, more than the cash pays.
    fake.prices["AAPL"] = 250.0
    _rebalance(worker)

    sent = {o.stock.symbol: o.quantity for o in fake.orders.values()}
    assert sent.keys() == {"AAPL", "MSFT", "XOM"}
    scale = [sent["AAPL"] / 1960, sent["MSFT"] / 980, sent["XOM"] / 4900]
    assert max(scale) < 1  # every buy cut, by the same factor (pro rata), shares floored
    assert max(scale) - min(scale) < 0.002
    cost = sent["AAPL"] * 250.0 + sent["MSFT"] * 300.0 + sent["XOM"] * 60.0  # XOM: T-1 close
    assert 0.99 * 1_000_000 < cost <= 1_000_000
    state = read_state(worker.live_dir)
    assert state is not None
    [cut] = [e["message"] for e in state["errors"] if "cut by" in e["message"]]
    assert "3 BUY order(s) cut" in cut
    assert f"AAPL 1960->{sent['AAPL']:g} at $250.00 (T-1 $150.00)" in cut


def test_delayed_quotes_are_used_without_a_market_data_subscription(
    worker: Worker, fake: FakeTWS
) -> None:
    fake.subscribed = False  # IB answers 354; the delayed price is the gap-up one
    fake.prices["AAPL"] = 250.0
    _rebalance(worker)

    sent = {o.stock.symbol: o.quantity for o in fake.orders.values()}
    assert sent["AAPL"] < 1960  # cut at the delayed quote, not at the T-1 close


def test_a_lost_link_to_ib_waits_for_tws_to_restore_it(worker: Worker, fake: FakeTWS) -> None:
    fake.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    with pytest.raises(TemporaryBrokerError) as lost:
        worker.broker.settle(0.3)
    assert lost.value.code == 1100
    accepted = fake.accepted

    # TWS itself is up: no reconnect, no re-read of stale data, and the worker stays out.
    assert not worker.recover(lost.value, 0)
    assert not worker.recover(lost.value, 1)
    assert worker.state is WorkerState.DISCONNECTED
    assert fake.accepted == accepted
    assert worker.rebalance_next() == []  # nothing traded while disconnected

    fake.send_error(1102, "Connectivity between IB and TWS has been restored - data maintained.")
    assert worker.recover(lost.value, 2)
    assert worker.state.value == "RUNNING"  # (mypy narrowed the attribute above)
    assert fake.accepted == accepted + 1  # a fresh session: positions and orders read again


def test_a_batch_cut_short_sends_only_the_orders_not_yet_at_the_broker(
    worker: Worker, fake: FakeTWS
) -> None:
    # The first order of the session went out (and filled) before a drop; XOM's rests.
    session = "2010-01-11"
    worker.broker.place(
        [
            Order("", f"qc:{session}:AAPL", "AAPL", Side.BUY, 1960.0),
            Order("", f"qc:{session}:XOM", "XOM", Side.BUY, 4900.0),
        ]
    )
    worker.broker.settle(0.5)

    placed = worker.rebalance_next()

    assert [o.symbol for o in placed] == ["MSFT"]
    worker.broker.wait(0.3)  # the order on its way to the fake
    by_symbol = sorted(o.stock.symbol for o in fake.orders.values())
    assert by_symbol == ["AAPL", "MSFT", "XOM"]  # nothing doubled


def test_a_market_on_open_rebalance_after_the_cutoff_sends_market_orders(
    tmp_path: Path, fake: FakeTWS
) -> None:
    worker = make_worker(
        tmp_path, fake, "live.order_type=market_on_open", "live.rebalance_time=09:00"
    )
    try:
        # A forced rebalance at 10:00 on the session's day: the auction is over.
        worker.clock = lambda: dt.datetime(2010, 1, 11, 15, 0, tzinfo=dt.UTC)
        _rebalance(worker)
        assert {(o.order_type, o.tif) for o in fake.orders.values()} == {("MKT", "DAY")}
        state = read_state(worker.live_dir)
        assert state is not None
        assert any("past the opening auction" in e["message"] for e in state["errors"])
    finally:
        close_worker(worker)


def test_a_batch_cut_short_counts_its_resting_buys_in_the_cash_check(
    worker: Worker, fake: FakeTWS
) -> None:
    # XOM's buy for the session rests at the broker (no price yet) and holds 294,000 of the
    # cash; AAPL has gapped up to 250. What is left must be cut to what the cash still pays.
    worker.broker.place([Order("", "qc:2010-01-11:XOM", "XOM", Side.BUY, 4900.0)])
    worker.broker.wait(0.3)
    fake.prices["AAPL"] = 250.0

    placed = {o.symbol: o.quantity for o in worker.rebalance_next()}

    assert placed.keys() == {"AAPL", "MSFT"}
    committed = placed["AAPL"] * 250.0 + placed["MSFT"] * 300.0 + 4900 * 60.0
    assert 0.99 * 1_000_000 < committed <= 1_000_000


def test_a_link_lost_just_before_a_rebalance_sends_nothing(worker: Worker, fake: FakeTWS) -> None:
    fake.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")

    with pytest.raises(TemporaryBrokerError):
        worker.rebalance_next()

    worker.broker.wait(0.3)
    assert fake.orders == {}


def test_commands_are_answered_while_disconnected(worker: Worker, fake: FakeTWS) -> None:
    _rebalance(worker)
    fake.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    with pytest.raises(TemporaryBrokerError) as lost:
        worker.broker.settle(0.3)

    send_command(worker.live_dir, "FLAT")
    assert not worker.recover(lost.value, 0)  # still down; the FLAT is answered meanwhile
    [ack] = list(worker.acks)
    assert ack.command == "FLAT"
    assert ack.result.startswith("not executed: disconnected from the broker")
    assert {p.symbol for p in worker.broker.positions()} == {"AAPL", "MSFT"}  # nothing closed

    fake.send_error(1102, "Connectivity between IB and TWS has been restored - data maintained.")
    assert worker.recover(lost.value, 1)
    assert worker.state is WorkerState.HALTED  # the FLAT's promise: nothing bought back

    fake.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    with pytest.raises(TemporaryBrokerError):
        worker.broker.settle(0.3)
    send_command(worker.live_dir, "STOP")
    assert not worker.recover(lost.value, 0)
    assert worker.stop_requested
    assert worker.state.value == "STOPPED"  # (mypy narrowed the attribute above)


def test_a_worker_restarted_under_another_client_id_sees_its_orders_and_sends_none_again(
    tmp_path: Path, fake: FakeTWS, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LIB)
    first = make_worker(tmp_path, fake)  # client id 21
    _rebalance(first)  # XOM's order rests at the broker
    close_worker(first)

    again = make_worker(tmp_path, fake, "ib.client_id=22")
    try:
        [resting] = again.broker.open_orders()
        assert resting.symbol == "XOM"
        assert resting.order_id.startswith("21/")  # visible, marked as another client's
        assert again.reconciled is not None
        assert again.reconciled.our_open_orders == 1
        state = read_state(again.live_dir)
        assert state is not None
        assert any("placed under another IB client id" in e["message"] for e in state["errors"])

        assert again.rebalance_next() == []  # this session's orders are out already
        assert len(fake.orders) == 3

        send_command(again.live_dir, "CANCEL")  # cannot cancel another client's order...
        again.heartbeat()
        again.broker.wait(0.3)
        assert [o.stock.symbol for o in fake.orders.values() if o.status == "Submitted"] == ["XOM"]
        assert fake.cancel_requests == []  # ...and never sends a cancel meant for another order
        cancel = list(again.acks)[-1]
        assert cancel.result.startswith("cancelled 0 open order(s); 1 order(s) of ours still")
        assert cancel.detail == {"not_cancelled": ["qc:2010-01-11:XOM"]}

        send_command(again.live_dir, "FLAT")  # positions close; the account is still NOT flat
        again.heartbeat()
        flat = list(again.acks)[-1]
        assert again.broker.positions() == []
        assert flat.result.startswith("NOT flat: 2 position(s) closed, but 1 order(s)")
        assert "cancel them in TWS" in flat.result
    finally:
        close_worker(again)
    assert client_problems(caplog.records) == []


def test_a_socket_dropped_while_quoting_is_a_reconnect_not_a_crash(
    worker: Worker, fake: FakeTWS
) -> None:
    fake.snapshot_delay_s = 1.0  # the drop lands while the snapshots are out
    timer = threading.Timer(0.3, fake.drop_connections)
    timer.start()
    try:
        with pytest.raises(TemporaryBrokerError):
            worker.rebalance_next()
    finally:
        timer.join()
    assert fake.orders == {}
    assert worker.recover(TemporaryBrokerError("connection lost"), 0)
    assert len(worker.rebalance_next()) == 3


def test_disconnected_the_state_keeps_the_last_figures_and_survives_a_second_drop(
    worker: Worker, fake: FakeTWS
) -> None:
    _rebalance(worker)
    before = read_state(worker.live_dir)
    assert before is not None
    fake.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    with pytest.raises(TemporaryBrokerError) as lost:
        worker.broker.settle(0.3)

    timer = threading.Timer(0.3, fake.drop_connections)  # then TWS restarts, mid back-off
    timer.start()
    try:
        back = worker.recover(lost.value, 2)  # does not raise; reconnects afresh
    finally:
        timer.join()
    assert back

    # Dropped again, and TWS holds the client id a while: the worker stays DISCONNECTED, and its
    # state shows the account as last read (a dropped client forgets it), not zeros.
    fake.busy_client_ids.add(21)
    fake.drop_connections()
    with pytest.raises(TemporaryBrokerError) as dropped:
        worker.broker.settle(0.3)
    assert not worker.recover(dropped.value, 0)
    state = read_state(worker.live_dir)
    assert state is not None
    assert state["worker"]["state"] == "DISCONNECTED"
    held = {p["symbol"]: p["quantity"] for p in state["positions"]}
    assert held == {p["symbol"]: p["quantity"] for p in before["positions"]}
    assert state["account"]["net_liquidation"] == pytest.approx(
        before["account"]["net_liquidation"], rel=1e-3
    )
    assert state["worker"]["broker_as_of"] < state["worker"]["heartbeat_at"]
