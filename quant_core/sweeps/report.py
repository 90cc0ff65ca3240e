"""A sweep on the command line: its progress bar, its JSON and its table of the best.

``--json`` prints one object: the sweep's id, catalogue, counts and timing, ``start`` (every
configuration's first session when the period's start was moved to it, ``sweeps.span``),
``overfitting`` (``deflated_sharpe`` of the best, ``pbo``, ``trials``, ``effective_trials``,
``distinct_curves``: the configurations with return series of their own), and ``results``, one
entry per configuration (the best first by the objective) with its ``params``, ``metrics`` (the
same keys as a single run's ``--json`` ``metrics``), ``objective``, ``seconds`` and ``worker``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from quant_core.atomic import json_safe
from quant_core.sweeps.catalogue import Catalogue
from quant_core.sweeps.runner import Progress as SweepProgress
from quant_core.sweeps.runner import SweepRun
from quant_core.sweeps.walk_forward import WalkForwardProgress, WalkForwardRun

SHOWN = 10  # configurations in the table


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[SweepProgress], None]]:
    """Yield a progress callback drawing configurations done, the best so far and the rate."""
    if not enabled:
        yield lambda p: None
        return
    bar = Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"),
        TextColumn("{task.fields[rate]} cfg/s"),
        TimeElapsedColumn(),
        transient=True,
    )
    with bar:
        task = bar.add_task("sweep", total=None, best="-", rate="-")

        shown: list[str] = []

        def update(p: SweepProgress) -> None:
            if p.dashboard and not shown:  # once: where to watch the workers
                bar.console.print(f"Dask dashboard: {p.dashboard}", soft_wrap=True)
                shown.append(p.dashboard)
            best = "-" if p.best is None else f"{p.best:.4g}"
            bar.update(task, completed=p.done, total=p.total, best=best, rate=f"{p.rate:.1f}")

        yield update


@contextmanager
def folds_bar(enabled: bool = True) -> Iterator[Callable[[WalkForwardProgress], None]]:
    """Yield a progress callback drawing a walk-forward's folds done, resumed, and the last one.

    The last fold is named by its test window and the parameters its train window chose.
    """
    if not enabled:
        yield lambda p: None
        return
    bar = Progress(
        TextColumn("walk-forward"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[resumed]} resumed"),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        transient=True,
    )
    with bar:
        task = bar.add_task("folds", total=None, resumed=0, last="")

        def update(p: WalkForwardProgress) -> None:
            window = p.fold.window
            params = json.dumps(p.fold.params, sort_keys=True, default=str)
            last = f"fold {window.fold}: test {window.test_start}..{window.test_end} {params}"
            bar.update(task, completed=p.done, total=p.total, resumed=p.resumed, last=last)

        yield update


def sweep_json(run: SweepRun, objective: str) -> dict[str, Any]:
    """Return the ``--json`` object of a sweep (module docstring)."""
    catalogue = Catalogue(run.catalogue)
    try:
        frame = catalogue.results(run.sweep_id)
        judged = catalogue.overfitting(run.sweep_id)
    finally:
        catalogue.close()
    results = [
        {
            "params": row.params,
            "metrics": row.metrics,
            "objective": _finite(row.objective),
            "seconds": row.seconds,
            "worker": row.worker,
        }
        for row in frame.itertuples()
    ]
    out = {
        "sweep_id": run.sweep_id,
        "catalogue": str(run.catalogue),
        "objective": objective,
        "configurations": run.total,
        "resumed": run.resumed,
        "ran": run.ran,
        "seconds": run.seconds,
        "workers": run.workers,
        "dashboard": run.dashboard,
        # Every configuration's first session, when the period's start was moved to the one
        # the longest warm-up allows (sweeps.span); None: the period's own.
        "start": run.start.isoformat() if run.start is not None else None,
        "overfitting": judged,
        "results": results,
    }
    safe: dict[str, Any] = json_safe(out)
    return safe


def sweep_table(summary: dict[str, Any]) -> RenderableType:
    """Return the best configurations of a sweep's JSON as a table."""
    objective = summary["objective"]
    table = Table(
        title=(
            f"Sweep {summary['sweep_id']}: {summary['configurations']} configuration(s), "
            f"{summary['ran']} run now on {summary['workers']} worker(s) in "
            f"{summary['seconds']:.1f} s; best by {objective}"
        ),
        title_justify="left",
    )
    for column in ("params", objective, "cagr", "max_drawdown", "trades", "seconds"):
        table.add_column(column)
    table.caption = overfitting_caption(summary.get("overfitting") or {})
    for row in summary["results"][:SHOWN]:
        metrics = row["metrics"]
        table.add_row(
            json.dumps(row["params"], sort_keys=True),
            _figure(row["objective"]),
            _figure(metrics.get("cagr")),
            _figure(metrics.get("max_drawdown")),
            str(metrics.get("trades", "")),
            f"{row['seconds']:.2f}",
        )
    return table


def walk_forward_json(run: WalkForwardRun) -> dict[str, Any]:
    """Return the ``--json`` object of a walk-forward: its folds and stitched metrics.

    ``resumed``: the folds read back from the catalogue (an interrupted walk-forward run again),
    not run again.
    """
    folds = [
        {
            "fold": f.window.fold,
            "train": [str(f.window.train_start), str(f.window.train_end)],
            "test": [str(f.window.test_start), str(f.window.test_end)],
            "params": f.params,
            "train_objective": f.train_objective,
            "test_metrics": f.test.metrics,
        }
        for f in run.folds
    ]
    out = {
        "wf_id": run.wf_id,
        "catalogue": str(run.catalogue),
        "resumed": run.resumed,
        "metrics": run.metrics,
        "folds": folds,
    }
    safe: dict[str, Any] = json_safe(out)
    return safe


def walk_forward_table(summary: dict[str, Any], objective: str) -> RenderableType:
    """Return a walk-forward's folds and its out-of-sample figures as a table."""
    figures = summary["metrics"]
    table = Table(
        title=(
            f"Walk-forward {summary['wf_id']}: {len(summary['folds'])} fold(s), "
            f"{summary.get('resumed', 0)} resumed; out of sample: "
            f"return {figures['total_return']:.2%}, Sharpe {_figure(figures['sharpe'])}, max "
            f"drawdown {figures['max_drawdown']:.2%}"
        ),
        title_justify="left",
    )
    for column in ("fold", "train", "test", "params chosen", f"train {objective}", "test return"):
        table.add_column(column)
    for fold in summary["folds"]:
        table.add_row(
            str(fold["fold"]),
            " .. ".join(fold["train"]),
            " .. ".join(fold["test"]),
            json.dumps(fold["params"], sort_keys=True),
            _figure(fold["train_objective"]),
            _figure(fold["test_metrics"].get("total_return")),
        )
    return table


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, float) and math.isfinite(value) else None


def overfitting_caption(judged: dict[str, Any]) -> str | None:
    """Return the overfitting figures as a line, each "-" when not measured; None: none was.

    The deflated Sharpe is None when the best configuration never moved, the PBO may be
    measured without it: each figure is shown on its own. A PBO not measured because the
    configurations' return series are all alike says so.
    """
    keys = ("deflated_sharpe", "effective_trials", "pbo")
    if all(judged.get(k) is None for k in keys):
        return None
    dsr, n_eff, trials, pbo = (
        _fixed(judged.get(k), digits)
        for k, digits in (
            ("deflated_sharpe", 3),
            ("effective_trials", 1),
            ("trials", 0),
            ("pbo", 3),
        )
    )
    distinct = judged.get("distinct_curves")
    if judged.get("pbo") is None and distinct is not None and distinct < 2:
        pbo += " (fewer than 2 distinct return series: the configurations traded alike)"
    return (
        f"Deflated Sharpe of the best: {dsr} ({n_eff} effective trials of {trials}); "
        f"probability of backtest overfitting (CSCV): {pbo}"
    )


def _fixed(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _figure(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


__all__ = [
    "overfitting_caption",
    "progress_bar",
    "sweep_json",
    "sweep_table",
    "walk_forward_json",
    "walk_forward_table",
]
