"""What a sweep's worker runs: a batch of configurations, on panels it read itself and keeps.

A task carries configurations (their run configs), never data: the worker reads the warehouse
named by the config (``paths.data_dir``: a shared file system on a cluster) and keeps the panels
for the next task, keyed by the warehouse, the dataset and its bars' version, so a thousand
configurations read the data once per worker process. Each configuration runs through
:func:`quant_core.backtest.run.run_backtest` (a book's through
:func:`quant_core.backtest.book_run.run_book_backtest`), not stored, so its metrics are exactly
those of ``run_backtest.py`` (``--book``) with the same config.

Each task carries the bars' version the driver fixed the sweep's id with: a worker whose
warehouse holds another one (a write landed during the sweep) raises :class:`DataChanged`
rather than record results of two versions under one id.
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
from quant_core.errors import DataError
from quant_core.sweeps.catalogue import Result

_PANELS: dict[tuple[str, str, int], MarketData] = {}  # this process's panels (one dataset)


class DataChanged(DataError):
    """The dataset's bars are at another version than the one the sweep was started on."""

    def __init__(self, dataset: str, expected: int, found: int, location: str) -> None:
        super().__init__(
            f"the data changed during the sweep: dataset {dataset!r} in {location} holds bars "
            f"version {found}, the sweep was started on version {expected}"
        )
        self.dataset, self.expected, self.found, self.location = dataset, expected, found, location

    def __reduce__(self) -> tuple[Any, ...]:  # sent back from a worker: pickled with its fields
        return (type(self), (self.dataset, self.expected, self.found, self.location))


@dataclass(frozen=True, slots=True)
class Task:
    """One configuration to run: its key, params, run config, the bars' version, its book.

    ``bars_version`` is the version of the dataset's bars the driver keyed the sweep's id with
    (:func:`quant_core.sweeps.checks.bars_version_of`); the worker runs on that version or not
    at all (:func:`market`).
    """

    key: str
    params: dict[str, Any]
    cfg: AppConfig
    bars_version: int
    book: BookConfig | None = None


def market(cfg: AppConfig, expected: int) -> MarketData:
    """Return the panels ``cfg`` names at bars version ``expected``, read once per process.

    Raises
    ------
    DataChanged
        The warehouse holds another version of the dataset's bars (before or after the read).
    """
    warehouse = Warehouse(cfg.paths.warehouse_location())
    dataset = cfg.data.dataset
    _check(dataset, expected, warehouse.bars_version(dataset), warehouse.location)
    key = (warehouse.location, dataset, expected)
    if key not in _PANELS:
        _PANELS.clear()  # one dataset at a time: a worker's memory is one panel set
        version, data = read_market(warehouse, dataset)  # a write may land since the check
        _check(dataset, expected, version, warehouse.location)
        _PANELS[key] = data
    return _PANELS[key]


def _check(dataset: str, expected: int, found: int, location: str) -> None:
    if found != expected:
        raise DataChanged(dataset, expected, found, location)


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
        data = market(task.cfg, task.bars_version)
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


__all__ = ["DataChanged", "Task", "market", "run_batch", "worker_name"]
