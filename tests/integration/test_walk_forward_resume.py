"""Walk-forward resume on a real two-process Dask cluster, on sp500-2010.

- an interrupted walk-forward (Ctrl-C after fold k is recorded) keeps its finished folds, and
  says so; run
  again, it runs only the missing folds (the windows it builds tasks for, the tasks the scheduler
  runs, the finished folds' recorded timings and workers) and its stitched curve and metrics are
  exactly (==) those of a run without a break; run a third time, it runs nothing;
- a fold is recorded in one transaction: a failed replacement leaves the fold as it was;
- the catalogue counts a batch's new results in one statement as before: a key recorded already,
  or twice in one batch, counts once.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from distributed import get_task_stream

from config import load_config
from config.sweep import configurations, load_sweep
from quant_core import interrupt
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.sweeps.catalogue import Catalogue, Result
from quant_core.sweeps.runner import CATALOGUE, batch_size, cluster
from quant_core.sweeps.walk_forward import WalkForwardProgress, run_walk_forward
from tests.integration.test_walk_forward import SPEC

pytestmark = pytest.mark.integration

STOP_AFTER = 2  # folds recorded before the interruption
WORKERS = 2


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("walk_forward_resume")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


@pytest.fixture
def data_dir(tmp_path: Path, synced: Path) -> Path:
    # A data directory of its own: its catalogue starts empty (the warehouse is the same data).
    shutil.copytree(synced / "warehouse", tmp_path / "data" / "warehouse")
    return tmp_path / "data"


@pytest.fixture(scope="module")
def client() -> Any:
    with cluster(None, WORKERS) as c:
        yield c


class Loader:
    """``load`` for run_walk_forward that notes every window a task is built for."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.windows: list[tuple[str, str]] = []

    def __call__(self, overrides: list[str]) -> Any:
        bounds = dict(o.split("=", 1) for o in overrides if o.startswith("backtest."))
        if {"backtest.start", "backtest.end"} <= set(bounds):
            self.windows.append((bounds["backtest.start"], bounds["backtest.end"]))
        return load_config("backtest", [*overrides, f"paths.data_dir={self.data_dir}"], environ={})


def _spec(tmp_path: Path) -> Any:
    path = tmp_path / "wf.yaml"
    path.write_text(SPEC)
    return load_sweep(path)


def _stop_after(folds: int) -> Any:
    def progress(p: WalkForwardProgress) -> None:
        if p.done - p.resumed >= folds:
            interrupt.note()  # as the entry points' SIGINT handler does
            raise KeyboardInterrupt

    return progress


def _idle(client: Any) -> None:
    # The interrupted run's tasks released: the next run's task stream counts its own only.
    deadline = time.monotonic() + 60
    while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
        assert time.monotonic() < deadline, "the scheduler still holds the interrupted tasks"
        time.sleep(0.2)


def _spans(folds: list[Any]) -> set[tuple[str, str]]:
    # The train and test windows of ``folds`` as a task's config names them.
    out = set()
    for f in folds:
        w = f.window
        out |= {(str(w.train_start), str(w.train_end)), (str(w.test_start), str(w.test_end))}
    return out


def _exact(figures: dict[str, Any]) -> str:
    return json.dumps(figures, sort_keys=True)  # floats by repr; NaN equal to NaN


def test_an_interrupted_walk_forward_resumes_its_missing_folds_only_and_stitches_the_same_curve(
    tmp_path: Path, data_dir: Path, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: a run without a break (its catalogue then moved aside), then one interrupted.
    spec = _spec(tmp_path)
    address = client.scheduler.address
    whole = run_walk_forward(spec, Loader(data_dir), scheduler=address, workers=WORKERS)
    total = len(whole.folds)
    assert total >= STOP_AFTER + 2
    (data_dir / CATALOGUE).rename(tmp_path / "whole.duckdb")
    try:
        with pytest.raises(KeyboardInterrupt):
            run_walk_forward(
                spec,
                Loader(data_dir),
                scheduler=address,
                workers=WORKERS,
                progress=_stop_after(STOP_AFTER),
            )
    finally:
        interrupt.clear()
    said = [r.getMessage() for r in caplog.records if " interrupted: " in r.getMessage()]
    assert said == [
        f"Walk-forward {whole.wf_id} interrupted: {STOP_AFTER} of {total} fold(s) recorded in "
        f"{data_dir / CATALOGUE}; the same command resumes without running them again"
    ]
    catalogue = Catalogue(data_dir / CATALOGUE)
    try:
        kept = catalogue.finished_folds(whole.wf_id)  # the same id: same spec, config, data
        with pytest.raises(KeyError):
            catalogue.walk_forward(whole.wf_id)  # not recorded whole: it did not finish
    finally:
        catalogue.close()
    assert len(kept) == STOP_AFTER
    _idle(client)

    # Act: run it again, counting the windows it builds tasks for and the tasks that run.
    load = Loader(data_dir)
    seen: list[WalkForwardProgress] = []
    with get_task_stream(client) as stream:
        again = run_walk_forward(
            spec, load, scheduler=address, workers=WORKERS, progress=seen.append
        )

    # Assert: the kept folds were read back, not run; the others ran, once each.
    kept_folds = {row["fold"] for row in kept}
    assert again.wf_id == whole.wf_id
    assert again.resumed == STOP_AFTER
    assert sorted(p.fold.window.fold for p in seen) == sorted(
        f.window.fold for f in whole.folds if f.window.fold not in kept_folds
    )
    assert [p.done for p in seen] == list(range(STOP_AFTER + 1, total + 1))
    for fold in again.folds:
        w = fold.window
        spans = _spans([fold])
        if w.fold in kept_folds:
            assert not spans & set(load.windows), f"fold {w.fold} was run again"
            row = next(r for r in kept if r["fold"] == w.fold)
            assert (fold.test.seconds, fold.test.worker) == (
                row["test_seconds"],
                row["test_worker"],
            )
        else:
            assert spans <= set(load.windows)
    every = len(configurations(spec))
    left = total - STOP_AFTER
    size = batch_size(spec, left * every, WORKERS)
    batches = -(-left * every // size)
    ran = [t for t in stream.data if str(t["key"]).startswith("run_batch")]
    assert len(ran) == batches + left  # the missing folds' train batches and test runs

    # Assert: the stitched result is exactly the uninterrupted run's, and so is its record.
    assert again.curve.equals(whole.curve)
    pd.testing.assert_series_equal(again.curve, whole.curve, check_exact=True)
    assert _exact(again.metrics) == _exact(whole.metrics)
    for mine, theirs in zip(again.folds, whole.folds, strict=True):
        assert (mine.window, mine.chosen, mine.params) == (
            theirs.window,
            theirs.chosen,
            theirs.params,
        )
        assert mine.train_objective == theirs.train_objective
        assert _exact(mine.test.metrics) == _exact(theirs.test.metrics)
        assert mine.test.curve.equals(theirs.test.curve)
    catalogue = Catalogue(data_dir / CATALOGUE)
    try:
        folds, curve, figures = catalogue.walk_forward(again.wf_id)
    finally:
        catalogue.close()
    assert folds["key"].tolist() == [f.chosen for f in whole.folds]
    assert curve.to_numpy().tolist() == whole.curve.to_numpy().tolist()
    assert _exact(figures) == _exact(whole.metrics)

    # A third run has every fold: it runs nothing and gives the same result.
    load = Loader(data_dir)
    with get_task_stream(client) as stream:
        third = run_walk_forward(spec, load, scheduler=address, workers=WORKERS)
    assert third.resumed == total
    assert not _spans(whole.folds) & set(load.windows)  # the base config's period only
    assert not [t for t in stream.data if str(t["key"]).startswith("run_batch")]
    assert third.curve.equals(whole.curve)


def _fold(number: int, start: str) -> dict[str, Any]:
    days = pd.bdate_range("2010-01-04", periods=5)
    return {
        "fold": number,
        "train_start": start,
        "train_end": dt.date(2010, 1, 4),
        "test_start": dt.date(2010, 1, 5),
        "test_end": dt.date(2010, 1, 8),
        "key": "k",
        "params": {"lookback": 20},
        "train_objective": 1.25,
        "test_metrics": {"sharpe": 0.5, "trades": 3},
        "test_curve": pd.Series([100.0, 101.0, 99.5, 102.0, 103.0], index=days),
        "test_seconds": 0.75,
        "test_worker": "w1",
    }


def test_a_fold_is_recorded_whole_or_not_at_all(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path / "catalogue.duckdb")
    try:
        recorded = catalogue.record_fold("wf-x", _fold(0, "2010-01-01"))
        with pytest.raises(duckdb.Error):  # the replacement fails after its DELETE: rolled back
            catalogue.record_fold("wf-x", _fold(0, "not a date"))
        back = catalogue.finished_folds("wf-x")
    finally:
        catalogue.close()
    assert len(back) == 1
    assert back[0]["train_start"] == dt.date(2010, 1, 1)
    assert back[0]["test_curve"].equals(recorded["test_curve"])
    assert {k: v for k, v in back[0].items() if k != "test_curve"} == {
        k: v for k, v in recorded.items() if k != "test_curve"
    }


def _result(key: str, value: float) -> Result:
    curve = pd.Series([1.0, 1.0 + value], index=pd.bdate_range("2010-01-04", periods=2))
    return Result(key, {"x": key}, {"sharpe": value}, 0.1, "w1", curve)


def test_a_batch_counts_only_the_results_it_adds(tmp_path: Path) -> None:
    now = dt.datetime(2010, 1, 4, tzinfo=dt.UTC)
    catalogue = Catalogue(tmp_path / "catalogue.duckdb")
    try:
        catalogue.start("s", "s", "momentum", "sharpe", True, {}, 3, now)
        first = catalogue.record(
            "s", [_result("a", 1.0), _result("a", 9.0)], "sharpe", True, 1, now
        )
        second = catalogue.record(
            "s", [_result("a", 2.0), _result("b", 3.0)], "sharpe", True, 1, now
        )
        frame = catalogue.results("s")
    finally:
        catalogue.close()
    assert (first, second) == (1, 1)
    assert dict(zip(frame["key"], frame["objective"], strict=True)) == {"a": 1.0, "b": 3.0}


def _batch_that_kills_its_worker(tasks: list[Any]) -> list[Result]:
    # A batch whose runs end the process, as an out-of-memory kill does.
    import os

    os._exit(1)


def test_a_batch_that_kills_every_worker_stops_the_walk_forward_naming_the_fold(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dask gives up on a batch whose workers keep dying (KilledWorker): the walk-forward stops
    # with an error naming the fold and its runs, not an unexpected error's traceback.
    import dask
    import distributed  # noqa: F401 - its defaults loaded first: the set must not drop them

    from quant_core.errors import OperationalError
    from quant_core.sweeps import wf_folds

    monkeypatch.setattr(wf_folds, "run_batch", _batch_that_kills_its_worker)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 1}),  # two deaths, not four
        pytest.raises(OperationalError) as raised,
    ):
        run_walk_forward(_spec(tmp_path), Loader(data_dir), workers=WORKERS)
    message = str(raised.value)
    assert "walk-forward: worker processes kept dying (out of memory, or a crash)" in message
    assert "'s train runs ({" in message
    assert "the same command resumes" in message
