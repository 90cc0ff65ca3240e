"""An Optuna trial's params read back from its key, when they are a point of the space.

A grid's configurations are expanded again from the spec to rerun one (the cockpit's "run and
open"); an Optuna search's are proposed as the study goes, so one is rebuilt from its key (the
params' JSON) after checking it lies in the space the sweep searched.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config.sweep import Range, Search


def trial_params(search: Search, key: str) -> dict[str, Any] | None:
    """Return the params of ``key`` if they are a point of ``search.space``, else None.

    Every dimension given, no other name; a list's value one of its items; an ``int`` range's a
    whole number within it, a ``float`` range's a number within it.
    """
    try:
        params = json.loads(key)
    except json.JSONDecodeError:
        return None
    if not isinstance(params, dict) or set(params) != set(search.space):
        return None
    if all(_within(search.space[name], value) for name, value in params.items()):
        return params
    return None


def _within(dim: Range | list[Any], value: Any) -> bool:
    if isinstance(dim, list):
        return value in dim
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if dim.whole is not None:
        return isinstance(value, int) and dim.whole[0] <= value <= dim.whole[1]
    lo, hi = dim.real or (0.0, 0.0)
    return lo <= value <= hi


__all__ = ["trial_params"]
