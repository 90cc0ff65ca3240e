"""Every configuration of a sweep, and every train run of a walk-forward's fold, starts together.

A momentum lookback of 20 can trade from the period's start, one of 126 only once 127 sessions
of history are behind it: run as they are, the two are measured over different markets (on
sp500-2010 from 2009-10-01: five months apart), and the ranking, the heatmap and the overfitting
figures compare unlike with unlike. ``sweeps.span`` starts them all on the latest first session.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from config import load_config
from config.sweep import configurations, load_sweep
from quant_core.atomic import json_safe
from quant_core.backtest.run import run_backtest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.sweeps.catalogue import Catalogue
from quant_core.sweeps.report import sweep_json
from quant_core.sweeps.runner import run_sweep
from quant_core.sweeps.walk_forward import run_walk_forward

pytestmark = pytest.mark.integration

DATASET = "sp500-2010"
GRID = """
sweep:
  strategy: momentum
  grid: {lookback: [20, 126], top_quantile: [0.2]}
  set: {strategy.rebalance: 21}
  objective: sharpe
  period: {start: 2009-10-01, end: 2010-08-20}
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("shared_start")
    sync(SampleSource(DATASET), Warehouse(root / "warehouse"), calendar, DATASET)
    return root


@pytest.fixture(scope="module")
def dates(data_dir: Path) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(Warehouse(data_dir / "warehouse").panel(DATASET, "close").index)


def _loader(data_dir: Path) -> Any:
    return lambda overrides: load_config(
        "backtest", [*overrides, f"paths.data_dir={data_dir}"], environ={}
    )


def _first_rebalance(dates: pd.DatetimeIndex, start: str, warmup: int) -> dt.date:
    # The engine's rule: the first session on or after start with warmup sessions before it.
    row = max(int(dates.searchsorted(pd.Timestamp(start))), warmup, 1)
    return dates[row].date()


def test_every_configuration_starts_on_the_session_the_longest_lookback_first_trades(
    tmp_path: Path, data_dir: Path, dates: pd.DatetimeIndex
) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(GRID)
    spec, load = load_sweep(path), _loader(data_dir)
    done = run_sweep(spec, load, path=path, workers=1)

    shared = _first_rebalance(dates, "2009-10-01", 127)  # lookback 126: 127 sessions
    assert _first_rebalance(dates, "2009-10-01", 21) < shared  # 20 could start earlier
    assert done.start == shared
    catalogue = Catalogue(done.catalogue)
    try:
        curves = catalogue.all_curves(done.sweep_id)
        stored = json.loads(catalogue.con.execute("SELECT spec FROM sweeps").fetchall()[0][0])
    finally:
        catalogue.close()
    assert curves.shape[1] == 2
    row = int(dates.searchsorted(pd.Timestamp(shared)))
    before = dates[row - 1]  # a curve starts at the close before its first rebalance
    for key in curves:
        assert curves[key].first_valid_index() == before, key
    assert stored["period"]["start"] == shared.isoformat()  # the cockpit reruns from it
    assert sweep_json(done, spec.objective)["start"] == shared.isoformat()
    recorded = dict(zip(*_results(done), strict=True))
    for config in configurations(spec, path):  # alone, with that start: the same figures
        alone = run_backtest(load([*config.overrides, f"backtest.start={shared}"]), store=False)
        assert recorded[config.key] == json_safe(alone.metrics), config.key


def _results(done: Any) -> tuple[list[str], list[dict[str, Any]]]:
    catalogue = Catalogue(done.catalogue)
    try:
        frame = catalogue.results(done.sweep_id)
    finally:
        catalogue.close()
    return list(frame["key"].astype(str)), list(frame["metrics"])


def test_configurations_of_one_warm_up_keep_the_period_as_it_is(
    tmp_path: Path, data_dir: Path
) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(GRID.replace("[20, 126]", "[20]").replace("[0.2]", "[0.1, 0.2]"))
    done = run_sweep(load_sweep(path), _loader(data_dir), path=path, workers=1)
    assert done.start is None
    assert sweep_json(done, "sharpe")["start"] is None


def test_a_walk_forward_fold_trains_every_configuration_from_the_same_session(
    data_dir: Path, dates: pd.DatetimeIndex
) -> None:
    path = Path(__file__).resolve().parents[2] / "research" / "mom_wf.yaml"
    spec = load_sweep(path)  # lookback 20 and 60; train 63 sessions from 2009-10-01
    run = run_walk_forward(spec, _loader(data_dir), path=str(path), workers=1)

    first, second = run.folds[0].window, run.folds[1].window
    assert first.train_start == _first_rebalance(dates, "2009-10-01", 61)  # lookback 60's
    start = int(dates.searchsorted(pd.Timestamp("2009-10-01")))
    assert first.train_start > dates[start].date()
    assert second.train_start == dates[start + 42].date()  # its window's own: nothing moved
