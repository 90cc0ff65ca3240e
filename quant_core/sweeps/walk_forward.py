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
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from config.schema import AppConfig
from config.sweep import (
    Configuration,
    SweepConfig,
    base_overrides,
    configurations,
    sweep_digest,
)
from quant_core.backtest import metrics as m
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError, DataError
from quant_core.research.splits import walk_forward
from quant_core.sweeps.catalogue import Catalogue, Result, objective_of
from quant_core.sweeps.checks import check_extra, check_objective, sweep_context
from quant_core.sweeps.runner import CATALOGUE, batch_size, cluster
from quant_core.sweeps.tasks import Task, run_batch

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Window:
    """One fold's windows: sessions (dates) of its train and test spans."""

    fold: int
    train_start: dt.date
    train_end: dt.date
    test_start: dt.date
    test_end: dt.date


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


def windows(dates: pd.DatetimeIndex, spec: SweepConfig) -> list[Window]:
    """Return the folds of ``spec.walk_forward`` over the sessions ``dates`` (module docstring)."""
    wf = spec.walk_forward
    if wf is None:
        raise ConfigError(f"sweep {spec.name}: --walk-forward needs a walk_forward section")
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
            f"sweep {spec.name}: no walk-forward fold fits the period "
            f"{start or 'the start'}..{end or 'the end'} of the data ({span}) with train "
            f"{wf.train} and test {wf.test} sessions"
        )

    def day(row: int) -> dt.date:
        return dt.date.fromisoformat(str(days[int(row)]))

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
) -> WalkForwardRun:
    """Run the walk-forward of ``spec`` on the cluster; return its folds and stitched curve."""
    if spec.search is not None and spec.search.method == "optuna":
        raise ConfigError(
            f"{path}: sweep.search.method: optuna proposes as it goes; a walk-forward needs "
            "the same configurations on every fold: use a grid or a random search"
        )
    check_extra(spec, extra, path)
    check_objective(spec, path)
    every = configurations(spec, path)
    first = load([*base_overrides(spec), *extra])
    warehouse = Warehouse(first.paths.data_dir / "warehouse")
    dates = pd.DatetimeIndex(warehouse.panel(first.data.dataset, "close").index)
    folds = windows(dates, spec)
    train = [
        Task(c.key, c.params, load([*_windowed(c, w.train_start, w.train_end), *extra]))
        for w in folds
        for c in every
    ]
    with cluster(scheduler, workers) as client:  # coarse tasks: batches, as a sweep's
        size = batch_size(spec, len(train), workers or os.cpu_count() or 1)
        batches = [train[i : i + size] for i in range(0, len(train), size)]
        futures = [client.submit(run_batch, b, pure=False) for b in batches]
        found = [r for f in futures for r in f.result()]
        chosen = [
            _choose(w, found[i * len(every) : (i + 1) * len(every)], spec)
            for i, w in enumerate(folds)
        ]
        by_key = {c.key: c for c in every}
        tests = [
            Task(
                key,
                by_key[key].params,
                load([*_windowed(by_key[key], w.test_start, w.test_end), *extra]),
            )
            for w, (key, _) in zip(folds, chosen, strict=True)
        ]
        outcome = [
            f.result()[0] for f in [client.submit(run_batch, [t], pure=False) for t in tests]
        ]
    results = [
        FoldResult(w, key, by_key[key].params, score, test)
        for w, (key, score), test in zip(folds, chosen, outcome, strict=True)
    ]
    curve = stitch([r.test.curve for r in results], first.backtest.initial_cash)
    figures = stitched_metrics(curve)
    wf_id = "wf-" + sweep_digest(spec, extra, sweep_context(first))[:16]
    target = first.paths.data_dir / CATALOGUE
    _record(target, wf_id, spec, results, figures, curve)
    return WalkForwardRun(wf_id, target, results, curve, figures)


def _record(
    target: Path,
    wf_id: str,
    spec: SweepConfig,
    results: list[FoldResult],
    figures: dict[str, Any],
    curve: pd.Series,
) -> None:
    header = {
        "name": spec.name,
        "strategy": spec.strategy,
        "objective": spec.objective,
        "spec": spec.model_dump(mode="json", by_alias=True),
        "created_at": dt.datetime.now(dt.UTC),
    }
    folds = [
        {
            "fold": r.window.fold,
            "train_start": r.window.train_start,
            "train_end": r.window.train_end,
            "test_start": r.window.test_start,
            "test_end": r.window.test_end,
            "key": r.chosen,
            "params": r.params,
            "train_objective": r.train_objective,
            "test_metrics": r.test.metrics,
        }
        for r in results
    ]
    catalogue = Catalogue(target)
    try:
        catalogue.record_walk_forward(wf_id, header, folds, figures, curve)
    finally:
        catalogue.close()


def _choose(window: Window, results: list[Result], spec: SweepConfig) -> tuple[str, float | None]:
    # The best train objective (ties: the first key); none finite: the first key, and say so.
    scored = [(objective_of(r.metrics, spec.objective), r.key) for r in results]
    finite = [(v, k) for v, k in scored if v is not None]
    if not finite:
        logger.warning(
            "Fold %d: no configuration has a finite %s on train", window.fold, spec.objective
        )
        return sorted(k for _, k in scored)[0], None
    sign = -1.0 if spec.maximize else 1.0
    value, key = min(finite, key=lambda vk: (sign * vk[0], vk[1]))
    return key, value


def stitch(segments: list[pd.Series], initial_cash: float) -> pd.Series:
    """Return the out-of-sample curve: each segment's daily returns chained from ``initial_cash``.

    A segment's first close is its start (cash, before its first fill): its return counts from
    the previous segment's end, so no session is counted twice and none is left out.
    """
    daily = pd.concat([s.pct_change().iloc[1:] for s in segments])
    if daily.index.has_duplicates:
        raise DataError("walk-forward test windows overlap: their sessions repeat")
    start = segments[0].index[0]
    growth = (1.0 + daily).cumprod()
    curve = pd.concat([pd.Series([1.0], index=[start]), growth]) * float(initial_cash)
    return curve.rename("equity")


def stitched_metrics(curve: pd.Series) -> dict[str, Any]:
    """Return the out-of-sample curve's figures (the names of a run's metrics)."""
    daily = m.returns(curve)
    deepest, duration = m.max_drawdown(curve)
    growth = m.cagr(curve)
    return {
        "final_equity": float(curve.iloc[-1]),
        "total_return": m.total_return(curve),
        "cagr": growth,
        "volatility": m.volatility(daily),
        "sharpe": m.sharpe(daily),
        "sortino": m.sortino(daily),
        "max_drawdown": deepest,
        "max_drawdown_sessions": duration,
        "calmar": growth / -deepest if deepest < 0 else float("nan"),
        "sessions": len(curve) - 1,
    }


__all__ = [
    "FoldResult",
    "WalkForwardRun",
    "Window",
    "run_walk_forward",
    "stitch",
    "stitched_metrics",
    "windows",
]
