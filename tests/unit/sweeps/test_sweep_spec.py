"""Sweep files: grid expansion, random draws, the errors that name the field, the identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.sweep import check_choices, configurations, load_sweep, set_params, sweep_digest
from quant_core.errors import ConfigError
from quant_core.sweeps.catalogue import pack_curve, unpack_curve
from quant_core.sweeps.overfitting import overfitting


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(body)
    return path


GRID = """
sweep:
  strategy: momentum
  grid: {lookback: [20, 60, 126], top_quantile: [0.1, 0.2]}
  set: {strategy.rebalance: 21}
  period: {start: 2009-10-01, end: 2010-08-20}
"""


def test_a_grid_expands_to_every_combination_with_its_overrides(tmp_path: Path) -> None:
    path = _file(tmp_path, GRID)
    spec = load_sweep(path)
    assert spec.name == "s"
    every = configurations(spec, path)
    assert len(every) == 6
    assert {c.key for c in every} == {
        f'{{"lookback": {lb}, "top_quantile": {q}}}' for lb in (20, 60, 126) for q in (0.1, 0.2)
    }
    first = every[0]
    assert first.overrides[:4] == (
        "strategy.name=momentum",
        "strategy.rebalance=21",
        "backtest.start=2009-10-01",
        "backtest.end=2010-08-20",
    )
    assert "strategy.params.lookback=20" in first.overrides


def test_a_random_search_draws_within_its_ranges_and_repeats_with_its_seed(tmp_path: Path) -> None:
    body = """
sweep:
  strategy: momentum
  search:
    trials: 40
    seed: 3
    space: {lookback: {int: [10, 250]}, top_quantile: {float: [0.05, 0.5]}}
"""
    path = _file(tmp_path, body)
    spec = load_sweep(path)
    one, two = configurations(spec, path), configurations(load_sweep(path), path)
    assert [c.key for c in one] == [c.key for c in two]
    lookbacks = np.array([c.params["lookback"] for c in one])
    quantiles = np.array([c.params["top_quantile"] for c in one])
    assert lookbacks.min() >= 10 and lookbacks.max() <= 250  # noqa: PT018
    assert quantiles.min() >= 0.05 and quantiles.max() <= 0.5  # noqa: PT018
    assert len(set(lookbacks.tolist())) > 20  # draws, not one value
    other = load_sweep(_file(tmp_path, body.replace("seed: 3", "seed: 4")))
    assert sweep_digest(other) != sweep_digest(spec)
    assert sweep_digest(spec, ("paths.data_dir=/x",)) != sweep_digest(spec)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (GRID.replace("lookback", "look_back"), "sweep.grid.look_back: momentum has no parameter"),
        (GRID.replace("momentum", "momentun"), "sweep.strategy: unknown strategy 'momentun'"),
        (GRID.replace("grid:", "grod:"), "sweep.grod"),
        (GRID.replace("[20, 60, 126]", "[]"), "at least one value"),
        ("sweep:\n  strategy: momentum\n", "give one of grid"),
        ("nothing: 1\n", "top-level `sweep:`"),
        # maximize: 0, 1 or "no" were taken for a boolean (0 -> minimise), a guess at a typo.
        (GRID + "  maximize: 0\n", "sweep.maximize: Input should be a valid boolean"),
        (GRID + "  maximize: 1\n", "sweep.maximize: Input should be a valid boolean"),
        (GRID + '  maximize: "no"\n', "sweep.maximize: Input should be a valid boolean"),
    ],
)
def test_a_bad_sweep_file_is_refused_naming_the_field(
    tmp_path: Path, body: str, named: str
) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace("[", r"\[")):
        load_sweep(_file(tmp_path, body))


def test_a_configuration_whose_params_do_not_validate_is_named(tmp_path: Path) -> None:
    path = _file(tmp_path, GRID.replace("[0.1, 0.2]", "[0.1, 7.0]"))
    with pytest.raises(ConfigError, match=r"configuration .*top_quantile.*7\.0"):
        configurations(load_sweep(path), path)


def test_a_curve_packs_and_unpacks_exactly() -> None:
    index = pd.bdate_range("2010-01-04", periods=300)
    curve = pd.Series(np.random.default_rng(1).normal(1e6, 1e4, 300), index=index)
    back = unpack_curve(pack_curve(curve))
    np.testing.assert_array_equal(back.to_numpy(), curve.to_numpy())
    assert (back.index == index).all()


def test_overfitting_tells_an_edge_from_noise() -> None:
    rng = np.random.default_rng(5)
    index = pd.bdate_range("2010-01-04", periods=1000)
    noise = rng.normal(0.0, 0.01, size=(1000, 30))
    noise[:, 0] += 0.004  # one configuration with a real edge
    curves = pd.DataFrame(1e6 * np.cumprod(1 + noise, axis=0), index=index)
    curves.columns = [f"c{i}" for i in range(30)]
    edge = overfitting(curves, "c0")
    assert edge["pbo"] < 0.05
    assert edge["deflated_sharpe"] > 0.95
    assert 25 < edge["effective_trials"] <= 30  # independent trials
    lucky = overfitting(curves.drop(columns="c0"), "c1")
    assert 0.2 < lucky["pbo"] < 0.8  # the best of noise: a coin
    flat = curves.assign(c29=1e6)  # a configuration that never moved is left out
    assert overfitting(flat, "c0")["trials"] == 29
    assert overfitting(curves[["c0"]], "c0")["pbo"] is None


def test_batches_keep_every_task_in_order_and_taper_at_the_end() -> None:
    from quant_core.sweeps.runner import split

    tasks = list(range(1000))
    batches = split(tasks, 50, 2)
    assert [t for batch in batches for t in batch] == tasks
    sizes = [len(b) for b in batches]
    assert max(sizes) == 50
    assert sizes == sorted(sizes, reverse=True)  # never larger after a smaller one
    assert sizes[-1] <= 6  # the last ones small: the workers finish close together
    assert all(size >= 6 for size in sizes[:-1])  # an eighth of the batch at least
    assert [len(b) for b in split(list(range(100)), 7, 2, taper=False)] == [7] * 14 + [2]
    assert split([], 5, 2) == []


SMA_SET = """
sweep:
  strategy: sma_cross
  {how}
  set: {set}
"""


@pytest.mark.parametrize(
    "setting",
    [
        "{strategy.params.slow: 300}",
        "{strategy.params: {slow: 300}}",
        "{Strategy: {params: {slow: 300}}, strategy.rebalance: 21}",
        "{strategy.params.slow: 150, strategy.params: {slow: 300}}",  # the later item wins
    ],
)
@pytest.mark.parametrize(
    "how",
    ["grid: {fast: [100, 250]}", "search: {trials: 30, seed: 1, space: {fast: {int: [100, 250]}}}"],
    ids=["grid", "random"],
)
def test_an_unswept_parameter_comes_from_set_not_the_strategys_default(
    tmp_path: Path, setting: str, how: str
) -> None:
    # sma_cross's slow defaults to 200: built on the default, fast 250 would be refused though
    # the sweep's set makes slow 300 (as the run config will).
    path = _file(tmp_path, SMA_SET.format(how=how, set=setting))
    spec = load_sweep(path)
    assert set_params(spec) == {"slow": 300}
    every = configurations(spec, path)
    assert any(c.params["fast"] >= 200 for c in every), "no draw above the default slow"
    assert all(100 <= c.params["fast"] <= 250 for c in every)
    assert all(c.overrides[-1].startswith("strategy.params.fast=") for c in every)  # slow: set


def test_without_a_slow_from_anywhere_the_configuration_is_refused_by_name(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, SMA_SET.format(how="grid: {fast: [100, 250]}", set="{}"))
    spec = load_sweep(path)
    with pytest.raises(ConfigError, match=r'configuration \{"fast": 250\}.*slow \(200\)'):
        configurations(spec, path)
    # The run config's params (base.yaml, QC__ variables, --set) are what the runner passes.
    every = configurations(spec, path, {"slow": 300})
    assert [c.params for c in every] == [{"fast": 100}, {"fast": 250}]
    with pytest.raises(ConfigError, match=r'configuration \{"fast": 100\}.*slow \(90\)'):
        configurations(spec, path, {"slow": 90})  # the run's own slow, not the default
    # only: that configuration alone is built (fast 100 fits under the default slow 200).
    assert [c.params for c in configurations(spec, path, only='{"fast": 100}')] == [{"fast": 100}]
    assert configurations(spec, path, only='{"fast": 7}') == []


def test_set_params_ignores_what_is_not_a_strategy_parameter(tmp_path: Path) -> None:
    body = """
sweep:
  strategy: momentum
  grid: {lookback: [20]}
  set: {strategy.rebalance: 21, portfolio: {cash_buffer: 0.05}, strategy: {rebalance: 5}}
"""
    spec = load_sweep(_file(tmp_path, body))
    assert set_params(spec) == {}


def test_a_misspelled_objective_lists_only_the_metrics_one_may_choose(tmp_path: Path) -> None:
    # start_equity and the benchmark's metrics are refused as objectives: not offered either.
    path = _file(tmp_path, GRID + "  objective: sharp\n")
    with pytest.raises(ConfigError, match="'sharp' is no metric of a run") as refused:
        load_sweep(path)
    offered = str(refused.value).split("choose one of ")[1].split(", ")
    assert "sharpe" in offered
    assert not {"start_equity", "benchmark_cagr", "benchmark_total_return"} & set(offered)


OPTUNA_SPEC = """
sweep:
  strategy: momentum
  search: {method: optuna, trials: 6, seed: 1, space: {lookback: [20, 20.0, 60]}}
  set: {strategy.rebalance: 21}
"""


def test_an_optuna_list_of_two_values_that_are_one_setting_is_refused(tmp_path: Path) -> None:
    # 20 and 20.0 are one lookback: Optuna ran the same backtest twice and the deflated Sharpe
    # counted three trials where two backtests ran (a grid and a random search refused it).
    path = _file(tmp_path, OPTUNA_SPEC)
    spec = load_sweep(path)
    with pytest.raises(ConfigError, match=r"s\.yaml: sweep\.search\.space\.lookback: 20.* and 20"):
        check_choices(spec, path, set_params(spec))
    fine = load_sweep(_file(tmp_path, OPTUNA_SPEC.replace("20.0, ", "")))
    check_choices(fine, path, set_params(fine))  # distinct values: nothing to say


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("search: {trials: 5, seed: -1, space: {lookback: [20, 60]}}", "seed"),
        (
            "search: {method: optuna, trials: 5, seed: 4294967296, space: {lookback: [20, 60]}}",
            "seed",
        ),
        ("grid: {lookback: [20, 60]}\n  keep: 9223372036854775808", "keep"),
    ],
)
def test_a_seed_or_keep_out_of_range_is_refused_naming_it(
    tmp_path: Path, setting: str, field: str
) -> None:
    # Accepted, then a traceback from numpy, Optuna or DuckDB (after a batch ran, for keep).
    body = f"sweep:\n  strategy: momentum\n  {setting}\n"
    with pytest.raises(ConfigError, match=rf"s\.yaml.*{field}"):
        load_sweep(_file(tmp_path, body))
    top = (
        body.replace("-1", "0")
        .replace("4294967296", "4294967295")
        .replace("9223372036854775808", "1000000")
    )
    load_sweep(_file(tmp_path, top))  # the ends of the range are fine


def test_an_exponent_yaml_reads_as_text_is_named_with_how_to_write_it(tmp_path: Path) -> None:
    # YAML 1.1 reads 1e-1 unquoted as text (its floats need a dot and a signed exponent): the
    # message said to unquote values that were not quoted.
    body = "sweep:\n  strategy: momentum\n  grid: {lookback: [60], top_quantile: [1e-1, 2e-1]}\n"
    with pytest.raises(ConfigError) as exc:
        load_sweep(_file(tmp_path, body))
    said = str(exc.value)
    assert 'sweep.grid.top_quantile: "1e-1" is text' in said
    assert "write 0.1 or 1.0e-1" in said
    assert "unquoted" not in said
    quoted = "sweep:\n  strategy: momentum\n  grid: {lookback: ['20', '60']}\n"
    with pytest.raises(ConfigError, match="give its values unquoted"):
        load_sweep(_file(tmp_path, quoted))
