"""Walk-forward on Dask: choose parameters on each fold's train window, trade its test window.

``run_backtest.py --walk-forward research/mom_wf.yaml``: a sweep file with a ``walk_forward``
section (``train``, ``test`` in sessions, ``embargo``, ``scheme``: ``rolling`` or ``anchored``).
The folds are the research splitter's (:func:`quant_core.research.splits.walk_forward`, label
span 1: a backtest's decision at T is judged by the session T): fold ``k`` tests the sessions
``a_k .. a_k + test - 1`` and trains on the ``train`` sessions ending ``embargo`` sessions
before ``a_k`` (``anchored``: from the period's first session). For each fold every
configuration runs over the train window (its warm-up reads sessions before it: the past), the
best by the sweep's objective is chosen (ties: the first by key), and that configuration runs
over the test window from cash. The test segments' daily returns are chained into one
out-of-sample curve from the run's initial cash, with its metrics; each segment starts from cash,
so the stitched curve pays a fresh entry at every fold, as a monthly re-fit would.

A fold's choice and its test run use data through its test window's last session only: data
added after it changes nothing in that fold (the truncation test).

Resume: a fold's test run is sent as soon as its train runs are back (ahead of the train batches
still queued), and the fold is recorded in the catalogue as it finishes, in one transaction
(:meth:`~quant_core.sweeps.catalogue_wf.WalkForwardRecords.record_fold`). An interrupted
walk-forward run again (the same id: the spec, a search's trials included, ``--set`` values,
run config and data version) reads its finished folds back and runs only the others: a fold is
the unit, the train runs of a fold not finished run again. Every fold, run now or resumed, is
taken as the catalogue keeps it, so a resumed walk-forward's stitched curve and metrics are those
of one run without a break.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from config.schema import AppConfig
from config.sweep import Configuration, SweepConfig, configurations, subject, sweep_digest
from config.sweep_checks import check_objective_made
from quant_core import interrupt
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError, DataError
from quant_core.research.splits import walk_forward
from quant_core.sweeps.catalogue import Catalogue, Result
from quant_core.sweeps.checks import (
    bars_version_of,
    check_benchmark_of,
    check_configurations,
    check_extra,
    check_objective,
    load_base,
    load_configuration,
    load_models,
    sweep_context,
)
from quant_core.sweeps.cluster import cluster
from quant_core.sweeps.runner import CATALOGUE
from quant_core.sweeps.span import shared_start
from quant_core.sweeps.tasks import Task
from quant_core.sweeps.wf_curve import gap, stitch, stitched_metrics
from quant_core.sweeps.wf_folds import Window, run_folds

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FoldResult:
    """A fold: its windows, the configuration chosen on train, and its test run."""

    window: Window
    chosen: str
    params: dict[str, Any]
    train_objective: float | None
    test: Result


@dataclass(frozen=True, slots=True)
class WalkForwardRun:
    """The folds and the stitched out-of-sample curve with its metrics, and where recorded."""

    wf_id: str
    catalogue: Path
    folds: list[FoldResult]
    curve: pd.Series
    metrics: dict[str, Any]
    resumed: int = 0  # folds read back from the catalogue, not run again


@dataclass(frozen=True, slots=True)
class WalkForwardProgress:
    """Where a walk-forward is: folds done of all, how many were resumed, the fold just run."""

    done: int
    total: int
    resumed: int
    fold: FoldResult


def windows(dates: pd.DatetimeIndex, spec: SweepConfig, path: str | None = None) -> list[Window]:
    """Return the folds of ``spec.walk_forward`` over the sessions ``dates`` (module docstring)."""
    wf = spec.walk_forward
    where = path or f"sweep {spec.name}"
    if wf is None:
        raise ConfigError(f"{where}: sweep.walk_forward: --walk-forward needs this section")
    days = dates.to_numpy().astype("datetime64[D]")
    start = spec.period.start
    end = spec.period.end
    anchor = 0 if start is None else int(np.searchsorted(days, np.datetime64(start, "D")))
    last = (
        len(days) - 1
        if end is None
        else int(np.searchsorted(days, np.datetime64(end, "D"), "right")) - 1
    )
    folds = walk_forward(
        len(days), anchor, wf.train, wf.test, wf.embargo, 1, wf.scheme == "anchored", last
    )
    if not folds:
        span = f"{days[0]}..{days[-1]}" if len(days) else "no session"
        raise DataError(
            f"{where}: sweep.walk_forward: no fold fits the period "
            f"{start or 'the start'}..{end or 'the end'} of the data ({span}) with train "
            f"{wf.train}, embargo {wf.embargo} and test {wf.test} sessions"
        )

    def day(row: int) -> dt.date:
        return dt.date.fromisoformat(str(days[int(row)]))

    short = folds[-1].test
    if len(short) < wf.test:
        logger.warning(
            "%s: the last walk-forward fold (%d) tests %d session(s), %s..%s, not %d: the %s "
            "ends there",
            where,
            folds[-1].number,
            len(short),
            day(short[0]),
            day(short[-1]),
            wf.test,
            "period" if end is not None and last < len(days) - 1 else "data",
        )

    return [
        Window(f.number, day(f.train[0]), day(f.train[-1]), day(f.test[0]), day(f.test[-1]))
        for f in folds
    ]


def _windowed(config: Configuration, start: dt.date, end: dt.date) -> tuple[str, ...]:
    kept = tuple(
        o for o in config.overrides if not o.startswith(("backtest.start=", "backtest.end="))
    )
    return (*kept, f"backtest.start={start}", f"backtest.end={end}")


def run_walk_forward(
    spec: SweepConfig,
    load: Callable[[list[str]], AppConfig],
    *,
    path: str = "sweep",
    extra: tuple[str, ...] = (),
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[WalkForwardProgress], None] | None = None,
) -> WalkForwardRun:
    """Run the walk-forward of ``spec`` on the cluster; return its folds and stitched curve.

    Each fold is recorded in the catalogue as soon as it is finished; the same walk-forward run
    again (the same spec, a search's trials included, ``--set`` values, run config and data
    version: the same id) reads its finished folds back and runs only the others. ``progress``
    is called after each fold run is recorded.
    """
    if spec.search is not None and spec.search.method == "optuna":
        raise ConfigError(
            f"{path}: sweep.search.method: optuna proposes as it goes; a walk-forward needs "
            "the same configurations on every fold: use a grid or a random search"
        )
    if spec.walk_forward is None:  # said first, naming the file
        windows(pd.DatetimeIndex([]), spec, path)
    check_extra(spec, extra, path)
    check_objective(spec, path)
    first = load_base(spec, load, extra, path)
    check_objective_made(path, spec, first.backtest.benchmark)
    load_models(spec, first, path)  # a model_<id> factor validates once loaded
    every = configurations(spec, path, first.strategy.params)  # unswept params: the run's
    check_benchmark_of(first, path)
    warehouse = Warehouse(first.paths.warehouse_location())
    dates = pd.DatetimeIndex(warehouse.panel(first.data.dataset, "close").index)
    folds = windows(dates, spec, path)
    # What a backtest refuses, before any cluster: the first train window (the earliest: the
    # others start later) must leave each configuration's warm-up a session to trade.
    span = (folds[0].train_start, folds[0].train_end)
    days = dates.to_numpy(dtype="datetime64[D]")
    warmups = check_configurations(first, every, path, days, span)
    # A fold's train runs all start on the same session (sweeps.span): the first one's later
    # than its window's start when a warm-up is longer than the history before it.
    folds = [_train_aligned(w, days, warmups) for w in folds]
    version = bars_version_of(first)  # the id's, and every task's (tasks.market)
    context = sweep_context(first, spec, version)
    if spec.search is not None:  # a fold chooses among every trial: more trials, another id
        context += f":trials={spec.search.trials}"  # (a sweep's id leaves them out: it resumes)
    wf_id = "wf-" + sweep_digest(spec, extra, context)[:16]
    target = first.paths.data_dir / CATALOGUE
    by_key = {c.key: c for c in every}
    catalogue = Catalogue(target)
    finished: dict[int, FoldResult] = {}
    said = lambda: _say_kept(wf_id, len(finished), len(folds), target)  # noqa: E731 - on Ctrl-C
    with closing(catalogue), interrupt.on_stop(said):
        finished = _resumed(catalogue.finished_folds(wf_id), folds, by_key, wf_id, dates)
        resumed = len(finished)
        if finished:
            logger.info(
                "Walk-forward %s: %d of %d folds done already; resuming", wf_id, resumed, len(folds)
            )

        def done(window: Window, choice: tuple[str, float | None], test: Result) -> None:
            key, score = choice
            if (why := gap(test.curve, dates, window.test_start, window.test_end)) is not None:
                raise DataError(f"{path}: walk-forward fold {window.fold}'s test run: {why}")
            fold = FoldResult(window, key, by_key[key].params, score, test)
            finished[window.fold] = _fold(window, catalogue.record_fold(wf_id, _row(fold)), by_key)
            if progress is not None:
                now = WalkForwardProgress(len(finished), len(folds), resumed, finished[window.fold])
                progress(now)

        def task(config: Configuration, start: dt.date, end: dt.date) -> Task:
            overrides = [*_windowed(config, start, end), *extra]
            cfg = load_configuration(load, overrides, path, config.key)
            return Task(config.key, config.params, cfg, version, config.book)

        todo = [w for w in folds if w.fold not in finished]
        if todo:
            with cluster(scheduler, workers) as client:  # coarse tasks: batches, as a sweep's
                interrupt.check()  # a Ctrl-C noted while the cluster started
                link = getattr(client, "dashboard_link", None)
                logger.info(
                    "Walk-forward %s: %d fold(s) to run; Dask dashboard: %s", wf_id, len(todo), link
                )
                run_folds(client, todo, spec, every, task, workers, done)
        results = [finished[w.fold] for w in folds]
        curve = stitch([r.test.curve for r in results], first.backtest.initial_cash)
        figures = stitched_metrics(curve, [(r.test.curve, r.test.metrics) for r in results])
        _record(catalogue, wf_id, spec, results, figures, curve)
    return WalkForwardRun(wf_id, target, results, curve, figures, resumed)


def _train_aligned(window: Window, days: np.ndarray, warmups: list[int]) -> Window:
    start = shared_start(days, warmups, (window.train_start, window.train_end))
    if start is None:
        return window
    lo, hi = np.searchsorted(days, np.array([start, window.train_end], dtype="datetime64[D]"))
    logger.info(
        "Walk-forward fold %d: every configuration trains from %s, the first session the "
        "longest warm-up (or a stored model's first decision) allows: %d session(s) of its "
        "train window %s..%s",
        window.fold,
        start,
        int(hi - lo) + 1,
        window.train_start,
        window.train_end,
    )
    return replace(window, train_start=start)


def _say_kept(wf_id: str, kept: int, total: int, target: Path) -> None:
    # Ctrl-C (or SIGTERM): what the catalogue kept, and how to go on.
    then = "resumes without running them again" if kept else "starts it again"
    logger.warning(
        "Walk-forward %s interrupted: %d of %d fold(s) recorded in %s; the same command %s",
        wf_id,
        kept,
        total,
        target,
        then,
    )


def _resumed(
    recorded: list[dict[str, Any]],
    folds: list[Window],
    by_key: dict[str, Configuration],
    wf_id: str,
    sessions: pd.DatetimeIndex,
) -> dict[int, FoldResult]:
    # The folds recorded with their test run whose windows and choice this walk-forward has,
    # and whose test curve covers the test window session by session (none missing, none
    # extra: a curve recorded otherwise would leave a hole in the stitched curve).
    mine = {w.fold: w for w in folds}
    out = {}
    for row in recorded:
        window = Window(
            row["fold"], row["train_start"], row["train_end"], row["test_start"], row["test_end"]
        )
        covered = gap(row["test_curve"], sessions, window.test_start, window.test_end)
        if mine.get(window.fold) == window and row["key"] in by_key and covered is None:
            out[window.fold] = _fold(window, row, by_key)
        else:  # not this run's folds (the code's windows changed): run it again, replaced
            logger.warning(
                "Walk-forward %s: fold %d as recorded is not one of this run's (%s); it runs again",
                wf_id,
                window.fold,
                covered or "another window or choice",
            )
    return out


def _fold(window: Window, row: dict[str, Any], by_key: dict[str, Configuration]) -> FoldResult:
    # A fold as the catalogue keeps it (Catalogue.record_fold, finished_folds).
    key, params = row["key"], by_key[row["key"]].params
    run = (row["test_metrics"], row["test_seconds"], row["test_worker"], row["test_curve"])
    return FoldResult(window, key, params, row["train_objective"], Result(key, params, *run))


def _row(r: FoldResult) -> dict[str, Any]:
    return {
        "fold": r.window.fold,
        "train_start": r.window.train_start,
        "train_end": r.window.train_end,
        "test_start": r.window.test_start,
        "test_end": r.window.test_end,
        "key": r.chosen,
        "params": r.params,
        "train_objective": r.train_objective,
        "test_metrics": r.test.metrics,
        "test_curve": r.test.curve,
        "test_seconds": r.test.seconds,
        "test_worker": r.test.worker,
    }


def _record(
    catalogue: Catalogue,
    wf_id: str,
    spec: SweepConfig,
    results: list[FoldResult],
    figures: dict[str, Any],
    curve: pd.Series,
) -> None:
    header = {
        "name": spec.name,
        "strategy": subject(spec),
        "objective": spec.objective,
        "spec": spec.model_dump(mode="json", by_alias=True),
        "created_at": dt.datetime.now(dt.UTC),
    }
    catalogue.record_walk_forward(wf_id, header, [_row(r) for r in results], figures, curve)


__all__ = [
    "FoldResult",
    "WalkForwardProgress",
    "WalkForwardRun",
    "Window",
    "run_walk_forward",
    "stitch",
    "stitched_metrics",
    "windows",
]
