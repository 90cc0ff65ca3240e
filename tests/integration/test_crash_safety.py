"""SIGKILL mid-way: the warehouse still reads (all old or all new), and the live worker, killed at
any step of a rebalance on either broker, never sends an order twice and keeps a true journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quant_core.data.sources.synthetic import generate_bars
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.live.crash_hook import ENV as CRASH_ENV
from quant_core.live.files import read_state
from quant_core.live.journal import Journal
from tests.fake_tws.server import FakeTWS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS, DAYS = 300, 2520  # ten year partitions, about 0.75M rows

WRITER = f"""
import sys
from quant_core.calendar import get_calendar
from quant_core.data.sources.synthetic import generate_bars
from quant_core.data.warehouse import Warehouse
bars = generate_bars(get_calendar("XNYS"), {SYMBOLS}, {DAYS}, seed=2, missing_frac=0.0)
bars["adj_factor"] = 1.0
bars["flags"] = 0
print("start", flush=True)
Warehouse(sys.argv[1]).write_bars("d", bars)
print("done", flush=True)
"""


def _frame(calendar, seed: int):
    bars = generate_bars(calendar, SYMBOLS, DAYS, seed=seed, missing_frac=0.0)
    bars["adj_factor"] = 1.0
    bars["flags"] = 0
    return bars


def _writer(root: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "start"
    return proc


def test_sigkill_mid_write_leaves_old_or_new_never_a_mix(tmp_path: Path, calendar) -> None:
    old = _frame(calendar, seed=1)
    new_close = _frame(calendar, seed=2).pivot(index="date", columns="symbol", values="close")
    old_close = old.pivot(index="date", columns="symbol", values="close")

    # Measure one full write to place the kills inside it.
    timing = Warehouse(tmp_path / "timing")
    timing.write_bars("d", old, DatasetMeta("old", "test"))
    proc = _writer(timing.root)
    started = time.monotonic()
    assert proc.wait(60) == 0
    duration = time.monotonic() - started
    assert proc.stdout is not None
    proc.stdout.close()

    outcomes = []
    interrupted_mid_write = 0
    for fraction in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95):
        warehouse = Warehouse(tmp_path / f"kill{fraction}")
        warehouse.write_bars("d", old, DatasetMeta("old", "test"))
        proc = _writer(warehouse.root)
        time.sleep(duration * fraction)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
        manifest = json.loads(warehouse.root.joinpath("d", "manifest.json").read_text())
        manifest_files = set(manifest["partitions"].values())
        on_disk = {f"bars/{p.name}" for p in (warehouse.root / "d" / "bars").glob("*.parquet")}
        interrupted_mid_write += bool(on_disk - manifest_files)

        panel = warehouse.panel("d", "close")

        is_old = np.array_equal(panel.to_numpy(), old_close.to_numpy())
        is_new = np.array_equal(panel.to_numpy(), new_close.to_numpy())
        assert is_old or is_new, f"kill at {fraction:.0%} of the write left a mix"
        outcomes.append("new" if is_new else "old")

    assert "old" in outcomes  # some kills landed before the commit
    assert interrupted_mid_write > 0  # and some while partition files were half written


# --------------------------------------------------------------- the live worker, killed
#
# Each run below is run_live_strategy.py as a real process; QC_TEST_CRASH_AT makes it SIGKILL
# itself at one step (quant_core/live/crash_hook.py), then it is started again as a user would.
# Whatever the step, the broker never sees an order reference twice, the book ends as an
# uninterrupted run's, and the journal agrees with the broker.

ONCE = ("--once", "--force-rebalance")
SIM_PHASES = ("journaling_orders", "before_placing", "placed", "filled", "journaling_fills")
IB_PHASES = ("before_placing", "placed", "filled", "journaling_fills")
# The steps after which the broker had executions the journal had not: the fake TWS fills a
# market order at once; the simulated broker at the settle.
RECOVERED = {"sim": {"filled", "journaling_fills"}, "ib": {"placed", "filled", "journaling_fills"}}


@pytest.fixture(scope="module")
def live_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash-live")
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(root)}
    sync = [sys.executable, str(ROOT / "run_data_sync.py")]
    subprocess.run(sync, env=env, check=True, capture_output=True, cwd=ROOT)
    return root / "warehouse"


def _worker(
    data_dir: Path, warehouse: Path, *args: str, crash: str | None = None
) -> subprocess.CompletedProcess[str]:
    if not (data_dir / "warehouse").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "warehouse").symlink_to(warehouse)
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env["QC__PATHS__DATA_DIR"] = str(data_dir)
    if crash is not None:
        env[CRASH_ENV] = crash
    command = [sys.executable, str(ROOT / "run_live_strategy.py"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def _killed_then_restarted(data_dir: Path, warehouse: Path, phase: str, *args: str) -> str:
    killed = _worker(data_dir, warehouse, *args, crash=phase)
    assert killed.returncode == -signal.SIGKILL, f"not killed at {phase}: {killed.stderr[-3000:]}"
    again = _worker(data_dir, warehouse, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    return again.stderr


def _sim_account(data_dir: Path) -> dict[str, Any]:
    account: dict[str, Any] = json.loads((data_dir / "live" / "sim_account.json").read_text())
    return account


def _journal_table(data_dir: Path, name: str) -> pd.DataFrame:
    journal = Journal(data_dir / "live" / "journal.duckdb")
    try:
        return journal.table(name)
    finally:
        journal.close()


def _journal(data_dir: Path) -> dict[str, pd.DataFrame]:
    return {name: _journal_table(data_dir, name) for name in ("orders", "fills", "decisions")}


def _assert_journal_is_the_broker(
    data_dir: Path, executions: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The journal's fills are the broker's executions; each has its order row; no decision lies."""
    tables = _journal(data_dir)
    fills, orders, decisions = tables["fills"], tables["orders"], tables["decisions"]
    ours = fills.set_index("exec_id")[["order_id", "ref", "symbol", "quantity"]].sort_index()
    theirs = executions.set_index("exec_id")[["order_id", "ref", "symbol", "quantity"]]
    pd.testing.assert_frame_equal(ours, theirs.sort_index(), check_dtype=False)
    rows = set(zip(orders["order_id"], orders["ref"], orders["symbol"], strict=True))
    executed = zip(fills["order_id"], fills["ref"], fills["symbol"], strict=True)
    assert [f for f in executed if f not in rows] == []  # every fill has its order row
    assert "intended" not in set(orders["status"])  # every intent settled
    sent = orders[(orders["status"] != "unsent") & orders["ref"].str.startswith("qc:")]
    assert decisions["orders"].sum() == len(sent)  # the decisions count what reached the broker
    return tables


@pytest.fixture(scope="module")
def uninterrupted_sim(tmp_path_factory: pytest.TempPathFactory, live_warehouse: Path) -> Any:
    data_dir = tmp_path_factory.mktemp("sim-clean")
    result = _worker(data_dir, live_warehouse, *ONCE)
    assert result.returncode == 0, result.stderr[-3000:]
    return _sim_account(data_dir)


def test_a_second_forced_once_run_sends_nothing(
    tmp_path: Path, live_warehouse: Path, uninterrupted_sim: dict[str, Any]
) -> None:
    first = _worker(tmp_path, live_warehouse, *ONCE)
    second = _worker(tmp_path, live_warehouse, *ONCE)

    assert first.returncode == second.returncode == 0, second.stderr[-3000:]
    assert "Rebalance for 2010-08-23: 98 order(s) sent" in first.stderr
    assert "Rebalance for 2010-08-23: 0 order(s) sent" in second.stderr
    account = _sim_account(tmp_path)
    assert len(account["executions"]) == len(uninterrupted_sim["executions"]) == 98
    assert account["positions"] == uninterrupted_sim["positions"]
    tables = _assert_journal_is_the_broker(tmp_path, pd.DataFrame(account["executions"]))
    assert not tables["fills"]["recovered"].any()


def test_a_forced_run_on_the_next_day_does_not_send_the_session_again(
    tmp_path: Path, live_warehouse: Path
) -> None:
    # The first run's fills dated a day earlier: the broker no longer reports them (IB reports
    # one day's executions; so does the simulated broker), as for an evening run followed by a
    # morning run before the same session. The journal still knows the session's orders.
    first = _worker(tmp_path, live_warehouse, *ONCE)
    assert "Rebalance for 2010-08-23: 98 order(s) sent" in first.stderr
    store = tmp_path / "live" / "sim_account.json"
    account = json.loads(store.read_text())
    for execution in account["executions"]:
        when = pd.Timestamp(execution["time"]) - pd.Timedelta(days=1)
        execution["time"] = when.isoformat()
    store.write_text(json.dumps(account))

    second = _worker(tmp_path, live_warehouse, *ONCE)

    assert second.returncode == 0, second.stderr[-3000:]
    assert "Rebalance for 2010-08-23: 0 order(s) sent" in second.stderr
    assert _sim_account(tmp_path)["executions"] == []  # the broker forgot them indeed
    orders = _journal_table(tmp_path, "orders")
    assert orders["ref"].is_unique
    assert len(orders) == 98


@pytest.mark.parametrize("phase", SIM_PHASES)
def test_the_sim_worker_killed_at_any_step_ends_as_if_uninterrupted(
    tmp_path: Path, live_warehouse: Path, uninterrupted_sim: dict[str, Any], phase: str
) -> None:
    _killed_then_restarted(tmp_path, live_warehouse, phase, *ONCE)

    account = _sim_account(tmp_path)
    executions = pd.DataFrame(account["executions"])
    assert executions["ref"].is_unique  # no reference executed twice
    assert len(executions) == len(uninterrupted_sim["executions"])
    assert account["book"] == []
    assert account["positions"] == uninterrupted_sim["positions"]
    assert account["cash"] == pytest.approx(uninterrupted_sim["cash"], abs=1e-6)
    tables = _assert_journal_is_the_broker(tmp_path, executions)
    assert set(tables["fills"]["recovered"]) == {phase in RECOVERED["sim"]}
    orders, decisions = tables["orders"], tables["decisions"]
    if phase == "before_placing":  # the killed run's intents are on record, as never sent
        assert (orders["status"] == "unsent").sum() == len(executions)
        assert decisions["outcome"].iloc[0].startswith("not sent: the worker stopped")
    if phase == "placed":  # sent, then confirmed with the broker at the restart
        assert orders["reason"].str.startswith("sent before the worker stopped").all()


def test_a_replay_started_again_starts_afresh_unless_continued(
    tmp_path: Path, live_warehouse: Path
) -> None:
    span = ("--replay", "2010-06-01:2010-06-30")
    clean = _worker(tmp_path / "clean", live_warehouse, *span)
    assert clean.returncode == 0, clean.stderr[-3000:]
    killed = tmp_path / "killed"

    stderr = _killed_then_restarted(killed, live_warehouse, "journaling_fills", *span)

    # Killed mid-way and started again: a fresh account, not the killed run's; the same book.
    assert "fresh simulated account for this replay; the earlier one was set aside" in stderr
    state = read_state(killed / "live")
    assert state is not None
    assert state["reconciled"]["account"].startswith("fresh simulated account for this replay")
    again, expected = _sim_account(killed), _sim_account(tmp_path / "clean")
    assert again["positions"] == expected["positions"]
    assert again["cash"] == pytest.approx(expected["cash"], abs=1e-6)
    assert [o["ref"] for o in again["book"]] == [o["ref"] for o in expected["book"]]
    [archived] = (killed / "live" / "archive").glob("*/sim_account.json")
    assert json.loads(archived.read_text())["positions"]  # the killed run's account: kept
    [journal] = (killed / "live" / "archive").glob("*/journal.duckdb")  # its journal with it
    assert journal.parent == archived.parent
    orders = _journal_table(killed, "orders")  # the fresh account's journal: its own orders
    assert orders["ref"].is_unique
    assert "unsent" not in set(orders["status"])

    # --continue carries the account on, from a later session only.
    back = _worker(killed, live_warehouse, "--replay", "2010-06-15:2010-07-30", "--continue")
    assert back.returncode == 2
    assert "a continued replay must start after it" in back.stderr
    on = _worker(killed, live_warehouse, "--replay", "2010-07-01:2010-07-30", "--continue")
    assert on.returncode == 0, on.stderr[-3000:]
    state = read_state(killed / "live")
    assert state is not None
    assert state["reconciled"]["account"].startswith("simulated account continued from")
    equity = _journal_table(killed, "equity")
    assert equity["run_id"].iloc[-1] == state["worker"]["run_id"]
    # It goes on from where the last run ended: that run's last close (recorded once, by it).
    mine = equity["run_id"] == state["worker"]["run_id"]
    before = equity[~mine].iloc[-1]
    assert before["cash"] == pytest.approx(again["cash"], abs=1e-6)
    assert equity[mine]["ts"].min() > before["ts"]
    assert equity["ts"].is_unique


@pytest.fixture(scope="module")
def last_closes(live_warehouse: Path) -> dict[str, float]:
    bars = Warehouse(live_warehouse).read_bars("sp500-2010", fields=["close"])
    return {str(k): float(v) for k, v in bars.groupby("symbol")["close"].last().items()}


def _on_ib(fake: FakeTWS) -> tuple[str, ...]:
    # About 20 names, not 98: IB paces requests (quotes, orders), and the tests must stay fast.
    settings = ("live.broker=ib", f"ib.port={fake.port}", "strategy.params.top_quantile=0.04")
    return (*ONCE, *(arg for setting in settings for arg in ("--set", setting)))


def _book(fake: FakeTWS) -> dict[str, float]:
    return {symbol: quantity for symbol, (quantity, _) in fake.positions.items()}


@pytest.fixture(scope="module")
def uninterrupted_ib(
    tmp_path_factory: pytest.TempPathFactory, live_warehouse: Path, last_closes: dict[str, float]
) -> dict[str, float]:
    fake = FakeTWS(prices=last_closes).start()
    try:
        result = _worker(tmp_path_factory.mktemp("ib-clean"), live_warehouse, *_on_ib(fake))
        assert result.returncode == 0, result.stderr[-3000:]
        return _book(fake)
    finally:
        fake.stop()


@pytest.mark.parametrize("phase", IB_PHASES)
def test_the_ib_worker_killed_at_any_step_ends_as_if_uninterrupted(
    tmp_path: Path,
    live_warehouse: Path,
    last_closes: dict[str, float],
    uninterrupted_ib: dict[str, float],
    phase: str,
) -> None:
    fake = FakeTWS(prices=last_closes).start()  # TWS outlives the worker, as it does
    try:
        _killed_then_restarted(tmp_path, live_warehouse, phase, *_on_ib(fake))

        refs = Counter(o.order_ref for o in fake.orders.values())
        assert len(refs) == len(uninterrupted_ib)
        assert max(refs.values()) == 1  # no reference sent twice
        assert _book(fake) == uninterrupted_ib
        executions = pd.DataFrame(
            {
                "exec_id": exec_id,
                "order_id": str(order.order_id),
                "ref": order.order_ref,
                "symbol": order.stock.symbol,
                "quantity": shares,
            }
            for order, exec_id, shares, *_ in fake.executions
        )
        tables = _assert_journal_is_the_broker(tmp_path, executions)
        assert set(tables["fills"]["recovered"]) == {phase in RECOVERED["ib"]}
    finally:
        fake.stop()


def test_a_worker_killed_while_recording_a_close_leaves_the_old_rows_or_the_new(
    tmp_path: Path, live_warehouse: Path
) -> None:
    # Each close is recorded once: the kill at the sixth pass lands after five whole closes,
    # inside the sixth's transaction (its old rows deleted, its new ones not yet written).
    span = ("--replay", "2010-06-01:2010-06-30")
    killed = _worker(tmp_path, live_warehouse, *span, crash="recording_close@6")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]

    journal = Journal(tmp_path / "live" / "journal.duckdb")  # opened as the restart would
    try:
        closes, sectors = journal.table("daily_close"), journal.table("daily_sectors")
    finally:
        journal.close()
    assert len(closes) == 5  # the sixth's rows: none, not half
    assert closes["session"].is_unique
    assert set(sectors["session"]) <= set(closes["session"])
    assert not sectors.duplicated(["session", "sector"]).any()

    # Started again on the same journal (continued), the closes go on, each once.
    on = _worker(tmp_path, live_warehouse, "--replay", "2010-07-01:2010-07-15", "--continue")
    assert on.returncode == 0, on.stderr[-3000:]
    state = read_state(tmp_path / "live")
    assert state is not None
    sessions = [row["session"] for row in state["daily"]]
    assert sessions == sorted(set(sessions))
    assert sessions[:5] == [str(s) for s in sorted(closes["session"])]
    assert sessions[-1] == "2010-07-15"
