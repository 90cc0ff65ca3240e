"""A write of bars during a sweep stops it: one sweep id never holds results of two versions.

The sweep's id is fixed with the version of the dataset's bars at its start; each task carries
that version, and a worker whose warehouse holds another one refuses to run
(:class:`quant_core.sweeps.tasks.DataChanged`). The driver stops the sweep saying so, keeps the
results recorded (of the old version), and the same command then runs a new sweep.
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
from quant_core.errors import DataError
from quant_core.sweeps import runner
from quant_core.sweeps.batches import GridFeed
from quant_core.sweeps.catalogue import Catalogue
from quant_core.sweeps.checks import bars_version_of
from quant_core.sweeps.tasks import DataChanged, Task, run_batch
from quant_core.sweeps.wf_folds import Window, _results

pytestmark = pytest.mark.integration

DATASET = "sp500-2010"
SPEC = """
sweep:
  strategy: momentum
  grid: {lookback: [20, 40, 60]}
  set: {strategy.rebalance: 21}
  objective: sharpe
  batch: 1
  period: {start: 2010-02-01, end: 2010-08-31}
"""


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("data_changed")
    sync(SampleSource(DATASET), Warehouse(root / "warehouse"), calendar, DATASET)
    return root


def _own(tmp_path: Path, synced: Path) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(synced, data_dir)  # the test writes into its warehouse
    return data_dir


def _loader(data_dir: Path) -> Any:
    return lambda overrides: load_config(
        "backtest", [*overrides, f"paths.data_dir={data_dir}"], environ={}
    )


def _write_new_bars(data_dir: Path) -> None:
    warehouse = Warehouse(data_dir / "warehouse")
    bars = warehouse.read_bars(DATASET)
    last = bars[bars["date"] == bars["date"].max()].head(1).copy()
    last["volume"] = last["volume"] + 1
    warehouse.write_bars(DATASET, last)


def test_a_task_of_another_bars_version_is_refused_naming_both(
    tmp_path: Path, synced: Path
) -> None:
    data_dir = _own(tmp_path, synced)
    cfg = _loader(data_dir)(["strategy.name=momentum", "strategy.params.lookback=20"])
    version = bars_version_of(cfg)
    assert run_batch([Task("a", {"lookback": 20}, cfg, version)])  # the current version runs
    _write_new_bars(data_dir)
    now = bars_version_of(cfg)
    assert now != version
    with pytest.raises(DataChanged) as caught:
        run_batch([Task("a", {"lookback": 20}, cfg, version)])  # panels cached: refused still
    said = str(caught.value)
    assert "changed during the sweep" in said
    assert repr(DATASET) in said
    assert f"version {now}" in said
    assert f"version {version}" in said
    assert run_batch([Task("a", {"lookback": 20}, cfg, now)])


def test_a_write_between_two_batches_stops_the_sweep_and_keeps_the_first(
    tmp_path: Path, synced: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One batch in flight at a time (no race): the bars are written after the first comes back.
    monkeypatch.setattr(GridFeed, "window", lambda self, workers: 1)
    data_dir = _own(tmp_path, synced)
    path = tmp_path / "grid.yaml"
    path.write_text(SPEC)
    spec, load = load_sweep(path), _loader(data_dir)
    before = bars_version_of(load(["strategy.name=momentum"]))
    written: list[int] = []

    def write_once(client: Any, results: list[Any]) -> None:
        if not written:
            _write_new_bars(data_dir)
            written.append(len(results))

    with pytest.raises(DataError) as caught:
        runner.run_sweep(spec, load, path=path, workers=1, on_batch=write_once)
    said = str(caught.value)
    after = bars_version_of(load(["strategy.name=momentum"]))
    assert "changed during the sweep" in said
    assert repr(DATASET) in said
    assert "1 of 3 configuration(s) recorded" in said
    assert f"version {before}" in said
    assert f"version {after}" in said
    catalogue = Catalogue(data_dir / runner.CATALOGUE)
    try:
        sweeps = catalogue.sweeps()
        assert len(sweeps) == 1
        old_id = str(sweeps["sweep_id"].iloc[0])
        assert catalogue.count(old_id) == 1  # the result of the old version, kept
    finally:
        catalogue.close()

    again = runner.run_sweep(spec, load, path=path, workers=1)
    assert again.sweep_id != old_id  # the new bars: a new sweep, run whole
    assert (again.ran, again.resumed) == (3, 0)


def test_a_walk_forward_batch_on_changed_data_stops_it_saying_so() -> None:
    class Stale:
        def result(self) -> Any:
            raise DataChanged(DATASET, 3, 4, "/data/warehouse")

    window = Window(1, *(["2010-01-04"] * 4))  # type: ignore[arg-type]
    with pytest.raises(DataError) as caught:
        _results(Stale(), window, [])
    said = str(caught.value)
    assert "changed during the sweep" in said
    assert "version 4" in said
    assert "version 3" in said
    assert "folds recorded are of version 3 and kept" in said
