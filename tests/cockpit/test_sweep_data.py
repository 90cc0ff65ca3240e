"""The Sweeps page's model without Streamlit: axes, a configuration's rerun, progress files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from config import load_config
from config.schema import AppConfig
from config.sweep import SweepConfig, configurations
from quant_core.cockpit.models import sweep_data as sd
from quant_core.cockpit.models import sweep_progress as sp
from quant_core.errors import ConfigError
from tests.cockpit.sweep_helpers import MOM_GRID


def test_a_random_search_axis_is_binned_and_a_grid_axis_is_not() -> None:
    draws = pd.Series(np.linspace(0.05, 0.5, 40))
    levels = sd.axis_levels(draws)
    assert len(levels.cat.categories) == sd.BINS
    assert levels.iloc[0] == "0.05 to 0.095"
    assert levels.iloc[-1] == "0.455 to 0.5"
    assert levels.value_counts().sum() == 40
    grid = sd.axis_levels(pd.Series([126, 20, 60, 20]))
    assert list(grid.cat.categories) == ["20", "60", "126"]
    assert list(sd.axis_levels(pd.Series([True, False])).cat.categories) == ["False", "True"]


def test_run_overrides_are_the_configurations_own_plus_the_data_dir(tmp_path: Path) -> None:
    spec = SweepConfig.model_validate(MOM_GRID)
    wanted = next(
        c for c in configurations(spec) if c.params == {"lookback": 60, "top_quantile": 0.1}
    )
    overrides = sd.run_overrides("mom_grid", spec.model_dump_json(), wanted.key, tmp_path)
    assert overrides == [*wanted.overrides, f"paths.data_dir={tmp_path}"]
    assert "strategy.params.lookback=60" in overrides
    assert "backtest.end=2010-08-20" in overrides
    with pytest.raises(ConfigError, match=r"sweep 'mom_grid': no configuration \{\"lookback\": 7"):
        sd.run_overrides("mom_grid", spec.model_dump_json(), '{"lookback": 7}', tmp_path)
    with pytest.raises(ConfigError, match="sweep 'x': its stored spec does not validate"):
        sd.run_overrides("x", json.dumps({"name": "x", "strategy": "momentum"}), "{}", tmp_path)


def test_run_overrides_apply_the_sweeps_set_values_before_the_data_dir(tmp_path: Path) -> None:
    spec = SweepConfig.model_validate(MOM_GRID)
    wanted = configurations(spec)[0]
    extra = ("strategy.rebalance=5", " Paths.Data_Dir =/x", "paths.data_dir=/y", "a.b=c=d")
    overrides = sd.run_overrides("mom_grid", spec.model_dump_json(), wanted.key, tmp_path, extra)
    assert overrides == [
        *wanted.overrides,
        "strategy.rebalance=5",
        "a.b=c=d",
        f"paths.data_dir={tmp_path}",
    ]
    assert overrides.index("strategy.rebalance=5") > overrides.index("strategy.rebalance=21")


@pytest.mark.parametrize("stored", [None, float("nan"), pd.NA, "[]"])
def test_no_stored_set_values_read_as_none(stored: Any) -> None:
    assert sd.stored_extra("s", stored) == ()


def test_stored_set_values_are_read_and_bad_ones_named() -> None:
    assert sd.stored_extra("s", '["a.b=1", "c=x y"]') == ("a.b=1", "c=x y")
    for bad in ("[1]", '{"a": 1}', "a.b=1", 3):
        with pytest.raises(ConfigError, match="sweep 's': its stored --set values are not"):
            sd.stored_extra("s", bad)
    shown = sd.extra_text(("a.b=1", "ib.password=hunter22", "alerts.api_token=x"))
    assert shown == "a.b=1 ib.password=********** alerts.api_token=**********"


def test_a_malformed_progress_file_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    assert sp.read_progress(path) is None
    path.write_text('{"done": 1')
    assert sp.read_progress(path) is None
    path.write_text(json.dumps({"done": "x", "total": 2}))
    assert sp.read_progress(path) is None
    path.write_text(json.dumps({"done": 1, "total": 2, "dashboard": "javascript:alert(1)"}))
    read = sp.read_progress(path)
    assert read is not None
    assert read.dashboard is None
    assert read.sweep_id == "p"


def test_run_overrides_build_the_configuration_over_the_run_configs_params(
    tmp_path: Path,
) -> None:
    # sma_cross's slow defaults to 200; the sweep ran with slow 215 from QC__ variables (its
    # run config). Built on the default, fast 200 was refused: the cockpit could not run it.
    spec = SweepConfig.model_validate(
        {"name": "sma", "strategy": "sma_cross", "grid": {"fast": [200, 205]}}
    )
    environ = {"QC__STRATEGY__NAME": "sma_cross", "QC__STRATEGY__PARAMS__SLOW": "215"}
    seen: list[list[str]] = []

    def load(overrides: list[str]) -> AppConfig:
        seen.append(overrides)
        return load_config("backtest", overrides, environ=environ)

    key = '{"fast": 200}'
    overrides = sd.run_overrides("sma", spec.model_dump_json(), key, tmp_path, (), load)
    assert overrides == [
        "strategy.name=sma_cross",
        "strategy.params.fast=200",
        f"paths.data_dir={tmp_path}",
    ]
    assert seen == [["strategy.name=sma_cross", f"paths.data_dir={tmp_path}"]]
    assert load_config("backtest", overrides, environ=environ).strategy.params == {
        "fast": 200,
        "slow": 215,
    }
    with pytest.raises(ConfigError, match=r"fast \(200\) must be shorter than slow \(200\)"):
        sd.run_overrides("sma", spec.model_dump_json(), key, tmp_path)  # no run config: defaults
    # Today's run config refuses fast 205 (slow 204) but not fast 200: the one asked for runs.
    environ["QC__STRATEGY__PARAMS__SLOW"] = "204"
    ran = sd.run_overrides("sma", spec.model_dump_json(), key, tmp_path, (), load)
    assert "strategy.params.fast=200" in ran
    with pytest.raises(ConfigError, match=r'configuration \{"fast": 205\}.*slow \(204\)'):
        sd.run_overrides("sma", spec.model_dump_json(), '{"fast": 205}', tmp_path, (), load)


def test_run_overrides_of_an_optuna_trial_are_rebuilt_from_its_key(tmp_path: Path) -> None:
    # An Optuna search's trials are not expanded from the spec: "run and open" rebuilds the
    # trial from its key, once the key is a point of the space searched.
    spec = SweepConfig.model_validate(
        {
            "name": "mom_optuna",
            "strategy": "momentum",
            "search": {
                "method": "optuna",
                "trials": 10,
                "space": {"lookback": {"int": [20, 150]}, "top_quantile": {"float": [0.1, 0.4]}},
            },
            "set": {"strategy.rebalance": 21},
            "period": {"start": "2009-10-01", "end": "2010-08-20"},
        }
    )
    stored = spec.model_dump_json(by_alias=True)  # as the catalogue keeps it
    key = json.dumps({"lookback": 57, "top_quantile": 0.2317}, sort_keys=True)
    overrides = sd.run_overrides("mom_optuna", stored, key, tmp_path)
    assert "strategy.params.lookback=57" in overrides
    assert "strategy.params.top_quantile=0.2317" in overrides
    assert "strategy.rebalance=21" in overrides
    assert overrides[-1] == f"paths.data_dir={tmp_path}"
    cfg = load_config("backtest", overrides, environ={})
    assert cfg.strategy.params["lookback"] == 57
    outside = [
        {"lookback": 7, "top_quantile": 0.2},  # below the int range
        {"lookback": 57.5, "top_quantile": 0.2},  # not a whole number
        {"lookback": 57, "top_quantile": 0.5},  # above the float range
        {"lookback": 57},  # a dimension missing
        {"lookback": 57, "top_quantile": 0.2, "skip": 1},  # a name the space lacks
    ]
    for params in outside:
        bad = json.dumps(params, sort_keys=True)
        with pytest.raises(ConfigError, match="no configuration"):
            sd.run_overrides("mom_optuna", stored, bad, tmp_path)
