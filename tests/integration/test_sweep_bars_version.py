"""A finished sweep stays finished when factor values are stored into its dataset.

``run_factor_computation.py`` and a ``--fit`` store factor values in the dataset's manifest,
which bumped the dataset's version, and the sweep's id was keyed by it: the same sweep, on the
same bars, then ran every configuration again (and every sweep worker read its panels again).
The id is keyed by the version of the bars (:meth:`Warehouse.bars_version`): new bars are still
another sweep.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from config import load_config
from config.sweep import load_sweep
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.sweeps import runner

pytestmark = pytest.mark.integration

DATASET = "sp500-2010"
SPEC = """
sweep:
  strategy: momentum
  grid: {lookback: [20, 60]}
  set: {strategy.rebalance: 21}
  objective: sharpe
  period: {start: 2010-02-01, end: 2010-08-31}
"""


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("bars_version")
    sync(SampleSource(DATASET), Warehouse(root / "warehouse"), calendar, DATASET)
    return root


def _loader(data_dir: Path) -> Any:
    return lambda overrides: load_config(
        "backtest", [*overrides, f"paths.data_dir={data_dir}"], environ={}
    )


def test_stored_factor_values_do_not_make_a_finished_sweep_run_again(
    tmp_path: Path, synced: Path
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(synced, data_dir)  # the test writes into its warehouse
    path = tmp_path / "grid.yaml"
    path.write_text(SPEC)
    spec, load = load_sweep(path), _loader(data_dir)
    first = runner.run_sweep(spec, load, path=path, workers=1)
    assert (first.ran, first.resumed) == (2, 0)

    warehouse = Warehouse(data_dir / "warehouse")
    bars = warehouse.read_bars(DATASET)
    values = bars.loc[:, ["date", "symbol"]].assign(value=bars["close"].to_numpy() / 10)
    before = warehouse.version(DATASET)
    warehouse.factor_store.write(DATASET, "close_tenth", values)
    warehouse.sync_log.record(DATASET, {"sync_id": "nothing-new", "rows_written": 0})
    assert warehouse.version(DATASET) == before + 2

    again = runner.run_sweep(spec, load, path=path, workers=1)
    assert again.sweep_id == first.sweep_id
    assert (again.ran, again.resumed) == (0, 2)

    # One bar changed: the panels are others, so is the sweep.
    last = bars[bars["date"] == bars["date"].max()].head(1).copy()
    last["volume"] = last["volume"] + 1
    warehouse.write_bars(DATASET, last)
    third = runner.run_sweep(spec, load, path=path, workers=1)
    assert third.sweep_id != first.sweep_id
    assert (third.ran, third.resumed) == (2, 0)
