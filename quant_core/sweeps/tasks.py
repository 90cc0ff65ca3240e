"""What a sweep's worker runs: a batch of configurations, on panels it read itself and keeps.

A task carries configurations (their run configs), never data: the worker reads the warehouse
named by the config (``paths.data_dir``: a shared file system on a cluster) and keeps the panels
for the next task, keyed by the warehouse, the dataset and its bars' version, so a thousand
configurations read the data once per worker process. Each configuration runs through
:func:`quant_core.backtest.run.run_backtest` (a book's through
:func:`quant_core.backtest.book_run.run_book_backtest`), not stored, so its metrics are exactly
those of ``run_backtest.py`` (``--book``) with the same config.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from config.book_schema import BookConfig
from config.schema import AppConfig
from quant_core.atomic import json_safe
from quant_core.backtest.book_run import run_book_backtest
from quant_core.backtest.run import read_market, run_backtest
from quant_core.data.panels import MarketData
from quant_core.data.warehouse import Warehouse
from quant_core.sweeps.catalogue import Result

_PANELS: dict[tuple[str, str, int], MarketData] = {}  # this process's panels (one dataset)


@dataclass(frozen=True, slots=True)
class Task:
    """One configuration to run: its key, its params and its run config (and book, if one)."""

    key: str
    params: dict[str, Any]
    cfg: AppConfig
    book: BookConfig | None = None


def market(cfg: AppConfig) -> MarketData:
    """Return the panels ``cfg`` names, read once per process and version of the bars."""
    warehouse = Warehouse(cfg.paths.warehouse_location())
    key = (warehouse.location, cfg.data.dataset, warehouse.bars_version(cfg.data.dataset))
    if key not in _PANELS:
        _PANELS.clear()  # one dataset at a time: a worker's memory is one panel set
        # Kept under the version read with the panels (a write may land between the two).
        version, data = read_market(warehouse, cfg.data.dataset)
        key = (*key[:2], version)
        _PANELS[key] = data
    return _PANELS[key]


def worker_name() -> str:
    """Return who runs this: the Dask worker's name, else host and process id."""
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def run_batch(tasks: list[Task]) -> list[Result]:
    """Run ``tasks`` one after the other; return each one's result."""
    out = []
    who = worker_name()
    for task in tasks:
        started = time.perf_counter()
        data = market(task.cfg)
        if task.book is not None:
            book = run_book_backtest(task.cfg, task.book, data=data, store=False, trips=False)
            run = book.account
        else:
            run = run_backtest(task.cfg, data=data, store=False, trips=False)
        metrics: dict[str, Any] = json_safe(run.metrics)
        seconds = time.perf_counter() - started
        curve = run.result.curve["equity"]
        out.append(Result(task.key, task.params, metrics, seconds, who, curve))
    return out


__all__ = ["Task", "market", "run_batch", "worker_name"]
