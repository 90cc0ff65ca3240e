"""run_live_strategy.py as a user runs it: replay, one cycle, refusals, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from quant_core.data.warehouse import Warehouse
from quant_core.live.files import read_state
from tests.fake_tws.server import FakeTWS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("live-cli")
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(root)}
    subprocess.run(
        [sys.executable, str(ROOT / "run_data_sync.py")], env=env, check=True, capture_output=True
    )
    return root / "warehouse"


def run(data_dir: Path, warehouse: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not (data_dir / "warehouse").exists():
        (data_dir / "warehouse").symlink_to(warehouse)
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, str(ROOT / "run_live_strategy.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_replay_writes_state_journal_and_log(tmp_path: Path, warehouse: Path) -> None:
    result = run(tmp_path, warehouse, "--replay", "2010-03-01:2010-05-28")
    assert result.returncode == 0, result.stderr
    state = json.loads((tmp_path / "live" / "dashboard_state.json").read_text())
    assert state["worker"]["state"] == "STOPPED"  # the process ended; not latched
    assert state["worker"]["reason"] == "replay finished on 2010-05-28"  # not a crash
    assert state["worker"]["replay_finished"] == "2010-05-28"
    assert state["worker"]["exited"] is True
    assert not (tmp_path / "live" / "stopped.latch").exists()
    assert state["positions"]
    assert state["rebalance"]["last"] is not None
    assert (tmp_path / "live" / "journal.duckdb").is_file()
    log = (tmp_path / "live" / "worker.log").read_text()
    assert "Worker finished" in log
    # Its clock starts at the close before its first session, never at the epoch (the start's
    # heartbeat logged "Market: not a session (Wednesday 1969-12-31): waiting until ... 1990").
    assert "1969" not in log
    assert "1970" not in log
    assert "1990" not in log


def test_a_fresh_replay_sets_aside_the_halt_of_the_account_it_replaces(
    tmp_path: Path, warehouse: Path
) -> None:
    # A halt tripped on an earlier replay's account says nothing of a fresh account's risk.
    live = tmp_path / "live"
    live.mkdir()
    (live / "sim_account.json").write_text("{}")  # an earlier replay's account
    (live / "halted.latch").write_text('{"reason": "risk limit max_daily_loss_frac", "at": ""}')
    result = run(tmp_path, warehouse, "--replay", "2010-03-01:2010-03-31")
    assert result.returncode == 0, result.stderr
    state = json.loads((live / "dashboard_state.json").read_text())
    assert state["worker"]["reason"] == "replay finished on 2010-03-31"
    assert state["rebalance"]["last"] is not None  # it traded: not held HALTED
    (archived,) = (live / "archive").glob("*/halted.latch")
    assert "max_daily_loss_frac" in archived.read_text()


def test_a_replay_on_a_deleted_account_trades_as_the_first_did(
    tmp_path: Path, warehouse: Path
) -> None:
    # Deleting sim_account.json resets the simulated account (as before the journal was
    # kept): the journal's record of the old account's orders must not hold back the new one's.
    span = ("--replay", "2010-03-01:2010-03-31")
    assert run(tmp_path, warehouse, *span).returncode == 0
    first = json.loads((tmp_path / "live" / "dashboard_state.json").read_text())
    (tmp_path / "live" / "sim_account.json").unlink()

    result = run(tmp_path, warehouse, *span)

    assert result.returncode == 0, result.stderr
    assert "were already sent" not in result.stderr
    again = json.loads((tmp_path / "live" / "dashboard_state.json").read_text())
    book = {p["symbol"]: p["quantity"] for p in again["positions"]}
    assert book == {p["symbol"]: p["quantity"] for p in first["positions"]}
    assert len(book) > 20


def test_a_replay_is_refused_where_an_ib_account_keeps_its_state(
    tmp_path: Path, warehouse: Path
) -> None:
    import datetime as dt

    from quant_core.live.journal import Journal

    live = tmp_path / "live"
    live.mkdir()
    journal = Journal(live / "journal.duckdb")
    journal.start_run("ib-run", "ib-paper", "0" * 64, dt.datetime.now(dt.UTC))
    journal.close()
    halt = '{"reason": "risk limit max_drawdown", "at": ""}'
    (live / "halted.latch").write_text(halt)  # the IB account's halt

    result = run(tmp_path, warehouse, "--replay", "2010-03-01:2010-03-31")

    assert result.returncode == 2, result.stderr
    assert "holds the state of an ib-paper account" in result.stderr
    assert "--set paths.data_dir=" in result.stderr
    assert (live / "halted.latch").read_text() == halt  # nothing set aside
    assert not (live / "archive").exists()


def test_once_after_a_replay_does_not_take_the_datas_move_for_a_days_loss(
    tmp_path: Path, warehouse: Path
) -> None:
    # The replay leaves its account marked at 2010-04-15; --once trades from the data's last
    # close (2010-08-20). That jump of four months is no loss of today's. Forced: a plain --once
    # inside the rebalance window of a session (by the wall clock) refuses the years-stale data
    # and exits 1 (test_once_refusing_stale_data_exits_1): the outcome hung on the hour it ran.
    assert run(tmp_path, warehouse, "--replay", "2010-03-01:2010-04-15").returncode == 0
    result = run(tmp_path, warehouse, "--once", "--force-rebalance")
    assert result.returncode == 0, result.stderr
    assert "HALTED" not in result.stderr
    assert not (tmp_path / "live" / "halted.latch").exists()
    state = json.loads((tmp_path / "live" / "dashboard_state.json").read_text())
    assert not any(row["tripped"] for row in state["risk"]["limits"])


def test_a_replay_outside_the_data_moves_no_account_aside(tmp_path: Path, warehouse: Path) -> None:
    assert run(tmp_path, warehouse, "--once", "--force-rebalance").returncode == 0
    account = (tmp_path / "live" / "sim_account.json").read_text()

    result = run(tmp_path, warehouse, "--replay", "2011-01-01:2011-02-01")

    assert result.returncode == 1, result.stderr
    assert "no session from 2011-01-01 to 2011-02-01" in result.stderr
    assert (tmp_path / "live" / "sim_account.json").read_text() == account
    assert not (tmp_path / "live" / "archive").exists()


def test_once_refusing_stale_data_exits_1(tmp_path: Path, warehouse: Path) -> None:
    # A calendar open around the clock, and a rebalance time of midnight: a rebalance is due
    # whenever the test runs, and the data (ending 2010-08-20) is years stale.
    always = ["--set", "calendar.exchange=24/7", "--set", "live.rebalance_time=00:00"]
    result = run(tmp_path, warehouse, "--once", *always)
    assert result.returncode == 1, result.stderr
    assert "DataError: --once: rebalance for " in result.stderr
    assert "refused: the data ends 2010-08-20, not the previous session" in result.stderr
    state = json.loads((tmp_path / "live" / "dashboard_state.json").read_text())
    assert state["positions"] == []  # nothing traded
    assert "run run_data_sync.py" in state["errors"][-1]["message"]


def test_once_with_forced_rebalance(tmp_path: Path, warehouse: Path) -> None:
    result = run(tmp_path, warehouse, "--once", "--force-rebalance")
    assert result.returncode == 0, result.stderr
    state = json.loads((tmp_path / "live" / "dashboard_state.json").read_text())
    assert len(state["positions"]) > 50
    assert state["rebalance"]["last"] == "2010-08-23"  # the session after the data's last close
    assert state["open_orders"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--live"], "live trading needs"),
        (["--set", "ib.trading_mode=live"], "live trading needs"),
        (["--set", "live.broker=ib", "--live"], "ib.trading_mode: live AND the --live flag"),
        (
            ["--set", "live.broker=ib", "--set", "ib.trading_mode=live", "--live"],
            "needs ib.account",
        ),
        (["--replay", "2010-01-01"], "START:END"),
        # A flag that would be ignored is refused, not dropped.
        (["--force-rebalance"], "--force-rebalance works with --once only"),
        (["--speed", "0.5"], "--speed works with --replay only"),
        (["--once", "--replay", "2010-03-01:2010-03-31"], "--once and --replay exclude"),
    ],
)
def test_refusals_exit_2(tmp_path: Path, warehouse: Path, args: list[str], message: str) -> None:
    result = run(tmp_path, warehouse, *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_once_with_forced_rebalance_on_ib(tmp_path: Path, warehouse: Path) -> None:
    # The fake TWS quotes every symbol at its last close in the data, like the sim does.
    last = (
        Warehouse(warehouse)
        .read_bars("sp500-2010", fields=["close"])
        .groupby("symbol")["close"]
        .last()
    )
    fake = FakeTWS(prices={str(k): float(v) for k, v in last.items()}).start()
    try:
        result = run(
            tmp_path,
            warehouse,
            "--once",
            "--force-rebalance",
            "--set",
            "live.broker=ib",
            "--set",
            f"ib.port={fake.port}",
        )
        assert result.returncode == 0, result.stderr
        state = json.loads((tmp_path / "live" / "dashboard_state.json").read_text())
        assert state["worker"]["mode"] == "ib-paper"
        assert state["rebalance"]["last"] == "2010-08-23"
        held = {p["symbol"]: p["quantity"] for p in state["positions"]}
        assert len(held) > 50
        assert held == {s: q for s, (q, _) in fake.positions.items()}
        assert state["open_orders"] == []
        assert {o.order_ref.rsplit(":", 1)[0] for o in fake.orders.values()} == {"qc:2010-08-23"}
        assert len(state["fills_today"]) == len(fake.orders)
        assert all(f["commission"] >= 1.0 for f in state["fills_today"])
        assert state["account"]["cash"] == pytest.approx(fake.cash)
    finally:
        fake.stop()


def test_a_tws_restart_shows_disconnected_then_reconciles(tmp_path: Path, warehouse: Path) -> None:
    fake = FakeTWS(prices={}).start()
    (tmp_path / "warehouse").symlink_to(warehouse)
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path), "QC__LIVE__HEARTBEAT_S": "0.1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "run_live_strategy.py"),
            "--set",
            "live.broker=ib",
            "--set",
            f"ib.port={fake.port}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen: list[str] = []

    def wait_for(state: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            current = read_state(tmp_path / "live")
            if current is not None:
                if not seen or seen[-1] != current["worker"]["state"]:
                    seen.append(current["worker"]["state"])
                if current["worker"]["state"] == state:
                    return current
            time.sleep(0.01)
        raise AssertionError(f"never {state}; saw {seen}")

    try:
        before = wait_for("RUNNING")
        fake.drop_connections()  # TWS's daily restart
        down = wait_for("DISCONNECTED")
        back = wait_for("RUNNING")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        fake.stop()
    assert code == 130, stderr
    assert "reconnecting" in down["worker"]["reason"]
    assert back["worker"]["reason"].startswith("reconnected")
    assert back["reconciled"]["at"] > before["reconciled"]["at"]
    assert seen[-3:] == ["RUNNING", "DISCONNECTED", "RUNNING"]


def test_a_fresh_replay_sets_aside_the_daily_reports_of_the_account_it_replaces(
    tmp_path: Path, warehouse: Path
) -> None:
    # The reports are the old account's: a fresh replay of another span must not show its pages.
    live = tmp_path / "live"
    assert run(tmp_path, warehouse, "--replay", "2010-03-01:2010-03-31").returncode == 0
    march = sorted(p.name for p in (live / "reports").glob("daily-*.html"))
    assert "daily-2010-03-31.html" in march

    result = run(tmp_path, warehouse, "--replay", "2010-05-03:2010-05-28")

    assert result.returncode == 0, result.stderr
    pages = sorted(p.name for p in (live / "reports").glob("daily-*.html"))
    assert pages
    assert all(p >= "daily-2010-04" for p in pages), pages
    (archived,) = (live / "archive").glob("*/reports")
    assert sorted(p.name for p in archived.glob("daily-*.html")) == march
