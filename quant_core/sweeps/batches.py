"""How a sweep's configurations are cut into tasks and fed to the cluster.

A grid's (or a random search's) configurations are known at the start: cut into coarse
batches, smaller at the end, and all sent at once (:class:`GridFeed`). An Optuna search's are
not: its feed asks the study as tasks come back (:class:`quant_core.sweeps.optuna_search.
StudyFeed`). The runner drives either through ``window``, ``take`` and ``settle``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TypeVar

from config.sweep import SweepConfig
from quant_core.sweeps.catalogue import Result
from quant_core.sweeps.tasks import Task

T = TypeVar("T")
MAX_BATCH = 100  # configurations per task at most (about four tasks per worker; 50 left the
# driver recording twice as many batches: 1 -> 2 workers 1.69x steady on the sweep benchmark, 1.94x)


def batch_size(spec: SweepConfig, todo: int, workers: int) -> int:
    """Return the configurations per task: the spec's, else about four tasks per worker."""
    if spec.batch:
        return spec.batch
    return max(1, min(MAX_BATCH, math.ceil(todo / (4 * max(workers, 1)))))


def split(tasks: list[T], size: int, workers: int, taper: bool = True) -> list[list[T]]:
    """Return ``tasks`` in batches of ``size``, in order; with ``taper``, smaller at the end.

    Tapered, a batch is at most the tasks left over twice the workers (and at least an eighth of
    ``size``), so the workers finish close together instead of one running the last whole batch
    while the others wait. A spec's own ``batch`` is kept as given (no taper).
    """
    out: list[list[T]] = []
    at, floor = 0, max(1, size // 8)
    while at < len(tasks):
        left = len(tasks) - at
        take = min(size, max(floor, math.ceil(left / (2 * max(workers, 1))))) if taper else size
        out.append(tasks[at : at + take])
        at += take
    return out


@dataclass(frozen=True, slots=True)
class Job:
    """One task sent to the cluster: a batch of configurations, and the Optuna trial it is."""

    batch: list[Task]
    trial: int | None = None  # the study's trial number (an Optuna search's task)


def named(tasks: list[Task], shown: int = 3) -> str:
    """Return the first ``shown`` tasks' params as JSON, and how many more: for a message."""
    text = ", ".join(json.dumps(t.params, sort_keys=True) for t in tasks[:shown])
    return text + (f" and {len(tasks) - shown} more" if len(tasks) > shown else "")


@dataclass
class GridFeed:
    """A grid's (or random search's) tasks: all known at the start, all sent at once."""

    batches: list[list[Task]]

    def window(self, workers: int) -> int:
        """Return how many tasks to keep sent: every one (Dask queues them)."""
        return len(self.batches)

    def more(self) -> bool:
        """Return whether tasks are left to send."""
        return bool(self.batches)

    def take(self, n: int) -> list[Job]:
        """Return up to ``n`` tasks not yet sent."""
        taken, self.batches = self.batches[:n], self.batches[n:]
        return [Job(batch) for batch in taken]

    def settle(self, job: Job, results: list[Result]) -> None:
        """Nothing to learn from a grid's results (they are recorded)."""

    def counted(self, recorded: int) -> int:
        """Return the sweep's progress: the configurations recorded."""
        return recorded
