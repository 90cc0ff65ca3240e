"""A walk-forward's folds on the cluster: every train run, then each fold's choice and test run.

:func:`run_folds` sends every configuration over each fold's train window, in batches; a fold
whose train runs are all back chooses (:func:`choose`: the best train objective) and sends its
test run ahead of the train batches still queued (priority); ``done`` records each test run as
it comes back. A batch Dask gives up on (the worker processes it was on kept dying:
``KilledWorker``) stops the walk-forward with an :class:`~quant_core.errors.OperationalError`
naming the fold and the runs; the folds recorded are kept (the same command resumes). A worker
that finds the dataset's bars at another version than the walk-forward's id was fixed with
(:class:`~quant_core.sweeps.tasks.DataChanged`: a write during the run) stops it with a
:class:`~quant_core.errors.DataError` saying so; the folds recorded, of the old version, are
kept, and the same command runs again as a new walk-forward.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config.sweep import Configuration, SweepConfig
from quant_core import interrupt
from quant_core.errors import DataError, OperationalError
from quant_core.sweeps.batches import batch_size, named
from quant_core.sweeps.catalogue import Result, objective_of
from quant_core.sweeps.tasks import DataChanged, Task, run_batch

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Window:
    """One fold's windows: sessions (dates) of its train and test spans."""

    fold: int
    train_start: dt.date
    train_end: dt.date
    test_start: dt.date
    test_end: dt.date


def run_folds(
    client: Any,
    todo: list[Window],
    spec: SweepConfig,
    every: list[Configuration],
    task: Callable[[Configuration, dt.date, dt.date], Task],
    workers: int | None,
    done: Callable[[Window, tuple[str, float | None], Result], None],
) -> None:
    """Run the folds ``todo`` on ``client`` (module docstring); ``done`` records each one."""
    from dask.base import annotate
    from distributed import as_completed

    by_key = {c.key: c for c in every}
    train = [(w, c) for w in todo for c in every]
    size = batch_size(spec, len(train), workers or os.cpu_count() or 1)
    pending: dict[Any, list[Window] | Window] = {}
    sent: dict[Any, list[Task]] = {}
    for i in range(0, len(train), size):
        part = train[i : i + size]
        tasks = [task(c, w.train_start, w.train_end) for w, c in part]
        future = client.submit(run_batch, tasks, pure=False)
        pending[future], sent[future] = [w for w, _ in part], tasks
    found: dict[int, dict[str, Result]] = {w.fold: {} for w in todo}
    chosen: dict[int, tuple[str, float | None]] = {}
    while pending:
        for future in as_completed(list(pending)):  # type: ignore[no-untyped-call]
            interrupt.check()  # a Ctrl-C a library swallowed on the way
            source = pending.pop(future)
            results = _results(future, source, sent.pop(future))
            if isinstance(source, Window):  # a fold's test run
                done(source, chosen[source.fold], results[0])
                continue
            tests = {}
            for window, result in zip(source, results, strict=True):
                got = found[window.fold]
                got[result.key] = result
                if len(got) < len(every):
                    continue
                chosen[window.fold] = choose(window, [got[c.key] for c in every], spec)
                config = by_key[chosen[window.fold][0]]
                test = task(config, window.test_start, window.test_end)
                with annotate(priority=1):
                    submitted = client.submit(run_batch, [test], pure=False)
                tests[submitted] = window
                sent[submitted] = [test]
            if tests:  # wait on them too: as_completed anew
                pending.update(tests)
                break


def _results(future: Any, source: list[Window] | Window, tasks: list[Task]) -> list[Result]:
    # The batch's results; a batch Dask gave up on, said (module docstring).
    from distributed import KilledWorker

    try:
        results: list[Result] = future.result()
    except KilledWorker:
        folds = sorted({source.fold} if isinstance(source, Window) else {w.fold for w in source})
        runs = "test run" if isinstance(source, Window) else "train runs"
        raise OperationalError(
            f"walk-forward: worker processes kept dying (out of memory, or a crash) with fold "
            f"{', '.join(map(str, folds))}'s {runs} ({named(tasks)}) on them, and "
            "Dask gave up on them; the folds recorded are kept and the same command resumes "
            "from there (fewer --workers leave each more memory)"
        ) from None
    except DataChanged as exc:
        raise DataError(
            f"walk-forward: {exc}, so it stopped: the folds recorded are of version "
            f"{exc.expected} and kept; the same command runs again as a new walk-forward on "
            f"version {exc.found}"
        ) from None
    return results


def choose(window: Window, results: list[Result], spec: SweepConfig) -> tuple[str, float | None]:
    """Return the configuration with the best train objective (ties: the first key), and it.

    None finite: the first key and None, said.
    """
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


__all__ = ["Window", "choose", "run_folds"]
