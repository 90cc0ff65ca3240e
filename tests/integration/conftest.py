"""Shared fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_tws.server import FakeTWS


@pytest.fixture
def fake() -> Iterator[FakeTWS]:
    """A fake TWS quoting AAPL 150 and MSFT 300, the account long 10 MSFT at 250.

    Test modules that need another book define their own ``fake``.
    """
    server = FakeTWS(prices={"AAPL": 150.0, "MSFT": 300.0}).start()
    server.set_position("MSFT", 10, 250.0)
    yield server
    server.stop()
