"""The Live Dashboard's model (cockpit models, tables, charts): no Streamlit, plain values."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest

from quant_core.cockpit import format as fmt
from quant_core.cockpit.charts.equity import live_equity_figure
from quant_core.cockpit.models import dashboard as board
from quant_core.cockpit.models import dashboard_commands as cmds
from quant_core.cockpit.models.dashboard import Liveness
from quant_core.cockpit.tables import live_tables as tables
from quant_core.errors import OperationalError
from quant_core.live.files import (
    COMMAND_FILE,
    INBOX,
    CommandKind,
    load_state,
    queued,
    send_command,
    write_state,
)
from quant_core.live.state import AccountSummary, DashboardState, StateSchemaError
from quant_core.live.state_fields import finite, parse_time

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


# The fields a test leaves out, so that each test states only what it is about.
ROWS: dict[str, dict[str, Any]] = {
    "positions": {"quantity": 0.0, "avg_cost": None, "market_price": None}
    | {"market_value": None, "weight": None},
    "open_orders": {"order_id": "1", "ref": "", "side": "BUY", "quantity": 0.0, "filled": 0.0}
    | {"status": "submitted"},
    "fills_today": {"order_id": "1", "commission": None, "time": NOW.isoformat()},
    "commands": {"id": None, "at": NOW.isoformat(), "command": None, "accepted": False}
    | {"result": ""},
}


def _doc(
    age_s: float = 0.5,
    state: str = "RUNNING",
    reason: str = "connected",
    worker: dict[str, Any] | None = None,
    **more: Any,
) -> dict[str, Any]:
    heartbeat = (NOW - dt.timedelta(seconds=age_s)).isoformat()
    doc: dict[str, Any] = {
        "schema_version": 1,
        "worker": {"pid": 1, "state": state, "reason": reason, "mode": "sim", "account": "SIM"}
        | {"run_id": "r", "started_at": heartbeat, "heartbeat_at": heartbeat, "session": None}
        | {"strategy": "momentum"}
        | (worker or {}),
        "account": dict.fromkeys(AccountSummary.__slots__),
        "positions": [],
        "open_orders": [],
        "fills_today": [],
        "equity": [],
        "risk": {"status": "ok", "limit": None, "reason": None},
        "rebalance": {"last": None, "next": None},
        "reconciled": {},
        "commands": [],
        "errors": [],
    }
    for name, value in more.items():
        if name in ROWS:
            value = [ROWS[name] | row for row in value]
        elif isinstance(doc[name], dict):
            value = doc[name] | value
        doc[name] = value
    return doc


def _state(
    age_s: float = 0.5,
    state: str = "RUNNING",
    reason: str = "connected",
    worker: dict[str, Any] | None = None,
    **more: Any,
) -> DashboardState:
    return DashboardState.from_json(_doc(age_s, state, reason, worker, **more))


# ----------------------------------------------------------------------------- liveness


@pytest.mark.parametrize(("ahead", "liveness"), [(3.0, Liveness.LIVE), (3600.0, Liveness.STALE)])
def test_a_heartbeat_far_in_the_future_is_not_fresh(ahead: float, liveness: Liveness) -> None:
    # Stamped an hour ahead (a clock stepped back): it read "heartbeat OK, 0.0 s ago" until the
    # clock caught up. A few seconds ahead (clocks a little apart) is still live.
    s = board.status(_state(-ahead), NOW, heartbeat_s=1.0)
    assert s.liveness is liveness


def test_stale_threshold_is_three_heartbeats_plus_slack() -> None:
    assert board.stale_after_s(1.0) == 5.0
    assert board.stale_after_s(10.0) == 32.0


@pytest.mark.parametrize(
    ("age", "liveness"),
    [(0.0, Liveness.LIVE), (4.9, Liveness.LIVE), (5.1, Liveness.STALE)],
)
def test_liveness_by_heartbeat_age(age: float, liveness: Liveness) -> None:
    s = board.status(_state(age), NOW, heartbeat_s=1.0)
    assert s.liveness is liveness
    assert s.threshold_s == 5.0
    assert s.running is (liveness is Liveness.LIVE)


def test_read_parses_a_rewritten_state_file_anew_and_an_unchanged_one_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[Path] = []

    def counting(live_dir: Path) -> DashboardState | None:
        parsed.append(live_dir)
        return load_state(live_dir)

    monkeypatch.setattr(board, "load_state", counting)
    assert board.read(tmp_path) == (None, None)  # no file yet
    write_state(tmp_path, _doc(reason="first"))
    first, problem = board.read(tmp_path)
    assert problem is None
    assert first is not None
    assert first.worker.reason == "first"
    again, _ = board.read(tmp_path)
    assert again is first
    assert len(parsed) == 2
    write_state(tmp_path, _doc(reason="later"))  # atomic: a new file of the same size
    second, _ = board.read(tmp_path)
    assert second is not None
    assert second.worker.reason == "later"
    assert len(parsed) == 3
    (tmp_path / "dashboard_state.json").unlink()
    assert board.read(tmp_path) == (None, None)  # a removed file reads as missing at once


def test_a_state_without_a_heartbeat_is_unreadable_and_says_why() -> None:
    doc = _doc()
    del doc["worker"]["heartbeat_at"]
    with pytest.raises(StateSchemaError) as caught:
        DashboardState.from_json(doc)
    s = board.status(None, NOW, 1.0, caught.value)
    assert s.liveness is Liveness.UNREADABLE
    assert s.running is False
    message = board.liveness_message(s, 1.0, Path("/data/live"))
    assert message is not None
    assert message.level == "error"
    assert "cannot be read: the state document has no field worker.heartbeat_at" in message.text
    assert board.schema_message(s) is None


def test_a_state_file_of_another_version_is_not_shown(tmp_path: Path) -> None:
    doc = _doc()
    doc["schema_version"] = 2
    (tmp_path / "dashboard_state.json").write_text(json.dumps(doc))
    state, problem = board.read(tmp_path)
    s = board.status(state, NOW, 1.0, problem)
    assert state is None
    assert s.liveness is Liveness.UNREADABLE
    message = board.schema_message(s)
    assert message is not None
    assert message.text.startswith(
        "The state file has schema version 2; this cockpit reads version 1"
    )


def test_an_unreadable_state_never_claims_that_no_worker_runs(tmp_path: Path) -> None:
    # A worker of another version may be heartbeating: a button's note says what happens both
    # ways, never "waits for a worker to start" alone.
    doc = _doc()
    doc["schema_version"] = 2
    (tmp_path / "dashboard_state.json").write_text(json.dumps(doc))
    state, problem = board.read(tmp_path)
    s = board.status(state, NOW, 1.0, problem)
    notes = cmds.button_notes(s, 60.0)
    for kind in CommandKind:
        assert "whether a worker runs is unknown" in notes[kind]
        assert "a running worker" in notes[kind]
        assert "at once" in notes[kind]
        assert "No worker" not in notes[kind]
    assert "flat and stays HALTED" in notes[CommandKind.FLAT]
    message = cmds.controls_message(s)
    assert message is not None
    assert "whether a worker is running is unknown" in message.text
    assert "a running worker executes it at once" in message.text


def test_no_state_is_offline() -> None:
    s = board.status(None, NOW, 1.0)
    assert s.liveness is Liveness.NO_STATE
    message = board.liveness_message(s, 1.0, Path("/data/live"))
    assert message is not None
    assert message.level == "error"
    assert "no state file in /data/live" in message.text


def test_stale_message_names_the_threshold_and_age() -> None:
    s = board.status(_state(75), NOW, 1.0)
    message = board.liveness_message(s, 1.0)
    assert message is not None
    assert "1 min 15 s ago" in message.text
    assert "threshold 5 s = 3 heartbeats of 1 s + 2 s" in message.text


def test_a_heartbeat_from_the_future_counts_as_fresh() -> None:
    s = board.status(_state(-3), NOW, 1.0)
    assert s.age_s == 0.0
    assert s.liveness is Liveness.LIVE


@pytest.mark.parametrize(
    ("reason", "age", "liveness"),
    [
        ("STOP 1f2e: no order or position touched", 0.1, Liveness.EXITED),
        ("worker exited while RUNNING (connected)", 0.1, Liveness.EXITED),
        ("latched by an earlier STOP; start with --resume or send RESUME", 0.1, Liveness.LIVE),
        ("latched by an earlier STOP; start with --resume or send RESUME", 30, Liveness.EXITED),
    ],
)
def test_stopped_has_exited_unless_a_latched_worker_still_beats(
    reason: str, age: float, liveness: Liveness
) -> None:
    assert board.status(_state(age, "STOPPED", reason), NOW, 1.0).liveness is liveness


@pytest.mark.parametrize(
    ("exited", "latched", "liveness", "resume"),
    [
        (False, True, Liveness.LIVE, True),  # restarted under the latch, then reconnected
        (True, True, Liveness.EXITED, True),  # STOP just ended it: RESUME waits for the next
        (True, False, Liveness.EXITED, False),  # a plain exit: no latch to lift
    ],
)
def test_stopped_is_read_from_the_workers_own_fields(
    exited: bool, latched: bool, liveness: Liveness, resume: bool
) -> None:
    extra = {"exited": exited, "latched": latched}
    state = _state(0.1, "STOPPED", "reconnected; latched by an earlier STOP", worker=extra)
    status = board.status(state, NOW, 1.0)
    assert status.liveness is liveness
    assert cmds.show_resume(status) is resume


def test_a_finished_replay_says_so_not_that_it_crashed() -> None:
    extra: dict[str, Any] = {"exited": True, "latched": False, "replay_finished": "2010-05-28"}
    state = _state(30, "STOPPED", "replay finished on 2010-05-28", worker=extra)
    status = board.status(state, NOW, 1.0)

    assert status.liveness is Liveness.EXITED
    assert status.replay_finished == "2010-05-28"
    message = board.liveness_message(status, 1.0)
    assert message is not None
    assert message.level == "info"
    assert message.text.startswith("Replay finished on 2010-05-28: the worker ran the replay")
    assert "nothing is watching" not in message.text
    first = board.banner_markdown(status, state)[0]
    assert ":blue-badge[REPLAY FINISHED 2010-05-28]" in first
    assert "PROCESS EXITED" not in first
    controls = cmds.controls_message(status)
    assert controls is not None
    assert controls.text.startswith("The replay finished on 2010-05-28: its process has ended")
    assert cmds.show_resume(status) is False
    # A worker that exited mid-way (a signal, a crash) is still told apart.
    extra["replay_finished"] = None
    state = _state(30, "STOPPED", "worker exited while RUNNING (connected)", worker=extra)
    crashed = board.liveness_message(board.status(state, NOW, 1.0), 1.0)
    assert crashed is not None
    assert "nothing is watching the account" in crashed.text


def test_mode_labels_and_colours() -> None:
    def mode(name: str | None) -> board.Status:
        state = _state(worker={"mode": name})
        return board.status(state, NOW, 1.0)

    assert (mode("sim").mode_label, mode("sim").mode_color) == ("SIM", "gray")
    assert (mode("ib-paper").mode_label, mode("ib-paper").mode_color) == ("IB PAPER", "blue")
    assert (mode("ib-live").mode_label, mode("ib-live").mode_color) == ("IB LIVE", "red")
    assert mode(None).mode_label == "MODE UNKNOWN"
    assert board.live_money_message(mode("ib-live")) is not None
    assert board.live_money_message(mode("ib-paper")) is None


def test_banner_greys_a_stale_state() -> None:
    lines = board.banner_markdown(board.status(_state(60), NOW, 1.0), _state(60))
    assert ":gray-background[:gray[RUNNING (last known)]]" in lines[0]
    assert ":red-badge[HEARTBEAT STALE]" in lines[0]


def test_banner_escapes_the_reason() -> None:
    state = _state(reason="![a](http://x/y.png) *bold*", risk={"status": "tripped"})
    lines = board.banner_markdown(board.status(state, NOW, 1.0), state)
    assert lines[0].startswith(":gray-background[:gray[SIM]] :green-background[:green[RUNNING]]")
    assert ":red-badge[RISK LIMIT TRIPPED]" in lines[0]
    assert lines[2].startswith(r"\!\[a\](http://x/y.png) \*bold\*")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "unknown"),
        (0.84, "0.8 s"),
        (12.7, "12 s"),
        (185, "3 min 05 s"),
        (7440, "2 h 04 min"),
        (273600, "3 d 4 h"),
    ],
)
def test_fmt_age(seconds: float | None, text: str) -> None:
    assert fmt.fmt_age(seconds) == text


def test_parse_time_and_numbers() -> None:
    assert parse_time("2026-03-02") == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    aware = parse_time("2026-03-02T09:30:00-05:00")
    assert aware is not None
    assert aware.astimezone(dt.UTC) == dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
    assert parse_time("yesterday") is None
    assert parse_time(None) is None
    assert finite(3) == 3.0
    assert finite(float("nan")) is None
    assert finite(True) is None
    assert finite("3") is None


# ----------------------------------------------------------------------------- figures


def test_unrealized_pnl_and_weight() -> None:
    assert tables.unrealized_pnl(100, 150.0, 160.0) == 1000.0
    assert tables.unrealized_pnl(-200, 80.0, 75.0) == 1000.0  # a short gains as the price falls
    assert tables.unrealized_pnl(100, 150.0, None) is None
    assert tables.weight(16_000.0, 1_000_000.0) == 0.016
    assert tables.weight(16_000.0, 0.0) is None
    assert tables.weight(16_000.0, None) is None


def test_positions_table_computes_from_cost_and_price() -> None:
    positions = [
        {"symbol": "XOM", "quantity": -200, "avg_cost": 80.0, "market_price": 75.0},
        {"symbol": "AAPL", "quantity": 100, "avg_cost": 150.0, "market_price": 160.0},
        {"symbol": "HALT", "quantity": 10, "avg_cost": 20.0, "market_price": None},
    ]
    state = _state(account={"net_liquidation": 100_000.0}, positions=positions)
    table = tables.positions_table(state)
    assert list(table["Symbol"]) == ["AAPL", "XOM", "HALT"]
    assert list(table["Market value"][:2]) == [16_000.0, -15_000.0]
    assert list(table["Weight (%)"][:2]) == [16.0, -15.0]
    assert list(table["Unrealised PnL"][:2]) == [1000.0, 1000.0]
    assert table["Unrealised (%)"][0] == pytest.approx(100 * 1000 / 15_000)
    assert math.isnan(table["Unrealised PnL"][2])
    summary = tables.positions_summary(table, 100_000.0)
    assert summary == (
        "3 position(s) · gross $31,000.00 (31.0% of net liquidation) · net $1,000.00 · "
        "unrealised +$2,000.00"
    )
    assert tables.positions_summary(tables.positions_table(None), None) == "No positions."


def test_account_metrics_are_formatted() -> None:
    account = {
        "net_liquidation": 101_000.0,
        "cash": 5_000.5,
        "buying_power": 4_000.0,
        "daily_pnl": -1_000.0,
        "realized_pnl": 500.0,
        "unrealized_pnl": 500.0,
    }
    metrics = tables.account_metrics(_state(account=account))
    assert [(m.label, m.value, m.delta) for m in metrics] == [
        ("Net liquidation", "$101,000", None),
        ("Cash", "$5,000", None),
        ("Daily PnL", "-$1,000", "-0.98%"),
        ("Total PnL", "+$1,000", "+1.00%"),
    ]
    assert metrics[1].help == "$5,000.50; buying power $4,000.00"
    assert metrics[3].help.startswith("+$1,000.00 = realized +$500.00 + unrealized +$500.00")
    assert [m.value for m in tables.account_metrics(None)] == ["-", "-", "-", "-"]


def test_signed_money() -> None:
    assert fmt.signed_money(1234.567) == "+$1,234.57"
    assert fmt.signed_money(-12.0) == "-$12.00"
    assert fmt.signed_money(-0.4, 0) == "$0"
    assert fmt.signed_money(None) == "-"


def test_total_pnl_is_realized_plus_unrealized() -> None:
    def account(realized: float | None, unrealized: float | None) -> AccountSummary:
        return AccountSummary(None, None, None, None, unrealized, realized)

    assert tables.total_pnl(account(-10.0, 25.0)) == 15.0
    assert tables.total_pnl(account(-10.0, None)) == -10.0
    assert tables.total_pnl(account(None, None)) is None


def test_orders_fills_commands_tables() -> None:
    state = _state(
        open_orders=[
            {"order_id": "9", "symbol": "MSFT", "side": "BUY", "quantity": 50, "filled": 20}
        ],
        fills_today=[
            {"symbol": "A", "side": "BUY", "quantity": 2, "price": 10.0, "time": "2026-03-02"},
            {"symbol": "B", "side": "SELL", "quantity": 1, "price": 5.0, "commission": 1.0},
        ],
        commands=[
            {"id": "a", "at": "2026-03-02T14:00:00+00:00", "command": "CANCEL", "accepted": True},
            {
                "id": "b",
                "command": "FLAT",
                "accepted": True,
                "result": "flat",
                "detail": {"left": {}},
            },
        ],
        errors=[{"at": "2026-03-02T14:01:00+00:00", "message": "boom"}],
    )
    assert list(tables.orders_table(state)["Remaining"]) == [30.0]
    fills = tables.fills_table(state)
    assert list(fills["Symbol"]) == ["B", "A"]  # newest first
    assert list(fills["Value"]) == [5.0, 20.0]
    # A fill without a time no longer reaches the table (the contract refuses it, below): B
    # has the default time of _doc.
    assert list(fills["Time (UTC)"]) == ["2026-03-02 15:00:00", "2026-03-02 00:00:00"]
    timeless = _doc()
    timeless["fills_today"] = [{**ROWS["fills_today"], "symbol": "B", "side": "SELL"}]
    timeless["fills_today"][0] |= {"quantity": 1, "price": 5.0}
    del timeless["fills_today"][0]["time"]
    with pytest.raises(StateSchemaError, match=r"no field fills_today\[0\]\.time"):
        DashboardState.from_json(timeless)
    log = tables.commands_table(state)
    assert list(log["Id"]) == ["b", "a"]
    assert list(log["Detail"]) == ["", ""]  # FLAT's empty "left" says nothing
    assert list(tables.errors_table(state)["Message"]) == ["boom"]


def test_risk_message() -> None:
    tripped = board.risk_message(
        _state(risk={"status": "tripped", "limit": "drawdown", "reason": "-26%"})
    )
    assert tripped.level == "error"
    assert "drawdown: -26%" in tripped.text
    assert board.risk_message(_state(risk={"status": "ok"})).level == "success"
    assert board.risk_message(None).level == "info"


LIMITS = [
    {"name": "max_daily_loss", "label": "daily loss", "limit": 0.01, "usage": 0.0456},
    {"name": "max_drawdown", "label": "drawdown", "limit": 0.25, "usage": None},
]


def test_limit_lines_show_each_limit_with_its_usage() -> None:
    limits = [{**LIMITS[0], "tripped": True}, {**LIMITS[1], "tripped": False}]
    junk = _doc(risk={"status": "tripped", "limits": [*limits, "junk"]})
    with pytest.raises(StateSchemaError, match=r"risk\.limits\[2\] is 'junk', not an object"):
        DashboardState.from_json(junk)  # a row that is not an object: refused, named
    state = _state(risk={"status": "tripped", "limits": limits, "flat_on_breach": True})
    assert board.limit_lines(state) == [
        "daily loss 4.56% of 1.00%: TRIPPED",
        "drawdown unknown of 25.00%",
        "A breach halts new orders and closes every position (risk.on_breach: flat)",
    ]
    calm = [{**LIMITS[0], "usage": 0.0, "tripped": False}]
    assert board.limit_lines(_state(risk={"limits": calm, "flat_on_breach": False})) == [
        "daily loss 0.00% of 1.00%",
        "A breach halts new orders",
    ]
    assert board.limit_lines(_state(risk={"status": "ok"})) == []  # an older state file
    assert board.limit_lines(None) == []


def test_a_limit_beyond_its_bound_is_never_risk_ok() -> None:
    # A STOPPED worker does not halt on a breach; the page must not say "OK" meanwhile.
    limits = [{**LIMITS[0], "tripped": True}]
    message = board.risk_message(_state(risk={"status": "ok", "limits": limits}))
    assert message.level == "warning"
    assert "Beyond a risk limit now: daily loss 4.56% of 1.00%" in message.text


def test_equity_figure_has_dollar_and_time_axes() -> None:
    state = _state(
        equity=[
            ["2026-03-02T15:00:00+00:00", 101.0],
            ["2026-03-02T09:59:00-05:00", 100.0],
        ]
    )
    bad = _doc(equity=[["2026-03-02T15:00:00+00:00", 101.0], ["bad", 1.0]])
    with pytest.raises(StateSchemaError, match=r"equity\[1\] is \['bad', 1\.0\]"):
        DashboardState.from_json(bad)  # a bad point is refused by the contract, and named
    fig = live_equity_figure(state)
    assert fig is not None
    assert list(fig.data[0].y) == [100.0, 101.0]  # sorted by time
    assert fig.data[0].x[0] == "2026-03-02 14:59:00"  # UTC
    assert fig.layout.yaxis.tickprefix == "$"
    assert fig.layout.yaxis.title.text == "Net liquidation ($)"
    assert fig.layout.xaxis.title.text == "Time (UTC)"
    daily = live_equity_figure(_state(equity=[["2026-03-02", 100.0], ["2026-03-03", 99.0]]))
    assert daily is not None
    assert daily.layout.xaxis.title.text == "Session (date)"
    assert daily.layout.xaxis.tickformat == "%Y-%m-%d"
    assert live_equity_figure(_state(equity=[])) is None
    assert live_equity_figure(None) is None


# ----------------------------------------------------------------------------- commands


def _sent(ident: str, kind: str = "FLAT", age_s: float = 1.0) -> dict[str, Any]:
    issued = (NOW - dt.timedelta(seconds=age_s)).isoformat()
    return {"id": ident, "command": kind, "issued_at": issued}


def test_command_views_match_acks_by_id() -> None:
    sent = [_sent("a1", "CANCEL"), _sent("b2"), _sent("c3", "STOP"), _sent("d4", age_s=500)]
    acks = [
        {"id": "zz", "accepted": True, "result": "someone else's"},
        {"id": "a1", "at": "2026-03-02T14:59:59+00:00", "accepted": True, "result": "cancelled 2"},
        {"id": "c3", "accepted": False, "result": "refused: expired"},
    ]
    views = cmds.command_views(sent, _state(commands=acks), waiting={"b2"}, now=NOW)
    by_id = {v.id: v for v in views}
    assert [v.id for v in views] == ["d4", "c3", "b2", "a1"]  # newest first
    assert by_id["a1"].stage == "acknowledged"
    assert by_id["a1"].text == (
        "Sent CANCEL id=a1: acknowledged at 2026-03-02 14:59:59 UTC: cancelled 2"
    )
    assert by_id["c3"].stage == "refused"
    assert by_id["c3"].level == "error"
    assert by_id["b2"].stage == "waiting"
    assert "waiting in the queue (inbox) for a worker" in by_id["b2"].text
    assert by_id["d4"].stage == "overdue"
    assert [v.pending for v in views] == [True, False, True, False]
    taken = cmds.command_views([_sent("b2")], _state(commands=[]), waiting=set(), now=NOW)
    assert taken[0].stage == "taken"
    assert "pending, taken by the worker" in taken[0].text


def test_a_command_waiting_past_its_max_age_reads_expired_not_pending() -> None:
    # A FLAT confirmed with no worker running read "pending, waiting in the queue" for ever;
    # the worker started to carry it out refused it (expired) and traded the strategy instead.
    sent = [_sent("old", age_s=65.0), _sent("new", age_s=30.0)]
    views = cmds.command_views(sent, None, waiting={"old", "new"}, now=NOW, max_age_s=60.0)
    by_id = {v.id: v for v in views}
    assert by_id["old"].stage == "expired"
    assert by_id["old"].level == "error"
    assert not by_id["old"].pending
    assert "EXPIRED" in by_id["old"].text
    assert "live.command_max_age_s, 60 s" in by_id["old"].text
    assert by_id["new"].stage == "waiting"


def test_track_keeps_the_last_twenty() -> None:
    sent: list[dict[str, Any]] = []
    for i in range(25):
        sent = cmds.track(sent, {"id": str(i)})
    assert [c["id"] for c in sent] == [str(i) for i in range(5, 25)]


def test_waiting_ids_read_the_queue_and_the_legacy_file(tmp_path: Path) -> None:
    assert cmds.waiting_ids(tmp_path) == set()
    first = send_command(tmp_path, "CANCEL", source="cockpit", now=NOW)
    second = send_command(tmp_path, "STOP", source="cockpit", now=NOW)  # never replaces the first
    (tmp_path / COMMAND_FILE).write_text('{"id": "legacy", "command": "FLAT"}')
    (tmp_path / INBOX / "00000000000000000001-torn.json").write_text("{torn")
    assert cmds.waiting_ids(tmp_path) == {first.id, second.id, "legacy"}


def test_a_repeat_is_the_same_command_and_sleeve_within_the_window() -> None:
    def sent_at(seconds: float, kind: str = "HALT", sleeve: str | None = "mom") -> dict[str, Any]:
        issued = (NOW - dt.timedelta(seconds=seconds)).isoformat()
        command = {"id": f"{kind}-{seconds}", "command": kind, "issued_at": issued}
        return command if sleeve is None else {**command, "sleeve": sleeve}

    halt = sent_at(0.2)
    assert cmds.repeat_of([halt], "HALT", "mom", NOW) == halt
    assert cmds.repeat_of([halt], CommandKind.HALT, "mom", NOW) == halt  # the enum is its word
    assert cmds.repeat_of([halt], "HALT", "rev", NOW) is None  # another sleeve
    assert cmds.repeat_of([halt], "RESUME", "mom", NOW) is None  # another command
    assert cmds.repeat_of([sent_at(cmds.REPEAT_S)], "HALT", "mom", NOW) is None  # old enough
    assert cmds.repeat_of([sent_at(-5.0)], "HALT", "mom", NOW) is None  # a clock stepped back
    assert cmds.repeat_of([{**halt, "issued_at": None}], "HALT", "mom", NOW) is None
    # Only the latest of its kind counts: an old one behind a fresh one is not looked at.
    assert cmds.repeat_of([halt, sent_at(30.0)], "HALT", "mom", NOW) is None
    cancel = sent_at(1.0, "CANCEL", None)
    assert cmds.repeat_of([cancel, halt], "CANCEL", None, NOW) == cancel
    assert cmds.repeat_text(halt, NOW) == (
        "HALT (sleeve mom) id=HALT-0.2 was queued 0.2 s ago: not queued again (the same command "
        "within 2 s is one click)."
    )


def test_recent_commands_send_one_click_once_whatever_the_session(tmp_path: Path) -> None:
    clock = [NOW]
    recent = cmds.RecentCommands()
    queued_ids: list[str] = []

    def send(live_dir: Path, kind: str, sleeve: str | None = None) -> dict[str, Any]:
        command = send_command(live_dir, kind, source="cockpit", sleeve=sleeve, now=clock[0])
        queued_ids.append(command.id)
        out = {"id": command.id, "command": str(command.command)}
        out["issued_at"] = command.issued_at.isoformat()
        return out if sleeve is None else {**out, "sleeve": sleeve}

    def once(live_dir: Path, kind: str, sleeve: str | None = None) -> tuple[Any, Any]:
        return recent.once(live_dir, kind, sleeve, lambda: send(live_dir, kind, sleeve), now)

    def now() -> dt.datetime:
        return clock[0]

    first, none = once(tmp_path, "HALT", "mom")
    assert none is None
    assert first is not None
    clock[0] = NOW + dt.timedelta(seconds=0.5)
    again, previous = once(tmp_path, "HALT", "mom")  # the same click dispatched twice
    assert again is None
    assert previous == first
    assert once(tmp_path, "HALT", "rev")[0] is not None  # another sleeve
    assert once(tmp_path, "CANCEL")[0] is not None  # another command
    other = tmp_path / "other"
    assert once(other, "HALT", "mom")[0] is not None  # another worker's folder
    clock[0] = NOW + dt.timedelta(seconds=cmds.REPEAT_S)
    assert once(tmp_path, "HALT", "mom")[0] is not None  # a click of its own
    # Only the newest command can be repeated: HALT, RESUME, HALT within 2 s are three.
    clock[0] += dt.timedelta(seconds=0.2)
    assert once(tmp_path, "RESUME", "mom")[0] is not None
    clock[0] += dt.timedelta(seconds=0.2)
    assert once(tmp_path, "HALT", "mom")[0] is not None
    assert len(queued(tmp_path)) == 6
    assert len(queued(other)) == 1
    assert len(queued_ids) == 7

    def broken() -> dict[str, Any]:
        raise OperationalError("disk full")

    with pytest.raises(OperationalError):
        recent.once(tmp_path, "STOP", None, broken, now)
    assert once(tmp_path, "STOP")[0] is not None  # a failed send is not remembered


def test_two_dispatches_at_once_queue_one_command(tmp_path: Path) -> None:
    # Two script threads (two sessions, or one click dispatched twice) race: one file, always.
    recent = cmds.RecentCommands()
    start = threading.Barrier(8)
    results: list[tuple[Any, Any]] = []

    def click() -> None:
        start.wait()
        results.append(
            recent.once(
                tmp_path,
                "FLAT",
                None,
                lambda: {**send_command(tmp_path, "FLAT", source="cockpit").to_json()},
                lambda: dt.datetime.now(dt.UTC),
            )
        )

    threads = [threading.Thread(target=click) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8
    assert sum(sent is not None for sent, _ in results) == 1
    assert len(queued(tmp_path)) == 1


def test_not_sent_text_says_why() -> None:
    text = cmds.not_sent_text("STOP", OSError("disk full"), NOW)
    assert text == (
        "STOP NOT sent at 2026-03-02 15:00:00 UTC: disk full. Use TWS to act on the account now."
    )


# ----------------------------------------------------------------------------- buttons


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        ("RUNNING", False),
        ("STARTING", False),
        ("DISCONNECTED", False),
        ("HALTED", True),
        ("STOPPED", True),
    ],
)
def test_resume_is_offered_when_halted_or_stopped(state: str, shown: bool) -> None:
    assert cmds.show_resume(board.status(_state(state=state), NOW, 1.0)) is shown
    assert cmds.show_resume(board.status(None, NOW, 1.0)) is False


def test_button_notes_running_say_what_each_does() -> None:
    state = _state(positions=[{"symbol": "A"}, {"symbol": "B"}], open_orders=[{"symbol": "C"}])
    notes = cmds.button_notes(board.status(state, NOW, 1.0), 60.0)
    assert notes[CommandKind.CANCEL] == "Cancels every open order (1 now). Positions stay."
    assert "closes every position at market (2 now)" in notes[CommandKind.FLAT]
    assert "HALTED" in notes[CommandKind.FLAT]
    assert "orders and positions stay as they are" in notes[CommandKind.STOP]
    assert cmds.controls_message(board.status(state, NOW, 1.0)) is None


def test_button_notes_offline_say_what_will_not_happen() -> None:
    s = board.status(_state(100), NOW, 1.0)
    notes = cmds.button_notes(s, 60.0)
    assert notes[CommandKind.CANCEL].startswith("No worker is running: nothing is cancelled now")
    assert "a worker started within 60 s" in notes[CommandKind.CANCEL]
    assert "a later one refuses it as expired" in notes[CommandKind.FLAT]
    assert "a hung process is not stopped by this" in notes[CommandKind.STOP]
    exited = board.status(_state(100, "STOPPED", "STOP a: no order or position touched"), NOW, 1.0)
    assert cmds.button_notes(exited, 60.0)[CommandKind.STOP].startswith(
        "The worker is already STOPPED"
    )
    message = cmds.controls_message(exited)
    assert message is not None
    assert message.text.startswith("The worker is STOPPED: its process has exited")


def test_md_escapes_markdown_and_keeps_plain_text() -> None:
    assert fmt.md("cancelled 2 open order(s): ok.") == "cancelled 2 open order(s): ok."
    assert fmt.md("![x](http://e/x) <b>*a* $1 `c` max_loss") == (
        r"\!\[x\](http://e/x) \<b\>\*a\* \$1 \`c\` max_loss"
    )


def test_schedule_lines_say_when_and_what_was_reconciled() -> None:
    state = _state(
        rebalance={"last": "2010-03-04", "next": None},
        reconciled={
            "at": "2026-11-22T04:23:59.487691-05:00",
            "positions": 96,
            "our_open_orders": 2,
            "open_order_sessions": ["2010-03-05"],
        },
    )
    assert board.schedule_lines(state) == [
        "Last rebalance: 2010-03-04",
        "Next rebalance: none planned",
        "Reconciled with the broker at 2026-11-22 09:23:59 UTC: 96 position(s), "
        "2 open order(s) of ours for session(s) 2010-03-05",
    ]


def test_a_disconnected_worker_says_what_cancel_and_flat_cannot_do() -> None:
    as_of = {"broker_as_of": "2026-11-22T09:58:01+00:00"}
    state = _state(0.1, "DISCONNECTED", "link lost; reconnecting", worker=as_of)
    status = board.status(state, NOW, 1.0)
    notes = cmds.button_notes(status, 60)
    assert notes[CommandKind.CANCEL].startswith(
        "Disconnected from the broker: nothing can be cancelled"
    )
    assert "stays HALTED once reconnected" in notes[CommandKind.FLAT]
    message = board.liveness_message(status, 1.0)
    assert message is not None
    assert "CANCEL and FLAT cannot reach the broker" in message.text
    assert "the account figures are as of 2026-11-22 09:58:01 UTC" in message.text
