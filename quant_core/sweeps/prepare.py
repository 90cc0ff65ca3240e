"""A sweep checked as it will run, before any cluster starts (:func:`prepare`).

Whatever a backtest would refuse is refused first, naming the sweep file (``sweeps.checks``);
then the period's start moves to the session every configuration can trade
(:mod:`quant_core.sweeps.span`). :func:`quant_core.sweeps.runner.run_sweep` runs what this
returns; a benchmark or a test that needs the sweep's id or configurations asks it too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config.schema import AppConfig
from config.sweep import Configuration, SweepConfig, check_choices, configurations
from config.sweep_checks import check_objective_made
from quant_core.sweeps.checks import (
    check_benchmark_of,
    check_configurations,
    check_extra,
    check_objective,
    check_study,
    load_base,
    load_models,
    sessions,
)
from quant_core.sweeps.span import aligned


@dataclass(frozen=True, slots=True)
class Prepared:
    """A sweep checked as it will run: its spec from the shared start, run config, configurations.

    ``start``: the session every configuration starts on when the period's start was moved to it
    (:mod:`quant_core.sweeps.span`), else None. ``todo`` is empty for an Optuna search.
    """

    spec: SweepConfig
    base: AppConfig
    todo: list[Configuration]
    start: dt.date | None


def prepare(
    spec: SweepConfig,
    load: Callable[[list[str]], AppConfig],
    extra: tuple[str, ...] = (),
    path: Path | str = "sweep",
) -> Prepared:
    """Check ``spec`` as :func:`run_sweep` does before a cluster starts; return it ready to run.

    What a backtest would refuse is refused here, naming the file; then the period's start moves
    to the session every configuration can trade (``sweeps.span``).
    """
    check_extra(spec, extra, path)
    check_objective(spec, path)
    optuna = spec.search is not None and spec.search.method == "optuna"
    base = load_base(spec, load, extra, path)
    check_objective_made(path, spec, base.backtest.benchmark)
    load_models(spec, base, path)  # a model_<id> factor validates once loaded
    # Built over the run config's params: a parameter not swept is the run's, not a default.
    todo = [] if optuna else configurations(spec, path, base.strategy.params)
    check_choices(spec, path, base.strategy.params)  # an Optuna list's (expanded: checked)
    dates = sessions(base)  # a period outside the data: said before a cluster starts
    check_benchmark_of(base, path)
    warmups = check_study(spec, base, path, dates) + check_configurations(base, todo, path, dates)
    moved = aligned(spec, dates, warmups, (base.backtest.start, base.backtest.end))
    if moved is spec:
        return Prepared(spec, base, todo, None)
    base = load_base(moved, load, extra, path)
    todo = [] if optuna else configurations(moved, path, base.strategy.params)
    return Prepared(moved, base, todo, moved.period.start)


__all__ = ["Prepared", "prepare"]
