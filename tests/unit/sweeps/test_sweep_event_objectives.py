"""Event-count objectives: a run without the event counts it zero times, not "missing".

A run's metrics carry the event counts (``stops``, ``stop_loss``, ..., ``fallbacks``) only when
one is non-zero (a default run's metrics keys stay as they were, and a sweep's metrics equal a
single run's ``--json``). A sweep reading its objective takes a count left out as 0, so a
configuration with no stop ranks first when stops are minimised, instead of being unranked.
An objective no configuration's run would have at all (an excess over no benchmark) is refused
before anything runs, naming ``sweep.objective``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from config import load_config
from config.schema import AppConfig
from config.sweep import SweepConfig, load_sweep
from quant_core.backtest.records import EVENT_COUNTS
from quant_core.errors import ConfigError
from quant_core.sweeps import runner
from quant_core.sweeps import walk_forward as wf
from quant_core.sweeps.catalogue import Catalogue, Result, objective_of
from quant_core.sweeps.wf_folds import Window, choose

CURVE = pd.Series([100.0, 101.0, 102.0], index=pd.bdate_range("2010-01-04", periods=3))
WINDOW = Window(
    1, dt.date(2010, 1, 4), dt.date(2010, 3, 1), dt.date(2010, 3, 3), dt.date(2010, 4, 1)
)


def _result(key: str, **metrics: float) -> Result:
    return Result(key, {"lookback": int(key)}, {"sharpe": 1.0, **metrics}, 0.0, "w", CURVE)


@pytest.mark.parametrize("name", EVENT_COUNTS)
def test_an_event_count_left_out_of_a_runs_metrics_is_zero(name: str) -> None:
    assert objective_of({"sharpe": 1.0}, name) == 0.0
    assert objective_of({name: 3}, name) == 3.0


def test_another_metric_left_out_is_still_missing() -> None:
    assert objective_of({"stops": 2}, "sharpe") is None
    assert objective_of({"sharpe": float("nan")}, "sharpe") is None


def test_a_walk_forward_fold_minimising_stops_chooses_the_configuration_without_any() -> None:
    spec = SweepConfig.model_validate(
        {"name": "t", "strategy": "momentum", "grid": {"lookback": [20, 60]}}
        | {"objective": "stop_loss", "maximize": False}
    )
    results = [_result("20", stops=2, stop_loss=2), _result("60")]  # 60: no event, no count
    assert choose(WINDOW, results, spec) == ("60", 0.0)


def test_the_catalogue_records_a_count_left_out_as_zero(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path / "catalogue.duckdb")
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    try:
        catalogue.start("s", "s", "momentum", "stops", False, {}, 2, at)
        catalogue.record("s", [_result("20", stops=1), _result("60")], "stops", False, 1, at)
        results = catalogue.results("s")
    finally:
        catalogue.close()
    assert list(results["key"]) == ["60", "20"]  # the one without a stop first
    assert list(results["objective"]) == [0.0, 1.0]


EXCESS = """
sweep:
  strategy: momentum
  grid: {lookback: [20, 60]}
  set: {strategy.rebalance: 21, backtest.benchmark: null}
  objective: excess_cagr
  period: {start: 2010-02-01, end: 2010-08-31}
"""


@pytest.mark.parametrize("walk", [False, True])
def test_an_excess_objective_without_a_benchmark_is_refused_naming_it(
    tmp_path: Path, walk: bool
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(EXCESS + ("  walk_forward: {train: 40, test: 20}\n" if walk else ""))
    spec = load_sweep(path)

    def load(overrides: list[str]) -> AppConfig:
        return load_config("backtest", [*overrides, f"paths.data_dir={tmp_path}"], environ={})

    run = wf.run_walk_forward if walk else runner.run_sweep
    with pytest.raises(ConfigError) as caught:
        run(spec, load, path=str(path), workers=1)
    said = str(caught.value)
    assert f"{path}: sweep.objective: excess_cagr" in said
    assert "backtest.benchmark" in said
    assert not (tmp_path / "sweeps").exists()  # nothing ran, nothing recorded
