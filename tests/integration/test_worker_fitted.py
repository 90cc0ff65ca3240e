"""The drivers and the ``fitted`` strategy. The worker: without its model it starts HALTED with the
reason and sends nothing; a model whose factors are missing for T-1 halts it at the rebalance;
with a good model it trades. It never crashes. run_backtest.py: without its model, exit 4 with
the reason, before reading a bar. A damaged model folder is refused as a missing one is."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from config import load_config
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.live.files import HALT_FILE, read_state, send_command
from quant_core.live.journal import Journal
from quant_core.live.replay import ReplayClock
from quant_core.live.run import LiveRequest, run_worker
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerState
from quant_core.live.worker import Worker
from quant_core.portfolio.costs import CostModel
from quant_core.research.attach import attach_model
from quant_core.research.model import REJECTED
from quant_core.strategies import build_strategy
from tests.factories import market
from tests.model_factories import refit, store_model

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FACTORS = ("momentum_20", "reversal_5", "volatility_20")
REPLAY = (dt.date(2009, 10, 1), dt.date(2009, 11, 30))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, calendar) -> Path:
    root = tmp_path_factory.mktemp("fitted_worker")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root / "warehouse"


def _config(data_dir: Path, warehouse: Path, model: str, *more: str) -> Any:
    (data_dir / "warehouse").symlink_to(warehouse)
    overrides = [
        f"paths.data_dir={data_dir}",
        "strategy.name=fitted",
        f"strategy.params.model={model}",
        *more,
    ]
    return load_config("live", overrides, environ={})


def _journal(data_dir: Path) -> dict[str, pd.DataFrame]:
    journal = Journal(data_dir / "live" / "journal.duckdb")
    try:
        return {name: journal.table(name) for name in ("orders", "fills", "decisions")}
    finally:
        journal.close()


def _state(data_dir: Path) -> dict[str, Any]:
    state = read_state(data_dir / "live")
    assert state is not None
    return state


def _rejected(data_dir: Path) -> str:
    refits = [refit(dt.date(2009, 8, 21), (0.1, 0.1, 0.1))]
    return store_model(data_dir, FACTORS, refits, status=REJECTED, rank_ic=0.004)


def _damaged(data_dir: Path) -> str:
    """Store an accepted model, then damage it: two coefficients for its three factors."""
    model_id = store_model(data_dir, FACTORS, [refit(dt.date(2009, 8, 21), (0.1, 0.1, 0.1))])
    path = data_dir / "models" / model_id / "model.json"
    meta = json.loads(path.read_text())
    meta["refits"][0]["coef"] = [0.1, 0.1]
    path.write_text(json.dumps(meta))
    return model_id


DAMAGED = "model.json is damaged: refits[0].coef is [0.1, 0.1]: expected 3 finite numbers"


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        ("nope", "strategy fitted: invalid model id 'nope'"),
        (
            "value_mom-20240105T143000Z-1a2b",
            "strategy fitted: no stored model value_mom-20240105T143000Z-1a2b; fit one with "
            "run_factor_computation.py --fit",
        ),
        (_rejected, "was rejected: out-of-sample rank IC 0.004 <= floor 0.02"),
        (_damaged, DAMAGED),
    ],
    ids=["invalid_id", "missing", "rejected", "damaged"],
)
def test_without_its_model_the_worker_halts_with_the_reason_and_sends_nothing(
    tmp_path: Path, warehouse: Path, model: Any, reason: str
) -> None:
    model_id = model(tmp_path) if callable(model) else model
    cfg = _config(tmp_path, warehouse, model_id)

    ended = run_worker(cfg, LiveRequest(replay=REPLAY))  # runs to the end: no crash

    assert ended is WorkerState.STOPPED
    state = _state(tmp_path)
    assert state["worker"]["replay_finished"] == "2009-11-30"
    assert "it ended HALTED: strategy fitted: " in state["worker"]["reason"]
    assert reason in state["worker"]["reason"]
    assert any(reason in e["message"] for e in state["errors"])
    journal = _journal(tmp_path)
    assert journal["orders"].empty
    assert journal["fills"].empty
    outcomes = journal["decisions"]["outcome"]
    assert len(outcomes) >= 2  # every 21 sessions from 2009-10-01: each one refused
    assert outcomes.str.startswith("no orders (HALTED: strategy fitted: ").all()
    assert not (tmp_path / "live" / HALT_FILE).exists()  # checked again at the next start


def test_once_without_its_model_exits_cleanly_halted(tmp_path: Path, warehouse: Path) -> None:
    cfg = _config(tmp_path, warehouse, "nope")

    run_worker(cfg, LiveRequest(once=True, force_rebalance=True))

    state = _state(tmp_path)
    assert state["worker"]["reason"].startswith(
        "worker exited while HALTED (strategy fitted: invalid model id 'nope'"
    )
    journal = _journal(tmp_path)
    assert journal["orders"].empty
    [outcome] = journal["decisions"]["outcome"]
    assert outcome.startswith("no orders (HALTED: strategy fitted: invalid model id 'nope'")


def test_with_a_good_model_the_worker_trades_from_its_first_refit(
    tmp_path: Path, warehouse: Path
) -> None:
    # The model predicts from the close of 2009-10-15: the replay asked from 2009-10-01 starts
    # after it (as the backtest does), rather than halting on its first rebalance.
    first = dt.date(2009, 10, 15)
    refits = [refit(first, (0.5, 0.3, -0.2)), refit(dt.date(2009, 11, 16), (-0.2, 0.4, 0.1))]
    model_id = store_model(tmp_path, FACTORS, refits)
    cfg = _config(tmp_path, warehouse, model_id, "strategy.params.top_quantile=0.1")

    run_worker(cfg, LiveRequest(replay=REPLAY))

    state = _state(tmp_path)
    assert state["worker"]["reason"] == "replay finished on 2009-11-30"
    journal = _journal(tmp_path)
    fills = journal["fills"]
    assert len(fills) > 40  # 10% of ~500 names, at two rebalances
    sessions = pd.to_datetime(fills["ts"]).dt.tz_convert("America/New_York").dt.date
    assert sessions.min() == dt.date(2009, 10, 16)  # the first session after the first refit
    assert not journal["decisions"]["outcome"].str.contains("HALTED").any()


def test_factors_missing_for_t_minus_1_halt_at_the_rebalance(tmp_path: Path) -> None:
    # Three symbols: no factor of the model has the 20 values a prediction needs.
    data = market({s: [10.0 + i for i in range(30)] for s in ("A", "B", "C")})
    model_id = store_model(tmp_path, ("momentum_5",), [refit(dt.date(2009, 12, 1), (1.0,))])
    cfg = load_config(
        "live",
        [f"paths.data_dir={tmp_path}", "strategy.name=fitted", f"strategy.params.model={model_id}"],
        environ={},
    )
    strategy = build_strategy("fitted", {"model": model_id})
    assert attach_model(strategy, tmp_path) is None
    clock = ReplayClock("America/New_York")
    clock.at(pd.Timestamp(data.dates[9]).date(), ReplayClock.CLOSE)
    live = tmp_path / "live"
    broker = SimBroker(
        data.symbol_index, 100_000.0, CostModel(), "pro_rata", False, clock, live / "sim.json"
    )
    worker = Worker(cfg, data, strategy, broker, live, Journal(live / "journal.duckdb"))
    worker.start()
    assert worker.state is WorkerState.RUNNING  # the model is there

    assert worker.rebalance(10) == []  # no crash: a refusal

    day = pd.Timestamp(data.dates[9]).date()
    expected = (
        f"rebalance for {pd.Timestamp(data.dates[10]).date()} refused: strategy fitted: factor "
        f"momentum_5 of model {model_id} has 3 value(s) at the close of {day} (T-1)"
    )
    assert worker.state is WorkerState.HALTED  # type: ignore[comparison-overlap]
    assert worker.reason.startswith(expected)
    assert broker.open_orders() == []
    worker.heartbeat()  # the drivers' next step: the state file
    state = read_state(live)
    assert state is not None
    assert state["worker"]["state"] == "HALTED"
    assert state["worker"]["reason"].startswith(expected)
    # RESUME: the strategy tries again, and halts again while the factors are missing.
    send_command(live, "RESUME")
    worker.heartbeat()
    assert worker.state is WorkerState.RUNNING
    assert worker.rebalance(11) == []
    assert worker.state is WorkerState.HALTED
    worker.journal.close()


def _backtest(data_dir: Path, model: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir)}
    args = ["--strategy", "fitted", "--param", f"model={model}", "--json"]
    return subprocess.run(
        [sys.executable, str(ROOT / "run_backtest.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_the_backtest_refuses_with_exit_4_before_reading_a_bar(tmp_path: Path) -> None:
    # No warehouse at all: a run that read bars first would fail on the data (exit 1).
    missing = _backtest(tmp_path, "value_mom-20240105T143000Z-1a2b")
    assert missing.returncode == 4, missing.stderr
    assert (
        "strategy fitted: no stored model value_mom-20240105T143000Z-1a2b; fit one with "
        "run_factor_computation.py --fit" in missing.stderr
    )
    rejected = _backtest(tmp_path, _rejected(tmp_path))
    assert rejected.returncode == 4, rejected.stderr
    assert "was rejected: out-of-sample rank IC 0.004 <= floor 0.02" in rejected.stderr
    damaged = _backtest(tmp_path, _damaged(tmp_path))  # a refusal too, not a crash (exit 1)
    assert damaged.returncode == 4, damaged.stderr
    assert DAMAGED in damaged.stderr


def test_the_backtest_trades_a_good_model_from_its_first_refit(
    tmp_path: Path, warehouse: Path
) -> None:
    (tmp_path / "warehouse").symlink_to(warehouse)
    model_id = store_model(tmp_path, FACTORS, [refit(dt.date(2010, 3, 1), (0.5, 0.3, -0.2))])
    result = _backtest(tmp_path, model_id)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["trades"] > 100
    trades = pd.read_parquet(Path(summary["path"]) / "trades.parquet")
    first = pd.Timestamp(trades["date"].min()).date()
    assert first == dt.date(2010, 3, 2)  # moved from the data's start, and logged:
    assert "its model predicts from the close of 2010-03-01 on; starting at 2010-03-02" in (
        result.stderr
    )
