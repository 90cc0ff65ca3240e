"""Every message the fake TWS encodes, decoded by the client's own Decoder at versions 176 and 178.

The libraries swallow decode errors (they only log them), so a malformed fake message would
pass silently in an end-to-end test; here each one must decode into the right objects.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from typing import Any

import pytest

from tests.fake_tws import LIB, VERSIONS
from tests.fake_tws import protocol as p

Decoder: Any = importlib.import_module(f"{LIB}.decoder").Decoder

STOCK = p.Stock(265598, "AAPL")


class Recorder:
    """Stands in for the wrapper: records every call."""

    defaultTimezone = dt.UTC  # the real wrapper's attribute, read by execDetails

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record


def decode(
    message: bytes, version: int, caplog: pytest.LogCaptureFixture
) -> tuple[str, tuple[Any, ...]]:
    recorder = Recorder()
    decoder = Decoder(recorder, version)
    with caplog.at_level(logging.ERROR, logger=f"{LIB}.Decoder"):
        decoder.interpret(p.split(message[4:]))
    assert not [r for r in caplog.records if r.name == f"{LIB}.Decoder"], caplog.text
    assert len(recorder.calls) == 1, recorder.calls
    return recorder.calls[0]


ORDER = p.FakeOrder(
    7,
    3,
    1000001,
    STOCK,
    "BUY",
    10.0,
    "LMT",
    149.5,
    "DU1",
    "qc:2010-01-05:AAPL",
    "Submitted",
    4.0,
    149.4,
)


@pytest.mark.parametrize("version", VERSIONS)
def test_open_order(version: int, caplog: pytest.LogCaptureFixture) -> None:
    name, (order_id, contract, order, state) = decode(p.open_order(ORDER, version), version, caplog)
    assert name == "openOrder"
    assert (order_id, contract.symbol, contract.conId) == (7, "AAPL", 265598)
    assert (order.action, order.totalQuantity, order.orderType, order.lmtPrice) == (
        "BUY",
        10.0,
        "LMT",
        149.5,
    )
    assert (order.orderRef, order.clientId, order.permId, order.account) == (
        "qc:2010-01-05:AAPL",
        3,
        1000001,
        "DU1",
    )
    assert state.status == "Submitted"


@pytest.mark.parametrize("version", VERSIONS)
def test_order_status(version: int, caplog: pytest.LogCaptureFixture) -> None:
    name, args = decode(p.order_status(ORDER, 149.4), version, caplog)
    assert name == "orderStatus"
    assert args[:5] == (7, "Submitted", 4.0, 6.0, 149.4)
    assert args[5] == 1000001  # permId
    assert args[8] == 3  # clientId


@pytest.mark.parametrize("version", VERSIONS)
def test_exec_details(version: int, caplog: pytest.LogCaptureFixture) -> None:
    message = p.exec_details(ORDER, "e1", 4.0, 149.4, "20100105 14:30:00 UTC", version)
    name, (req_id, contract, execution) = decode(message, version, caplog)
    assert name == "execDetails"
    assert (req_id, contract.symbol) == (-1, "AAPL")
    assert (execution.execId, execution.side, execution.shares, execution.price) == (
        "e1",
        "BOT",
        4.0,
        149.4,
    )
    assert (execution.orderRef, execution.permId, execution.orderId) == (
        "qc:2010-01-05:AAPL",
        1000001,
        7,
    )
    assert execution.time.year == 2010


@pytest.mark.parametrize("version", VERSIONS)
def test_commission_position_account_portfolio_error(
    version: int, caplog: pytest.LogCaptureFixture
) -> None:
    name, (report,) = decode(p.commission_report("e1", 1.25), version, caplog)
    assert (name, report.execId, report.commission, report.currency) == (
        "commissionReport",
        "e1",
        1.25,
        "USD",
    )
    name, (account, contract, quantity, avg) = decode(
        p.position("DU1", STOCK, -5.0, 12.5), version, caplog
    )
    assert (name, account, contract.symbol, quantity, avg) == (
        "position",
        "DU1",
        "AAPL",
        -5.0,
        12.5,
    )
    name, args = decode(p.account_value("NetLiquidation", 1000.5, "DU1"), version, caplog)
    assert (name, args) == ("updateAccountValue", ("NetLiquidation", "1000.5", "USD", "DU1"))
    name, args = decode(p.portfolio_value("DU1", STOCK, 10.0, 12.0, 10.0), version, caplog)
    assert name == "updatePortfolio"
    assert (args[0].symbol, args[1], args[2], args[3], args[4], args[5]) == (
        "AAPL",
        10.0,
        12.0,
        120.0,
        10.0,
        20.0,
    )
    name, args = decode(p.error(7, 202, "Order Canceled - reason:", version), version, caplog)
    assert (name, args[:3]) == ("error", (7, 202, "Order Canceled - reason:"))
