"""How a sweep's configurations are cut into tasks: coarse batches, smaller at the end."""

from __future__ import annotations

import math
from typing import TypeVar

from config.sweep import SweepConfig

T = TypeVar("T")
MAX_BATCH = 50  # configurations per task at most (chosen: about four tasks per worker)


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


__all__ = ["MAX_BATCH", "batch_size", "split"]
