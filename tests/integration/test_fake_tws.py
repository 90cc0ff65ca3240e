"""The real IB client (ib_async; ib_insync in its own venv) against the fake TWS: the wire protocol.

Decode errors never reach the caller in either library (they are logged), so every test fails on an
ERROR from its decoder, and on any wrapper error other than the codes it expects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest

from quant_core.ib.client import ibapi
from tests.fake_tws import CLIENT_MAX_VERSION, LIB, VERSIONS
from tests.fake_tws.server import FakeTWS

LimitOrder, MarketOrder, Stock = ibapi.LimitOrder, ibapi.MarketOrder, ibapi.Stock

pytestmark = pytest.mark.integration


def wait_until(client: ibapi.IB, done: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Run the client's event loop until ``done()`` holds or ``timeout`` seconds pass.

    Returns whether it holds: the caller then asserts, so a timeout shows the state reached.
    """
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        client.sleep(0.02)
    return True


@pytest.fixture
def ib(fake: FakeTWS, caplog: pytest.LogCaptureFixture) -> Iterator[ibapi.IB]:
    caplog.set_level(logging.WARNING, logger=LIB)
    client = ibapi.IB()
    client.connect("127.0.0.1", fake.port, clientId=7, timeout=10)
    yield client
    client.disconnect()
    problems = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR
        and r.name.startswith(LIB)
        and not r.getMessage().startswith("Error 202,")  # a cancel, as ib_async reports it
    ]
    assert problems == []


def test_connect_sync_positions_and_account(ib: ibapi.IB, fake: FakeTWS) -> None:
    assert ib.client.serverVersion() == min(178, CLIENT_MAX_VERSION)
    assert ib.managedAccounts() == ["DU1234567"]
    assert [(p.contract.symbol, p.position, p.avgCost) for p in ib.positions()] == [
        ("MSFT", 10.0, 250.0)
    ]
    values = {v.tag: float(v.value) for v in ib.accountValues() if v.currency == "USD"}
    assert values["TotalCashValue"] == 1_000_000
    assert values["NetLiquidation"] == 1_003_000


def test_market_order_fills_with_commission_and_pushes_the_position(
    ib: ibapi.IB, fake: FakeTWS
) -> None:
    trade = ib.placeOrder(
        Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 10, orderRef="qc:t:AAPL")
    )
    wait_until(
        ib,
        lambda: (
            trade.orderStatus.status == "Filled"
            and [f.commissionReport.commission for f in trade.fills] == [1.0]
            and "AAPL" in {p.contract.symbol for p in ib.positions()}
        ),
    )
    assert trade.orderStatus.status == "Filled"
    assert [
        (f.execution.shares, f.execution.price, f.commissionReport.commission) for f in trade.fills
    ] == [(10.0, 150.0, 1.0)]
    assert trade.fills[0].execution.orderRef == "qc:t:AAPL"
    assert sorted((p.contract.symbol, p.position) for p in ib.positions()) == [
        ("AAPL", 10.0),
        ("MSFT", 10.0),
    ]
    assert fake.cash == pytest.approx(1_000_000 - 1_500 - 1.0)


def test_limit_order_rests_then_cancel_and_global_cancel(ib: ibapi.IB) -> None:
    # With a TIF: without one the fake, as newer TWS versions, sends 10349 (preset applied).
    first = ib.placeOrder(Stock("AAPL", "SMART", "USD"), LimitOrder("BUY", 5, 100.0, tif="DAY"))
    second = ib.placeOrder(Stock("MSFT", "SMART", "USD"), LimitOrder("SELL", 5, 999.0, tif="DAY"))
    wait_until(ib, lambda: {t.orderStatus.status for t in (first, second)} == {"Submitted"})
    assert {t.orderStatus.status for t in (first, second)} == {"Submitted"}
    ib.cancelOrder(first.order)
    wait_until(ib, lambda: first.orderStatus.status == "Cancelled")
    assert first.orderStatus.status == "Cancelled"
    ib.reqGlobalCancel()
    wait_until(ib, lambda: second.orderStatus.status == "Cancelled" and not ib.openTrades())
    assert second.orderStatus.status == "Cancelled"
    assert ib.openTrades() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_older_server_versions(version: int) -> None:
    server = FakeTWS(prices={"AAPL": 150.0}, max_server_version=version).start()
    client = ibapi.IB()
    try:
        client.connect("127.0.0.1", server.port, clientId=1, timeout=10)
        assert client.client.serverVersion() == version
        trade = client.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("SELL", 3))
        wait_until(client, lambda: trade.orderStatus.status == "Filled")
        assert trade.orderStatus.status == "Filled"
    finally:
        client.disconnect()
        server.stop()


def test_a_reconnect_finds_the_account_as_it_was(fake: FakeTWS) -> None:
    client = ibapi.IB()
    client.connect("127.0.0.1", fake.port, clientId=2, timeout=10)
    bought = client.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 4))
    resting = client.placeOrder(Stock("AAPL", "SMART", "USD"), LimitOrder("BUY", 1, 1.0))
    # Both orders reached the fake (one filled, one resting) before it drops us.
    wait_until(
        client,
        lambda: (bought.orderStatus.status, resting.orderStatus.status) == ("Filled", "Submitted"),
    )
    fake.drop_connections()  # as TWS does at its daily restart
    with pytest.raises(ConnectionError):
        # ib_async raises when the socket closes under a running wait: wait for that alone.
        wait_until(client, lambda: False)
    assert not client.isConnected()
    client.connect("127.0.0.1", fake.port, clientId=2, timeout=10)
    try:
        assert sorted((p.contract.symbol, p.position) for p in client.positions()) == [
            ("AAPL", 4.0),
            ("MSFT", 10.0),
        ]
        assert [t.order.orderId for t in client.openTrades()] == [resting.order.orderId]
    finally:
        client.disconnect()
