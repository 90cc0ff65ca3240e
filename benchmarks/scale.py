"""Scale: a 10,000-symbol x 7,560-session panel (30 years), one backtest, and the sweep's cluster.

Reference work, on SYNTHETIC bars (``generate_bars``, the generator of the other benchmarks):

1. **write**: 10,000 symbols x 7,560 XNYS sessions (1994-12-20 to 2024-12-31) with the
   generator's few missing bars, made in chunks of 1,000 symbols (chunk k: seed 42 + k, its own
   market and sector factors; renamed ``SYN0000`` ... ``SYN9999``) and written to a temporary
   warehouse one block of 5 calendar years at a time, so that no year partition is written
   twice (one ``write_bars`` of 76M rows would hold about three copies of the bars at once).
   Printed: the generation and write seconds and the warehouse's size on disk.
2. **run** (in a fresh process, so that its memory figures are its own): ``load_market`` (the
   five panels; seconds, resident memory after, and after ``live.allocators.give_back``
   returns the read's freed buffers), then ONE momentum backtest through
   ``quant_core.backtest.run.run_backtest(cfg, data=..., store=False)`` with the house backtest
   config (lookback 126, top 20%, rebalance 21, whole shares, per-share costs, the equal-weight
   benchmark): seconds and peak memory, the peak resident set (``VmHWM``, reset through
   ``/proc/self/clear_refs`` before the run) less the resident set before it. ``--repeat N``
   runs it N times (the last, warm, run sets the throughput); ``--tracemalloc`` runs it once
   more under ``tracemalloc`` (numpy's and Python's allocations; slower, not timed).
   Targets: <= 10 s and <= 6 GiB.
3. **driver** (a fresh process): ``quant_core.sweeps.overfitting.overfitting`` over 10,000
   random-walk equity curves of 7,560 sessions, the step ``run_sweep`` runs on the driver once
   every configuration is recorded (seconds, peak resident memory).
4. **plan**: the workers a 10,000-configuration sweep needs to finish within one hour on this
   panel: ``W = ceil(10,000 x t / ((3,600 - L - D) x e))`` with t the warm backtest's seconds,
   L the panel read (once per worker), D the driver's closing step and e the efficiency
   (``--efficiency``, one plan per value: a Dask worker's steady rate in a sweep of several
   workers over the in-process rate, both measured by ``benchmarks/sweep.py``), and the nodes
   of this machine's shape (cores, memory) that hold them, a worker's memory the larger of the
   panel read's peak and the loaded panels plus a backtest's peak.

    python benchmarks/scale.py [--symbols 10000 --sessions 7560] [--repeat 2] [--tracemalloc]
                               [--efficiency 0.55 0.83] [--warehouse DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from config import load_config
from quant_core.backtest.run import load_market, run_backtest
from quant_core.calendar import get_calendar
from quant_core.data.sources.synthetic import generate_bars, symbol_names
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.live.allocators import give_back
from quant_core.sweeps.overfitting import overfitting

SYMBOLS, SESSIONS, SEED, CHUNK, YEARS_PER_WRITE = 10_000, 7_560, 42, 1_000, 5
DATASET = "scale"
TIME_TARGET_S, MEMORY_TARGET = 10.0, 6 * 2**30
SWEEP_CONFIGS, BUDGET_S = 10_000, 3_600.0
GIB, MIB = 2**30, 2**20


def _status(field: str) -> int:
    # A field of /proc/self/status (VmRSS, VmHWM) in bytes.
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current resident set (Linux >= 4.0).
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")


def _chunk(calendar: Any, first: int, count: int, sessions: int) -> pd.DataFrame:
    """Return ``count`` symbols' bars named ``SYN{first}`` on, seed ``SEED + first // CHUNK``."""
    bars = generate_bars(calendar, count, sessions, seed=SEED + first // CHUNK)
    local = pd.Index(symbol_names(count)).get_indexer(bars["symbol"])
    bars["symbol"] = symbol_names(first + count)[first + local]
    return bars


def write(root: Path, symbols: int, sessions: int) -> dict[str, float]:
    """Generate the panel in chunks and write it in blocks of years; return the figures."""
    calendar = get_calendar("XNYS")
    started = time.perf_counter()
    chunks = [
        _chunk(calendar, first, min(CHUNK, symbols - first), sessions)
        for first in range(0, symbols, CHUNK)
    ]
    generated = time.perf_counter() - started
    rows = sum(len(c) for c in chunks)
    warehouse = Warehouse(root / "warehouse")
    meta = DatasetMeta(
        f"SYNTHETIC scale benchmark: {symbols} symbols x {sessions} sessions", "synthetic", True
    )
    years = sorted({int(y) for y in chunks[0]["date"].dt.year.unique()})
    writing = 0.0
    for lo in range(years[0], years[-1] + 1, YEARS_PER_WRITE):
        hi = lo + YEARS_PER_WRITE
        block = pd.concat(
            [c[(c["date"].dt.year >= lo) & (c["date"].dt.year < hi)] for c in chunks],
            ignore_index=True,
        )
        block["adj_factor"] = 1.0
        block["flags"] = 0
        started = time.perf_counter()
        warehouse.write_bars(DATASET, block, meta)
        writing += time.perf_counter() - started
        del block
    size = sum(p.stat().st_size for p in (root / "warehouse").rglob("*") if p.is_file())
    return {"rows": rows, "generate_s": generated, "write_s": writing, "bytes": size}


def _config(root: Path) -> Any:
    overrides = [
        f"paths.data_dir={root}",
        f"data.dataset={DATASET}",
        "strategy.name=momentum",
        "strategy.rebalance=21",
    ]
    return load_config("backtest", overrides, environ={})


def run(root: Path, repeat: int, traced: bool) -> dict[str, Any]:
    """Load the panels and run the backtest ``repeat`` times; return the figures (module doc)."""
    out: dict[str, Any] = {"rss_start": _status("VmRSS")}
    cfg = _config(root)
    _reset_peak()
    started = time.perf_counter()
    data = load_market(Warehouse(root / "warehouse"), DATASET)
    out["load_s"] = time.perf_counter() - started
    out["load_peak"], out["rss_held"] = _status("VmHWM"), _status("VmRSS")
    give_back()  # the read's freed buffers (Arrow's pool, glibc's heap) back to the system
    out["rss_loaded"] = _status("VmRSS")
    out["panel_bytes"] = sum(p.nbytes for p in data.panels.values())
    out["shape"] = [len(data.dates), len(data.symbols)]
    out["runs"] = []
    for _ in range(repeat):
        gc.collect()
        give_back()
        before = _status("VmRSS")
        _reset_peak()
        started = time.perf_counter()
        result = run_backtest(cfg, data=data, store=False)
        seconds = time.perf_counter() - started
        out["runs"].append({"seconds": seconds, "peak_delta": _status("VmHWM") - before})
        out["trades"] = int(result.metrics["trades"])
        out["final_equity"] = float(result.metrics["final_equity"])
        del result
    if traced:
        gc.collect()
        give_back()
        tracemalloc.start()
        run_backtest(cfg, data=data, store=False)
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out


def driver(configs: int, sessions: int) -> dict[str, float]:
    """Time ``overfitting`` over ``configs`` random-walk curves of ``sessions`` sessions."""
    rng = np.random.default_rng(SEED)
    returns = rng.normal(0.0003, 0.01, (sessions, configs))
    index = pd.bdate_range("1995-01-02", periods=sessions)
    curves = pd.DataFrame(
        1e6 * np.cumprod(1 + returns, axis=0),
        index=index,
        columns=[f"c{i}" for i in range(configs)],
    )
    del returns
    before = _status("VmRSS")
    _reset_peak()
    started = time.perf_counter()
    figures = overfitting(curves, "c0")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_delta": _status("VmHWM") - before, "pbo": figures["pbo"]}


def _child(args: list[str]) -> dict[str, Any]:
    # Run a phase in a fresh interpreter; its last stdout line is the JSON of its figures.
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def plan(figures: dict[str, Any], driver_s: float, efficiency: float) -> None:
    """Print the workers and nodes a 10,000-configuration sweep needs within one hour."""
    seconds = figures["runs"][-1]["seconds"]
    load_s = figures["load_s"]
    # A worker's peak: the panel read's, or the loaded panels plus a backtest's, the larger.
    worker_mem = max(
        figures["load_peak"], figures["rss_loaded"] + max(r["peak_delta"] for r in figures["runs"])
    )
    usable = BUDGET_S - load_s - driver_s
    workers = math.ceil(SWEEP_CONFIGS * seconds / (usable * efficiency))
    cores, memory = os.cpu_count() or 1, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    per_node = max(1, min(cores, int(memory // worker_mem)))
    print(
        f"plan: {SWEEP_CONFIGS:,} configurations x {seconds:.2f} s = "
        f"{SWEEP_CONFIGS * seconds / 3600:.1f} worker-hours; {usable:,.0f} s of the hour left "
        f"after the panel read ({load_s:.1f} s) and the driver's overfitting step "
        f"({driver_s:.1f} s); efficiency {efficiency:.2f}"
    )
    print(
        f"plan: {workers} single-threaded workers of {worker_mem / GIB:.1f} GiB "
        f"({workers * worker_mem / GIB:,.0f} GiB in all); on nodes like this one "
        f"({cores} cores, {memory / GIB:.0f} GiB: {per_node} workers each) "
        f"{math.ceil(workers / per_node)} nodes"
    )


def _report(written: dict[str, float] | None, figures: dict[str, Any]) -> None:
    if written is not None:
        print(
            f"write: {written['rows']:,.0f} bars generated in {written['generate_s']:.1f} s, "
            f"written in {written['write_s']:.1f} s "
            f"({written['rows'] / written['write_s']:,.0f} rows/s); "
            f"warehouse {written['bytes'] / MIB:,.0f} MiB on disk"
        )
    dates, symbols = figures["shape"]
    print(
        f"load: {dates:,} x {symbols:,} panels in {figures['load_s']:.2f} s; "
        f"panels {figures['panel_bytes'] / GIB:.2f} GiB; resident {figures['rss_start'] / MIB:,.0f}"
        f" -> {figures['rss_held'] / MIB:,.0f} MiB (peak {figures['load_peak'] / MIB:,.0f} MiB), "
        f"{figures['rss_loaded'] / MIB:,.0f} MiB once the freed buffers are given back"
    )
    for i, one in enumerate(figures["runs"], start=1):
        ok_t = "MET" if one["seconds"] <= TIME_TARGET_S else "NOT MET"
        ok_m = "MET" if one["peak_delta"] <= MEMORY_TARGET else "NOT MET"
        print(
            f"backtest {i}: {one['seconds']:.2f} s (<= {TIME_TARGET_S:.0f} s: {ok_t}); peak "
            f"{one['peak_delta'] / GIB:.2f} GiB above the loaded {figures['rss_loaded'] / GIB:.2f}"
            f" GiB (<= 6 GiB: {ok_m}); {figures['trades']:,} trades, final equity "
            f"{figures['final_equity']:,.2f}"
        )
    if "traced_peak" in figures:
        print(f"backtest under tracemalloc: peak {figures['traced_peak'] / GIB:.2f} GiB traced")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=SYMBOLS)
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--repeat", type=int, default=2, help="backtests (the last sets t)")
    parser.add_argument("--tracemalloc", action="store_true", help="one more run, traced")
    parser.add_argument(
        "--efficiency",
        type=float,
        nargs="+",
        default=[1.0],
        help="a sweep worker's rate / the in-process rate (benchmarks/sweep.py); one plan each",
    )
    parser.add_argument("--configs", type=int, default=SWEEP_CONFIGS, help="driver's curves")
    parser.add_argument("--warehouse", type=Path, help="keep (or reuse) the warehouse here")
    parser.add_argument("--phase", choices=["run", "driver"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "run":
        print(json.dumps(run(args.warehouse, args.repeat, args.tracemalloc)))
        return
    if args.phase == "driver":
        print(json.dumps(driver(args.configs, args.sessions)))
        return
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f}")
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        root = args.warehouse or Path(tmp)
        written = None
        if not (root / "warehouse").exists():
            written = write(root, args.symbols, args.sessions)
        gc.collect()
        flags = ["--warehouse", str(root), "--repeat", str(args.repeat)]
        figures = _child(["--phase", "run", *flags, *(["--tracemalloc"] * args.tracemalloc)])
    _report(written, figures)
    closing = _child(
        ["--phase", "driver", "--configs", str(args.configs), "--sessions", str(args.sessions)]
    )
    print(
        f"driver: overfitting over {args.configs:,} curves x {args.sessions:,} sessions in "
        f"{closing['seconds']:.1f} s, peak {closing['peak_delta'] / GIB:.2f} GiB above its start"
    )
    for efficiency in args.efficiency:
        plan(figures, closing["seconds"], efficiency)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
