"""A stored model as a factor in a sweep and in a book, on sp500-2010 and a real 2-worker cluster.

A ``multi_factor`` whose ``factors`` name ``model_<id>`` validates only once the model is loaded
(the drivers load what params name). Before, a sweep that swept such factors, and a book whose
sleeve named one, were refused as "model factor ... is not loaded" by the driver's own checks
(``config.sweep.configurations``, ``config.book_loader.load_book``) before anything loaded it.

- a sweep of ``multi_factor`` over factors naming a stored model runs; its metrics are a
  separate run's;
- ``run_backtest.py --book`` runs a book whose sleeve names the model; a model not stored stops
  it with exit 4 naming the factor;
- a sweep of that book over the sleeve's factors gives the metrics of a separate book run.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import load_config
from config.sweep import configurations, load_sweep
from config.sweep_book import with_params
from quant_core.atomic import json_safe
from quant_core.backtest.book_run import run_book_backtest
from quant_core.backtest.run import run_backtest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.factors.base import forget_named_factor
from quant_core.sweeps.catalogue import Catalogue
from quant_core.sweeps.runner import run_sweep
from tests.model_factories import refit, store_model

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PERIOD = {"start": "2010-01-04", "end": "2010-08-20"}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("sweep_model")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    # Predicts from 2009-12-01: every session of the period has its scores.
    model = store_model(
        root, ["momentum_20", "volatility_20"], [refit(dt.date(2009, 12, 1), [1.0, -0.5])]
    )
    return root, f"model_{model}"


@pytest.fixture(autouse=True)
def _unloaded(stored: tuple[Path, str]) -> Any:
    forget_named_factor(stored[1])  # each test starts as a fresh process: the model not loaded
    yield
    forget_named_factor(stored[1])


def _loader(data_dir: Path) -> Any:
    return lambda overrides: load_config(
        "backtest", [*overrides, f"paths.data_dir={data_dir}"], environ={}
    )


def _results(data_dir: Path, sweep_id: str) -> dict[str, dict[str, Any]]:
    catalogue = Catalogue(data_dir / "sweeps" / "catalogue.duckdb")
    try:
        frame = catalogue.results(sweep_id)
    finally:
        catalogue.close()
    return dict(zip(frame["key"].astype(str), frame["metrics"], strict=True))


def test_a_sweep_over_factors_naming_a_stored_model_runs_as_separate_runs(
    tmp_path: Path, stored: tuple[Path, str]
) -> None:
    data_dir, factor = stored
    path = tmp_path / "mf.yaml"
    spec_text = {
        "sweep": {
            "strategy": "multi_factor",
            "grid": {"factors": [{factor: 1.0}, {factor: 1.0, "volatility_20": -0.5}]},
            "set": {"strategy.rebalance": 21},
            "period": PERIOD,
        }
    }
    path.write_text(yaml.safe_dump(spec_text))
    spec = load_sweep(path)
    load = _loader(data_dir)
    done = run_sweep(spec, load, path=path, workers=2)
    assert (done.total, done.ran) == (2, 2)
    recorded = _results(data_dir, done.sweep_id)
    start = [] if done.start is None else [f"backtest.start={done.start}"]
    for config in configurations(spec, path):
        alone = run_backtest(load([*config.overrides, *start]), store=False)
        assert recorded[config.key] == json_safe(alone.metrics), config.key
        assert alone.metrics["trades"] > 0


def _book(tmp_path: Path, factor: str) -> Path:
    path = tmp_path / "mfbook.yaml"
    book = {
        "book": {
            "sleeves": [
                {
                    "name": "mf",
                    "strategy": {"name": "multi_factor", "params": {"factors": {factor: 1.0}}},
                    "scanner": {"name": "liquid", "params": {"top": 100, "min_history": 63}},
                },
                {"name": "mom", "strategy": {"name": "momentum", "params": {"lookback": 63}}},
            ],
            "allocation": {"method": "equal"},
        }
    }
    path.write_text(yaml.safe_dump(book))
    return path


def _cli_book(book: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "run_backtest.py",
            "--book",
            str(book),
            "--json",
            "--start",
            PERIOD["start"],
            "--end",
            PERIOD["end"],
            "--set",
            f"paths.data_dir={data_dir}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_book_whose_sleeve_names_a_stored_model_runs_and_a_missing_one_stops_it(
    tmp_path: Path, stored: tuple[Path, str]
) -> None:
    data_dir, factor = stored
    proc = _cli_book(_book(tmp_path, factor), data_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["metrics"]["trades"] > 0
    missing = "model_nothere-20240105T143000Z-0a0a"
    proc = _cli_book(_book(tmp_path, missing), data_dir)
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert f"mfbook.yaml: sleeve mf: factor {missing}" in proc.stderr


def test_a_sweep_of_that_book_over_the_sleeves_factors_gives_separate_book_runs(
    tmp_path: Path, stored: tuple[Path, str]
) -> None:
    data_dir, factor = stored
    path = tmp_path / "grid.yaml"
    grid = {"mf.factors": [{factor: 1.0}, {"volatility_20": -1.0}]}
    spec_text = {"sweep": {"book": str(_book(tmp_path, factor)), "grid": grid, "period": PERIOD}}
    path.write_text(yaml.safe_dump(spec_text))
    spec = load_sweep(path)
    load = _loader(data_dir)
    done = run_sweep(spec, load, path=path, workers=2)
    assert done.ran == 2
    recorded = _results(data_dir, done.sweep_id)
    assert spec.book is not None
    start = [] if done.start is None else [f"backtest.start={done.start}"]
    span = [f"backtest.start={PERIOD['start']}", f"backtest.end={PERIOD['end']}", *start]
    for config in configurations(spec, path):
        book = with_params(spec.book.config, config.params)
        alone = run_book_backtest(load(span), book, store=False)
        assert recorded[config.key] == json_safe(alone.account.metrics), config.key


def test_a_sweep_over_models_fitted_on_other_windows_starts_them_all_together(
    tmp_path: Path, stored: tuple[Path, str]
) -> None:
    # A fitted run starts on its model's first decision: models whose first refits differ
    # would be measured over different sessions. The sweep starts all on the latest.
    data_dir, _ = stored
    early, late = (
        store_model(data_dir, ["momentum_20", "volatility_20"], [refit(day, [1.0, -0.5])], name=n)
        for n, day in (("early", dt.date(2010, 1, 15)), ("late", dt.date(2010, 3, 1)))
    )
    path = tmp_path / "fit.yaml"
    sweep = {"strategy": "fitted", "grid": {"model": [early, late]}, "period": PERIOD}
    path.write_text(yaml.safe_dump({"sweep": sweep}))
    spec = load_sweep(path)
    load = _loader(data_dir)
    done = run_sweep(spec, load, path=path, workers=2)
    assert done.start == dt.date(2010, 3, 2)  # the session after the late model's first refit
    recorded = _results(data_dir, done.sweep_id)
    catalogue = Catalogue(data_dir / "sweeps" / "catalogue.duckdb")
    try:
        curves = catalogue.curves(done.sweep_id)
    finally:
        catalogue.close()
    assert curves.notna().all().all()  # both measured over the same sessions
    for config in configurations(spec, path):
        alone = run_backtest(load([*config.overrides, f"backtest.start={done.start}"]), store=False)
        assert recorded[config.key] == json_safe(alone.metrics), config.key


def test_an_optuna_search_over_models_starts_on_the_latest_wherever_it_sits_in_the_list(
    tmp_path: Path, stored: tuple[Path, str]
) -> None:
    from quant_core.sweeps.prepare import prepare

    data_dir, _ = stored
    early, late, other = (
        store_model(data_dir, ["momentum_20", "volatility_20"], [refit(day, [1.0, -0.5])], name=n)
        for n, day in (
            ("o_early", dt.date(2009, 12, 1)),
            ("o_late", dt.date(2010, 3, 1)),
            ("o_other", dt.date(2009, 11, 2)),
        )
    )
    path = tmp_path / "opt.yaml"
    search = {"method": "optuna", "trials": 4, "space": {"model": [early, late, other]}}
    sweep = {"strategy": "fitted", "search": search, "period": PERIOD}
    path.write_text(yaml.safe_dump({"sweep": sweep}))
    ready = prepare(load_sweep(path), _loader(data_dir), (), path)
    assert ready.start == dt.date(2010, 3, 2)  # the late model's first decision, in the middle
