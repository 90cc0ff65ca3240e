"""DISCONNECT over the IB adapter and the fake TWS: TWS loses its link to IB (1100) for longer
than ``alerts.disconnect_after_s``: one page while down (with IB's words), one when restored
(1102); a drop shorter than the threshold pages nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from quant_core.alerts.events import AlertEvent
from quant_core.errors import TemporaryBrokerError
from quant_core.live.state import WorkerState
from quant_core.live.worker import Worker
from tests.fake_tws import LIB, client_problems
from tests.fake_tws.server import FakeTWS
from tests.integration.test_worker_ib import close_worker, make_worker
from tests.integration.test_worker_reports import Recorder

pytestmark = pytest.mark.integration

LOST = "Connectivity between IB and Trader Workstation has been lost."
RESTORED = "Connectivity between IB and TWS has been restored - data maintained."


@pytest.fixture
def fake() -> Iterator[FakeTWS]:
    server = FakeTWS(prices={"AAPL": 150.0, "MSFT": 300.0, "XOM": 60.0}).start()
    yield server
    server.stop()


def _outage(worker: Worker, fake: FakeTWS) -> None:
    # TWS loses IB for one back-off (LINK_POLL_S, ~2 s, commands answered through it).
    fake.send_error(1100, LOST)
    with pytest.raises(TemporaryBrokerError) as lost:
        worker.broker.settle(0.3)
    assert not worker.recover(lost.value, 0)
    assert worker.state is WorkerState.DISCONNECTED
    fake.send_error(1102, RESTORED)
    assert worker.recover(lost.value, 1)
    assert worker.state is WorkerState.RUNNING  # type: ignore[comparison-overlap]


@pytest.mark.parametrize(("after_s", "paged"), [(0.5, True), (30.0, False)])
def test_a_lost_link_past_the_threshold_pages_down_and_back(
    tmp_path: Path,
    fake: FakeTWS,
    caplog: pytest.LogCaptureFixture,
    after_s: float,
    paged: bool,
) -> None:
    caplog.set_level(logging.WARNING, logger=LIB)
    worker = make_worker(tmp_path, fake, f"alerts.disconnect_after_s={after_s}")
    sink = Recorder()
    worker.alerts = sink
    try:
        _outage(worker, fake)
    finally:
        close_worker(worker)
    pages = [(title, body) for event, title, body in sink.sent if event is AlertEvent.DISCONNECT]
    if not paged:
        assert pages == []
        return
    assert [title for title, _ in pages] == ["Broker connection down", "Broker connection back"]
    down, back = (body for _, body in pages)
    assert "has been down for" in down
    assert "Worker: ib-paper account, DISCONNECTED" in down
    assert back.startswith("The broker connection is back after")
    assert client_problems(caplog.records) == []
    assert worker.broker.account_id not in down + back  # no account id in a page
