"""A sweep refuses, before any cluster starts, a configuration whose stored model its run refuses.

``fitted`` (or a book's ``fitted`` sleeve) trades the model its params name: not stored, rejected,
or predicting nothing before the period's end, its run stops with exit 4; a sweep names such a
configuration (and the sleeve) first, as it names a schedule or a policy the run refuses, rather
than let every worker fail. Each model is read once per sweep.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import load_config
from config.sweep import load_sweep
from quant_core.research.model import REJECTED, ModelNotReady
from quant_core.sweeps.model_checks import ModelChecks
from quant_core.sweeps.prepare import prepare
from tests.model_factories import refit, store_model

FACTORS = ["momentum_20", "volatility_20"]


@pytest.fixture
def models(tmp_path: Path) -> tuple[Path, str, str]:
    data = tmp_path / "data"
    good = store_model(data, FACTORS, [refit(dt.date(2010, 3, 1), [1.0, -0.5])], name="good")
    bad = store_model(data, FACTORS, [refit(dt.date(2010, 3, 1), [1.0, -0.5])], REJECTED, 0.001)
    return data, good, bad


def _prepare(tmp_path: Path, data: Path, sweep: dict[str, Any]) -> Any:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"sweep": sweep}))

    def load(overrides: list[str]) -> Any:
        return load_config("backtest", [*overrides, f"paths.data_dir={data}"], environ={})

    return prepare(load_sweep(path), load, (), path)


def test_a_rejected_model_is_named_with_its_configuration(
    tmp_path: Path, models: tuple[Path, str, str]
) -> None:
    data, good, bad = models
    sweep = {"strategy": "fitted", "grid": {"model": [good, bad]}}
    with pytest.raises(ModelNotReady) as err:
        _prepare(tmp_path, data, sweep)
    assert str(err.value).startswith(f'{tmp_path / "s.yaml"}: configuration {{"model": "{bad}"}}: ')
    assert "rejected" in str(err.value)
    assert len(_prepare(tmp_path, data, {**sweep, "grid": {"model": [good]}}).todo) == 1


def test_a_model_that_predicts_nothing_before_the_end_is_refused(
    tmp_path: Path, models: tuple[Path, str, str]
) -> None:
    data, good, _ = models
    sweep = {"strategy": "fitted", "grid": {"model": [good]}, "period": {"end": "2010-02-01"}}
    with pytest.raises(
        ModelNotReady,
        match=r"its model predicts from the close of 2010-03-01 on, "
        r"after the end of the span 2010-02-01",
    ):
        _prepare(tmp_path, data, sweep)


def test_a_books_fitted_sleeve_is_named_with_the_configuration(
    tmp_path: Path, models: tuple[Path, str, str]
) -> None:
    data, good, bad = models
    book = tmp_path / "book.yaml"
    sleeves = [
        {"name": "fit", "strategy": {"name": "fitted", "params": {"model": good}}},
        {"name": "mom", "strategy": {"name": "momentum"}},
    ]
    book.write_text(yaml.safe_dump({"book": {"sleeves": sleeves}}))
    sweep = {"book": str(book), "grid": {"fit.model": [good, bad]}}
    with pytest.raises(ModelNotReady) as err:
        _prepare(tmp_path, data, sweep)
    assert (
        f'configuration {{"fit.model": "{bad}"}}: sweep.period: sleeve fit: strategy fitted: '
        in str(err.value)
    )
    search = {"method": "optuna", "trials": 3, "space": {"fit.model": [good, bad]}}
    with pytest.raises(
        ModelNotReady,
        match=r"sweep.search.space at \{'fit.model': '.*'\}: "
        r"sweep.period: sleeve fit: strategy fitted: ",
    ):
        _prepare(tmp_path, data, {"book": str(book), "search": search})


def test_each_model_is_read_once(tmp_path: Path, models: tuple[Path, str, str]) -> None:
    from quant_core.strategies import build_strategy

    data, good, bad = models
    checks = ModelChecks(data, None)
    for _ in range(3):
        checks.check(build_strategy("fitted", {"model": good}))
        with pytest.raises(ModelNotReady):
            checks.check(build_strategy("fitted", {"model": bad}))
    checks.check(build_strategy("momentum", {}))  # no model: nothing to read
    assert set(checks.seen) == {good, bad}


def test_every_value_of_an_optuna_list_is_checked_wherever_it_sits(
    tmp_path: Path, models: tuple[Path, str, str]
) -> None:
    # A list is a choice, not a range between its ends: a rejected model in its middle is
    # refused before the study starts, as at its ends.
    data, good, bad = models
    other = store_model(data, FACTORS, [refit(dt.date(2010, 1, 4), [0.5, -1.0])], name="other")
    for space in ([good, bad, other], [bad, good, other], [good, other, bad]):
        search = {"method": "optuna", "trials": 3, "space": {"model": space}}
        with pytest.raises(ModelNotReady, match=rf"model.: .{bad}.\}}: sweep.period: "):
            _prepare(tmp_path, data, {"strategy": "fitted", "search": search})


def test_a_model_named_as_a_factor_is_refused_naming_the_sweep_file(
    tmp_path: Path, models: tuple[Path, str, str]
) -> None:
    data, good, bad = models
    grid = {"factors": [{f"model_{good}": 1.0}, {f"model_{bad}": 1.0}]}
    with pytest.raises(ModelNotReady) as err:
        _prepare(tmp_path, data, {"strategy": "multi_factor", "grid": grid})
    assert str(err.value).startswith(f"{tmp_path / 's.yaml'}: factor model_{bad} in ")


def test_a_walk_forward_names_its_first_train_window_for_a_late_model(
    tmp_path: Path, models: tuple[Path, str, str]
) -> None:
    from config.sweep import configurations
    from quant_core.sweeps.checks import check_configurations

    data, good, _ = models
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"sweep": {"strategy": "fitted", "grid": {"model": [good]}}}))
    base = load_config("backtest", [f"paths.data_dir={data}", "strategy.name=fitted"], environ={})
    every = configurations(load_sweep(path), path)
    with pytest.raises(
        ModelNotReady,
        match=r"its first train window: strategy fitted: its model "
        r"predicts from the close of 2010-03-01 on, after the end of the span "
        r"2010-02-16",
    ):
        check_configurations(base, every, path, None, (None, dt.date(2010, 2, 16)))
