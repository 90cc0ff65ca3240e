"""TWS dropping the socket again while the worker reconnects: tried again, not a crash.

After a first drop, TWS closed the socket once more just as the reconnect asked for every open
order (a second Gateway restart, TWS bouncing): the client library's ``ConnectionError`` left
the reconnect unconverted, and the worker exited 3 with a traceback. The attempt now fails as
a temporary broker error: the worker stays DISCONNECTED and tries again.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from quant_core.errors import TemporaryBrokerError
from quant_core.live import reconnect
from quant_core.live.state import WorkerState
from tests.fake_tws.server import FakeTWS
from tests.integration.test_worker_ib import close_worker, fake, make_worker

__all__ = ["fake"]  # fixture


def test_a_drop_during_the_reconnect_is_tried_again(
    tmp_path: Path, fake: FakeTWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconnect, "RECONNECT_BASE_S", 0.01)
    w = make_worker(tmp_path, fake)
    answer = fake._req_open_orders

    def dying(conn: Any, f: list[str], every: bool = False) -> None:
        if every:  # TWS goes down again as the reconnect reads every open order back
            conn.sock.shutdown(socket.SHUT_RDWR)
            return
        answer(conn, f, every)

    try:
        fake.drop_connections()
        with pytest.raises(TemporaryBrokerError):
            w.broker.settle(0.3)
        fake._req_open_orders = dying  # type: ignore[method-assign]

        assert w.recover(TemporaryBrokerError("connection lost"), 0) is False
        assert w.state.value == WorkerState.DISCONNECTED.value

        fake._req_open_orders = answer  # type: ignore[method-assign]
        assert w.recover(TemporaryBrokerError("connection lost"), 1) is True
        assert w.state is WorkerState.RUNNING
    finally:
        fake._req_open_orders = answer  # type: ignore[method-assign]
        close_worker(w)
