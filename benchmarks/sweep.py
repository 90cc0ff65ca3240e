"""Sweep throughput: momentum configurations on one and two Dask workers, and in-process.

Reference work: a grid of 1,000 momentum configurations (``lookback`` 10, 15, ..., 255 sessions
x ``top_quantile`` 0.05, 0.10, ..., 1.00; ``strategy.rebalance`` 21; the house backtest config
otherwise: whole shares, per-share costs, the equal-weight benchmark) on the SYNTHETIC
500 x 5,000 panel of ``benchmarks/backtest.py`` (``generate_bars``, seed 42, no missing bars),
written to a temporary warehouse.

* **workers=1** and **workers=2**: :func:`quant_core.sweeps.runner.run_sweep` end to end on a
  ``LocalCluster`` of single-threaded worker processes (the cluster's start, each worker's panel
  read, the batches, the catalogue, the overfitting figures). Each sweep has a data dir (and so a
  catalogue) of its own, its warehouse a link to the one written, so the second does not resume
  the first.
* **in-process**: :func:`quant_core.sweeps.tasks.run_batch` over a seeded random sample of 50 of
  the same configurations, after the panels are cached: no Dask, no catalogue.
* **plain processes**: the same sample in one fresh process, then in two at once (spawned, no
  Dask): this machine's own ceiling for the 1 -> 2 speed-up. The sampled configurations' seconds
  on the Dask workers (``Result.seconds``) are compared with their in-process seconds.

Agreement first: the two sweeps' recorded metrics must be identical for every configuration, and
the in-process sample's metrics identical to the recorded ones; only then are speeds compared.

Rates, in configurations per second (configurations / seconds):

* ``wall``: the whole ``run_sweep`` call, split into ``start`` (configs loaded, catalogue
  opened, cluster started, until the first batch is recorded: it includes each worker's panel
  read and the first batch's runs), ``loop`` and ``end`` (the cluster's close, the overfitting
  figures over every curve, the catalogue's close);
* ``loop``: configurations recorded after the first batch / seconds from the first recorded batch
  to the last (``progress`` callbacks): the steady rate (with two workers it counts the second
  worker's first batch without its time: 1 batch of 19 with the full grid);
* ``busy``: per worker, configurations / the seconds its ``run_backtest`` calls took
  (``Result.seconds``): the compute rate, with no Dask, no catalogue and no idle time.

Targets (issue): speed-up from 1 to 2 workers >= 1.8x; >= 50 configurations/s per worker.
After the sweep, each worker's peak resident memory (``VmHWM`` of ``/proc/self/status``, read on
the workers with ``client.run``) is printed.

    python -m benchmarks.sweep [--quick] [--symbols 500 --sessions 5000] [--profile] [--no-trim]

``--quick``: 40 configurations and a sample of 10 (a smoke run). ``--profile``: the top costs of
the in-process sample (cProfile). ``--no-trim``: the Dask workers start without the
``MALLOC_TRIM_THRESHOLD_=65536`` Dask's nanny gives them (and without its profiler): glibc then
trims the heap at its default threshold (:func:`without_trim`; measured on the full grid: the
sampled configurations took 2.03x (one worker) and 1.84x (two) their in-process time with it,
1.13x and 1.18x without).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import multiprocessing
import os
import pstats
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import numpy as np

from benchmarks.sweep_setup import (
    SEED,
    SESSIONS,
    SYMBOLS,
    aligned_spec,
    loader,
    own_dir,
    sweep_spec,
    write_panel,
)
from config.schema import AppConfig
from config.sweep import Configuration, SweepConfig, configurations
from quant_core.sweeps.catalogue import Catalogue
from quant_core.sweeps.checks import bars_version_of
from quant_core.sweeps.runner import Progress, run_sweep
from quant_core.sweeps.tasks import Task, market, run_batch

SPEEDUP_TARGET = 1.8  # 1 -> 2 workers
PER_WORKER_TARGET = 50.0  # configurations per second per worker
TRIM = "MALLOC_TRIM_THRESHOLD_"
FULL_GRID: dict[str, list[Any]] = {
    "lookback": list(range(10, 260, 5)),  # 50 values
    "top_quantile": [round(0.05 * k, 2) for k in range(1, 21)],  # 20 values
}
QUICK_GRID: dict[str, list[Any]] = {
    "lookback": list(range(20, 270, 25)),  # 10 values
    "top_quantile": [0.1, 0.2, 0.3, 0.5],
}


@dataclass
class Measured:
    """One sweep's figures: seconds, the progress clock, the workers' peak memory."""

    workers: int
    configs: int = 0
    started: float = 0.0  # perf_counter when run_sweep was called
    wall: float = 0.0
    first: float | None = None  # perf_counter at the first and last recorded batch
    last: float | None = None
    first_done: int = 0  # configurations recorded by the first batch
    peak_rss: dict[str, int] = field(default_factory=dict)  # worker -> bytes (VmHWM)
    busy: dict[str, float] = field(default_factory=dict)  # worker -> seconds inside run_backtest
    seconds: dict[str, float] = field(default_factory=dict)  # key -> its run's seconds
    driver_cpu: float = 0.0  # this process's CPU seconds during run_sweep (scheduler included)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)

    def busy_rate(self) -> float:
        """Configurations per second of one worker's own run time (``Result.seconds``)."""
        return self.configs / sum(self.busy.values()) if self.busy else math.nan

    def loop_rate(self) -> float:
        """Configurations per second from the first recorded batch to the last."""
        if self.first is None or self.last is None or self.last <= self.first:
            return math.nan
        return (self.configs - self.first_done) / (self.last - self.first)


def _peak_rss() -> int:
    # Runs on each worker (client.run): the process's peak resident set, VmHWM, in bytes.
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(x.split()[1]) * 1024 for x in status if x.startswith("VmHWM:"))


def measure(spec: SweepConfig, load: Callable[[list[str]], AppConfig], workers: int) -> Measured:
    """Run ``spec`` through ``run_sweep`` on ``workers`` local processes; return its figures."""
    out = Measured(workers)
    total = len(configurations(spec))

    def progress(now: Progress) -> None:
        clock = time.perf_counter()
        if out.first is None:
            out.first, out.first_done = clock, now.done
        out.last = clock

    def on_batch(client: Any, results: list[Any]) -> None:
        out.configs += len(results)
        for result in results:
            out.busy[result.worker] = out.busy.get(result.worker, 0.0) + result.seconds
            out.seconds[result.key] = result.seconds
        if out.configs == total:  # every batch is back: read each worker's peak
            out.peak_rss = {str(k): int(v) for k, v in client.run(_peak_rss).items()}

    cpu, out.started = time.process_time(), time.perf_counter()
    run = run_sweep(
        spec, load, path=spec.name, workers=workers, progress=progress, on_batch=on_batch
    )
    out.wall = time.perf_counter() - out.started
    out.driver_cpu = time.process_time() - cpu
    assert run.ran == total, f"workers={workers}: recorded {run.ran} of {total}"
    catalogue = Catalogue(run.catalogue)
    try:
        frame = catalogue.results(run.sweep_id)
    finally:
        catalogue.close()
    out.metrics = dict(zip(frame["key"].astype(str), frame["metrics"], strict=True))
    return out


@dataclass
class InProcess:
    """The in-process sample: panel read and batch seconds, each key's metrics and seconds."""

    read: float
    seconds: float
    metrics: dict[str, dict[str, Any]]
    each: dict[str, float]
    tasks: list[Task]


def in_process(sample: list[Configuration], load: Callable[[list[str]], AppConfig]) -> InProcess:
    """Run ``sample`` with ``run_batch`` in this process, panels cached first."""
    cfgs = [load(list(c.overrides)) for c in sample]
    version = bars_version_of(cfgs[0])
    tasks = [Task(c.key, c.params, cfg, version) for c, cfg in zip(sample, cfgs, strict=True)]
    started = time.perf_counter()
    market(tasks[0].cfg, version)  # the worker's cache, as after its first task
    read = time.perf_counter() - started
    started = time.perf_counter()
    results = run_batch(tasks)
    seconds = time.perf_counter() - started
    metrics = {r.key: r.metrics for r in results}
    return InProcess(read, seconds, metrics, {r.key: r.seconds for r in results}, tasks)


def _plain_child(root: Path, sample: list[Configuration]) -> float:
    # One plain process (no Dask): read the panels, then time run_batch over the sample.
    cfgs = [loader(root)(list(c.overrides)) for c in sample]
    version = bars_version_of(cfgs[0])
    tasks = [Task(c.key, c.params, cfg, version) for c, cfg in zip(sample, cfgs, strict=True)]
    market(tasks[0].cfg, version)
    started = time.perf_counter()
    run_batch(tasks)
    return time.perf_counter() - started


def plain_processes(root: Path, sample: list[Configuration], count: int) -> list[float]:
    """Run the sample in ``count`` fresh processes at once (no Dask); return each one's seconds.

    The machine's own ceiling for the 1 -> 2 speed-up: the same work in two processes.
    """
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=count, mp_context=spawn) as pool:
        futures = [pool.submit(_plain_child, root, sample) for _ in range(count)]
        return [f.result() for f in futures]


@contextmanager
def without_trim() -> Iterator[None]:
    """Start Dask workers without the nanny's ``MALLOC_TRIM_THRESHOLD_`` and profiler.

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in each worker (and in this process's
    environment, whence later workers inherit it); this measures the runner with it unset.
    """
    before = os.environ.get(TRIM)
    os.environ.pop(TRIM, None)
    settings = {f"distributed.nanny.pre-spawn-environ.{TRIM}": None}
    try:
        with dask.config.set({**settings, "distributed.worker.profile.enabled": False}):
            yield
    finally:
        if before is not None:
            os.environ[TRIM] = before


def profile(tasks: list[Task], top: int = 30) -> str:
    """Return cProfile's top ``top`` functions of ``run_batch(tasks)`` (cumulative, own time)."""
    profiler = cProfile.Profile()
    profiler.runcall(run_batch, tasks)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def _agree(first: Measured, second: Measured, sample: dict[str, dict[str, Any]]) -> None:
    # Every configuration's recorded metrics equal on 1 and 2 workers, and the sample's in-process.
    assert first.metrics.keys() == second.metrics.keys(), "the sweeps recorded other keys"
    differ = [k for k in first.metrics if first.metrics[k] != second.metrics[k]]
    assert not differ, f"{len(differ)} configurations differ between 1 and 2 workers: {differ[:3]}"
    off = [k for k, v in sample.items() if first.metrics[k] != v]
    assert not off, f"in-process metrics differ from the sweep's for {off[:3]}"
    print(
        f"agreement: {len(first.metrics):,} configurations' metrics identical on 1 and 2 workers; "
        f"the {len(sample)} in-process ones identical to them"
    )


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def report(base: InProcess, plain: tuple[float, list[float]], runs: list[Measured]) -> None:
    """Print the table of rates, the machine's own 1 -> 2 ceiling and the targets' verdicts."""
    count = len(base.metrics)
    head = f"{'run':<22}{'configs':>8}{'wall s':>9}{'start s':>9}{'loop s':>9}{'end s':>8}"
    head += f"{'cfg/s wall':>12}{'cfg/s loop':>12}{'busy/worker':>12}"
    print(f"{head}{'peak RSS MiB/worker':>22}")
    rate = count / base.seconds
    print(
        f"{'in-process run_batch':<22}{count:>8}{base.seconds:>9.2f}{'':>9}{base.seconds:>9.2f}"
        f"{'':>8}{rate:>12.2f}{rate:>12.2f}{rate:>12.2f}"
    )
    for run in runs:
        first, last = run.first or 0.0, run.last or 0.0
        peaks = ", ".join(f"{v / 2**20:,.0f}" for v in sorted(run.peak_rss.values()))
        print(
            f"{f'run_sweep workers={run.workers}':<22}{run.configs:>8}{run.wall:>9.2f}"
            f"{first - run.started:>9.2f}{last - first:>9.2f}{run.started + run.wall - last:>8.2f}"
            f"{run.configs / run.wall:>12.2f}{run.loop_rate():>12.2f}{run.busy_rate():>12.2f}"
            f"{peaks:>22}"
        )
    alone, together = plain
    ceiling = 2 * alone / max(together)
    print(
        f"plain processes (no Dask), the {count} sampled configurations each: one alone "
        f"{alone:.2f} s; two at once {', '.join(f'{t:.2f}' for t in together)} s: "
        f"{ceiling:.2f}x the throughput of one (this machine's 1 -> 2 ceiling)"
    )
    for run in runs:
        dask_s = sum(run.seconds[k] for k in base.each)
        print(
            f"workers={run.workers}: the sampled configurations took {dask_s:.2f} s on the "
            f"workers against {sum(base.each.values()):.2f} s in-process "
            f"({dask_s / sum(base.each.values()):.2f}x); driver CPU {run.driver_cpu:.1f} s"
        )
    one, two = runs
    wall_up = (two.configs / two.wall) / (one.configs / one.wall)
    loop_up = two.loop_rate() / one.loop_rate()
    print(
        f"speed-up 1 -> 2 workers (target >= {SPEEDUP_TARGET}x): wall {wall_up:.2f}x "
        f"{_verdict(wall_up >= SPEEDUP_TARGET)}; loop {loop_up:.2f}x "
        f"{_verdict(loop_up >= SPEEDUP_TARGET)}"
    )
    for run in runs:
        wall, loop = run.configs / run.wall / run.workers, run.loop_rate() / run.workers
        print(
            f"per worker on {run.workers} (target >= {PER_WORKER_TARGET:.0f} cfg/s): "
            f"wall {wall:.2f} {_verdict(wall >= PER_WORKER_TARGET)}; "
            f"loop {loop:.2f} {_verdict(loop >= PER_WORKER_TARGET)}; "
            f"busy {run.busy_rate():.2f} {_verdict(run.busy_rate() >= PER_WORKER_TARGET)}"
        )
    print(f"in-process: {rate:.2f} cfg/s, {1000 / rate:.0f} ms a configuration")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="40 configurations, a sample of 10")
    parser.add_argument("--symbols", type=int, default=SYMBOLS)
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--profile", action="store_true", help="profile the in-process sample")
    parser.add_argument(
        "--no-trim", action="store_true", help="workers without Dask's MALLOC_TRIM_THRESHOLD_"
    )
    args = parser.parse_args()
    grid, samples = (QUICK_GRID, 10) if args.quick else (FULL_GRID, 50)
    load_avg = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load_avg[0]:.2f} {load_avg[1]:.2f}")
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        root = Path(tmp)
        seconds = write_panel(root, args.symbols, args.sessions)
        print(f"panel {args.symbols} x {args.sessions}: generated and written in {seconds:.1f} s")
        load = loader(root)
        every = configurations(aligned_spec(sweep_spec("bench_w1", grid), load))
        started = time.perf_counter()
        for config in every:
            load(list(config.overrides))
        per_config = (time.perf_counter() - started) / len(every)
        print(
            f"{len(every):,} configurations; the driver loads each one's config in "
            f"{per_config * 1000:.1f} ms ({per_config * len(every):.1f} s in all, inside run_sweep)"
        )
        picked = np.random.default_rng(SEED).choice(len(every), min(samples, len(every)), False)
        sample = [every[i] for i in sorted(picked)]
        base = in_process(sample, load)
        print(f"in-process panel read (once per worker): {base.read:.2f} s")
        alone = plain_processes(root, sample, 1)[0]
        plain = (alone, plain_processes(root, sample, 2))
        with without_trim() if args.no_trim else nullcontext():
            runs = [measure(sweep_spec(f"bench_w{n}", grid), own_dir(root, n), n) for n in (1, 2)]
        print(f"Dask workers: {TRIM} {'unset' if args.no_trim else 'as Dask sets it (65536)'}")
        _agree(runs[0], runs[1], base.metrics)
        report(base, plain, runs)
        if args.profile:
            print(profile(base.tasks[: min(10, len(base.tasks))]))
    load_avg = os.getloadavg()
    print(f"load average after: {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}")


if __name__ == "__main__":
    main()
