"""The worker's stops (live.stop_exits): every session, from its journal's fills, restart-safe."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from config import load_config
from quant_core.broker import Order, Side
from quant_core.live.files import read_state
from quant_core.live.journal import Journal
from quant_core.live.replay import ReplayClock
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerState
from quant_core.live.stop_exits import journal_basis
from quant_core.live.worker import Worker
from quant_core.portfolio.costs import CostModel
from tests.factories import Fixed, market

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
# A closes 10% below its cost on row 3 (2010-01-07) and opens at 9.10 on row 4; B does not move.
CLOSES: dict[str, list[Any]] = {"A": [10.0] * 3 + [9.0] * 3, "B": [20.0] * 6}
OPENS: dict[str, list[Any]] = {"A": [10.0] * 4 + [9.1, 9.0], "B": [20.0] * 6}
EXIT = (
    "A stop_loss: close 9.00 is 10.00% below the average cost 10.00 (limit 8.00%)"  # row 3's close
)


def make(tmp: Path, *overrides: str, rows: int = 6) -> tuple[Worker, SimBroker, Any]:
    cfg = load_config(
        "live",
        [
            f"paths.data_dir={tmp}",
            "risk.max_position_weight=null",
            "risk.stop_loss=0.08",
            *overrides,
        ],
        environ={},
    )
    data = market({s: v[:rows] for s, v in CLOSES.items()}, {s: v[:rows] for s, v in OPENS.items()})
    clock = ReplayClock("America/New_York")
    clock.at(dt.date(2010, 1, 4), ReplayClock.CLOSE)
    live = tmp / "live"
    broker = SimBroker(
        data.symbol_index, 100_000.0, CostModel(), "pro_rata", False, clock, live / "sim.json"
    )
    journal = Journal(live / "journal.duckdb")
    worker = Worker(cfg, data, Fixed({"A": 0.3, "B": 0.3}), broker, live, journal, clock=clock)
    worker.start()
    return worker, broker, data


def step(worker: Worker, broker: SimBroker, data: Any, t: int) -> None:
    """Session ``t``: the open fills what waits (journaled), the close marks the broker."""
    assert isinstance(worker.clock, ReplayClock)
    day = data.date_index[t].date()
    worker.clock.at(day, ReplayClock.OPEN)
    worker.journal.fills(worker.run_id, broker.open_session(data.panels["open"][t]))
    worker.clock.at(day, ReplayClock.CLOSE)
    broker.mark(data.panels["close"][t])


def invested(worker: Worker, broker: SimBroker, data: Any, through: int = 3) -> None:
    """2,940 A and 1,470 B bought at row 1's open; stepped to the close of ``through``."""
    broker.mark(data.panels["close"][0])
    worker.rebalance(1)
    for t in range(1, through + 1):
        step(worker, broker, data, t)


def test_a_replay_exits_at_the_open_after_the_close_that_tripped_the_stop(tmp_path: Path) -> None:
    worker, _, data = make(tmp_path)

    worker.replay(1, 5)

    fills = worker.journal.table("fills").sort_values("ts")
    sold = fills[fills["side"] == "SELL"]
    assert sold[["symbol", "quantity", "price"]].values.tolist() == [["A", 2940.0, 9.1]]
    assert sold["ts"].iloc[0].tz_convert(NY).date() == data.date_index[4].date()
    orders = worker.journal.table("orders")
    exit_order = orders[orders["side"] == "SELL"].iloc[0]
    assert exit_order["ref"] == f"qc:{data.date_index[4].date()}:A"
    decisions = worker.journal.table("decisions")
    assert decisions["outcome"].tolist() == ["traded", f"stops: {EXIT}"]
    assert worker.journal.last_rebalance() == data.date_index[1].date()  # a stop is not one
    state = read_state(worker.live_dir)
    assert state is not None
    messages = [e["message"] for e in state["errors"]]
    assert f"stops for {data.date_index[4].date()}: 1 exit(s) sent for the open: {EXIT}" in messages
    worker.journal.close()


def test_a_restart_derives_the_same_cost_and_does_not_send_the_exit_twice(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path)
    invested(worker, broker, data)
    session = data.date_index[4].date()

    (sent,) = worker.stops(4)
    assert (sent.symbol, sent.side, sent.quantity) == ("A", Side.SELL, 2940.0)
    worker.journal.close()  # killed: the order waits at the broker, the journal has it

    again, broker2, _ = make(tmp_path)
    assert again.stops(4) == []  # already sent for the session: not again
    assert [o.symbol for o in broker2.open_orders()] == ["A"]
    fills = again.journal.account_fills("sim", broker2.account_id)
    basis = journal_basis(fills, data, again.planner.closes, NY, 4)
    assert (basis.cost[0], basis.entry[0], basis.shares[0]) == (10.0, 1, 2940.0)
    assert again.stop_watch.checked == session
    step(again, broker2, data, 4)
    assert {p.symbol for p in broker2.positions()} == {"B"}
    again.journal.close()


def test_the_rebalance_of_the_same_session_leaves_the_stopped_name_alone(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path, "strategy.rebalance=3")  # rows 1 and 4
    invested(worker, broker, data)

    exits = worker.stops(4)
    rebalance = worker.rebalance(4)

    assert [(o.symbol, o.side) for o in exits] == [("A", Side.SELL)]
    assert "A" not in {o.symbol for o in rebalance}  # the stop wins at its session
    fills = broker.open_session(data.panels["open"][4])
    assert [(f.symbol, f.quantity) for f in fills if f.symbol == "A"] == [("A", 2940.0)]
    worker.journal.close()


@pytest.mark.parametrize(
    ("state", "sends"), [(WorkerState.HALTED, True), (WorkerState.STOPPED, False)]
)
def test_a_halted_worker_still_exits_a_stopped_one_touches_nothing(
    tmp_path: Path, state: WorkerState, sends: bool
) -> None:
    worker, broker, data = make(tmp_path)
    invested(worker, broker, data)
    worker.transition(state, "for the test", save=False)

    placed = worker.stops(4)

    assert bool(placed) is sends
    assert bool(broker.open_orders()) is sends
    worker.journal.close()


def test_a_position_the_journal_does_not_explain_is_reported_not_stopped(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path, "risk.stop_loss=0.01")
    broker.mark(data.panels["close"][0])
    broker.place([Order("", "typed-in-tws", "A", Side.BUY, 100.0)])  # not through the worker
    broker.open_session(data.panels["open"][1])  # nor in its journal
    step(worker, broker, data, 3)  # A is 10% down

    assert worker.stops(4) == []

    assert "1 position(s) the journal's executions do not explain (A)" in worker.errors[-1].message
    worker.journal.close()


def _ny(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=NY)


def test_stops_are_due_every_session_once_after_the_rebalance_time_on_fresh_data(
    tmp_path: Path,
) -> None:
    worker, broker, data = make(tmp_path, "live.rebalance_time=09:35", rows=4)  # ends 2010-01-07
    invested(worker, broker, data)
    watch = worker.stop_watch

    assert watch.due(_ny("2010-01-08", "09:00")) is None  # before live.rebalance_time
    assert watch.due(_ny("2010-01-08", "09:40")) == dt.date(2010, 1, 8)  # not a rebalance day
    assert worker.stops_next()[0].ref == "qc:2010-01-08:A"
    assert watch.due(_ny("2010-01-08", "15:00")) is None  # once per session
    assert watch.due(_ny("2010-01-08", "16:30")) is None  # after the close
    assert watch.due(_ny("2010-01-12", "10:00")) is None  # the data ends 2010-01-07: stale
    assert (
        "stops for 2010-01-12 not checked: the data ends 2010-01-07, not the previous session "
        "2010-01-11" in worker.errors[-1].message
    )
    worker.journal.close()


def test_without_stops_configured_nothing_is_checked(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path, "risk.stop_loss=null")
    invested(worker, broker, data)

    assert worker.stop_watch.due(_ny("2010-01-08", "10:00")) is None
    assert worker.stops(4) == []
    assert broker.open_orders() == []
    worker.journal.close()
