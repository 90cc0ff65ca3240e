"""The IB broker adapter (quant_core.ib) over the real IB client and the fake TWS."""

from __future__ import annotations

import datetime as dt
import logging
import math
import socket
from collections.abc import Iterator

import pytest

from config.schema import IBConfig, RiskConfig
from quant_core.broker import Order, OrderStatus, OrderType, Side
from quant_core.errors import ConfigError, TemporaryBrokerError
from quant_core.ib.broker import IBBroker
from quant_core.ib.client import ibapi
from quant_core.ib.errors import family_of
from quant_core.portfolio import risk
from tests.fake_tws import LIB, client_problems
from tests.fake_tws.server import FakeTWS

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(fake: FakeTWS, caplog: pytest.LogCaptureFixture) -> Iterator[IBBroker]:
    caplog.set_level(logging.WARNING, logger=LIB)
    adapter = IBBroker(IBConfig(port=fake.port, client_id=11), timeout_s=5)
    adapter.connect()
    yield adapter
    adapter.disconnect()
    assert client_problems(caplog.records) == []


def test_a_net_liquidation_not_reported_is_unknown_not_zero(fake: FakeTWS) -> None:
    # Read as 0.0 it was a 100% daily loss: the heartbeat halted (and with flat_on_breach,
    # liquidated) an account that had lost nothing.
    fake.withheld_account_tags = {"NetLiquidation"}
    adapter = IBBroker(IBConfig(port=fake.port, client_id=12), timeout_s=5)
    adapter.connect()
    try:
        account = adapter.account()
    finally:
        adapter.disconnect()
    assert math.isnan(account.net_liquidation)
    assert account.cash == 1_000_000
    limits = RiskConfig(max_daily_loss_frac=0.05, max_drawdown_frac=0.25)  # live.yaml's
    usage = risk.account_usage(limits, account.net_liquidation, 1_000_000, 1_050_000)
    assert [u.tripped for u in usage] == [False, False]
    assert all(u.usage is None for u in usage)


def test_account_and_positions_map_to_our_types(broker: IBBroker) -> None:
    account = broker.account()
    assert account.cash == 1_000_000
    assert account.net_liquidation == 1_003_000
    assert account.unrealized_pnl == pytest.approx(500.0)  # 10 x (300 - 250)
    [position] = broker.positions()
    assert (position.symbol, position.quantity, position.avg_cost, position.market_price) == (
        "MSFT",
        10,
        250,
        300,
    )
    assert broker.account_id == "DU1234567"


def test_orders_carry_our_reference_and_fills_their_commission(broker: IBBroker) -> None:
    [placed] = broker.place([Order("", "qc:2026-11-23:AAPL", "AAPL", Side.BUY, 10)])
    broker.wait(0.3)

    assert placed.ref == "qc:2026-11-23:AAPL"
    [fill] = broker.fills()
    assert (fill.symbol, fill.side, fill.quantity, fill.price, fill.commission) == (
        "AAPL",
        Side.BUY,
        10,
        150,
        1.0,
    )
    assert fill.ref == "qc:2026-11-23:AAPL"
    assert fill.time.tzinfo is not None
    assert sorted((p.symbol, p.quantity) for p in broker.positions()) == [
        ("AAPL", 10),
        ("MSFT", 10),
    ]


def test_cancel_all_cancels_ours_and_leaves_the_rest(broker: IBBroker) -> None:
    broker.place([Order("", "qc:s:AAPL", "AAPL", Side.BUY, 5, OrderType.LIMIT, 100.0)])
    foreign = broker.ib.placeOrder(
        ibapi.Stock("MSFT", "SMART", "USD"), ibapi.LimitOrder("SELL", 1, 999.0)
    )
    broker.wait(0.3)
    assert {o.ref for o in broker.open_orders()} == {"qc:s:AAPL", ""}

    broker.cancel_all()
    broker.wait(0.3)

    [left] = broker.open_orders()
    assert left.order_id == str(foreign.order.orderId)
    assert left.status is OrderStatus.SUBMITTED


def test_cancel_scope_all_uses_the_global_cancel(fake: FakeTWS) -> None:
    adapter = IBBroker(IBConfig(port=fake.port, client_id=12, cancel_scope="all"), timeout_s=5)
    adapter.connect()
    try:
        adapter.ib.placeOrder(
            ibapi.Stock("MSFT", "SMART", "USD"), ibapi.LimitOrder("SELL", 1, 999.0)
        )
        adapter.wait(0.3)
        adapter.cancel_all()
        adapter.wait(0.3)
        assert adapter.open_orders() == []
    finally:
        adapter.disconnect()


def test_a_client_id_in_use_names_the_setting(fake: FakeTWS) -> None:
    fake.busy_client_ids.add(13)
    adapter = IBBroker(IBConfig(port=fake.port, client_id=13), timeout_s=3)
    with pytest.raises(
        ConfigError, match=r"client id 13 is already in use .* set another ib.client_id"
    ):
        adapter.connect()


def test_nothing_listening_is_temporary() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = IBBroker(IBConfig(port=port), timeout_s=2)
    with pytest.raises(TemporaryBrokerError, match=f"127.0.0.1:{port}"):
        adapter.connect()


def test_an_account_not_in_the_login_is_refused(fake: FakeTWS) -> None:
    adapter = IBBroker(IBConfig(port=fake.port, client_id=14, account="U999"), timeout_s=5)
    with pytest.raises(ConfigError, match=r"ib\.account 'U999' is not among"):
        adapter.connect()


def test_daily_pnl_comes_from_ib(broker: IBBroker, fake: FakeTWS) -> None:
    broker.wait(0.2)
    assert broker.account().daily_pnl == 0.0
    fake.set_daily_pnl(-1234.5)
    broker.wait(0.3)
    assert broker.account().daily_pnl == -1234.5


def test_a_lost_link_backs_off_and_a_restored_one_does_not(broker: IBBroker, fake: FakeTWS) -> None:
    fake.send_error(1102, "Connectivity between IB and TWS has been restored - data maintained.")
    broker.settle(0.2)  # nothing to do: the data was kept

    fake.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    with pytest.raises(TemporaryBrokerError, match="has been lost"):
        broker.settle(0.2)

    # The socket to TWS is still up, but TWS has nothing fresh to give until its link is back.
    assert broker.is_connected()
    with pytest.raises(TemporaryBrokerError, match="waiting for it to restore"):
        broker.connect()
    assert fake.accepted == 1  # no reconnect meanwhile

    # Restored, the data lost (1101): a reconnect starts afresh and reads everything again.
    fake.send_error(1101, "Connectivity between IB and TWS has been restored - data lost.")
    broker.connect()
    assert fake.accepted == 2
    assert [p.symbol for p in broker.positions()] == ["MSFT"]
    broker.settle(0.2)


@pytest.mark.parametrize(
    ("code", "family"),
    [
        (201, "order_refused"),
        (200, "no_security"),
        (162, "pacing"),
        (1101, "link_lost"),
        (1102, "info"),
        (2104, "info"),
        (202, "cancelled"),
        (354, "no_subscription"),
        (326, "config"),
        (9999, "error"),
    ],
)
def test_error_families(code: int, family: str) -> None:
    assert family_of(code) == family


def test_quotes_are_live_with_a_subscription(broker: IBBroker, fake: FakeTWS) -> None:
    assert broker.quotes(["AAPL", "MSFT", "NOPE"]) == {"AAPL": 150.0, "MSFT": 300.0}
    assert {tick for _, tick, _ in fake.ticks_sent} == {1, 2, 4}


def test_quotes_fall_back_to_delayed_data_without_a_subscription(
    broker: IBBroker, fake: FakeTWS, caplog: pytest.LogCaptureFixture
) -> None:
    fake.subscribed = False
    caplog.set_level(logging.WARNING, logger="quant_core.ib.broker")

    assert broker.quotes(["AAPL"]) == {"AAPL": 150.0}
    assert broker.quotes(["MSFT"]) == {"MSFT": 300.0}  # stays on delayed data: no second 354

    assert {tick for _, tick, _ in fake.ticks_sent} == {66, 67, 68}
    assert [r.getMessage() for r in caplog.records if "delayed" in r.getMessage()] == [
        "No live market data subscription (IB 354): using delayed data"
    ]


@pytest.mark.parametrize(
    ("account", "mode", "message"),
    [("U7654321", "paper", "a LIVE account"), ("DU1234567", "live", "a paper account")],
)
def test_the_account_reached_must_match_the_trading_mode(
    account: str, mode: str, message: str
) -> None:
    fake = FakeTWS(accounts=(account,)).start()
    try:
        broker = IBBroker(IBConfig(port=fake.port, client_id=3, trading_mode=mode), timeout_s=5)
        with pytest.raises(ConfigError, match=message):
            broker.connect()
        assert not broker.is_connected()
    finally:
        fake.stop()


def test_a_fill_waits_for_its_commission_report(broker: IBBroker, fake: FakeTWS) -> None:
    fake.commission_later = True
    broker.place([Order("", "qc:s:AAPL", "AAPL", Side.BUY, 10)])

    assert broker.settle(0.3) == []  # executed, but IB has not priced it yet

    fake.send_commissions()
    [fill] = broker.settle(0.3)
    assert (fill.symbol, fill.quantity, fill.commission) == ("AAPL", 10, 1.0)
    assert broker.settle(0.1) == []


@pytest.mark.parametrize("named", [True, False])
def test_execution_times_are_the_right_instant_whatever_the_tws_zone(
    fake: FakeTWS, named: bool
) -> None:
    # TWS runs in New York. It names its zone, or (older versions) leaves it out: then
    # ib.tws_timezone says which it is; the machine's own zone (UTC here) would be 5 h off.
    fake.tws_zone, fake.name_the_zone = "America/New_York", named
    fake.fill_time = dt.datetime(2026, 11, 23, 14, 30, 5, tzinfo=dt.UTC)  # 09:30:05 in New York
    broker = IBBroker(IBConfig(port=fake.port, client_id=5, tws_timezone="America/New_York"))
    broker.connect()
    try:
        broker.place([Order("", "qc:2026-11-23:AAPL", "AAPL", Side.BUY, 10)])
        broker.wait(0.3)
        [fill] = broker.fills()
        assert fill.time == fake.fill_time
        assert fill.time.utcoffset() is not None
    finally:
        broker.disconnect()


def test_an_account_kept_in_another_currency_is_refused(fake: FakeTWS) -> None:
    fake.base_currency = "EUR"
    broker = IBBroker(IBConfig(port=fake.port, client_id=5))
    with pytest.raises(ConfigError, match="account DU1234567 is kept in EUR"):
        broker.connect()
    assert not broker.is_connected()


def test_quotes_for_a_large_universe_are_asked_in_batches(broker: IBBroker, fake: FakeTWS) -> None:
    # The client paces requests at about 45 a second; slow answers keep lines open meanwhile.
    fake.market_data_lines, fake.snapshot_delay_s = 50, 1.2
    broker.quote_batch = 40
    symbols = [f"S{i:03d}" for i in range(120)]
    fake.prices.update({s: 10.0 + i for i, s in enumerate(symbols)})

    batches: list[int] = []

    quotes = broker.quotes(symbols, on_batch=lambda: batches.append(len(batches)))

    assert quotes == {s: 10.0 + i for i, s in enumerate(symbols)}  # no error 101, none missing
    assert fake.most_lines_open == 40
    assert batches == [0, 1, 2]  # the caller hears of each batch (to keep its heartbeat)
    looked_up = fake.contract_requests
    fake.snapshot_delay_s = 0.05
    assert broker.quotes(symbols[:3]) == {s: 10.0 + i for i, s in enumerate(symbols[:3])}
    assert fake.contract_requests == looked_up  # contracts are looked up once per connection
