"""Round trips reconcile with the golden backtests to the cent, and are stored with the run.

On the golden runs (``test_golden_backtests.py``) and one with every stop and an account limit
that flattens the book: the pnl of every round trip (open trips marked at the last close) sums to
the final equity less the initial equity, within half a cent. The engine's cash moves only by
its fills (no borrow fee, interest or dividend in the ledger), so nothing else is to account for.
Every filled trade's shares are in exactly the trips of its symbol, and a stop's trade ends a
trip with that stop as its exit reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config import load_config
from quant_core.analytics.round_trips import ROUND_TRIP_COLUMNS, backtest_fills
from quant_core.analytics.trade_stats import gain_loss
from quant_core.backtest.records import STOP_KINDS
from quant_core.backtest.results import load_round_trips, load_run, load_trade_stats
from quant_core.backtest.run import BacktestRun, run_backtest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from tests.acceptance.test_golden_backtests import GOLDEN

pytestmark = pytest.mark.acceptance

STOPS = [
    "risk.stop_loss=0.05",
    "risk.take_profit=0.08",
    "risk.trailing_stop=0.05",
    "risk.max_daily_loss_frac=0.01",
    "risk.max_drawdown_frac=0.06",
    "risk.on_breach=flat",
]
CASES = [(g[0], g[1]) for g in GOLDEN] + [("sp500-2010", STOPS)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, calendar) -> Path:
    root = tmp_path_factory.mktemp("round_trips")
    warehouse = Warehouse(root / "warehouse")
    for name in ("sp500-2010", "wiki5"):
        sync(SampleSource(name), warehouse, calendar, name)
    return root


def backtest(data_dir: Path, dataset: str, overrides: list[str]) -> BacktestRun:
    cfg = load_config(
        "backtest",
        [f"paths.data_dir={data_dir}", f"data.dataset={dataset}", *overrides],
        environ={},
    )
    return run_backtest(cfg, store=True)


def check_shares(trades: pd.DataFrame, trips: pd.DataFrame) -> None:
    # Each filled trade lies within one trip of its symbol, and the shares the trips grew and
    # shrank by add up to every share filled: entry_value / entry_price shares in, as many out
    # for a closed trip, fewer by the shares still held for an open one.
    fills = backtest_fills(trades)
    for symbol, mine in fills.groupby("symbol"):
        theirs = trips[trips["symbol"] == symbol].reset_index(drop=True)
        grown = theirs["entry_value"] / theirs["entry_price"]
        held = float(mine["quantity"].sum())
        moved = float((2 * grown).sum()) - abs(held)
        assert moved == pytest.approx(float(mine["quantity"].abs().sum()), rel=1e-9), symbol
        assert theirs["is_open"].sum() == (held != 0), symbol
        dates = mine["date"].to_numpy()
        first = np.searchsorted(theirs["entry_date"].to_numpy(), dates, side="right") - 1
        assert (first >= 0).all(), symbol
        assert (dates <= theirs["exit_date"].to_numpy()[first]).all(), symbol


@pytest.mark.parametrize(("dataset", "overrides"), CASES)
def test_round_trips_reconcile_with_the_equity(data_dir, dataset, overrides) -> None:
    run = backtest(data_dir, dataset, overrides)
    trips, curve = run.round_trips, run.result.curve

    change = float(curve["equity"].iloc[-1] - curve["equity"].iloc[0])
    assert abs(float(trips["pnl"].sum()) - change) < 0.005
    assert np.isfinite(trips["pnl"]).all()  # every open trip has its mark
    assert run.trade_stats["total_pnl"] + run.trade_stats["open_pnl"] == pytest.approx(change)
    check_shares(run.result.trades, trips)
    costs = run.metrics["total_costs"]
    assert float(trips["costs"].sum()) == pytest.approx(costs, rel=1e-12)

    # Stored with the run, read back as written.
    stored = load_round_trips(run.path)
    pd.testing.assert_frame_equal(stored, trips.loc[:, list(ROUND_TRIP_COLUMNS)])
    pd.testing.assert_frame_equal(pd.read_parquet(run.path / "gain_loss.parquet"), gain_loss(trips))
    stats = load_trade_stats(run.path)
    assert stats["trades"] == int((~trips["is_open"]).sum())
    exposure, total = run.metrics["exposure"], run.metrics["total_return"]
    assert stats["exposure_adjusted_return"] == pytest.approx(total / exposure)
    summary = pd.read_parquet(run.path / "summary.parquet").iloc[0]
    assert summary["initial_cash"] == 1_000_000.0
    assert summary["benchmark"] == "equal_weight"
    assert "slippage 5 bps" in summary["costs"]
    stored_run = load_run(run.path.parent, run.run_id)
    assert "trade_stats" not in stored_run.metrics  # metrics.json keeps its golden keys


def test_stop_exits_end_their_trips(data_dir) -> None:
    run = backtest(data_dir, "sp500-2010", STOPS)
    trips, trades = run.round_trips, run.result.trades
    stops = trades[trades["status"].isin(STOP_KINDS)]
    assert len(stops) >= 50
    ends = trips.set_index(["symbol", "exit_date"])["exit_reason"]
    reasons = ends.reindex(pd.MultiIndex.from_frame(stops[["symbol", "date"]]))
    assert list(reasons) == list(stops["status"])
    assert trips["r_multiple"].notna().all()  # risk.stop_loss defines R
    stopped = trips[trips["exit_reason"] == "stop_loss"]
    # A stop loss closes at the open after a close 5% below cost: about -1 R, less a gap.
    assert stopped["r_multiple"].median() < -0.8
    assert set(trips["exit_reason"]) <= {"signal", "delisting", "halt", *STOP_KINDS}
    summary = pd.read_parquet(run.path / "summary.parquet").iloc[0]
    assert summary["schedule"] == "every 21 sessions"


def test_a_run_stored_before_reads_as_empty(tmp_path) -> None:
    assert load_round_trips(tmp_path).columns.tolist() == list(ROUND_TRIP_COLUMNS)
    assert load_round_trips(tmp_path).empty
    assert load_trade_stats(tmp_path) == {}
