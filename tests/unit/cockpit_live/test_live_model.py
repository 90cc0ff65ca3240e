"""The Live Dashboard's model (quant_core.cockpit.live): no Streamlit, plain values."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

from quant_core.cockpit import live as model
from quant_core.cockpit.live import Liveness
from quant_core.live.files import COMMAND_FILE, INBOX, send_command

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def _state(
    age_s: float | None = 0.5, state: str = "RUNNING", reason: str = "connected", **more: Any
) -> dict[str, Any]:
    worker: dict[str, Any] = {"state": state, "reason": reason, "mode": "sim", "account": "SIM"}
    if age_s is not None:
        worker["heartbeat_at"] = (NOW - dt.timedelta(seconds=age_s)).isoformat()
    return {"schema_version": 1, "worker": worker, **more}


# ----------------------------------------------------------------------------- liveness


def test_stale_threshold_is_three_heartbeats_plus_slack() -> None:
    assert model.stale_after_s(1.0) == 5.0
    assert model.stale_after_s(10.0) == 32.0


@pytest.mark.parametrize(
    ("age", "liveness"),
    [(0.0, Liveness.LIVE), (4.9, Liveness.LIVE), (5.1, Liveness.STALE), (None, Liveness.STALE)],
)
def test_liveness_by_heartbeat_age(age: float | None, liveness: Liveness) -> None:
    s = model.status(_state(age), NOW, heartbeat_s=1.0)
    assert s.liveness is liveness
    assert s.threshold_s == 5.0
    assert s.running is (liveness is Liveness.LIVE)


def test_no_state_is_offline() -> None:
    s = model.status(None, NOW, 1.0)
    assert s.liveness is Liveness.NO_STATE
    message = model.liveness_message(s, 1.0, Path("/data/live"))
    assert message is not None
    assert message.level == "error"
    assert "no state file in /data/live" in message.text


def test_stale_message_names_the_threshold_and_age() -> None:
    s = model.status(_state(75), NOW, 1.0)
    message = model.liveness_message(s, 1.0)
    assert message is not None
    assert "1 min 15 s ago" in message.text
    assert "threshold 5 s = 3 heartbeats of 1 s + 2 s" in message.text


def test_a_heartbeat_from_the_future_counts_as_fresh() -> None:
    s = model.status(_state(-3), NOW, 1.0)
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
    assert model.status(_state(age, "STOPPED", reason), NOW, 1.0).liveness is liveness


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
    state = _state(0.1, "STOPPED", "reconnected; latched by an earlier STOP")
    state["worker"].update(exited=exited, latched=latched)
    status = model.status(state, NOW, 1.0)
    assert status.liveness is liveness
    assert model.show_resume(status) is resume


def test_a_finished_replay_says_so_not_that_it_crashed() -> None:
    state = _state(30, "STOPPED", "replay finished on 2010-05-28")
    state["worker"].update(exited=True, latched=False, replay_finished="2010-05-28")
    status = model.status(state, NOW, 1.0)

    assert status.liveness is Liveness.EXITED
    assert status.replay_finished == "2010-05-28"
    message = model.liveness_message(status, 1.0)
    assert message is not None
    assert message.level == "info"
    assert message.text.startswith("Replay finished on 2010-05-28: the worker ran the replay")
    assert "nothing is watching" not in message.text
    first = model.banner_markdown(status, state)[0]
    assert ":blue-badge[REPLAY FINISHED 2010-05-28]" in first
    assert "PROCESS EXITED" not in first
    controls = model.controls_message(status)
    assert controls is not None
    assert controls.text.startswith("The replay finished on 2010-05-28: its process has ended")
    assert model.show_resume(status) is False
    # A worker that exited mid-way (a signal, a crash) is still told apart.
    state["worker"].update(replay_finished=None, reason="worker exited while RUNNING (connected)")
    crashed = model.liveness_message(model.status(state, NOW, 1.0), 1.0)
    assert crashed is not None
    assert "nothing is watching the account" in crashed.text


def test_mode_labels_and_colours() -> None:
    def mode(name: str | None) -> model.Status:
        state = _state()
        state["worker"]["mode"] = name
        return model.status(state, NOW, 1.0)

    assert (mode("sim").mode_label, mode("sim").mode_color) == ("SIM", "gray")
    assert (mode("ib-paper").mode_label, mode("ib-paper").mode_color) == ("IB PAPER", "blue")
    assert (mode("ib-live").mode_label, mode("ib-live").mode_color) == ("IB LIVE", "red")
    assert mode(None).mode_label == "MODE UNKNOWN"
    assert model.live_money_message(mode("ib-live")) is not None
    assert model.live_money_message(mode("ib-paper")) is None


def test_banner_greys_a_stale_state() -> None:
    lines = model.banner_markdown(model.status(_state(60), NOW, 1.0), _state(60))
    assert ":gray-background[:gray[RUNNING (last known)]]" in lines[0]
    assert ":red-badge[HEARTBEAT STALE]" in lines[0]


def test_banner_escapes_the_reason() -> None:
    state = _state(reason="![a](http://x/y.png) *bold*", risk={"status": "tripped"})
    lines = model.banner_markdown(model.status(state, NOW, 1.0), state)
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
    assert model.fmt_age(seconds) == text


def test_parse_time_and_numbers() -> None:
    assert model.parse_time("2026-03-02") == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    aware = model.parse_time("2026-03-02T09:30:00-05:00")
    assert aware is not None
    assert aware.astimezone(dt.UTC) == dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
    assert model.parse_time("yesterday") is None
    assert model.parse_time(None) is None
    assert model.number(3) == 3.0
    assert model.number(float("nan")) is None
    assert model.number(True) is None
    assert model.number("3") is None


# ----------------------------------------------------------------------------- figures


def test_unrealized_pnl_and_weight() -> None:
    assert model.unrealized_pnl(100, 150.0, 160.0) == 1000.0
    assert model.unrealized_pnl(-200, 80.0, 75.0) == 1000.0  # a short gains as the price falls
    assert model.unrealized_pnl(100, 150.0, None) is None
    assert model.weight(16_000.0, 1_000_000.0) == 0.016
    assert model.weight(16_000.0, 0.0) is None
    assert model.weight(16_000.0, None) is None


def test_positions_table_computes_from_cost_and_price() -> None:
    positions = [
        {"symbol": "XOM", "quantity": -200, "avg_cost": 80.0, "market_price": 75.0},
        {"symbol": "AAPL", "quantity": 100, "avg_cost": 150.0, "market_price": 160.0},
        {"symbol": "HALT", "quantity": 10, "avg_cost": 20.0, "market_price": None},
    ]
    state = _state(account={"net_liquidation": 100_000.0}, positions=positions)
    table = model.positions_table(state)
    assert list(table["Symbol"]) == ["AAPL", "XOM", "HALT"]
    assert list(table["Market value"][:2]) == [16_000.0, -15_000.0]
    assert list(table["Weight (%)"][:2]) == [16.0, -15.0]
    assert list(table["Unrealised PnL"][:2]) == [1000.0, 1000.0]
    assert table["Unrealised (%)"][0] == pytest.approx(100 * 1000 / 15_000)
    assert math.isnan(table["Unrealised PnL"][2])
    summary = model.positions_summary(table, 100_000.0)
    assert summary == (
        "3 position(s) · gross $31,000.00 (31.0% of net liquidation) · net $1,000.00 · "
        "unrealised +$2,000.00"
    )
    assert model.positions_summary(model.positions_table(None), None) == "No positions."


def test_account_metrics_are_formatted() -> None:
    account = {
        "net_liquidation": 101_000.0,
        "cash": 5_000.5,
        "buying_power": 4_000.0,
        "daily_pnl": -1_000.0,
        "realized_pnl": 500.0,
        "unrealized_pnl": 500.0,
    }
    metrics = model.account_metrics(_state(account=account))
    assert [(m.label, m.value, m.delta) for m in metrics] == [
        ("Net liquidation", "$101,000", None),
        ("Cash", "$5,000", None),
        ("Daily PnL", "-$1,000", "-0.98%"),
        ("Total PnL", "+$1,000", "+1.00%"),
    ]
    assert metrics[1].help == "$5,000.50; buying power $4,000.00"
    assert metrics[3].help.startswith("+$1,000.00 = realized +$500.00 + unrealized +$500.00")
    assert [m.value for m in model.account_metrics(None)] == ["-", "-", "-", "-"]


def test_signed_money() -> None:
    assert model.signed_money(1234.567) == "+$1,234.57"
    assert model.signed_money(-12.0) == "-$12.00"
    assert model.signed_money(-0.4, 0) == "$0"
    assert model.signed_money(None) == "-"


def test_total_pnl_is_realized_plus_unrealized() -> None:
    assert model.total_pnl({"realized_pnl": -10.0, "unrealized_pnl": 25.0}) == 15.0
    assert model.total_pnl({"realized_pnl": -10.0, "unrealized_pnl": None}) == -10.0
    assert model.total_pnl({}) is None


def test_orders_fills_commands_tables() -> None:
    state = _state(
        open_orders=[
            {"order_id": 9, "symbol": "MSFT", "side": "BUY", "quantity": 50, "filled": 20}
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
    assert list(model.orders_table(state)["Remaining"]) == [30.0]
    fills = model.fills_table(state)
    assert list(fills["Symbol"]) == ["B", "A"]  # newest first
    assert list(fills["Value"]) == [5.0, 20.0]
    assert list(fills["Time (UTC)"]) == ["-", "2026-03-02 00:00:00"]
    log = model.commands_table(state)
    assert list(log["Id"]) == ["b", "a"]
    assert list(log["Detail"]) == ["", ""]  # FLAT's empty "left" says nothing
    assert list(model.errors_table(state)["Message"]) == ["boom"]


def test_risk_message() -> None:
    tripped = model.risk_message(
        _state(risk={"status": "tripped", "limit": "drawdown", "reason": "-26%"})
    )
    assert tripped.level == "error"
    assert "drawdown: -26%" in tripped.text
    assert model.risk_message(_state(risk={"status": "ok"})).level == "success"
    assert model.risk_message(None).level == "info"


LIMITS = [
    {"name": "max_daily_loss", "label": "daily loss", "limit": 0.01, "usage": 0.0456},
    {"name": "max_drawdown", "label": "drawdown", "limit": 0.25, "usage": None},
]


def test_limit_lines_show_each_limit_with_its_usage() -> None:
    limits = [{**LIMITS[0], "tripped": True}, {**LIMITS[1], "tripped": False}, "junk"]
    state = _state(risk={"status": "tripped", "limits": limits, "flat_on_breach": True})
    assert model.limit_lines(state) == [
        "daily loss 4.56% of 1.00%: TRIPPED",
        "drawdown unknown of 25.00%",
        "A breach halts new orders and closes every position (risk.flat_on_breach)",
    ]
    calm = [{**LIMITS[0], "usage": 0.0, "tripped": False}]
    assert model.limit_lines(_state(risk={"limits": calm, "flat_on_breach": False})) == [
        "daily loss 0.00% of 1.00%",
        "A breach halts new orders",
    ]
    assert model.limit_lines(_state(risk={"status": "ok"})) == []  # an older state file
    assert model.limit_lines(None) == []


def test_a_limit_beyond_its_bound_is_never_risk_ok() -> None:
    # A STOPPED worker does not halt on a breach; the page must not say "OK" meanwhile.
    limits = [{**LIMITS[0], "tripped": True}]
    message = model.risk_message(_state(risk={"status": "ok", "limits": limits}))
    assert message.level == "warning"
    assert "Beyond a risk limit now: daily loss 4.56% of 1.00%" in message.text


def test_equity_figure_has_dollar_and_time_axes() -> None:
    state = _state(
        equity=[
            ["2026-03-02T15:00:00+00:00", 101.0],
            ["2026-03-02T09:59:00-05:00", 100.0],
            ["bad", 1.0],
        ]
    )
    fig = model.equity_figure(state)
    assert fig is not None
    assert list(fig.data[0].y) == [100.0, 101.0]  # sorted by time, the bad point dropped
    assert fig.data[0].x[0] == "2026-03-02 14:59:00"  # UTC
    assert fig.layout.yaxis.tickprefix == "$"
    assert fig.layout.yaxis.title.text == "Net liquidation ($)"
    assert fig.layout.xaxis.title.text == "Time (UTC)"
    daily = model.equity_figure(_state(equity=[["2026-03-02", 100.0], ["2026-03-03", 99.0]]))
    assert daily is not None
    assert daily.layout.xaxis.title.text == "Session (date)"
    assert daily.layout.xaxis.tickformat == "%Y-%m-%d"
    assert model.equity_figure(_state(equity=[])) is None
    assert model.equity_figure(None) is None


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
    views = model.command_views(sent, _state(commands=acks), waiting={"b2"}, now=NOW)
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
    taken = model.command_views([_sent("b2")], _state(commands=[]), waiting=set(), now=NOW)
    assert taken[0].stage == "taken"
    assert "pending, taken by the worker" in taken[0].text


def test_track_keeps_the_last_twenty() -> None:
    sent: list[dict[str, Any]] = []
    for i in range(25):
        sent = model.track(sent, {"id": str(i)})
    assert [c["id"] for c in sent] == [str(i) for i in range(5, 25)]


def test_waiting_ids_read_the_queue_and_the_legacy_file(tmp_path: Path) -> None:
    assert model.waiting_ids(tmp_path) == set()
    first = send_command(tmp_path, "CANCEL", source="cockpit", now=NOW)
    second = send_command(tmp_path, "STOP", source="cockpit", now=NOW)  # never replaces the first
    (tmp_path / COMMAND_FILE).write_text('{"id": "legacy", "command": "FLAT"}')
    (tmp_path / INBOX / "00000000000000000001-torn.json").write_text("{torn")
    assert model.waiting_ids(tmp_path) == {first.id, second.id, "legacy"}


def test_not_sent_text_says_why() -> None:
    text = model.not_sent_text("STOP", OSError("disk full"), NOW)
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
    assert model.show_resume(model.status(_state(state=state), NOW, 1.0)) is shown
    assert model.show_resume(model.status(None, NOW, 1.0)) is False


def test_button_notes_running_say_what_each_does() -> None:
    state = _state(positions=[{"symbol": "A"}, {"symbol": "B"}], open_orders=[{"symbol": "C"}])
    notes = model.button_notes(model.status(state, NOW, 1.0), state, 60.0)
    assert notes["CANCEL"] == "Cancels every open order (1 now). Positions stay."
    assert "closes every position at market (2 now)" in notes["FLAT"]
    assert "HALTED" in notes["FLAT"]
    assert "orders and positions stay as they are" in notes["STOP"]
    assert model.controls_message(model.status(state, NOW, 1.0)) is None


def test_button_notes_offline_say_what_will_not_happen() -> None:
    s = model.status(_state(100), NOW, 1.0)
    notes = model.button_notes(s, None, 60.0)
    assert notes["CANCEL"].startswith("No worker is running: nothing is cancelled now")
    assert "a worker started within 60 s" in notes["CANCEL"]
    assert "a later one refuses it as expired" in notes["FLAT"]
    assert "a hung process is not stopped by this" in notes["STOP"]
    exited = model.status(_state(100, "STOPPED", "STOP a: no order or position touched"), NOW, 1.0)
    assert model.button_notes(exited, None, 60.0)["STOP"].startswith(
        "The worker is already STOPPED"
    )
    message = model.controls_message(exited)
    assert message is not None
    assert message.text.startswith("The worker is STOPPED: its process has exited")


def test_md_escapes_markdown_and_keeps_plain_text() -> None:
    assert model.md("cancelled 2 open order(s): ok.") == "cancelled 2 open order(s): ok."
    assert model.md("![x](http://e/x) <b>*a* $1 `c` max_loss") == (
        r"\!\[x\](http://e/x) \<b\>\*a\* \$1 \`c\` max_loss"
    )


def test_schedule_lines_say_when_and_what_was_reconciled() -> None:
    state = {
        "rebalance": {"last": "2010-03-04", "next": None},
        "reconciled": {
            "at": "2026-11-22T04:23:59.487691-05:00",
            "positions": 96,
            "our_open_orders": 2,
            "open_order_sessions": ["2010-03-05"],
        },
    }
    assert model.schedule_lines(state) == [
        "Last rebalance: 2010-03-04",
        "Next rebalance: none planned",
        "Reconciled with the broker at 2026-11-22 09:23:59 UTC: 96 position(s), "
        "2 open order(s) of ours for session(s) 2010-03-05",
    ]


def test_a_disconnected_worker_says_what_cancel_and_flat_cannot_do() -> None:
    state = _state(0.1, "DISCONNECTED", "link lost; reconnecting")
    state["worker"]["broker_as_of"] = "2026-11-22T09:58:01+00:00"
    status = model.status(state, NOW, 1.0)
    notes = model.button_notes(status, None, 60)
    assert notes["CANCEL"].startswith("Disconnected from the broker: nothing can be cancelled")
    assert "stays HALTED once reconnected" in notes["FLAT"]
    message = model.liveness_message(status, 1.0)
    assert message is not None
    assert "CANCEL and FLAT cannot reach the broker" in message.text
    assert "the account figures are as of 2026-11-22 09:58:01 UTC" in message.text
