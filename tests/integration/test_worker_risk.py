"""The account limits at every heartbeat (live.risk_watch), in a replay on the simulated broker."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from config import load_config
from quant_core.broker import Order
from quant_core.errors import TemporaryBrokerError
from quant_core.live.files import AUDIT_FILE, HALT_FILE, read_state, send_command
from quant_core.live.journal import Journal
from quant_core.live.replay import ReplayClock
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerState
from quant_core.live.worker import Worker
from quant_core.portfolio.costs import CostModel
from tests.factories import Fixed, market

pytestmark = pytest.mark.integration

# Flat for four sessions, then everything falls 10% at the close of row 4: a ~9% daily loss for
# a book 90% invested. The schedule (every 21 sessions) rebalances only at the start, so no
# pre-trade check runs on the bad day: only the heartbeat can see it.
DROP: dict[str, list[Any]] = {
    "A": [10.0] * 4 + [9.0] * 3,
    "B": [20.0] * 4 + [18.0] * 3,
    "C": [5.0] * 4 + [4.5] * 3,
}


def make(
    tmp: Path, *overrides: str, day: dt.date = dt.date(2010, 1, 4), row: int | None = None
) -> tuple[Worker, SimBroker]:
    """A started worker on DROP at the close of ``day``; marked at ``row``'s close if given."""
    cfg = load_config(
        "live",
        [f"paths.data_dir={tmp}", "risk.max_position_weight=null", *overrides],
        environ={},
    )
    data = market(DROP)
    clock = ReplayClock("America/New_York")
    clock.at(day, ReplayClock.CLOSE)
    live = tmp / "live"
    broker = SimBroker(
        data.symbol_index, 100_000.0, CostModel(), "pro_rata", False, clock, live / "sim.json"
    )
    weights = {"A": 0.3, "B": 0.3, "C": 0.3}
    journal = Journal(live / "journal.duckdb")
    if row is not None:
        broker.mark(data.panels["close"][row])
    worker = Worker(cfg, data, Fixed(weights), broker, live, journal, clock=clock)
    worker.start()
    return worker, broker


def _state(worker: Worker) -> dict[str, Any]:
    state = read_state(worker.live_dir)
    assert state is not None
    return state


@pytest.mark.parametrize("flat", [False, True])
def test_a_daily_loss_beyond_the_limit_trips_at_the_heartbeat(tmp_path: Path, flat: bool) -> None:
    worker, broker = make(
        tmp_path, "risk.max_daily_loss_frac=0.01", f"risk.flat_on_breach={str(flat).lower()}"
    )
    worker.replay(1, 4)  # ends on the day of the fall

    state = _state(worker)
    assert (worker.live_dir / HALT_FILE).exists()  # halted; a restart comes up HALTED too
    assert state["risk"]["status"] == "tripped"
    assert state["risk"]["limit"] == "max_daily_loss"
    assert state["risk"]["flat_on_breach"] is flat
    limits = {row["name"]: row for row in state["risk"]["limits"]}
    assert set(limits) == {"max_daily_loss", "max_drawdown"}
    daily = limits["max_daily_loss"]
    assert (daily["label"], daily["limit"], daily["tripped"]) == ("daily loss", 0.01, True)
    assert 0.08 < daily["usage"] < 0.095
    if not flat:  # net liquidation at the close against the session's opening equity
        nav = broker.account().net_liquidation
        assert daily["usage"] == pytest.approx(
            1 - nav / worker.risk_state.day_start_equity, rel=1e-12
        )
    assert limits["max_drawdown"]["tripped"] is False  # within 25% of the peak
    messages = [e["message"] for e in state["errors"]]
    assert any(
        m.startswith("risk limit max_daily_loss: daily loss 8.")
        and m.endswith("of 1.00% at the heartbeat: new strategy orders halted")
        for m in messages
    )
    assert state["worker"]["replay_finished"] == "2010-01-08"
    assert "it ended HALTED: risk limit max_daily_loss: daily loss 8." in state["worker"]["reason"]
    if flat:
        assert broker.positions() == []
        assert state["positions"] == []
        assert any("risk.on_breach=flat sent FLAT risk-" in m for m in messages)
        assert sum("on_breach=flat sent FLAT" in m for m in messages) == 1  # once per breach
    else:
        assert len(broker.positions()) == 3  # halted, not sold
    worker.journal.close()


def invested(tmp: Path) -> tuple[Worker, SimBroker]:
    """A worker with flat_on_breach and a 1% daily limit, invested; the fall not come yet."""
    worker, broker = make(tmp, "risk.max_daily_loss_frac=0.01", "risk.on_breach=flat")
    broker.mark(worker.data.panels["close"][0])
    worker.rebalance(1)
    broker.open_session(worker.data.panels["open"][1])
    return worker, broker


def test_a_stopped_worker_reports_a_breach_and_touches_nothing(tmp_path: Path) -> None:
    worker, broker = invested(tmp_path)
    data = worker.data
    held = {p.symbol: p.quantity for p in broker.positions()}
    assert held
    send_command(worker.live_dir, "STOP")
    worker.heartbeat()
    assert (worker.state, worker.finished) == (WorkerState.STOPPED, False)

    broker.mark(data.panels["close"][4])  # the fall, seen by the next heartbeat
    worker.heartbeat()

    assert worker.state is WorkerState.STOPPED  # STOP touches no position, even on a breach
    assert {p.symbol: p.quantity for p in broker.positions()} == held
    state = _state(worker)
    daily = state["risk"]["limits"][0]
    assert (daily["name"], daily["tripped"]) == ("max_daily_loss", True)
    assert state["errors"][-1]["message"].endswith(
        "at the heartbeat, while STOPPED: reported only, no order or position touched"
    )
    worker.journal.close()


def test_a_breach_flattens_once_across_restarts_and_the_flat_is_audited(tmp_path: Path) -> None:
    settings = ("risk.max_daily_loss_frac=null", "risk.max_drawdown_frac=0.05")
    worker, broker = make(tmp_path, *settings, "risk.on_breach=flat")
    worker.replay(1, 4)  # a ~9% drawdown at the close of row 4: FLAT
    assert broker.positions() == []

    def flats() -> list[dict[str, Any]]:
        lines = (tmp_path / "live" / AUDIT_FILE).read_text().splitlines()
        return [a for a in map(json.loads, lines) if a["command"] == "FLAT"]

    [flat] = flats()  # a FLAT like any other: acknowledged and audited, its source named
    assert (flat["source"], flat["accepted"]) == ("risk", True)
    assert flat["id"].startswith("risk-")
    assert flat["result"]
    assert flat["run_id"] == worker.run_id  # the one audit log names the run, as the journal did
    worker.journal.close()

    # Started again (the next cron --once): the drawdown is still beyond its limit, but the
    # book was flattened for this breach already.
    again, _ = make(tmp_path, *settings, "risk.on_breach=flat")
    state = _state(again)
    [drawdown] = state["risk"]["limits"]
    assert drawdown["tripped"] is True
    assert again.state is WorkerState.HALTED
    assert not any("on_breach=flat sent FLAT" in e["message"] for e in state["errors"])
    assert len(flats()) == 1
    again.journal.close()


def test_a_flat_on_breach_cut_short_is_sent_again(tmp_path: Path) -> None:
    worker, broker = invested(tmp_path)
    data = worker.data
    assert len(broker.positions()) == 3
    place, dropped = broker.place, list[list[Order]]()

    def drop_once(orders: list[Order]) -> list[Order]:
        if orders and orders[0].ref.startswith("flat:") and not dropped:
            dropped.append(orders)
            raise TemporaryBrokerError("socket closed while placing")
        return place(orders)

    broker.place = drop_once  # type: ignore[method-assign]
    broker.mark(data.panels["close"][4])  # the fall
    with pytest.raises(TemporaryBrokerError):
        worker.heartbeat()
    assert len(broker.positions()) == 3  # the FLAT never reached the broker
    assert worker.risk_state.flattened == set()  # so it is not taken as done

    worker.heartbeat()  # reconnected: the limit is still tripped, FLAT again

    assert broker.positions() == []
    results = [a.result for a in worker.acks if a.source == "risk"]
    assert results[0].startswith("interrupted: socket closed while placing")
    assert len(results) == 2
    assert worker.risk_state.flattened == {"max_daily_loss"}
    worker.journal.close()


def test_a_worker_first_seeing_a_day_after_its_loss_measures_from_the_last_close(
    tmp_path: Path,
) -> None:
    worker, _ = make(tmp_path, "risk.max_daily_loss_frac=0.01")
    worker.replay(1, 3)  # invested; the close of 2010-01-07, no loss yet
    assert worker.risk_state.last_equity_day == "2010-01-07"
    worker.journal.close()

    # The next session, after the fall: a new process (the next cron --once) sees the day
    # for the first time. Its opening figure is yesterday's close, not today's first figure.
    again, _ = make(tmp_path, "risk.max_daily_loss_frac=0.01", day=dt.date(2010, 1, 8), row=4)

    assert again.risk_state.day_start_equity == pytest.approx(worker.risk_state.last_equity)
    daily = _state(again)["risk"]["limits"][0]
    assert (daily["name"], daily["tripped"]) == ("max_daily_loss", True)
    assert 0.08 < daily["usage"] < 0.095
    assert again.state is WorkerState.HALTED
    again.journal.close()


def test_a_rebalance_without_a_net_liquidation_waits_and_halts_nothing(tmp_path: Path) -> None:
    import dataclasses
    import math

    worker, broker = make(tmp_path, "risk.max_position_weight=0.5")  # 0.3 each: within
    reported = broker.account
    broker.account = lambda: dataclasses.replace(reported(), net_liquidation=math.nan)  # type: ignore[method-assign]
    broker.mark(worker.data.panels["close"][0])

    # Before IB has reported the account: "inf% of equity" halted the worker and saved it.
    with pytest.raises(TemporaryBrokerError, match="net liquidation yet"):
        worker.rebalance(1)

    assert worker.state is WorkerState.RUNNING
    assert not (worker.live_dir / HALT_FILE).exists()
    assert broker.open_orders() == []
    assert worker.journal.table("decisions").empty  # not a decision: retried once it reports
    worker.journal.close()
