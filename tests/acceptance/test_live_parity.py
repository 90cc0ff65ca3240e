"""Parity: sp500-2010 replayed through the worker and the sim broker fills exactly like
run_backtest.py with the same config: same fills (symbol, session, quantity, price) and the same
final equity to the cent, with the default construction (as_is), with inverse_vol (a heuristic),
with risk_parity (an optimiser), with stops (the same exits, from the worker's journal), with
a drawdown halt that trips and stays tripped (nobody presses RESUME; the backtest's halt
outlasts the span), and with the ``fitted`` strategy trading a model fitted on the same data and
stored in the data directory, which both drivers load."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from config import load_config
from quant_core.backtest.run import run_backtest
from quant_core.data.panels import FIELDS
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.live.journal import Journal
from quant_core.live.run import LiveRequest, run_worker
from quant_core.research.pipeline import fit_model
from quant_core.research.spec import ModelSpec
from quant_core.research.store import ModelStore
from tests.acceptance.parity import backtest_fills, journal_fills

pytestmark = pytest.mark.acceptance

SPAN = ["backtest.start=2009-10-01", "backtest.end=2010-08-20"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, calendar) -> Path:
    root = tmp_path_factory.mktemp("parity")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


# inverse_vol reads 60 returns through T-1: its warm-up (61 sessions) is longer than momentum's
# at lookback 20 (21) and lies after the replay's start, so both drivers must move their first
# session to it alike.
INVERSE_VOL = [
    "strategy.params.lookback=20",
    "portfolio.construction.method=inverse_vol",
    "portfolio.construction.lookback=60",
]


# risk_parity solves on the Ledoit-Wolf covariance of the same 60 returns: the optimisers'
# family, with the same longer warm-up.
RISK_PARITY = [
    "strategy.params.lookback=20",
    "portfolio.construction.method=risk_parity",
    "portfolio.construction.lookback=60",
]


# Stops on (about 290 exits over the span): the worker checks them at every session from its
# journal's fills and sends the exits before the rebalance, as the engine does.
STOPS = ["risk.stop_loss=0.08", "risk.take_profit=0.15", "risk.trailing_stop=0.1"]

# The drawdown passes 5% at the close of 2010-05-05: from the next open no strategy order in
# either driver, measured by the same code (the worker: at its heartbeats and before trading).
HALT = [
    "risk.max_drawdown_frac=0.05",
    "risk.max_daily_loss_frac=0.5",
    "risk.halt_sessions=10000",
]


# The fitted strategy on a model fitted on sp500-2010 itself (walk-forward: train 126, test 21,
# embargo 5) and stored in the data directory, accepted whatever its score (min_oos_rank_ic -1):
# the plumbing is under test, not the model. Its first refit predicts from 2010-04-08, so both
# drivers start the session after it (not at 2009-10-01); each of its five rebalances (every 21
# sessions) decides with the next refit.
FITTED = ["strategy.name=fitted"]
MODEL_SPEC = {
    "name": "parity",
    "factors": ["momentum_20", "reversal_5", "volatility_20"],
    "validation": {"scheme": "walk_forward", "train": 126, "test": 21, "embargo": 5},
    "bootstrap": 20,
    "min_oos_rank_ic": -1,
}


@pytest.fixture(scope="module")
def fitted_model(data_dir: Path) -> str:
    warehouse = Warehouse(data_dir / "warehouse")
    bars = {field: warehouse.panel("sp500-2010", field) for field in FIELDS}
    result = fit_model(ModelSpec.model_validate(MODEL_SPEC), bars, "")
    created = dt.datetime(2024, 1, 5, 14, 30, tzinfo=dt.UTC)
    return ModelStore(data_dir / "models").save(result, "sp500-2010", created)


@pytest.mark.parametrize(
    "params",
    [[], ["strategy.params.lookback=60"], INVERSE_VOL, RISK_PARITY, STOPS, HALT, FITTED],
    ids=["default", "momentum_60", "inverse_vol", "risk_parity", "stops", "halt", "fitted"],
)
def test_replay_equals_backtest(
    tmp_path: Path, data_dir: Path, params: list[str], request: pytest.FixtureRequest
) -> None:
    common = [f"paths.data_dir={data_dir}", *params]
    if params is FITTED:
        common.append(f"strategy.params.model={request.getfixturevalue('fitted_model')}")
        (tmp_path / "models").symlink_to(data_dir / "models")  # the worker's data directory
    backtest = run_backtest(load_config("backtest", [*common, *SPAN], environ={}), store=False)
    live_cfg = load_config("live", [*common, f"paths.data_dir={tmp_path}"], environ={})
    (tmp_path / "warehouse").symlink_to(data_dir / "warehouse")

    run_worker(live_cfg, LiveRequest(replay=(dt.date(2009, 10, 1), dt.date(2010, 8, 20))))
    assert pa.default_memory_pool().backend_name == "system"  # settled: live/allocators.py

    journal = Journal(tmp_path / "live" / "journal.duckdb")
    fills = journal.table("fills")
    equity = journal.table("equity")
    decisions = journal.table("decisions")
    journal.close()
    expected = backtest_fills(backtest.result.trades)
    got = journal_fills(fills)
    assert len(got) == len(expected) > (300 if params is HALT else 500)  # a halt trades less
    if params is FITTED:  # from the session after the model's first refit, in both drivers
        assert got["session"].min() == dt.date(2010, 4, 9)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    assert round(equity["equity"].iloc[-1], 2) == round(backtest.metrics["final_equity"], 2)
    # The same stops, tripped by the same figures, for the same sessions.
    stopped = backtest.result.decisions[backtest.result.decisions["kind"] == "stop"]
    ours_stops = sorted(
        (d.date(), detail.removesuffix("; closed at this open"))
        for d, detail in zip(stopped["date"], stopped["detail"], strict=True)
    )
    theirs_stops = sorted(
        (session, stop)
        for session, outcome in zip(decisions["session"], decisions["outcome"], strict=True)
        if outcome.startswith("stops: ")
        for stop in outcome.removeprefix("stops: ").split("; ")
    )
    assert theirs_stops == ours_stops
    assert (len(ours_stops) > 200) == (params is STOPS)
    # The same halt: tripped at the same close, every later rebalance left untraded.
    halts = backtest.result.decisions[backtest.result.decisions["kind"] == "halt"]
    assert (len(halts) > 0) == (params is HALT)
    halted = decisions[decisions["outcome"].str.contains("halted", case=False)]
    assert (len(halted) > 0) == (params is HALT)
    if params is HALT:
        untraded = pd.DatetimeIndex(halts["date"][1:]).date.tolist()
        assert sorted(halted["session"]) == untraded
        assert (
            halts["detail"].iloc[0].startswith("drawdown 5.89% of 5.00% at the close of 2010-05-05")
        )
