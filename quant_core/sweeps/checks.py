"""What a sweep is checked for before anything runs, and what makes it the same sweep.

- :func:`check_extra`: the command line's ``--set`` cannot change what the sweep file decides:
  the strategy, a swept parameter, the period (a walk-forward's windows would be stretched past
  their ends: look-ahead);
- :func:`check_objective`: the objective is a metric a run has (the names listed);
- :func:`sweep_context`: the run config's digest and the dataset's version, part of the sweep's
  identity (``config.sweep.sweep_digest``): another config or newer data is another sweep, not a
  resumption of the old one.
"""

from __future__ import annotations

from pathlib import Path

from config.schema import AppConfig
from config.sweep import METRIC_NAMES, SweepConfig
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError
from quant_core.runs import config_digest


def swept(spec: SweepConfig) -> set[str]:
    """Return the parameters the sweep varies."""
    if spec.grid is not None:
        return set(spec.grid)
    return set(spec.search.space) if spec.search is not None else set()


def check_extra(spec: SweepConfig, extra: tuple[str, ...], path: Path | str) -> None:
    """Refuse a ``--set`` that would change what the sweep file decides (module docstring)."""
    fixed = {"strategy.name", "backtest.start", "backtest.end"}
    fixed |= {f"strategy.params.{name}" for name in swept(spec)}
    for item in extra:
        key = item.partition("=")[0].strip()
        if key in fixed:
            raise ConfigError(
                f"{path}: --set {key}: the sweep file decides it (sweep.strategy, the grid or "
                "search, sweep.period); change the file, not the command line"
            )


def check_objective(spec: SweepConfig, path: Path | str) -> None:
    """Refuse an objective no run has, naming the metrics one may choose."""
    if spec.objective not in METRIC_NAMES:
        raise ConfigError(
            f"{path}: sweep.objective: {spec.objective!r} is no metric of a run; choose one "
            f"of {', '.join(sorted(METRIC_NAMES))}"
        )


def sweep_context(base: AppConfig) -> str:
    """Return the run config's digest (its strategy params apart) and the dataset's version."""
    config = base.sanitized()
    config.get("strategy", {}).pop("params", None)  # the sweep's own, in its spec
    warehouse = Warehouse(base.paths.data_dir / "warehouse")
    version = warehouse.version(base.data.dataset) if warehouse.exists(base.data.dataset) else -1
    return f"{config_digest(config)}:{base.data.dataset}:{version}"


__all__ = ["METRIC_NAMES", "check_extra", "check_objective", "sweep_context", "swept"]
