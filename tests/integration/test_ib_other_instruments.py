"""A position that is not a US stock (an option, another currency) is not the strategy's shares.

The IB mapping kept only a position's symbol: 10 AAPL calls were read as 10 AAPL shares (the
strategy's AAPL order off by that many), and FLAT "closed" them by selling AAPL stock, which at
IB opens a stock short beside the untouched calls. Such positions are now left out, and named
in a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from quant_core.ib.broker import IBBroker
from quant_core.live.files import send_command
from tests.fake_tws import protocol as p
from tests.fake_tws.server import FakeTWS
from tests.integration.test_worker_ib import close_worker, fake, make_worker

__all__ = ["fake"]  # fixture

CALL = "AAPL  261218C00200000"


def _hold_calls(fake: FakeTWS, contracts: float) -> None:
    # What TWS reports for 10 AAPL calls held in the account (position, 16 fields).
    with fake.lock:
        for conn in fake._connections:
            if conn.positions:
                conn.send(
                    p.frame(
                        p.In.POSITION, 3, fake.accounts[0], 777001, "AAPL", "OPT", "20261218",
                        200.0, "C", "100", "SMART", "USD", CALL, "AAPL", contracts, 1250.0,
                    )
                )  # fmt: skip


def test_an_option_position_is_neither_counted_nor_sold_as_stock(
    tmp_path: Path, fake: FakeTWS, caplog: pytest.LogCaptureFixture
) -> None:
    w = make_worker(tmp_path, fake)
    assert isinstance(w.broker, IBBroker)
    ib = w.broker.ib
    sent: list[tuple[str, str, str, float]] = []
    place = ib.placeOrder

    def spy(contract: Any, order: Any) -> Any:
        sent.append((contract.secType, contract.symbol, order.action, order.totalQuantity))
        return place(contract, order)

    try:
        with caplog.at_level(logging.WARNING, logger="quant_core.ib.broker"):
            _hold_calls(fake, 10)
            w.broker.settle(0.3)
            assert w.broker.positions() == []
            w.broker.positions()
        warned = [r.getMessage() for r in caplog.records if CALL in r.getMessage()]
        assert len(warned) == 1  # once per connection
        assert "10 AAPL OPT" in warned[0]
        ledger = dict(zip(w.data.symbols, w.planner.ledger().positions, strict=True))
        assert ledger["AAPL"] == 0

        ib.placeOrder = spy  # type: ignore[method-assign]
        send_command(w.live_dir, "FLAT")
        w.heartbeat()

        assert sent == []
        assert not w.acks[-1].result.startswith("not flat")
    finally:
        ib.placeOrder = place  # type: ignore[method-assign]
        close_worker(w)
