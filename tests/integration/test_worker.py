"""The live worker against the simulated broker: each command's exact semantics, the STOP latch,
refused commands, restarts, risk limits, and the state file."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest

from config import load_config
from quant_core.data.panels import MarketData
from quant_core.live.files import (
    COMMAND_FILE,
    HALT_FILE,
    LATCH_FILE,
    CommandKind,
    read_state,
    send_command,
)
from quant_core.live.journal import Journal
from quant_core.live.replay import ReplayClock
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerState
from quant_core.live.worker import Worker, WorkerOptions
from quant_core.portfolio.costs import CostModel
from tests.factories import Fixed, market

pytestmark = pytest.mark.integration

# Prices drift, so each rebalance's targets differ from what is held.
CLOSES: dict[str, list[Any]] = {
    "A": [10.0 + i for i in range(10)],
    "B": [20.0 - i for i in range(10)],
    "C": [5.0 + 0.5 * i for i in range(10)],
}


def make(tmp: Path, *overrides: str, resume: bool = False, weights: dict[str, float] | None = None):
    cfg = load_config(
        "live", [f"paths.data_dir={tmp}", "risk.max_position_weight=null", *overrides], environ={}
    )
    data = market(CLOSES)
    clock = ReplayClock("America/New_York")
    clock.at(dt.date(2010, 1, 4), ReplayClock.CLOSE)
    live = tmp / "live"
    broker = SimBroker(
        data.symbol_index, 100_000.0, CostModel(), "pro_rata", False, clock, live / "sim.json"
    )
    journal = Journal(live / "journal.duckdb")
    worker = Worker(
        cfg,
        data,
        Fixed({"A": 0.3, "B": 0.3, "C": 0.3} if weights is None else weights),
        broker,
        live,
        journal,
        WorkerOptions(resume=resume),
        clock=clock,
    )
    worker.start()
    return worker, broker, data


def holding(worker: Worker, broker: SimBroker, data: MarketData) -> None:
    """Rebalance into positions (filled at the next open), then queue another batch."""
    broker.mark(data.panels["close"][0])
    worker.rebalance(1)
    broker.open_session(data.panels["open"][1])
    broker.mark(data.panels["close"][1])
    worker.rebalance(2)  # the prices moved: this batch trades, and waits for the next open


def last_ack(live: Path) -> dict[str, Any]:
    state = read_state(live)
    assert state is not None
    return state["commands"][-1]


def test_cancel_cancels_open_orders_and_keeps_positions(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path)
    holding(worker, broker, data)
    held = {p.symbol: p.quantity for p in broker.positions()}
    assert broker.open_orders()

    send_command(worker.live_dir, CommandKind.CANCEL)
    worker.heartbeat()

    assert broker.open_orders() == []
    assert {p.symbol: p.quantity for p in broker.positions()} == held
    assert worker.state is WorkerState.RUNNING
    ack = last_ack(worker.live_dir)
    assert ack["accepted"] is True
    assert ack["result"].startswith("cancelled 3 open order")


def test_flat_ends_with_nothing_and_halts(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path)
    holding(worker, broker, data)
    held, waiting = len(broker.positions()), len(broker.open_orders())
    assert held > 0

    send_command(worker.live_dir, "FLAT")
    worker.heartbeat()

    assert broker.positions() == []
    assert broker.open_orders() == []
    assert worker.state is WorkerState.HALTED
    assert last_ack(worker.live_dir)["result"] == (
        f"flat: {held} position(s) closed at market, {waiting} open order(s) cancelled; "
        "HALTED until RESUME"
    )
    assert worker.rebalance(3) == []  # the next rebalance does not buy it all back
    state = read_state(worker.live_dir)
    assert state is not None
    assert state["worker"]["state"] == "HALTED"


def test_stop_touches_nothing_and_latches_across_a_restart(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path)
    holding(worker, broker, data)
    held = {p.symbol: p.quantity for p in broker.positions()}
    orders = {o.order_id for o in broker.open_orders()}

    send_command(worker.live_dir, "STOP")
    worker.heartbeat()

    assert worker.stop_requested
    assert worker.state is WorkerState.STOPPED
    assert {o.order_id for o in broker.open_orders()} == orders
    assert {p.symbol: p.quantity for p in broker.positions()} == held
    assert (worker.live_dir / LATCH_FILE).exists()
    worker.finish()
    worker.journal.close()

    final = read_state(worker.live_dir)
    assert final is not None
    assert (final["worker"]["latched"], final["worker"]["exited"]) == (True, True)

    again, broker2, _ = make(tmp_path)  # started again, e.g. by systemd
    assert again.state is WorkerState.STOPPED
    alive = read_state(again.live_dir)  # a worker running under the latch, not an exited one
    assert alive is not None
    assert (alive["worker"]["latched"], alive["worker"]["exited"]) == (True, False)
    assert {o.order_id for o in broker2.open_orders()} == orders  # the account outlived the worker
    assert again.rebalance(3) == []  # no strategy order while latched
    send_command(again.live_dir, "CANCEL")  # CANCEL still obeyed
    again.heartbeat()
    assert broker2.open_orders() == []
    send_command(again.live_dir, "RESUME")
    again.heartbeat()
    assert again.state.value == "RUNNING"  # (mypy narrowed the attribute above)
    assert not (again.live_dir / LATCH_FILE).exists()
    assert again.rebalance(3)
    again.journal.close()


def test_resume_flag_clears_the_latch(tmp_path: Path) -> None:
    worker, _, _ = make(tmp_path)
    send_command(worker.live_dir, "STOP")
    worker.heartbeat()
    worker.journal.close()

    resumed, _, _ = make(tmp_path, resume=True)

    assert resumed.state is WorkerState.RUNNING
    assert not (resumed.live_dir / LATCH_FILE).exists()
    resumed.journal.close()


def _write_raw(live: Path, payload: str) -> None:
    (live / COMMAND_FILE).write_text(payload)


def test_duplicate_expired_and_malformed_commands_are_refused_and_the_worker_runs_on(
    tmp_path: Path,
) -> None:
    worker, _, _ = make(tmp_path)
    live = worker.live_dir
    now = dt.datetime.now(dt.UTC)
    command = {"id": "abc123", "command": "CANCEL", "issued_at": now.isoformat(), "source": "t"}
    _write_raw(live, json.dumps(command))
    worker.heartbeat()
    _write_raw(live, json.dumps(command))
    worker.heartbeat()
    assert last_ack(live)["result"] == "duplicate id, ignored"

    old = {**command, "id": "old1", "issued_at": (now - dt.timedelta(hours=2)).isoformat()}
    _write_raw(live, json.dumps(old))
    worker.heartbeat()
    assert last_ack(live)["result"].startswith("refused: expired")

    _write_raw(live, "{this is not json")
    worker.heartbeat()
    assert last_ack(live)["result"].startswith("refused: malformed JSON")

    _write_raw(live, json.dumps({**command, "id": "x9", "command": "LIQUIDATE"}))
    worker.heartbeat()
    assert "unknown command 'LIQUIDATE'" in last_ack(live)["result"]

    assert worker.state is WorkerState.RUNNING
    audit = [json.loads(line) for line in (live / "commands.log.jsonl").read_text().splitlines()]
    assert [a["accepted"] for a in audit] == [True, False, False, False, False]
    assert {a["run_id"] for a in audit} == {worker.run_id}  # what the journal's table held
    worker.journal.close()


def test_a_restart_after_placing_never_doubles_an_order(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path)
    broker.mark(data.panels["close"][0])
    placed = worker.rebalance(1)
    assert len(placed) == 3
    worker.journal.close()  # the process dies here, before the open fills anything

    again, broker2, _ = make(tmp_path)
    assert len(broker2.open_orders()) == 3
    assert again.rebalance(1) == []
    assert len(broker2.open_orders()) == 3
    fills = broker2.open_session(data.panels["open"][1])
    assert sorted(f.symbol for f in fills) == ["A", "B", "C"]
    again.journal.close()


def test_a_risk_limit_halts_new_orders(tmp_path: Path) -> None:
    # A pre-trade limit the orders are not trimmed to (max_position_weight is: weight_cap).
    worker, broker, data = make(tmp_path, "risk.max_order_notional_usd=1000")
    broker.mark(data.panels["close"][0])

    assert worker.rebalance(1) == []

    assert worker.state is WorkerState.HALTED
    assert broker.open_orders() == []
    worker.write_state()
    state = read_state(worker.live_dir)
    assert state is not None
    assert state["risk"]["status"] == "tripped"
    assert state["risk"]["limit"] == "max_order_notional"
    assert "exceeds 1,000.00" in state["risk"]["reason"]
    worker.journal.close()


def test_the_state_file_holds_no_secret(tmp_path: Path) -> None:
    secret = "pbkdf2-sha256-SECRET-VALUE"  # noqa: S105 - a fake secret to hunt for
    worker, broker, data = make(tmp_path, f"cockpit.password_hash={secret}")
    holding(worker, broker, data)
    worker.write_state()
    text = (worker.live_dir / "dashboard_state.json").read_text()
    assert secret not in text
    state = json.loads(text)
    assert state["schema_version"] == 1
    assert {
        "worker",
        "account",
        "positions",
        "open_orders",
        "fills_today",
        "equity",
        "risk",
        "rebalance",
        "commands",
        "errors",
    } <= set(state)
    assert state["worker"]["mode"] == "sim"
    worker.journal.close()


def _ny(day: str, hhmm: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=ZoneInfo("America/New_York"))


def test_scheduled_rebalance_is_due_only_on_sessions_after_the_time_and_on_fresh_data(
    tmp_path: Path,
) -> None:
    worker, broker, data = make(tmp_path, "live.rebalance_time=09:35", "strategy.rebalance=2")
    # The data's last close is 2010-01-15; 2010-01-18 is Martin Luther King Jr. Day.
    assert worker.due(_ny("2010-01-18", "10:00")) is None
    assert worker.due(_ny("2010-01-19", "09:00")) is None  # before live.rebalance_time
    assert worker.due(_ny("2010-01-19", "10:00")) == dt.date(2010, 1, 19)

    broker.mark(data.panels["close"][-1])
    assert worker.rebalance_next()
    assert worker.journal.last_rebalance() == dt.date(2010, 1, 19)
    assert worker.due(_ny("2010-01-19", "15:00")) is None  # once per session

    # A day later the data would have to end 2010-01-19: it does not, so it is refused.
    assert worker.due(_ny("2010-01-21", "10:00")) is None
    worker.write_state()
    state = read_state(worker.live_dir)
    assert state is not None
    assert (
        "data ends 2010-01-15, not the previous session 2010-01-20"
        in state["errors"][-1]["message"]
    )
    worker.journal.close()


def test_halted_survives_a_restart_until_resume(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path)
    holding(worker, broker, data)
    send_command(worker.live_dir, "FLAT")
    worker.heartbeat()
    worker.finish()
    worker.journal.close()

    again, broker2, data2 = make(tmp_path)  # e.g. the next cron --once

    assert again.state is WorkerState.HALTED
    broker2.mark(data2.panels["close"][3])
    assert again.rebalance(4) == []  # nothing bought back
    send_command(again.live_dir, "RESUME")
    again.heartbeat()
    assert again.state.value == "RUNNING"
    assert again.rebalance(4)
    again.journal.close()


def test_an_unreadable_halt_latch_still_holds_the_worker_halted(tmp_path: Path) -> None:
    worker, _, _ = make(tmp_path)
    worker.finish()
    worker.journal.close()
    (worker.live_dir / HALT_FILE).write_text("{not json")

    again, _, _ = make(tmp_path)  # it starts, rather than crash on the file

    assert again.state is WorkerState.HALTED
    assert f"{HALT_FILE} is unreadable" in again.reason
    assert again.rebalance(4) == []
    send_command(again.live_dir, "RESUME")
    again.heartbeat()
    assert again.state.value == "RUNNING"  # (mypy narrowed the state to HALTED above)
    assert not (again.live_dir / HALT_FILE).exists()
    again.journal.close()


def test_a_poison_command_is_set_aside_and_the_worker_carries_on(tmp_path: Path) -> None:
    worker, _, _ = make(tmp_path)
    (worker.live_dir / COMMAND_FILE).write_text("[" * 100_000 + "]" * 100_000)

    worker.heartbeat()

    assert last_ack(worker.live_dir)["accepted"] is False
    assert worker.state is WorkerState.RUNNING
    assert list((worker.live_dir / "inbox").glob("*.json")) == []
    send_command(worker.live_dir, "CANCEL")  # the next command still works
    worker.heartbeat()
    assert last_ack(worker.live_dir)["accepted"] is True
    worker.journal.close()


def test_a_command_from_the_future_is_refused(tmp_path: Path) -> None:
    worker, _, _ = make(tmp_path)
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    command = {"id": "f1", "command": "FLAT", "issued_at": ahead.isoformat(), "source": "t"}
    (worker.live_dir / COMMAND_FILE).write_text(json.dumps(command))

    worker.heartbeat()

    assert "in the future" in last_ack(worker.live_dir)["result"]
    assert worker.state is WorkerState.RUNNING
    worker.journal.close()


def test_flat_with_a_missing_price_retries_at_a_pace_and_reports_what_is_left(
    tmp_path: Path,
) -> None:
    worker, broker, data = make(tmp_path, "live.flat_timeout_s=1.2")
    holding(worker, broker, data)
    sleeps: list[float] = []
    worker.sleep = sleeps.append  # the retries' pauses are recorded, not waited
    broker.cancel_all()
    broker.marks[broker.symbols.get_loc("B")] = float("nan")  # B has no price now

    send_command(worker.live_dir, "FLAT")
    started = time.monotonic()
    worker.heartbeat()

    assert 1.0 < time.monotonic() - started < 10  # re-checked until the timeout, not longer

    ack = last_ack(worker.live_dir)
    assert ack["result"].startswith("not flat at the timeout: ")
    assert list(ack["detail"]["left"]) == ["B"]
    assert sleeps  # every retry paused: no spinning
    assert worker.state is WorkerState.HALTED
    assert broker.open_orders() == []
    text = (worker.live_dir / "dashboard_state.json").read_text()
    assert "NaN" not in text  # strict JSON
    worker.journal.close()


def test_the_drawdown_limit_survives_a_restart(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path, "risk.max_drawdown_frac=0.1")
    broker.mark(data.panels["close"][0])
    worker.rebalance(1)
    broker.open_session(data.panels["open"][1])
    worker.track_equity(dt.date(2010, 1, 5))
    worker.journal.close()

    again, broker2, _ = make(tmp_path, "risk.max_drawdown_frac=0.1")
    broker2.mark(data.panels["close"][1] * 0.8)  # everything falls 20%: equity down ~18%
    again.track_equity(dt.date(2010, 1, 6))

    assert again.rebalance(2) == []
    assert again.state is WorkerState.HALTED
    assert again.breach is not None
    assert again.breach.limit == "max_drawdown"
    again.journal.close()


def test_an_earlier_sessions_orders_are_cancelled_not_doubled(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path)
    broker.mark(data.panels["close"][0])
    worker.rebalance(1)  # placed, never filled (the process died)
    worker.journal.close()

    again, broker2, _ = make(tmp_path)
    placed = again.rebalance(2)

    refs = sorted(o.ref for o in broker2.open_orders())
    assert refs == sorted(o.ref for o in placed)
    assert all(ref.startswith("qc:2010-01-06:") for ref in refs)
    again.journal.close()


def test_one_decision_per_session_and_none_after_the_close(tmp_path: Path) -> None:
    worker, broker, data = make(tmp_path, "strategy.rebalance=1", weights={})
    broker.mark(data.panels["close"][-1])
    assert worker.due(_ny("2010-01-19", "16:30")) is None  # after the close
    assert worker.due(_ny("2010-01-19", "10:00")) == dt.date(2010, 1, 19)
    assert worker.rebalance_next() == []  # nothing to trade ...
    assert worker.due(_ny("2010-01-19", "10:01")) is None  # ... but decided: not again today
    decisions = worker.journal.table("decisions")
    assert decisions["outcome"].str.startswith("no orders").all()
    worker.journal.close()
