"""The worker's first rebalance is not halted by its own pre-trade guard: max_weight defaults to
risk.max_position_weight, so a universe of 3 names at a third each is clipped to it first; set
above it, the orders are trimmed to it at the current prices (portfolio.weight_cap)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from config import load_config
from quant_core.live.journal import Journal
from quant_core.live.replay import ReplayClock
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerState
from quant_core.live.worker import Worker
from quant_core.portfolio.costs import CostModel
from tests.factories import Fixed, market

pytestmark = pytest.mark.integration

CLOSES = {
    "A": [10.0 + i for i in range(6)],
    "B": [20.0 - i for i in range(6)],
    "C": [5.0 + 0.5 * i for i in range(6)],
}


def first_rebalance(tmp: Path, *overrides: str) -> tuple[Worker, SimBroker]:
    cfg = load_config("live", [f"paths.data_dir={tmp}", *overrides], environ={})
    assert cfg.risk.max_position_weight == 0.25  # base.yaml's guard, untouched
    data = market(CLOSES)
    clock = ReplayClock("America/New_York")
    clock.at(dt.date(2010, 1, 4), ReplayClock.CLOSE)
    live = tmp / "live"
    broker = SimBroker(
        data.symbol_index, 100_000.0, CostModel(), "pro_rata", False, clock, live / "sim.json"
    )
    third = 1 / 3
    strategy = Fixed({"A": third, "B": third, "C": third})
    worker = Worker(
        cfg, data, strategy, broker, live, Journal(live / "journal.duckdb"), clock=clock
    )
    worker.start()
    broker.mark(data.panels["close"][0])
    worker.rebalance(1)
    return worker, broker


def test_three_names_at_a_third_are_clipped_and_the_worker_trades(tmp_path: Path) -> None:
    worker, broker = first_rebalance(tmp_path)

    assert worker.state is WorkerState.RUNNING
    orders = {o.symbol: o.quantity for o in broker.open_orders()}
    # 25% of the investable equity (100,000 x 0.98) each, at the first closes 10, 20 and 5.
    assert orders == {"A": 2450, "B": 1225, "C": 4900}
    worker.journal.close()


def test_above_the_guard_the_orders_are_trimmed_to_it_and_the_worker_trades(
    tmp_path: Path,
) -> None:
    # max_weight set above the guard: the thirds are not clipped, so the orders are trimmed to
    # the guard's 25% of the equity at the current prices (the sim's marks: the first closes)
    # before the guard sees them, as the backtest trims at the opens; nothing halts.
    worker, broker = first_rebalance(tmp_path, "portfolio.constraints.max_weight=0.5")

    assert worker.state is WorkerState.RUNNING
    orders = {o.symbol: o.quantity for o in broker.open_orders()}
    # 25,000 / 10, / 20, / 5 (whole shares), not a third of 98,000 (3266, 1633, 6533).
    assert orders == {"A": 2500, "B": 1250, "C": 5000}
    shape = worker.planner.shape
    assert shape is not None
    (trim,) = [b for b in shape.bindings if b.constraint == "max_position_weight"]
    assert trim.detail.startswith("3 order(s) trimmed to 25.00% of equity 100,000.00")
    worker.journal.close()
