"""Review of the sweeps and the walk-forward: adversarial tests, each naming a defect.

The cluster, the warehouse and the backtest are replaced by in-process fakes where the defect is
in the driver's logic (what it sends, what it records, how it names a sweep), so these run in a
second; Optuna's journal is real.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from config import load_config
from config.sweep import configurations, load_sweep, sweep_digest
from quant_core.errors import ConfigError, DataError
from quant_core.sweeps import runner, wf_folds
from quant_core.sweeps import walk_forward as wf
from quant_core.sweeps.catalogue import Catalogue, Result
from quant_core.sweeps.overfitting import overfitting

SESSIONS = pd.bdate_range("2010-01-04", periods=260)


# --- fakes: a cluster that runs each task here, a warehouse of sessions, a backtest ---------


class _Future:
    count = 0

    def __init__(self, function: Any, payload: Any) -> None:
        _Future.count += 1
        self.key = f"task-{_Future.count}"
        self.value: Any = None
        self.error: Exception | None = None
        try:
            self.value = function(payload)
        except Exception as exc:  # a worker's error reaches the driver at result()
            self.error = exc

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class _Queue:
    """``distributed.as_completed``: futures in the order added, more added as it runs."""

    def __init__(self, futures: Any = ()) -> None:
        self.items = list(futures)

    def add(self, future: Any) -> None:
        self.items.append(future)

    def __iter__(self) -> Iterator[Any]:
        while self.items:
            yield self.items.pop(0)


class _Client:
    dashboard_link = None

    def scheduler_info(self, n_workers: int = 0) -> dict[str, Any]:
        return {"workers": {"w1": {}}}

    def submit(self, function: Any, payload: Any, pure: bool = True) -> _Future:
        return _Future(function, payload)


@contextmanager
def _cluster(scheduler: str | None, workers: int | None) -> Iterator[_Client]:
    yield _Client()


def _fake_curve(cfg: Any) -> pd.Series:
    start = cfg.backtest.start or SESSIONS[1].date()
    end = cfg.backtest.end or SESSIONS[-1].date()
    first = int(SESSIONS.searchsorted(pd.Timestamp(start)))
    last = int(SESSIONS.searchsorted(pd.Timestamp(end), "right")) - 1
    index = SESSIONS[max(first - 1, 0) : last + 1]
    seed = abs(hash(json.dumps(cfg.strategy.params, sort_keys=True))) % 2**32
    steps = np.random.default_rng(seed).normal(0.0005, 0.01, len(index))
    steps[0] = 0.0
    return pd.Series(cfg.backtest.initial_cash * np.cumprod(1 + steps), index=index)


def _fake_batch(seen: list[Any]) -> Any:
    def run_batch(tasks: list[Any]) -> list[Result]:
        out = []
        for task in tasks:
            seen.append(task)
            curve = _fake_curve(task.cfg)
            daily = curve.pct_change().iloc[1:]
            metrics = {"sharpe": float(daily.mean() / daily.std()), "final_equity": curve.iloc[-1]}
            out.append(Result(task.key, task.params, metrics, 0.0, "w1", curve))
        return out

    return run_batch


class _Warehouse:
    def __init__(self, root: Path) -> None:
        self.root = root

    def panel(self, dataset: str, field: str) -> pd.DataFrame:
        return pd.DataFrame({"X": 1.0}, index=SESSIONS)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    import distributed

    seen: list[Any] = []
    monkeypatch.setattr(runner, "cluster", _cluster)
    monkeypatch.setattr(runner, "run_batch", _fake_batch(seen))
    monkeypatch.setattr(wf, "cluster", _cluster)
    monkeypatch.setattr(wf_folds, "run_batch", _fake_batch(seen))
    monkeypatch.setattr(wf, "Warehouse", _Warehouse)
    monkeypatch.setattr(distributed, "as_completed", _Queue)
    return seen


def _loader(data_dir: Path, *more: str) -> Any:
    return lambda overrides: load_config(
        "backtest", [*overrides, f"paths.data_dir={data_dir}", *more], environ={}
    )


def _file(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


GRID = """
sweep:
  strategy: momentum
  grid: {lookback: [20, 60], top_quantile: [0.1, 0.2]}
  set: {strategy.rebalance: 21}
  objective: sharpe
  period: {start: 2010-02-01, end: 2010-12-31}
"""

WF = GRID + "  walk_forward: {train: 40, test: 20, embargo: 2, scheme: rolling}\n"


# --- (1) look-ahead in the walk-forward ---------------------------------------------------


def test_walk_forward_a_set_backtest_end_cannot_stretch_a_train_window_into_its_test(
    tmp_path: Path, fakes: list[Any]
) -> None:
    """``--set backtest.end=...`` comes after the window's own end and replaces it.

    One fold (test: 200 sessions): nothing overlaps, so nothing complains; the fold's choice
    is made on a "train" run through the end of its own test window.
    """
    path = _file(tmp_path, WF.replace("test: 20", "test: 200"))
    spec = load_sweep(path)
    folds = wf.windows(SESSIONS, spec)
    assert len(folds) == 1
    try:
        wf.run_walk_forward(
            spec, _loader(tmp_path), path=str(path), extra=("backtest.end=2010-12-31",)
        )
    except ConfigError:
        return  # refused: a window's span is the walk-forward's, not the command line's
    train = fakes[: len(configurations(spec))]
    window = folds[0]
    for task in train:
        assert task.cfg.backtest.end <= window.train_end, (
            f"fold 0 chose {task.key} on data through {task.cfg.backtest.end}; its train window "
            f"ends {window.train_end} and its test window starts {window.test_start}"
        )


def test_walk_forward_with_an_optuna_search_is_a_config_error(
    tmp_path: Path, fakes: list[Any]
) -> None:
    body = WF.replace(
        "grid: {lookback: [20, 60], top_quantile: [0.1, 0.2]}",
        "search: {method: optuna, trials: 4, space: {lookback: [20, 60]}}",
    )
    path = _file(tmp_path, body)
    with pytest.raises(ConfigError):
        wf.run_walk_forward(load_sweep(path), _loader(tmp_path), path=str(path))


def test_walk_forward_a_period_after_the_data_is_a_data_error_not_an_index_error(
    tmp_path: Path,
) -> None:
    # The period has no end (the data's last session ends it); a start after its end is
    # refused when the file is read (sweep.period), so the file gives none.
    body = WF.replace("{start: 2010-02-01, end: 2010-12-31}", "{start: 2012-02-01}")
    spec = load_sweep(_file(tmp_path, body))
    assert spec.period.end is None
    with pytest.raises(DataError):
        wf.windows(SESSIONS, spec)


# --- (2) resume: the sweep's identity and the Optuna budget --------------------------------


def test_a_changed_run_config_is_not_resumed_from_the_old_results(
    tmp_path: Path, fakes: list[Any]
) -> None:
    """Editing config/backtest.yaml (here: the initial cash) must not reuse the old metrics."""
    path = _file(tmp_path, GRID)
    spec = load_sweep(path)
    first = runner.run_sweep(spec, _loader(tmp_path), path=path)
    assert first.ran == 4
    changed = runner.run_sweep(spec, _loader(tmp_path, "backtest.initial_cash=5000"), path=path)
    assert changed.sweep_id != first.sweep_id or changed.ran == 4, (
        "the same sweep id for another run config: its stale results are resumed"
    )


def test_the_batch_size_does_not_change_the_sweep_id(tmp_path: Path) -> None:
    """The same configurations on the same data are the same sweep: it resumes."""
    one = load_sweep(_file(tmp_path, GRID + "  batch: 1\n"))
    two = load_sweep(_file(tmp_path, GRID + "  batch: 8\n"))
    assert configurations(one) == configurations(two)
    assert sweep_digest(one) == sweep_digest(two)


OPTUNA = """
sweep:
  strategy: momentum
  search: {method: optuna, trials: 4, seed: 1, space: {lookback: [20, 60]}}
  set: {strategy.rebalance: 21}
  objective: sharpe
"""


def _optuna_sweep(tmp_path: Path, fakes: list[Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    path = _file(tmp_path, OPTUNA)
    spec = load_sweep(path)
    return spec, path, _loader(tmp_path)


def test_optuna_with_repeated_proposals_is_finished_when_its_budget_is_spent(
    tmp_path: Path, fakes: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, path, load = _optuna_sweep(tmp_path, fakes, monkeypatch)
    first = runner.run_sweep(spec, load, path=path, workers=1)
    catalogue = Catalogue(first.catalogue)
    try:
        finished = catalogue.sweeps()["finished_at"].iloc[0]
        judged = catalogue.overfitting(first.sweep_id)
    finally:
        catalogue.close()
    # 4 trials over 2 possible configurations: 2 keys recorded, "2 of 4 done" for ever.
    assert not pd.isna(finished), "a spent budget is never finished (nor judged)"
    assert judged["trials"] is not None
    # The cockpit's progress counts the trials ended, not the keys: finished, not stale.
    progress = json.loads(
        (tmp_path / "sweeps" / runner.PROGRESS / f"{first.sweep_id}.json").read_text()
    )
    assert (progress["done"], progress["total"]) == (4, 4)


def test_optuna_run_again_keeps_its_trial_budget(
    tmp_path: Path, fakes: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from quant_core.sweeps.optuna_search import study_path

    spec, path, load = _optuna_sweep(tmp_path, fakes, monkeypatch)
    runner.run_sweep(spec, load, path=path, workers=1)
    again = runner.run_sweep(spec, load, path=path, workers=1)
    storage = JournalStorage(JournalFileBackend(str(study_path(tmp_path, again.sweep_id))))
    study = optuna.load_study(study_name=again.sweep_id, storage=storage)
    assert len(study.trials) == 4, f"a 4-trial budget ran {len(study.trials)} trials"
    assert again.ran == 0


def _finished(path: Path) -> bool:
    # Whether the catalogue's (only) sweep is marked finished.
    catalogue = Catalogue(path)
    try:
        return not pd.isna(catalogue.sweeps()["finished_at"].iloc[0])
    finally:
        catalogue.close()


def test_optuna_trials_a_stopped_driver_left_running_do_not_spend_the_budget(
    tmp_path: Path, fakes: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The driver holds the study (ask and tell): Ctrl-C leaves the trials in flight asked and
    # never told. Run again, they are failed, listed as abandoned, and the budget's 4 trials
    # are those that ended; the first run's recorded result is kept.
    import optuna

    from quant_core.sweeps.optuna_search import ABANDONED, finished_trials, study_path

    spec, path, load = _optuna_sweep(tmp_path, fakes, monkeypatch)
    real = vars(runner)["run_batch"]  # the fake backtest
    calls: list[Any] = []

    def interrupted(tasks: list[Any]) -> list[Result]:
        calls.append(tasks)
        if len(calls) == 3:  # trial 0 told, trial 1 in flight, trial 2 being sent
            raise KeyboardInterrupt
        return real(tasks)

    monkeypatch.setattr(runner, "run_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run_sweep(spec, load, path=path, workers=1)
    monkeypatch.setattr(runner, "run_batch", real)
    again = runner.run_sweep(spec, load, path=path, workers=1)
    assert again.resumed == 1  # trial 0's result, recorded before the interruption
    journal = study_path(tmp_path, again.sweep_id)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.load_study(study_name=again.sweep_id, storage=storage)
    assert study.user_attrs[ABANDONED] == [1, 2]
    states = {t.number: t.state for t in study.trials}
    assert states[1] == states[2] == optuna.trial.TrialState.FAIL
    assert len(study.trials) == 6  # 4 that count, 2 abandoned
    assert finished_trials(journal, again.sweep_id) == 4
    assert _finished(again.catalogue)


def test_a_setup_error_on_the_workers_stops_an_optuna_sweep_as_it_stops_a_grid(
    tmp_path: Path, fakes: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A ConfigError a worker raises for every trial (a benchmark not in the data, a worker's
    # credentials) is the setup's, not a trial's params': said, not 4 trials failed in silence
    # and the sweep marked finished with nothing (its budget spent for good).
    spec, path, load = _optuna_sweep(tmp_path, fakes, monkeypatch)

    def refused(tasks: list[Any]) -> list[Result]:
        raise ConfigError("backtest.benchmark: no symbol 'ZZZZ' in dataset")

    monkeypatch.setattr(runner, "run_batch", refused)
    with pytest.raises(ConfigError, match="ZZZZ"):
        runner.run_sweep(spec, load, path=path, workers=1)
    assert not _finished(tmp_path / runner.CATALOGUE)


def test_an_optuna_trial_is_told_only_once_its_result_is_recorded(
    tmp_path: Path, fakes: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stopped between the record and the tell, the trial is abandoned and asked again; told
    # before the record, its result would be lost with the budget spent.
    import optuna

    from quant_core.sweeps.optuna_search import study_path

    spec, path, load = _optuna_sweep(tmp_path, fakes, monkeypatch)
    real = Catalogue.record
    calls: list[int] = []

    def stopped(self: Catalogue, *args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # stopped as the second result is being recorded
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Catalogue, "record", stopped)
    with pytest.raises(KeyboardInterrupt):
        runner.run_sweep(spec, load, path=path, workers=1)
    monkeypatch.setattr(Catalogue, "record", real)
    again = runner.run_sweep(spec, load, path=path, workers=1)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(study_path(tmp_path, again.sweep_id)))
    )
    study = optuna.load_study(study_name=again.sweep_id, storage=storage)
    told = {
        json.dumps(t.params, sort_keys=True)
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE
    }
    catalogue = Catalogue(again.catalogue)
    try:
        recorded = set(catalogue.results(again.sweep_id)["key"])
    finally:
        catalogue.close()
    assert told <= recorded, f"told but not recorded: {told - recorded}"


def test_optuna_trials_in_flight_are_sized_by_the_clusters_workers_not_the_drivers_cores(
    tmp_path: Path, fakes: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 16-core laptop driving a 1-worker cluster: two trials in flight, not 32 asked before
    # any is told (a search that learns nothing), and none asked before the cluster is reached.
    import os

    from quant_core.sweeps.optuna_search import StudyFeed

    spec, path, load = _optuna_sweep(tmp_path, fakes, monkeypatch)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    asked: list[int] = []
    real = StudyFeed.take

    def take(self: StudyFeed, n: int) -> list[Any]:
        asked.append(n)
        return real(self, n)

    monkeypatch.setattr(StudyFeed, "take", take)
    runner.run_sweep(spec, load, path=path)
    assert asked[0] == 2, f"asked {asked[0]} trials at once of a 1-worker cluster"
    assert max(asked) <= 2


def test_a_ctrl_c_the_clusters_start_swallowed_stops_the_sweep_before_it_sends(
    tmp_path: Path,
    fakes: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A Ctrl-C a library swallows in the driver (a cluster's start) would leave it running on:
    # the runner stops at its next step, and says what the catalogue kept.
    from quant_core import interrupt

    @contextmanager
    def swallowed(scheduler: str | None, workers: int | None) -> Iterator[_Client]:
        interrupt.note()  # as cli's handler notes it, before Dask swallows the exception
        with _cluster(scheduler, workers) as client:
            yield client

    monkeypatch.setattr(runner, "cluster", swallowed)
    path = _file(tmp_path, GRID)
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run_sweep(load_sweep(path), _loader(tmp_path), path=path, workers=1)
    finally:
        interrupt.clear()
    assert fakes == [], "a backtest ran after the Ctrl-C"
    said = [r.getMessage() for r in caplog.records if " interrupted: " in r.getMessage()]
    assert len(said) == 1
    assert " interrupted: 0 of 4 configuration(s) recorded in " in said[0]
    assert said[0].endswith("the same command starts it again")  # nothing recorded to resume


def test_each_configurations_config_load_is_not_logged_again(
    tmp_path: Path, fakes: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # A grid of 594 configurations logged 8 config lines each (files read, overrides applied),
    # burying the sweep's own news: the lines are the sweep's, as many for 2 as for 6.
    import logging

    said = []
    for k, lookbacks in enumerate(("[20, 60]", "[20, 40, 60, 80, 100, 120]")):
        folder = tmp_path / f"g{k}"
        folder.mkdir()
        path = _file(folder, GRID.replace("[20, 60]", lookbacks))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="quant_core.config"):
            runner.run_sweep(load_sweep(path), _loader(folder), path=path, workers=1)
        said.append(sum(r.name == "quant_core.config" for r in caplog.records))
    assert len(fakes) == 4 + 12
    assert said[0] == said[1], f"config lines for 4 and 12 configurations: {said}"
    assert logging.getLogger("quant_core.config").level == logging.NOTSET  # as it was


# --- (6) the key's params are what ran ------------------------------------------------------


def test_a_set_of_a_swept_parameter_cannot_make_every_configuration_run_alike(
    tmp_path: Path, fakes: list[Any]
) -> None:
    path = _file(tmp_path, GRID)
    spec = load_sweep(path)
    try:
        runner.run_sweep(spec, _loader(tmp_path), path=path, extra=("strategy.params.lookback=90",))
    except ConfigError:
        return  # refused: it names a swept parameter
    for task in fakes:
        ran = {k: task.cfg.strategy.params[k] for k in task.params}
        assert ran == task.params, f"recorded as {task.key} but ran {ran}"


def test_a_set_value_of_a_text_field_runs_as_a_single_runs_set(tmp_path: Path) -> None:
    body = GRID.replace("{strategy.rebalance: 21}", "{strategy.rebalance: 21, data.dataset: x1}")
    spec = load_sweep(_file(tmp_path, body))
    config = configurations(spec)[0]
    cfg = load_config("backtest", list(config.overrides), environ={})
    assert cfg.data.dataset == "x1"  # "--set data.dataset=x1" gives x1, not '"x1"'


# --- (5) a bad spec is named before anything runs ------------------------------------------


def test_an_unknown_objective_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sharpee"):
        load_sweep(_file(tmp_path, GRID.replace("objective: sharpe", "objective: sharpee")))


def test_an_unknown_parameter_in_set_is_named_before_the_sweep_starts(tmp_path: Path) -> None:
    body = GRID.replace("{strategy.rebalance: 21}", "{strategy.params.lookbak: 5}")
    path = _file(tmp_path, body)
    with pytest.raises(ConfigError, match="lookbak"):
        configurations(load_sweep(path), path)


def test_a_flag_the_sweep_would_ignore_is_refused() -> None:
    import run_backtest

    with pytest.raises(SystemExit) as exc:
        run_backtest._parse(["--sweep", "research/x.yaml", "--list-strategies"])
    assert exc.value.code == 2


# --- (4) overfitting on awkward curves -------------------------------------------------------


def test_overfitting_survives_a_configuration_that_lost_everything() -> None:
    rng = np.random.default_rng(2)
    noise = rng.normal(0.0003, 0.01, size=(200, 4))
    curves = pd.DataFrame(1e6 * np.cumprod(1 + noise, axis=0), index=SESSIONS[:200])
    curves.columns = ["a", "b", "c", "d"]
    curves.loc[curves.index[100:], "d"] = 0.0  # a short book wiped out: equity 0 from then on
    figures = overfitting(curves, "a")  # raises on the NaN returns 0 / 0: the sweep dies
    assert figures["pbo"] is not None


# --- (3) the catalogue's kept curves -------------------------------------------------------


def test_minimise_keeps_the_lowest_curves_and_lists_them_first(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path / "c.duckdb")
    now = dt.datetime.now(dt.UTC)
    curve = pd.Series(1.0, index=SESSIONS[:5])
    catalogue.start("s", "n", "momentum", "max_drawdown_sessions", False, {}, 4, now)

    def result(key: str, value: float) -> Result:
        return Result(key, {"k": key}, {"o": value}, 0.0, "w", curve)

    catalogue.record("s", [result("c", 3.0), result("d", float("nan"))], "o", False, 2, now)
    catalogue.record("s", [result("b", 1.0), result("a", 1.0)], "o", False, 2, now)
    try:
        assert catalogue.results("s")["key"].tolist() == ["a", "b", "c", "d"]
        assert sorted(catalogue.curves("s").columns) == ["a", "b"]
    finally:
        catalogue.close()


def test_kept_curves_follow_a_new_keep_from_the_recorded_curves(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path / "c.duckdb")
    now = dt.datetime.now(dt.UTC)
    catalogue.start("s", "n", "momentum", "sharpe", True, {}, 4, now)

    def result(key: str, value: float) -> Result:
        curve = pd.Series(np.linspace(1.0, value, 5), index=SESSIONS[:5])
        return Result(key, {"k": key}, {"o": value}, 0.0, "w", curve)

    catalogue.record(
        "s",
        [result(k, v) for k, v in zip("abcd", (1.5, 4.0, 2.5, 3.0), strict=True)],
        "o",
        True,
        1,
        now,
    )
    try:
        assert list(catalogue.curves("s").columns) == ["b"]
        catalogue.keep_curves("s", True, 3)
        kept = catalogue.curves("s")
        assert sorted(kept.columns) == ["b", "c", "d"]
        assert kept["d"].tolist() == np.linspace(1.0, 3.0, 5).tolist()
        catalogue.keep_curves("s", True, 0)
        assert catalogue.curves("s").empty
    finally:
        catalogue.close()
