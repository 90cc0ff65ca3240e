"""The sweep benchmark's data and specs: the seeded panel, the sweep file, its loaders.

Kept apart from ``benchmarks/sweep.py`` (its measurements) so that each stays one job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config import load_config
from config.schema import AppConfig
from config.sweep import SweepConfig
from quant_core.calendar import get_calendar
from quant_core.data.sources.synthetic import generate_bars
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.sweeps.prepare import prepare

SYMBOLS, SESSIONS, SEED = 500, 5000, 42  # the panel of benchmarks/backtest.py
DATASET = "bench"


def write_panel(root: Path, symbols: int, sessions: int) -> float:
    """Write the seeded panel as dataset ``bench`` under ``root/warehouse``; return seconds."""
    started = time.perf_counter()
    bars = generate_bars(get_calendar("XNYS"), symbols, sessions, seed=SEED, missing_frac=0.0)
    bars["adj_factor"] = 1.0
    bars["flags"] = 0
    warehouse = Warehouse(root / "warehouse")
    meta = DatasetMeta(
        f"SYNTHETIC benchmark: {symbols} symbols x {sessions} sessions", "synthetic", True
    )
    warehouse.write_bars(DATASET, bars, meta)
    return time.perf_counter() - started


def sweep_spec(name: str, grid: dict[str, list[Any]]) -> SweepConfig:
    """Return the benchmark's sweep: momentum over ``grid``, rebalance 21, objective sharpe."""
    return SweepConfig(
        name=name,
        strategy="momentum",
        grid=grid,
        set={"strategy.rebalance": 21},
        objective="sharpe",
    )


def loader(root: Path) -> Callable[[list[str]], AppConfig]:
    """Return the sweep's ``load``: the backtest config on the temporary warehouse."""

    def load(overrides: list[str]) -> AppConfig:
        extra = [f"paths.data_dir={root}", f"data.dataset={DATASET}"]
        return load_config("backtest", [*overrides, *extra], environ={})

    return load


def aligned_spec(spec: SweepConfig, load: Callable[[list[str]], AppConfig]) -> SweepConfig:
    """Return ``spec`` as ``run_sweep`` runs it: from the session every configuration shares."""
    return prepare(spec, load).spec


def own_dir(root: Path, workers: int) -> Callable[[list[str]], AppConfig]:
    """Return a loader on a data dir of its own (its own catalogue) that shares ``root``'s bars.

    A sweep's id is what decides its results, so the same grid run again in one data dir would
    resume, not run; each measured sweep gets ``root/w<workers>`` with a link to the warehouse.
    """
    folder = root / f"w{workers}"
    folder.mkdir()
    (folder / "warehouse").symlink_to(root / "warehouse", target_is_directory=True)
    return loader(folder)
