"""A stored model as a factor of ``multi_factor``: loaded by the drivers, traded, no look-ahead.

A model fitted on the bundled sp500-2010 (momentum_20, reversal_5, volatility_20 on fwd_open_5;
walk-forward train 126, test 21, embargo 5; accepted whatever its score) is stored in the data
directory and its composite in the warehouse. ``multi_factor`` names it beside momentum_20:
the backtest trades it, and its first decision's scores are the stored composite at T-1 (and
momentum_20), z-scored and weighted. A rejected model named as a factor stops the backtest
(exit 4) and the worker with the refusal; the cockpit's run form reports it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config import load_config
from quant_core.backtest.run import load_market, run_backtest
from quant_core.calendar import TradingCalendar
from quant_core.cockpit.models.policy_form import check_run
from quant_core.data.panels import FIELDS
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.factors.base import forget_named_factor, make_factor, named_factors
from quant_core.live.run import LiveRequest, run_worker
from quant_core.research.model import REJECTED, ModelNotReady
from quant_core.research.pipeline import fit_model
from quant_core.research.spec import ModelSpec
from quant_core.research.store import ModelStore, write_composite
from quant_core.strategies import build_strategy
from quant_core.strategies.base import DataView, PortfolioSnapshot, StrategyContext
from quant_core.strategies.builtin.cross_sectional import top_k
from tests.model_factories import refit, store_model

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DATASET = "sp500-2010"
SPEC = {
    "name": "mf",
    "factors": ["momentum_20", "reversal_5", "volatility_20"],
    "target": "fwd_open_5",
    "validation": {"scheme": "walk_forward", "train": 126, "test": 21, "embargo": 5},
    "bootstrap": 20,
    "min_oos_rank_ic": -1,
}
# The model's first refit predicts from the close of 2010-04-08: decisions from 2010-04-09 on.
SPAN = ["backtest.start=2010-04-12", "backtest.end=2010-08-20"]
REJECTED_TEXT = "was rejected: out-of-sample rank IC 0.004 <= floor 0.02"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: TradingCalendar) -> Path:
    root = tmp_path_factory.mktemp("model_factor")
    sync(SampleSource(DATASET), Warehouse(root / "warehouse"), calendar, DATASET)
    return root


@pytest.fixture(scope="module")
def model_id(data_dir: Path) -> str:
    warehouse = Warehouse(data_dir / "warehouse")
    bars = {field: warehouse.panel(DATASET, field) for field in FIELDS}
    result = fit_model(ModelSpec.model_validate(SPEC), bars, "")
    created = dt.datetime(2024, 1, 5, 14, 30, tzinfo=dt.UTC)
    stored = ModelStore(data_dir / "models").save(result, DATASET, created)
    write_composite(warehouse, DATASET, stored, result.composite)
    return stored


@pytest.fixture(autouse=True)
def registry() -> Iterator[None]:
    before = set(named_factors())
    yield
    for name in set(named_factors()) - before:
        forget_named_factor(name)


def _rejected(data_dir: Path) -> str:
    refits = [refit(dt.date(2010, 3, 1), (0.1, 0.1, 0.1))]
    factors = ("momentum_20", "reversal_5", "volatility_20")
    return store_model(data_dir, factors, refits, status=REJECTED, rank_ic=0.004, name="bad")


def _zscore(values: pd.Series) -> pd.Series:
    return (values - values.mean()) / values.std()


def test_multi_factor_trades_the_stored_composite(data_dir: Path, model_id: str) -> None:
    name = f"model_{model_id}"
    weights = {name: 1.0, "momentum_20": 0.5}
    overrides = [
        f"paths.data_dir={data_dir}",
        "strategy.name=multi_factor",
        f"strategy.params.factors={json.dumps(weights)}",
        *SPAN,
    ]
    cfg = load_config("backtest", overrides, environ={})
    run = run_backtest(cfg, store=False)
    trades = run.result.trades
    assert len(trades) > 50
    assert (trades["filled"] > 0).any()

    # The first decision, at T: the stored composite and momentum_20 at the close of T-1.
    first = pd.Timestamp(run.result.rebalances[0])
    warehouse = Warehouse(data_dir / "warehouse")
    data = load_market(warehouse, DATASET)
    t = int(data.date_index.searchsorted(first))
    assert data.date_index[t] == first
    before = data.date_index[t - 1]
    stored = warehouse.factor_store.panel(DATASET, name).reindex(columns=data.symbol_index)
    composite = stored.reindex(index=[before]).iloc[0]
    assert composite.notna().sum() > 20  # a prediction at T-1, not NaN
    close = warehouse.panel(DATASET, "close").reindex(columns=data.symbol_index)
    momentum = make_factor("momentum_20").compute({"close": close}).reindex(index=[before]).iloc[0]
    expected = _zscore(composite) + 0.5 * _zscore(momentum)

    strategy = build_strategy("multi_factor", cfg.strategy.params)  # the run loaded the model
    snapshot = PortfolioSnapshot(1e6, np.zeros(len(data.symbols)), data.symbol_index, 1e6)
    picks = strategy.decide(StrategyContext(DataView(data, t), snapshot, first))
    assert picks.scores is not None
    np.testing.assert_allclose(
        picks.scores.to_numpy(dtype=float), expected.to_numpy(dtype=float), rtol=1e-9, atol=1e-12
    )
    # ... and the run bought the top quantile of exactly those scores, at T's open
    bought = set(trades.loc[(trades["date"] == first) & (trades["filled"] > 0), "symbol"])
    assert bought == set(top_k(expected, 0.2))
    # the composite matters: momentum_20 alone would have bought other names
    assert bought != set(top_k(momentum, 0.2))


def test_a_rejected_model_as_a_factor_stops_the_backtest_with_exit_4(tmp_path: Path) -> None:
    rejected = _rejected(tmp_path)
    factors = json.dumps({f"model_{rejected}": 1.0, "momentum_20": 0.5})
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path)}
    args = ["--strategy", "multi_factor", "--param", f"factors={factors}"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "run_backtest.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 4, done.stderr
    assert f"factor model_{rejected} in strategy.params: model {rejected} {REJECTED_TEXT}" in (
        done.stderr
    )


def test_the_worker_and_the_run_form_refuse_a_rejected_model_factor(
    tmp_path: Path, data_dir: Path, model_id: str
) -> None:
    rejected = _rejected(tmp_path)
    (tmp_path / "warehouse").symlink_to(data_dir / "warehouse")
    bad = json.dumps({f"model_{rejected}": 1.0})
    common = [f"paths.data_dir={tmp_path}", "strategy.name=multi_factor"]
    cfg = load_config("live", [*common, f"strategy.params.factors={bad}"], environ={})
    with pytest.raises(ModelNotReady, match=REJECTED_TEXT):
        run_worker(cfg, LiveRequest(replay=(dt.date(2010, 5, 3), dt.date(2010, 5, 28))))
    assert not (tmp_path / "live" / "journal.duckdb").exists()  # refused before any state

    sessions = Warehouse(data_dir / "warehouse").panel(DATASET).index.to_numpy()
    refused = check_run([*common, f"strategy.params.factors={bad}", *SPAN], sessions)
    assert len(refused.problems) == 1
    assert REJECTED_TEXT in refused.problems[0]
    good = json.dumps({f"model_{model_id}": 1.0})
    (tmp_path / "models" / model_id).symlink_to(data_dir / "models" / model_id)
    accepted = check_run([*common, f"strategy.params.factors={good}", *SPAN], sessions)
    assert accepted.problems == ()
