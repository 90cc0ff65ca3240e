"""Alerts end to end: a worker on the simulated broker pages real local receivers.

A webhook (``json://``) and an SMTP server (``mailto://...&mode=insecure``) listen on
127.0.0.1; the URLs come through ``QC__ALERTS__URLS`` as a user would give them, and the worker
sends through the apprise sender ``live/run.py`` builds (``build_sink``). A FLAT, a halt, a
drop past ``alerts.disconnect_after_s`` and the daily reports each arrive once; a receiver
that is down or hangs costs the worker nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config import load_config
from quant_core.alerts.events import AlertSink, NullSink
from quant_core.alerts.sender import AlertSender, build_sink
from quant_core.broker import Order, OrderType, Side
from quant_core.errors import TemporaryBrokerError
from quant_core.live import reconnect as reconnect_module
from quant_core.live.files import send_command
from quant_core.live.journal import Journal
from quant_core.live.replay import ReplayClock
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerState
from quant_core.live.worker import Worker
from quant_core.portfolio.costs import CostModel
from tests.factories import Fixed, market
from tests.unit.alerts.servers import BlackHole, Mailbox, Webhook, free_port, receivers

pytestmark = pytest.mark.integration

# Flat for four sessions, then everything falls 10% at the close of row 4 (2010-01-08): a ~9%
# drawdown for a book 90% invested.
DROP: dict[str, list[Any]] = {
    "A": [10.0] * 4 + [9.0] * 3,
    "B": [20.0] * 4 + [18.0] * 3,
    "C": [5.0] * 4 + [4.5] * 3,
}
SESSIONS = ["2010-01-04", "2010-01-05", "2010-01-06", "2010-01-07", "2010-01-08"]


@pytest.fixture
def servers() -> Iterator[tuple[Webhook, Mailbox]]:
    with receivers() as pair:
        yield pair


def make(tmp: Path, urls: list[str], *overrides: str) -> tuple[Worker, SimBroker]:
    """A started worker on DROP at the close of 2010-01-04, paging ``urls``."""
    cfg = load_config(
        "live",
        [f"paths.data_dir={tmp}", "risk.max_position_weight=null", *overrides],
        environ={"QC__ALERTS__URLS": " ".join(urls)},
    )
    data = market(DROP)
    clock = ReplayClock("America/New_York")
    clock.at(dt.date(2010, 1, 4), ReplayClock.CLOSE)
    live = tmp / "live"
    broker = SimBroker(
        data.symbol_index, 100_000.0, CostModel(), "pro_rata", False, clock, live / "sim.json"
    )
    weights = {"A": 0.3, "B": 0.3, "C": 0.3}
    journal = Journal(live / "journal.duckdb")
    worker = Worker(cfg, data, Fixed(weights), broker, live, journal, clock=clock)
    assert isinstance(build_sink(cfg.alerts), AlertSender)  # what live/run.py sets
    # The same sender, without apprise's 5.5 s between two e-mails (kind to real providers).
    worker.alerts = AlertSender(cfg.alerts, throttle_s=0.0)
    worker.start()
    return worker, broker


def _close(worker: Worker) -> None:
    worker.alerts.close(15)
    worker.journal.close()


def test_a_halt_a_flat_and_every_daily_report_arrive_once(
    tmp_path: Path, servers: tuple[Webhook, Mailbox]
) -> None:
    hook, mailbox = servers
    worker, broker = make(
        tmp_path,
        [hook.url(), mailbox.url()],
        "risk.max_daily_loss_frac=null",
        "risk.max_drawdown_frac=0.05",
    )
    worker.replay(1, 4)  # a ~9% drawdown at the close of 2010-01-08: HALTED at the heartbeat
    held = {p.symbol: p.quantity for p in broker.positions()}
    assert set(held) == {"A", "B", "C"}
    flat = send_command(worker.live_dir, "FLAT")
    worker.heartbeat()
    assert broker.positions() == []
    _close(worker)

    daily = [f"Daily report {day}" for day in SESSIONS]
    halt, flat_title = "HALTED: risk limit max_drawdown", f"FLAT {flat.id} (script)"
    titles = Counter(hook.titles())
    assert titles == Counter([*daily, halt, flat_title])  # each once, nothing else
    assert Counter(mailbox.subjects()) == titles  # and by e-mail too
    by_title = {h.title: h for h in hook.hits}
    assert "drawdown" in by_title[halt].message
    assert "No new strategy orders until RESUME" in by_title[halt].message
    flat_body = by_title[flat_title].message
    assert f"FLAT {flat.id} from script: flat: 3 position(s) closed at market" in flat_body
    for symbol, quantity in held.items():
        assert f"{symbol} {quantity:+g}" in flat_body  # what was liquidated
    assert "equity $" in by_title["Daily report 2010-01-08"].message
    assert "Worker: sim account" in by_title[halt].message
    assert mailbox.text(halt).startswith(by_title[halt].message.split("\n")[0])


def test_a_drop_past_the_threshold_pages_once_and_a_short_one_not(
    tmp_path: Path, servers: tuple[Webhook, Mailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, mailbox = servers
    monkeypatch.setattr(reconnect_module, "RECONNECT_BASE_S", 0.05)  # back-offs of tens of ms

    def outage(worker: Worker, broker: SimBroker, seconds: float) -> tuple[float, float]:
        """Drop the connection for ``seconds``, driving recover() as the live loop does.

        Return when the drop began and when the worker was back (``time.monotonic``).
        """
        connect, back_at = broker.connect, time.monotonic() + seconds

        def refuse() -> None:
            if time.monotonic() < back_at:
                raise TemporaryBrokerError("connection refused: TWS restarting")
            connect()

        monkeypatch.setattr(broker, "connect", refuse)
        started, attempts = time.monotonic(), 0
        lost = TemporaryBrokerError("socket closed by the peer")
        while not worker.recover(lost, attempts):
            attempts += 1
        assert worker.state is WorkerState.RUNNING
        return started, time.monotonic()

    long_one, broker = make(
        tmp_path / "long", [hook.url(), mailbox.url()], "alerts.disconnect_after_s=0.4"
    )
    dropped, reconnected = outage(long_one, broker, 1.0)
    _close(long_one)
    short_one, broker = make(tmp_path / "short", [hook.url()], "alerts.disconnect_after_s=30")
    outage(short_one, broker, 0.2)
    _close(short_one)

    pages = ["Broker connection down", "Broker connection back"]
    assert hook.titles() == ["Daily report 2010-01-04", *pages, "Daily report 2010-01-04"]
    assert mailbox.subjects() == ["Daily report 2010-01-04", *pages]
    down, back = hook.hits[1:3]
    assert "has been down for" in down.message
    assert "socket closed by the peer" in down.message
    assert "Worker: sim account, DISCONNECTED" in down.message
    assert back.message.startswith("The broker connection is back after")
    # Paged once the threshold passed, not at the drop; the note once back.
    assert dropped + 0.4 <= down.at < reconnected <= back.at
    # The drop itself is in the state's errors, but pages only as DISCONNECT.
    assert any("socket closed by the peer" in e.message for e in short_one.errors)


def test_stop_reject_stale_data_and_errors_page_once_each(
    tmp_path: Path, servers: tuple[Webhook, Mailbox]
) -> None:
    hook, _ = servers
    worker, broker = make(tmp_path, [hook.url()])
    broker.place([Order("", "qc:test-1", "ZZZ", Side.BUY, 5, OrderType.MARKET)])  # unknown
    worker.heartbeat()
    worker.heartbeat()  # reported once
    assert any("ZZZ) was rejected: unknown symbol" in e.message for e in worker.errors)
    # 2010-01-20 10:00 New York: a rebalance is due, but the data end 2010-01-12.
    now = dt.datetime(2010, 1, 20, 15, 0, tzinfo=dt.UTC)
    assert worker.due(now) is None
    assert worker.due(now) is None  # refused again: the same alert, not sent twice
    worker.report_error("the dataset's symbols changed: restart the worker")
    stop = send_command(worker.live_dir, "STOP")
    worker.heartbeat()
    assert worker.state is WorkerState.STOPPED
    _close(worker)

    stale = (
        "Stale data: rebalance for 2010-01-20 refused: the data ends 2010-01-12, "
        "not the previous session 2010-01-19"
    )
    assert (
        Counter(hook.titles())
        == Counter(
            [
                "Daily report 2010-01-04",  # the close the worker started after
                "Order rejected: BUY 5 ZZZ",
                stale[: len("Stale data: ") + 80],
                "Error: the dataset's symbols changed: restart the worker",
                f"STOP {stop.id} (script)",
            ]
        )
    )
    by_title = {h.title: h.message for h in hook.hits}
    assert (
        "order qc:test-1 (BUY 5 ZZZ) was rejected: unknown symbol"
        in by_title["Order rejected: BUY 5 ZZZ"]
    )
    assert "run run_data_sync.py" in by_title[stale[: len("Stale data: ") + 80]]
    assert "orders and positions are left as they are" in by_title[f"STOP {stop.id} (script)"]


def _replay_timed(tmp: Path, urls: list[str], sink: AlertSink | None = None) -> list[float]:
    """Replay six sessions; return how long each heartbeat took (seconds)."""
    worker, _ = make(tmp, urls, "risk.max_daily_loss_frac=0.01")  # halts on 2010-01-08
    if sink is not None:
        worker.alerts = sink
    beat, took = worker.heartbeat, list[float]()

    def timed() -> None:
        started = time.perf_counter()
        beat()
        took.append(time.perf_counter() - started)

    worker.heartbeat = timed  # type: ignore[method-assign]
    worker.replay(1, 6)
    if isinstance(worker.alerts, AlertSender):
        assert worker.alerts.sent == 0  # still stuck on the first: the worker did not wait
    started = time.perf_counter()
    worker.alerts.close(0.5)
    assert time.perf_counter() - started < 1.5  # and the exit does not wait long either
    worker.journal.close()
    return took


def test_a_receiver_that_is_down_or_hangs_costs_the_worker_nothing(tmp_path: Path) -> None:
    hole = BlackHole()  # takes the connection, never answers: apprise waits its 4 s timeout
    try:
        dead = [hole.url(), f"json://127.0.0.1:{free_port()}/down"]
        without = _replay_timed(tmp_path / "null", dead, NullSink())
        paging = _replay_timed(tmp_path / "paging", dead)
    finally:
        hole.stop()
    assert len(paging) == len(without) == 12  # two heartbeats a session
    # Seven daily reports and a halt were queued; a synchronous send would hold a heartbeat
    # for 4 s each. Every heartbeat keeps its time.
    assert max(paging) < 0.5
    assert sum(paging) < sum(without) + 1.0
