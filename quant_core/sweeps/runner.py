"""Run a sweep on Dask: a local cluster of processes by default, or a running scheduler.

``run_backtest.py --sweep research/mom_grid.yaml`` expands the sweep file into configurations
(:func:`config.sweep.configurations`), leaves out those the catalogue has already
(:mod:`quant_core.sweeps.catalogue`: the same file run again resumes), and sends the rest to the
cluster in batches (:func:`quant_core.sweeps.tasks.run_batch`): a task carries run configs, never
data. As each batch comes back its results are recorded in one transaction, so Ctrl-C or a lost
worker keeps every batch recorded (Dask runs a lost worker's task again on another; a result
recorded twice is recorded once). An Optuna search is fed as it goes: the driver asks its study
for trials and tells it their objectives as they come back
(:class:`quant_core.sweeps.optuna_search.StudyFeed`).

The cluster (:mod:`quant_core.sweeps.cluster`): ``distributed.LocalCluster`` with one
single-threaded worker process per core (``workers``), on 127.0.0.1; or ``scheduler``, the
address of a running ``dask scheduler`` whose ``dask worker`` processes see the same data
directory. Ctrl-C stops the driver, which says what the catalogue kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.schema import AppConfig
from config.sweep import Configuration, SweepConfig, subject, sweep_digest
from quant_core import interrupt
from quant_core.analytics.overfit import OverfitInputError
from quant_core.atomic import atomic_write_json
from quant_core.errors import DataError, OperationalError
from quant_core.sweeps.batches import GridFeed, Job, batch_size, named, split
from quant_core.sweeps.catalogue import Catalogue, Result, objective_of
from quant_core.sweeps.checks import bars_version_of, load_configuration, sweep_context
from quant_core.sweeps.cluster import cluster
from quant_core.sweeps.optuna_search import StudyFeed, study_path
from quant_core.sweeps.overfitting import overfitting
from quant_core.sweeps.prepare import prepare
from quant_core.sweeps.tasks import DataChanged, Task, run_batch

logger = logging.getLogger(__name__)

CATALOGUE = Path("sweeps") / "catalogue.duckdb"  # under paths.data_dir
PROGRESS = "progress"  # <data_dir>/sweeps/progress/<sweep_id>.json: a running sweep's figures


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a sweep is: configurations done of all, the best objective, the rate per second."""

    done: int
    total: int
    best: float | None
    rate: float
    dashboard: str | None = None  # the Dask dashboard's link


@dataclass(frozen=True, slots=True)
class SweepRun:
    """A finished (or interrupted) sweep: its id, catalogue, counts and the dashboard's link."""

    sweep_id: str
    catalogue: Path
    total: int
    resumed: int  # configurations already recorded when it started
    ran: int  # recorded by this run
    seconds: float
    workers: int
    dashboard: str | None
    start: dt.date | None = None  # every configuration's first session, if the period's moved


def run_sweep(
    spec: SweepConfig,
    load: Callable[[list[str]], AppConfig],
    *,
    path: Path | str = "sweep",
    extra: tuple[str, ...] = (),
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    on_batch: Callable[[Any, list[Result]], None] | None = None,
) -> SweepRun:
    """Run ``spec`` on the cluster and record it; return what was done (module docstring).

    ``load`` turns a configuration's overrides into its run config (``config.load_config``,
    with the command line's ``--set`` in ``extra``, which also names the sweep: the same file
    with other ``--set`` values is another sweep). ``on_batch(client, results)`` is called after
    each batch is recorded. Whatever a backtest would refuse (a run config that does not
    validate, a strategy's schedule or policy) is refused here first, naming the sweep file and
    the configuration, before anything is recorded or a cluster starts.
    """
    ready = prepare(spec, load, extra, path)
    spec, base, todo_all = ready.spec, ready.base, ready.todo
    optuna = spec.search is not None and spec.search.method == "optuna"
    total = spec.search.trials if optuna and spec.search is not None else len(todo_all)
    target = base.paths.data_dir / CATALOGUE
    version = bars_version_of(base)  # the id's, and every task's: a worker runs on it or stops
    sweep_id = sweep_digest(spec, extra, sweep_context(base, spec, version))[:16]
    catalogue = Catalogue(target)
    started = time.perf_counter()

    def kept() -> None:  # said on Ctrl-C
        _say_kept(catalogue, sweep_id, total)

    with closing(catalogue), interrupt.on_stop(kept):
        catalogue.start(
            sweep_id,
            spec.name,
            subject(spec),
            spec.objective,
            spec.maximize,
            spec.model_dump(mode="json", by_alias=True),
            total,
            dt.datetime.now(dt.UTC),
            extra,
        )
        done = catalogue.done(sweep_id)
        if done:
            logger.info("Sweep %s: %d of %d done already; resuming", sweep_id, len(done), total)
        feed: GridFeed | StudyFeed
        if optuna:  # the study counts its trials (a proposal repeated is one result, two trials)
            journal = study_path(base.paths.data_dir, sweep_id)
            feed = StudyFeed(journal, sweep_id, spec, base, total, version, done)
        else:
            with _quiet("quant_core.config"):  # the sweep's own load said them once
                todo = [c for c in todo_all if c.key not in done]
                tasks = [_task(c, load, extra, path, version) for c in todo]
            count = workers or os.cpu_count() or 1
            feed = GridFeed(
                split(tasks, batch_size(spec, len(tasks), count), count, spec.batch == 0)
            )
        ran, count, link = _drive(
            spec,
            catalogue,
            sweep_id,
            feed,
            scheduler,
            workers,
            len(done),
            total,
            progress,
            on_batch,
        )
        catalogue.keep_curves(sweep_id, spec.maximize, spec.keep)  # a resumed sweep's keep too
        ended = feed.ended if isinstance(feed, StudyFeed) else catalogue.count(sweep_id)
        complete = ended >= total
        if complete:  # every configuration: judge the best
            _judge(catalogue, sweep_id)
            catalogue.finish(sweep_id, dt.datetime.now(dt.UTC))
    seconds = time.perf_counter() - started
    return SweepRun(sweep_id, target, total, len(done), ran, seconds, count, link, ready.start)


def _say_kept(catalogue: Catalogue, sweep_id: str, total: int) -> None:
    # Ctrl-C (or SIGTERM): what the catalogue kept, and how to go on.
    try:
        kept = catalogue.count(sweep_id)
    except Exception:  # the interrupt is the news; a count that fails is not
        logger.debug("Sweep %s: no count after the interrupt", sweep_id, exc_info=True)
        return
    then = "resumes without running them again" if kept else "starts it again"
    logger.warning(
        "Sweep %s interrupted: %d of %d configuration(s) recorded in %s; the same command %s",
        sweep_id,
        kept,
        total,
        catalogue.path,
        then,
    )


def _judge(catalogue: Catalogue, sweep_id: str) -> None:
    # The overfitting measures of a complete sweep; measures that cannot be taken (curves that
    # cannot be ranked) are left out, and said, without losing the sweep.
    results = catalogue.results(sweep_id)
    if results.empty:
        return
    try:
        figures = overfitting(catalogue.all_curves(sweep_id), str(results["key"].iloc[0]))
    except OverfitInputError as exc:
        logger.warning("Sweep %s: no overfitting measures: %s", sweep_id, exc)
        return
    catalogue.set_overfitting(sweep_id, figures)


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    # A logger's INFO lines held back: each configuration's config load says the lines the
    # sweep's own load said (files read, overrides applied), 8 a configuration.
    log = logging.getLogger(name)
    before = log.level
    if log.getEffectiveLevel() < logging.WARNING:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(before)


def _task(
    config: Configuration,
    load: Callable[[list[str]], AppConfig],
    extra: tuple[str, ...],
    path: Path | str,
    version: int,
) -> Task:
    cfg = load_configuration(load, [*config.overrides, *extra], path, config.key)
    return Task(config.key, config.params, cfg, version, config.book)


def _drive(
    spec: SweepConfig,
    catalogue: Catalogue,
    sweep_id: str,
    feed: GridFeed | StudyFeed,
    scheduler: str | None,
    workers: int | None,
    already: int,
    total: int,
    progress: Callable[[Progress], None] | None,
    on_batch: Callable[[Any, list[Result]], None] | None,
) -> tuple[int, int, str | None]:
    # Send the feed's tasks, record each one's results as they come, send what the feed has
    # next (an Optuna search asks its next trial); return (recorded, workers, link).
    from distributed import as_completed

    if not feed.more():  # nothing left to run: no cluster
        return 0, 0, None
    with cluster(scheduler, workers) as client:
        interrupt.check()  # a Ctrl-C the cluster's start swallowed (its workers died with it)
        count = _workers(client, workers)
        link = getattr(client, "dashboard_link", None)
        sent: dict[str, Job] = {}
        queue = as_completed()  # type: ignore[no-untyped-call]

        def send(jobs: list[Job]) -> None:
            for job in jobs:
                future = client.submit(run_batch, job.batch, pure=False)
                sent[future.key] = job
                queue.add(future)  # type: ignore[no-untyped-call]

        send(feed.take(feed.window(count)))  # sized by the cluster's workers, once reached
        logger.info("Sweep %s on %d worker(s); Dask dashboard: %s", sweep_id, count, link)
        ran, best, clock = 0, None, time.perf_counter()

        def report() -> Progress:  # the figures now, written for the cockpit
            rate = ran / max(time.perf_counter() - clock, 1e-9)
            now = Progress(feed.counted(already + ran), total, best, rate, link)
            write_progress(catalogue.path.parent, sweep_id, now, link, count)
            return now

        for future in queue:
            interrupt.check()
            job = sent.pop(future.key)
            results = _results(future, sweep_id, job, already + ran, total, catalogue)
            ran += catalogue.record(
                sweep_id, results, spec.objective, spec.maximize, spec.keep, dt.datetime.now(dt.UTC)
            )
            feed.settle(job, results)  # after the record: a result told is a result kept
            best = _best(best, results, spec)
            now = report()
            if progress is not None:
                progress(now)
            if on_batch is not None:
                on_batch(client, results)
            if feed.more():  # workers that joined since get trials too
                count = _workers(client, workers)
                send(feed.take(feed.window(count) - len(sent)))
        report()  # the last word: trials refused on the driver after the last result count too
    return ran, count, link


def _results(
    future: Any, sweep_id: str, job: Job, kept: int, total: int, catalogue: Catalogue
) -> list[Result]:
    # A batch's results; a worker's error stops the sweep here, said (those two, in our terms).
    from distributed import KilledWorker

    try:
        results: list[Result] = future.result()
    except KilledWorker:
        raise OperationalError(lost_batch(sweep_id, job, kept, total, catalogue)) from None
    except DataChanged as exc:
        raise DataError(data_changed(sweep_id, exc, kept, total, catalogue)) from None
    return results


def lost_batch(sweep_id: str, job: Job, kept: int, total: int, catalogue: Catalogue) -> str:
    """Say a batch Dask gave up on: the worker processes it was on kept dying (``KilledWorker``).

    Out of memory (the nanny stops a worker past its memory limit, the kernel's OOM killer
    kills it) or a crash in native code: Dask sent the batch again to a new worker until its
    ``distributed.scheduler.allowed-failures``, then gave up. The batch may be the culprit, or
    may have waited on the same worker as the one that was.
    """
    names = named(job.batch)
    return (
        f"sweep {sweep_id}: worker processes kept dying (out of memory, or a crash) with the "
        f"batch of configuration(s) {names} on them, and Dask gave up on it; "
        f"{kept} of {total} configuration(s) are recorded in {catalogue.path}, and the same "
        "command resumes without running them again (fewer --workers leave each more memory)"
    )


def data_changed(
    sweep_id: str, exc: DataChanged, kept: int, total: int, catalogue: Catalogue
) -> str:
    """Say a sweep stopped because its dataset's bars were written while it ran.

    Its id was fixed with the bars' version at its start; the results recorded are of that
    version and stay (the sweep stays unfinished). The same command run again reads the new
    version: another sweep, with another id.
    """
    return (
        f"sweep {sweep_id}: {exc}, so it stopped: its {kept} of {total} configuration(s) "
        f"recorded in {catalogue.path} are of version {exc.expected} and kept; the same command "
        f"runs again as a new sweep on version {exc.found}"
    )


def _workers(client: Any, workers: int | None) -> int:
    # The cluster's workers now (a scheduler's workers may join or leave during a sweep).
    return len(client.scheduler_info(n_workers=-1)["workers"]) or (workers or 1)


def write_progress(
    folder: Path, sweep_id: str, now: Progress, dashboard: str | None, workers: int
) -> None:
    """Write a running sweep's figures for the cockpit (the catalogue is the driver's, locked).

    ``<folder>/progress/<sweep_id>.json``: done, total, best, rate (configurations per second),
    workers, the Dask dashboard's link and when (UTC), written atomically.
    """
    atomic_write_json(
        folder / PROGRESS / f"{sweep_id}.json",
        {
            "sweep_id": sweep_id,
            "done": now.done,
            "total": now.total,
            "best": now.best,
            "rate": now.rate,
            "workers": workers,
            "dashboard": dashboard,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )


def _best(best: float | None, results: list[Result], spec: SweepConfig) -> float | None:
    values = [v for r in results if (v := objective_of(r.metrics, spec.objective)) is not None]
    if best is not None:
        values.append(best)
    if not values:
        return None
    return max(values) if spec.maximize else min(values)


__all__ = [
    "CATALOGUE",
    "PROGRESS",
    "Progress",
    "SweepRun",
    "batch_size",
    "cluster",
    "run_sweep",
    "split",
    "write_progress",
]
