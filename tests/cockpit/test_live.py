"""The Live Dashboard in AppTest: the worker's state file in, figures and commands out.

The state files are written with the worker's own writer (``live.files.write_state``) into
``<data_dir>/live``; commands are read back from the queue (``inbox/``). ``at.run()`` stands in
for a ``run_every`` tick.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from quant_core.cockpit.models import dashboard_commands as cmds
from quant_core.live.files import INBOX, queued, write_state

Opener = Callable[[str], AppTest]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _state(
    *,
    nav: float = 1_000_000.0,
    state: str = "RUNNING",
    reason: str = "connected",
    mode: str = "sim",
    age_s: float = 0.0,
    commands: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    now = _now()
    return {
        "worker": {
            "pid": 4242,
            "state": state,
            "reason": reason,
            "mode": mode,
            "account": "SIM" if mode == "sim" else "U1234567",
            "run_id": "20260302T143000Z-abc123",
            "started_at": (now - dt.timedelta(hours=1)).isoformat(),
            "heartbeat_at": (now - dt.timedelta(seconds=age_s)).isoformat(),
            "session": "2026-03-02",
            "strategy": "momentum",
        },
        "account": {
            "net_liquidation": nav,
            "cash": 250_000.0,
            "buying_power": 240_000.0,
            "daily_pnl": 1_234.25,
            "unrealized_pnl": 5_000.0,
            "realized_pnl": -1_000.0,
        },
        "positions": [
            {
                "symbol": "AAPL",
                "quantity": 1000.0,
                "avg_cost": 150.0,
                "market_price": 160.0,
                "market_value": 160_000.0,
                "weight": 0.16,
            },
            {
                "symbol": "XOM",
                "quantity": -200.0,
                "avg_cost": 80.0,
                "market_price": 75.0,
                "market_value": -15_000.0,
                "weight": -0.015,
            },
        ],
        "open_orders": [
            {
                "order_id": "7",
                "ref": "qc:2026-03-02:MSFT",
                "symbol": "MSFT",
                "side": "BUY",
                "quantity": 50.0,
                "filled": 10.0,
                "status": "submitted",
            }
        ],
        "fills_today": [
            {
                "order_id": "6",
                "symbol": "AAPL",
                "side": "BUY",
                "quantity": 1000.0,
                "price": 150.0,
                "commission": 5.0,
                "time": "2026-03-02T09:35:01-05:00",
            }
        ],
        "equity": [
            [(now - dt.timedelta(minutes=2)).isoformat(timespec="seconds"), nav - 500.0],
            [(now - dt.timedelta(minutes=1)).isoformat(timespec="seconds"), nav],
        ],
        "risk": {"status": "ok", "limit": None, "reason": None},
        "rebalance": {"last": "2026-03-02", "next": "2026-03-09"},
        "reconciled": {"positions": 2, "our_open_orders": 1},
        "commands": commands or [],
        "errors": [],
    }


def _write(data_dir: Path, state: dict[str, Any]) -> None:
    write_state(data_dir / "live", state)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _banner(at: AppTest) -> str:
    return "\n".join(m.value for m in [*at.subheader, *at.markdown])


def _keys(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key]


def _command(data_dir: Path) -> dict[str, Any] | None:
    """Return the newest command waiting in the queue, or None."""
    waiting = queued(data_dir / "live")
    return waiting[-1] if waiting else None


def _worker_takes(data_dir: Path) -> None:
    """Do what the worker does once it has a command in hand: its inbox file goes."""
    for path in (data_dir / "live" / INBOX).glob("*.json"):
        path.unlink()


def _texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


@pytest.fixture
def live(data_dir: Path, open_page: Opener) -> AppTest:
    _write(data_dir, _state())
    return open_page("live")


def test_metrics_banner_and_tables_show_the_state(live: AppTest) -> None:
    assert [t.value for t in live.title] == ["Live Dashboard"]
    assert _metrics(live) == {
        "Net liquidation": "$1,000,000",
        "Cash": "$250,000",
        "Daily PnL": "+$1,234",
        "Total PnL": "+$4,000",
    }
    banner = _banner(live)
    assert ":gray-background[:gray[SIM]]" in banner
    assert ":green-background[:green[RUNNING]]" in banner
    assert "connected" in banner
    assert "account **SIM**" in banner
    assert "stale after 5 s" in banner  # 3 heartbeats of 1 s + 2 s
    positions = live.dataframe[0].value
    assert list(positions["Symbol"]) == ["AAPL", "XOM"]  # largest value first
    assert list(positions["Unrealised PnL"]) == [10_000.0, 1_000.0]  # the short gained
    assert list(positions["Weight (%)"]) == [16.0, -1.5]
    orders = live.dataframe[1].value
    assert list(orders["Remaining"]) == [40.0]
    fills = live.dataframe[2].value
    assert list(fills["Time (UTC)"]) == ["2026-03-02 14:35:01"]
    assert list(fills["Value"]) == [150_000.0]
    assert "Risk: OK" in _texts(live, "success")
    assert not live.error
    assert not live.warning


def test_a_new_state_shows_on_the_next_tick(live: AppTest, data_dir: Path) -> None:
    _write(data_dir, _state(nav=1_050_000.0, state="HALTED", reason="risk limit drawdown"))
    live.run()
    assert _metrics(live)["Net liquidation"] == "$1,050,000"
    assert ":orange-background[:orange[HALTED]]" in _banner(live)
    spec = json.loads(live.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["y"] == [1_049_500.0, 1_050_000.0]
    assert spec["layout"]["yaxis"]["tickprefix"] == "$"
    assert spec["layout"]["yaxis"]["title"]["text"] == "Net liquidation ($)"
    assert spec["layout"]["xaxis"]["title"]["text"] == "Time (UTC)"


def test_a_stale_heartbeat_is_a_warning(data_dir: Path, open_page: Opener) -> None:
    _write(data_dir, _state(age_s=60))
    at = open_page("live")
    errors = _texts(at, "error")
    assert "heartbeat stale" in errors
    assert "threshold 5 s" in errors
    assert ":red-badge[HEARTBEAT STALE]" in _banner(at)
    assert "where it waits for a worker to start" in _texts(at, "warning")
    assert "nothing is cancelled now" in "\n".join(c.value for c in at.caption)


def test_no_state_file_says_offline(open_page: Opener) -> None:
    at = open_page("live")
    assert "Worker offline: no state file" in _texts(at, "error")
    assert ":red-background[:red[OFFLINE]]" in _banner(at)
    assert _metrics(at)["Net liquidation"] == "-"
    assert "No worker has run here" in _texts(at, "warning")
    assert {"btn_cancel", "btn_flat", "btn_stop"} <= set(_keys(at))


def test_a_stopped_worker_has_exited(data_dir: Path, open_page: Opener) -> None:
    reason = "STOP abc: no order or position touched"
    _write(data_dir, _state(state="STOPPED", reason=reason))
    at = open_page("live")
    assert "its process has exited" in _texts(at, "warning")
    captions = "\n".join(c.value for c in at.caption)
    assert "already STOPPED" in captions
    assert "RESUME" in captions


def test_cancel_writes_the_command_and_shows_it_pending(live: AppTest, data_dir: Path) -> None:
    live.button(key="btn_cancel").click().run()
    command = _command(data_dir)
    assert command is not None
    assert command["command"] == "CANCEL"
    assert command["source"] == "cockpit"
    assert f"Sent CANCEL id={command['id']}: pending, waiting in the queue" in _texts(
        live, "warning"
    )


def test_a_second_click_at_once_queues_nothing_more(
    live: AppTest, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One click, one command: a double click (or Streamlit running the callback twice) within
    # cmds.REPEAT_S is said, never queued; another command's button still sends at once. The
    # window is widened so that two page runs on a busy machine still fall inside it.
    monkeypatch.setattr(cmds, "REPEAT_S", 60.0)
    live.button(key="btn_cancel").click().run()
    live.button(key="btn_cancel").click().run()
    waiting = queued(data_dir / "live")
    assert [c["command"] for c in waiting] == ["CANCEL"]
    notes = _texts(live, "info")
    assert f"CANCEL id={waiting[0]['id']} was queued" in notes
    assert "not queued again (the same command within 60 s is one click)" in notes
    live.button(key="btn_stop").click().run()
    live.button(key="stop_confirm").click().run()
    assert [c["command"] for c in queued(data_dir / "live")] == ["CANCEL", "STOP"]
    assert "not queued again" not in _texts(live, "info")  # a command sent clears the note


@pytest.mark.parametrize(
    ("button", "confirm", "abort", "kind"),
    [
        ("btn_flat", "flat_confirm", "flat_abort", "FLAT"),
        ("btn_stop", "stop_confirm", "stop_abort", "STOP"),
    ],
)
def test_flat_and_stop_need_confirmation(
    live: AppTest, data_dir: Path, button: str, confirm: str, abort: str, kind: str
) -> None:
    live.button(key=button).click().run()
    assert _command(data_dir) is None
    assert (
        live.button(key=confirm).label
        == f"Yes, {'go FLAT' if kind == 'FLAT' else 'STOP the worker'}"
    )
    live.button(key=abort).click().run()
    assert _command(data_dir) is None
    assert confirm not in _keys(live)
    live.run()
    assert confirm not in _keys(live)  # the dialog stays closed
    live.button(key=button).click().run()
    live.button(key=confirm).click().run()
    command = _command(data_dir)
    assert command is not None
    assert command["command"] == kind
    assert confirm not in _keys(live)


def test_an_open_dialog_survives_a_refresh(live: AppTest, data_dir: Path) -> None:
    live.button(key="btn_flat").click().run()
    _write(data_dir, _state(nav=990_000.0))
    live.run()
    assert _metrics(live)["Net liquidation"] == "$990,000"
    assert "flat_confirm" in _keys(live)


@pytest.mark.parametrize(
    ("state", "shown"),
    [("RUNNING", False), ("DISCONNECTED", False), ("HALTED", True), ("STOPPED", True)],
)
def test_resume_only_while_halted_or_stopped(
    data_dir: Path, open_page: Opener, state: str, shown: bool
) -> None:
    reason = "latched by an earlier STOP; start with --resume or send RESUME"
    _write(data_dir, _state(state=state, reason=reason))
    at = open_page("live")
    assert ("btn_resume" in _keys(at)) is shown
    if shown:
        assert at.button(key="btn_resume").label == "RESUME"
        at.button(key="btn_resume").click().run()
        command = _command(data_dir)
        assert command is not None
        assert command["command"] == "RESUME"


def test_resume_appears_when_the_worker_halts(live: AppTest, data_dir: Path) -> None:
    assert "btn_resume" not in _keys(live)
    _write(data_dir, _state(state="HALTED", reason="FLAT x: no new strategy orders until RESUME"))
    live.run()
    assert "btn_resume" in _keys(live)


def test_pending_until_acknowledged_then_the_result(live: AppTest, data_dir: Path) -> None:
    live.button(key="btn_cancel").click().run()
    command = _command(data_dir)
    assert command is not None
    ident = command["id"]
    _worker_takes(data_dir)  # then acknowledges
    live.run()
    assert f"Sent CANCEL id={ident}: pending, taken by the worker" in _texts(live, "info")
    ack = {
        "id": ident,
        "at": _now().isoformat(),
        "command": "CANCEL",
        "accepted": True,
        "result": "cancelled 1 open order(s)",
    }
    _write(data_dir, _state(commands=[ack]))
    live.run()
    done = _texts(live, "success")
    assert f"Sent CANCEL id={ident}: acknowledged at" in done
    assert "cancelled 1 open order(s)" in done
    assert "pending" not in _texts(live, "info") + _texts(live, "warning")
    log = live.dataframe[3].value
    assert list(log["Result"]) == ["cancelled 1 open order(s)"]
    assert list(log["Id"]) == [ident]


def test_a_refused_command_shows_the_refusal(live: AppTest, data_dir: Path) -> None:
    live.button(key="btn_cancel").click().run()
    command = _command(data_dir)
    assert command is not None
    _worker_takes(data_dir)
    ack = {
        "id": command["id"],
        "at": _now().isoformat(),
        "command": None,
        "accepted": False,
        "result": "refused: expired: issued 75 s ago (limit 60 s)",
    }
    _write(data_dir, _state(commands=[ack]))
    live.run()
    assert "refused by the worker" in _texts(live, "error")
    assert "expired" in _texts(live, "error")


def test_offline_a_second_command_queues_behind_the_first(
    data_dir: Path, open_page: Opener
) -> None:
    _write(data_dir, _state(age_s=600))
    at = open_page("live")
    at.button(key="btn_cancel").click().run()
    first = _command(data_dir)
    assert first is not None
    started = time.monotonic()
    at.button(key="btn_stop").click().run()
    at.button(key="stop_confirm").click().run()
    assert time.monotonic() - started < 5  # sent at once: nothing waits for a worker
    waiting = queued(data_dir / "live")
    assert [c["command"] for c in waiting] == ["CANCEL", "STOP"]  # neither replaced nor lost
    assert waiting[0] == first
    assert "NOT sent" not in _texts(at, "error")
    pending = _texts(at, "warning")
    assert f"Sent CANCEL id={first['id']}: pending, waiting in the queue" in pending
    assert f"Sent STOP id={waiting[1]['id']}: pending, waiting in the queue" in pending


def test_a_finished_replay_says_it_finished(data_dir: Path, open_page: Opener) -> None:
    state = _state(state="STOPPED", reason="replay finished on 2010-05-28", age_s=600)
    state["worker"].update(exited=True, latched=False, replay_finished="2010-05-28")
    _write(data_dir, state)
    at = open_page("live")
    assert "Replay finished on 2010-05-28" in _texts(at, "info")
    assert ":blue-badge[REPLAY FINISHED 2010-05-28]" in _banner(at)
    everything = "\n".join(
        [_texts(at, kind) for kind in ("error", "warning", "info")] + [_banner(at)]
    )
    assert "nothing is watching the account" not in everything
    assert "PROCESS EXITED" not in everything
    assert "btn_resume" not in _keys(at)


def test_ib_live_is_red_and_ib_paper_is_not(data_dir: Path, open_page: Opener) -> None:
    _write(data_dir, _state(mode="ib-live"))
    at = open_page("live")
    assert ":red-background[:red[IB LIVE]]" in _banner(at)
    assert "IB LIVE: account U1234567 trades real money" in _texts(at, "error")
    _write(data_dir, _state(mode="ib-paper"))
    at.run()
    assert ":blue-background[:blue[IB PAPER]]" in _banner(at)
    assert "red-badge" not in _banner(at)
    assert "red-background" not in _banner(at)
    assert not at.error


def test_auto_refresh_toggle_is_on_and_can_be_turned_off(live: AppTest) -> None:
    toggle = live.toggle(key="auto_refresh")
    assert toggle.label == "Auto-refresh"
    assert toggle.value is True
    assert "refreshes every 1 s" in live.caption[0].value
    toggle.set_value(False).run()
    assert "auto-refresh is OFF" in live.caption[0].value
    assert _metrics(live)["Net liquidation"] == "$1,000,000"


def test_text_from_the_state_file_cannot_inject_markdown(data_dir: Path, open_page: Opener) -> None:
    _write(data_dir, _state(reason="![x](http://203.0.113.9/x.png) :red[boom]"))
    at = open_page("live")
    banner = _banner(at)
    assert r"\!\[x\](http://203.0.113.9/x.png) :red\[boom\]" in banner
    assert "![x]" not in banner


def test_a_tripped_risk_limit_shows(data_dir: Path, open_page: Opener) -> None:
    state = _state(state="HALTED", reason="risk limit max_drawdown_frac: -26% from the peak")
    state["risk"] = {"status": "tripped", "limit": "max_drawdown_frac", "reason": "-26% from peak"}
    _write(data_dir, state)
    at = open_page("live")
    assert ":red-badge[RISK LIMIT TRIPPED]" in _banner(at)
    assert "Risk limit tripped: max_drawdown_frac: -26% from peak" in _texts(at, "error")
    assert "btn_resume" in _keys(at)


def test_the_risk_limits_show_their_usage(data_dir: Path, open_page: Opener) -> None:
    state = _state(state="HALTED", reason="risk limit max_daily_loss: daily loss 4.56% of 1.00%")
    state["risk"] = {
        "status": "tripped",
        "limit": "max_daily_loss",
        "reason": "daily loss 4.56% of 1.00%",
        "flat_on_breach": False,
        "limits": [
            {"name": "max_daily_loss", "label": "daily loss", "limit": 0.01}
            | {"usage": 0.0456, "tripped": True},
            {"name": "max_drawdown", "label": "drawdown", "limit": 0.25}
            | {"usage": 0.0712, "tripped": False},
        ],
    }
    _write(data_dir, state)
    at = open_page("live")
    captions = "\n".join(c.value for c in at.caption)
    assert "daily loss 4.56% of 1.00%: TRIPPED" in captions
    assert "drawdown 7.12% of 25.00%" in captions
    assert "A breach halts new orders" in captions
    assert "Risk limit tripped: max_daily_loss: daily loss 4.56% of 1.00%" in _texts(at, "error")
