"""Sweeps of a book on a real Dask cluster of two worker processes, on sp500-2010.

- a book's sweep (``<sleeve>.<param>``, ``allocation.<key>``) gives, for configurations picked at
  random, exactly the metrics of separate ``run_backtest.py --book`` runs of the book with those
  values;
- a configuration run again from the catalogue (the cockpit's "Run and open") is the book the
  sweep ran, even after the book file was edited;
- an Optuna search of a book: each trial a whole book run;
- a walk-forward of a book: its test runs are separate book runs, and data after a fold's test
  window changes nothing in that fold (truncation).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from config import load_config
from config.book_schema import BookConfig
from config.sweep import configurations, load_sweep
from config.sweep_book import with_params
from quant_core.atomic import json_safe
from quant_core.backtest.book_run import run_book_backtest
from quant_core.cockpit.models import sweep_data as sd
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.sweeps.catalogue import Catalogue
from quant_core.sweeps.runner import run_sweep
from quant_core.sweeps.walk_forward import run_walk_forward

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "config" / "books" / "core.yaml"
GRID = """
sweep:
  book: BOOK
  grid: {mom.lookback: [63, 126], allocation.method: [equal, risk_budget]}
  objective: sharpe
  period: {start: 2009-10-01, end: 2010-08-20}
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("sweep_book")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


def _spec(tmp_path: Path, body: str = GRID) -> Path:
    book = tmp_path / "core.yaml"  # a copy: a test may edit it
    book.write_text(CORE.read_text())
    path = tmp_path / "grid.yaml"
    path.write_text(body.replace("BOOK", str(book)))
    return path


def _loader(data_dir: Path) -> Any:
    return lambda overrides: load_config(
        "backtest", [*overrides, f"paths.data_dir={data_dir}"], environ={}
    )


def _cli(data_dir: Path, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "run_backtest.py", *args, "--json", "--set", f"paths.data_dir={data_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def _book_file(tmp_path: Path, book: BookConfig, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"book": book.model_dump(mode="json")}))
    return path


def test_a_book_sweep_gives_exactly_the_metrics_of_separate_book_runs(
    tmp_path: Path, data_dir: Path
) -> None:
    path = _spec(tmp_path)
    summary = _cli(data_dir, "--sweep", str(path), "--workers", "2")
    assert (summary["configurations"], summary["ran"], summary["workers"]) == (4, 4, 2)
    results = {json.dumps(r["params"], sort_keys=True): r for r in summary["results"]}
    assert len(results) == 4
    every = configurations(load_sweep(path), path)
    assert {c.key for c in every} == set(results)
    start = summary["start"]  # the period's start moved when warm-ups differ (sweeps.span)
    picked = [every[i] for i in np.random.default_rng(11).choice(len(every), 2, replace=False)]
    for k, config in enumerate(picked):
        assert config.book is not None
        book = _book_file(tmp_path, config.book, f"alone{k}")
        period = ["--start", start or "2009-10-01", "--end", "2010-08-20"]
        alone = _cli(data_dir, "--book", str(book), *period)
        assert results[config.key]["metrics"] == alone["metrics"], config.key
    # The sweeps differ by their params: not every configuration gives the same figures.
    assert len({r["metrics"]["final_equity"] for r in results.values()}) > 1
    catalogue = Catalogue(data_dir / "sweeps" / "catalogue.duckdb")
    try:
        row = catalogue.sweeps().set_index("sweep_id").loc[summary["sweep_id"]]
    finally:
        catalogue.close()
    assert row["strategy"] == "book:core"
    kept = load_sweep(path).book
    assert kept is not None
    assert json.loads(row["spec"])["book"] == json.loads(kept.model_dump_json())


def test_a_configuration_run_again_from_the_catalogue_is_the_book_the_sweep_ran(
    tmp_path: Path, data_dir: Path
) -> None:
    path = _spec(tmp_path, GRID.replace("[equal, risk_budget]", "[hrp]"))
    load = _loader(data_dir)
    done = run_sweep(load_sweep(path), load, path=path, workers=2)
    (tmp_path / "core.yaml").write_text("book: {}\n")  # the file broken since: not read again
    catalogue = Catalogue(done.catalogue)
    try:
        row = catalogue.sweeps().set_index("sweep_id").loc[done.sweep_id]
        recorded = catalogue.results(done.sweep_id)
    finally:
        catalogue.close()
    key = str(recorded["key"].iloc[-1])
    again = sd.rerun(str(row["name"]), str(row["spec"]), key, data_dir, (), load)
    assert again.book is not None
    assert again.book.sleeves[0].strategy.params["lookback"] == json.loads(key)["mom.lookback"]
    assert again.book.allocation.method == "hrp"
    run = run_book_backtest(load(again.overrides), again.book, store=True)
    assert json_safe(run.account.metrics) == recorded["metrics"].iloc[-1]
    assert (run.account.path / "sleeves.parquet").exists()


OPTUNA = """
sweep:
  book: BOOK
  search:
    method: optuna
    trials: 4
    seed: 2
    space: {mom.lookback: {int: [40, 126]}, revert.bottom_quantile: {float: [0.05, 0.3]}}
  objective: sharpe
"""


def test_an_optuna_search_of_a_book_runs_each_trial_as_the_whole_book(
    tmp_path: Path, data_dir: Path
) -> None:
    path = _spec(tmp_path, OPTUNA)
    spec = load_sweep(path)
    load = _loader(data_dir)
    done = run_sweep(spec, load, path=path, workers=2)
    assert done.total == 4
    catalogue = Catalogue(done.catalogue)
    try:
        recorded = catalogue.results(done.sweep_id)
    finally:
        catalogue.close()
    assert 1 <= len(recorded) <= 4
    key, metrics = str(recorded["key"].iloc[0]), recorded["metrics"].iloc[0]
    params = json.loads(key)
    assert set(params) == {"mom.lookback", "revert.bottom_quantile"}
    assert spec.book is not None
    start = [] if done.start is None else [f"backtest.start={done.start}"]
    alone = run_book_backtest(load(start), with_params(spec.book.config, params), store=False)
    assert metrics == json_safe(alone.account.metrics)


WALK = """
sweep:
  book: BOOK
  grid: {mom.lookback: [63, 126], revert.hold_sessions: [3, 5]}
  objective: sharpe
  walk_forward: {train: 150, test: 30, scheme: rolling}
"""


def _walk(tmp_path: Path, data_dir: Path) -> Any:
    tmp_path.mkdir(exist_ok=True)
    path = _spec(tmp_path, WALK)
    return run_walk_forward(load_sweep(path), _loader(data_dir), path=str(path), workers=2)


def test_a_walk_forward_of_a_book_tests_each_fold_as_a_separate_book_run_without_look_ahead(
    tmp_path: Path, data_dir: Path
) -> None:
    whole = _walk(tmp_path / "whole", data_dir)
    assert len(whole.folds) >= 3
    fold = whole.folds[1]
    w = fold.window
    spec = load_sweep(tmp_path / "whole" / "grid.yaml")
    assert spec.book is not None
    chosen = with_params(spec.book.config, json.loads(fold.chosen))
    window = [f"backtest.start={w.test_start}", f"backtest.end={w.test_end}"]
    alone = run_book_backtest(_loader(data_dir)(window), chosen, store=False)
    assert fold.test.metrics == json_safe(alone.account.metrics)
    # Truncation: the data cut after fold 1's test window; folds 0 and 1 are unchanged.
    source = Warehouse(data_dir / "warehouse")
    short = tmp_path / "short"
    target = Warehouse(short / "warehouse")
    bars = source.read_bars("sp500-2010", end=w.test_end)
    target.write_bars("sp500-2010", bars, source.meta("sp500-2010"))
    target.write_symbols("sp500-2010", source.symbols("sp500-2010"))
    cut = _walk(tmp_path / "cut", short)
    assert len(cut.folds) == 2
    for mine, theirs in zip(cut.folds, whole.folds[:2], strict=False):
        assert mine.window == theirs.window
        assert mine.chosen == theirs.chosen
        assert mine.train_objective == pytest.approx(theirs.train_objective, rel=1e-12)
        assert mine.test.metrics == pytest.approx(theirs.test.metrics, rel=1e-12, nan_ok=True)
        pd.testing.assert_series_equal(
            mine.test.curve, theirs.test.curve, check_exact=False, rtol=1e-12
        )
