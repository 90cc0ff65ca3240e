"""IB's objects mapped to our value types and back (quant_core.ib.mapping), without a socket."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from quant_core.broker import Order, OrderRef, OrderStatus, OrderType, Side
from quant_core.errors import ConfigError
from quant_core.ib import mapping
from quant_core.ib.client import ibapi

SESSION = dt.date(2026, 11, 23)


def as_placed(order: Order, order_id: int, client_id: int, status: str, filled: float) -> object:
    ib_order = mapping.ib_order(order, "DU1234567")
    ib_order.orderId, ib_order.clientId = order_id, client_id
    return ibapi.Trade(
        contract=mapping.stock(order.symbol),
        order=ib_order,
        orderStatus=ibapi.OrderStatus(orderId=order_id, status=status, filled=filled),
    )


@pytest.mark.parametrize(
    ("order_type", "limit_price"),
    [(OrderType.MARKET, None), (OrderType.LIMIT, 99.5), (OrderType.MARKET_ON_OPEN, None)],
)
def test_an_order_comes_back_from_ib_with_its_reference(
    order_type: OrderType, limit_price: float | None
) -> None:
    sent = Order(
        "", OrderRef.strategy(SESSION, "AAPL"), "AAPL", Side.SELL, 10, order_type, limit_price
    )

    back = mapping.order(as_placed(sent, 42, 7, "Submitted", 0.0), own_client=7)

    assert back == Order(
        order_id="42",
        ref="qc:2026-11-23:AAPL",
        symbol="AAPL",
        side=Side.SELL,
        quantity=10,
        order_type=order_type,
        limit_price=limit_price,
        status=OrderStatus.SUBMITTED,
        filled=0.0,
        reason="Submitted",
    )
    assert OrderRef.session_of(back.ref) == SESSION
    assert not back.other_client


def test_another_clients_order_id_round_trips() -> None:
    sent = Order("", OrderRef.flat("c1"), "MSFT", Side.BUY, 5)

    back = mapping.order(as_placed(sent, 42, 3, "Submitted", 2.0), own_client=7)

    assert back.order_id == "3/42"
    assert back.other_client
    assert mapping.client_of(back.order_id) == 3
    assert back.status is OrderStatus.PARTIALLY_FILLED
    assert OrderRef.is_ours(back.ref)
    assert mapping.order_id(7, 42, own_client=7) == "42"
    assert mapping.client_of("42") is None


def test_a_limit_order_without_a_price_is_refused() -> None:
    with pytest.raises(ConfigError, match="has no limit price"):
        mapping.ib_order(Order("", "qc:s:AAPL", "AAPL", Side.BUY, 1, OrderType.LIMIT), "DU1")


def test_ibs_no_value_is_none() -> None:
    assert mapping.number_or_none(mapping.UNSET_DOUBLE) is None
    assert mapping.number_or_none(math.nan) is None
    assert mapping.number_or_none(None) is None
    assert mapping.number_or_none(-12.5) == -12.5
