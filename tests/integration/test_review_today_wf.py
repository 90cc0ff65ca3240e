"""Review of the walk-forward resume: what a rerun may take back from the catalogue.

A fold's choice is the best of *every* configuration on its train window, so a fold recorded by
a walk-forward of other configurations is not one of this walk-forward's. A random search's
draws are a prefix of the draws of more trials (the same seed): the key a fold chose among a
few trials is one of the keys of more trials, and only the walk-forward's identity can tell the
two apart. (A sweep's identity leaves the trials out on purpose: more trials of a sweep resume
it, each configuration being a unit of its own.)
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from config import load_config
from config.sweep import configurations, load_sweep
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.sweeps.runner import cluster
from quant_core.sweeps.walk_forward import run_walk_forward

pytestmark = pytest.mark.integration

SEARCH = """
sweep:
  strategy: momentum
  search:
    method: random
    trials: {trials}
    seed: 3
    space: {{lookback: [20, 60], top_quantile: [0.1, 0.2]}}
  set: {{strategy.rebalance: 10}}
  objective: sharpe
  period: {{start: 2009-10-01, end: 2010-08-20}}
  walk_forward: {{train: 63, test: 42, embargo: 2, scheme: rolling}}
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("review_wf")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


@pytest.fixture(scope="module")
def client() -> Any:
    with cluster(None, 1) as c:
        yield c


class Loader:
    """``load`` for run_walk_forward that notes the window of every task built."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.windows: set[tuple[str, str]] = set()

    def __call__(self, overrides: list[str]) -> Any:
        bounds = dict(o.split("=", 1) for o in overrides if o.startswith("backtest."))
        if {"backtest.start", "backtest.end"} <= set(bounds):
            self.windows.add((bounds["backtest.start"], bounds["backtest.end"]))
        return load_config("backtest", [*overrides, f"paths.data_dir={self.data_dir}"], environ={})


def _spec(tmp_path: Path, trials: int) -> Any:
    path = tmp_path / f"wf_{trials}.yaml"
    path.write_text(SEARCH.format(trials=trials))
    return load_sweep(path)


def test_a_fold_chosen_among_fewer_trials_is_not_resumed_by_a_search_of_more(
    tmp_path: Path, data_dir: Path, client: Any
) -> None:
    few, more = _spec(tmp_path, 1), _spec(tmp_path, 6)
    few_keys = {c.key for c in configurations(few)}
    more_keys = {c.key for c in configurations(more)}
    assert few_keys < more_keys  # the draws of 1 trial are among those of 6, and fewer
    address = client.scheduler.address
    first = run_walk_forward(few, Loader(data_dir), scheduler=address, workers=1)
    assert {f.chosen for f in first.folds} <= few_keys  # every fold chose among 1 configuration

    load = Loader(data_dir)
    again = run_walk_forward(more, load, scheduler=address, workers=1)

    # Every fold chooses among the 6 trials' configurations: none is taken from the first run.
    assert again.resumed == 0
    assert again.wf_id != first.wf_id
    for fold in again.folds:
        w = fold.window
        assert (str(w.train_start), str(w.train_end)) in load.windows, f"fold {w.fold} not run"

    # ... and they are what the 6 trials choose on a catalogue of their own.
    alone_dir = tmp_path / "alone"
    shutil.copytree(data_dir / "warehouse", alone_dir / "warehouse")
    alone = run_walk_forward(more, Loader(alone_dir), scheduler=address, workers=1)
    assert [f.chosen for f in again.folds] == [f.chosen for f in alone.folds]
    assert again.curve.equals(alone.curve)

    # Each walk-forward still resumes itself: the first, run again, runs nothing.
    load = Loader(data_dir)
    third = run_walk_forward(few, load, scheduler=address, workers=1)
    assert third.wf_id == first.wf_id
    assert third.resumed == len(first.folds)
    assert not {(str(f.window.train_start), str(f.window.train_end)) for f in first.folds} & (
        load.windows
    )
    assert third.curve.equals(first.curve)
