"""IB's error codes sorted into our error families (quant_core.ib.errors), without a socket."""

from __future__ import annotations

import pytest

from quant_core.broker import OrderStatus
from quant_core.errors import BrokerLinkDown, ConfigError, TemporaryBrokerError
from quant_core.ib import errors
from quant_core.ib.client import ibapi


def trade(order_id: int, client_id: int) -> object:
    order = ibapi.LimitOrder(
        "BUY", 10, 99.5, orderId=order_id, clientId=client_id, orderRef="qc:2026-11-23:AAPL"
    )
    return ibapi.Trade(
        contract=ibapi.Stock("AAPL", "SMART", "USD"),
        order=order,
        orderStatus=ibapi.OrderStatus(orderId=order_id, status="PreSubmitted"),
    )


def test_a_lost_link_is_broker_link_down_and_keeps_code_1100() -> None:
    error = errors.temporary(1100, "Connectivity between IB and Trader Workstation has been lost.")

    assert isinstance(error, BrokerLinkDown)
    assert isinstance(error, TemporaryBrokerError)  # a caller that backs off still catches it
    assert error.code == 1100
    assert str(error) == "[IB 1100] Connectivity between IB and Trader Workstation has been lost."


@pytest.mark.parametrize("code", [162, 1101])
def test_pacing_and_a_restored_link_with_data_lost_back_off(code: int) -> None:
    error = errors.temporary(code, "try again later")

    assert type(error) is TemporaryBrokerError
    assert error.code == code


def test_the_first_message_to_back_off_on_is_raised() -> None:
    kept = [(7, 201, "Order rejected"), (-1, 1100, "link lost"), (3, 162, "pacing violation")]

    error = errors.first_back_off(kept)

    assert isinstance(error, BrokerLinkDown)
    assert error.code == 1100
    pacing = errors.first_back_off(kept[2:])
    assert type(pacing) is TemporaryBrokerError
    assert pacing.code == 162
    assert errors.first_back_off(kept[:1]) is None  # a refused order is no reason to back off


def test_a_client_id_in_use_names_the_setting() -> None:
    error = errors.client_id_in_use(13, "127.0.0.1", 7497)

    assert isinstance(error, ConfigError)
    assert str(error) == (
        "[IB 326] client id 13 is already in use at 127.0.0.1:7497; set another ib.client_id"
    )


def test_a_refusal_rejects_this_clients_order_with_ibs_reason() -> None:
    trades = [trade(42, 7), trade(42, 3), trade(43, 7)]  # order ids are per client

    [rejected] = errors.refused_orders(trades, 42, 201, "Order rejected - no margin", 7)

    assert rejected.order_id == "42"
    assert rejected.ref == "qc:2026-11-23:AAPL"
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.reason == "IB 201: Order rejected - no margin"
    assert errors.refused_orders(trades, 42, 202, "Order cancelled", 7) == []
