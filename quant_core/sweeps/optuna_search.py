"""Optuna's search through the sweep's Dask cluster (``search: {method: optuna, trials: N}``).

The study lives in an Optuna journal file (``<data_dir>/sweeps/optuna/<sweep_id>.log``,
``JournalFileBackend``: appends under a file lock, so parallel workers on one machine, or on a
shared file system, each read the others' trials and write their own; SQLite's locking does not
survive that). Each Dask task runs ``study.optimize`` for a share of the trials on its worker,
with the TPE sampler (seeded: ``search.seed`` plus the task's number, so tasks do not propose
alike); each trial is a full backtest (:func:`quant_core.sweeps.tasks.run_batch`), its objective
the sweep's. The task returns its trials' results, which the driver records in the catalogue as
a grid sweep's; the study is loaded again when the sweep runs again, so a resumed sweep goes on
from the trials it has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.schema import AppConfig
from config.sweep import Range, SweepConfig
from quant_core.errors import ConfigError
from quant_core.sweeps.catalogue import Result, objective_of
from quant_core.sweeps.tasks import Task, run_batch

OPTUNA = "optuna"  # folder under <data_dir>/sweeps


@dataclass(frozen=True, slots=True)
class StudyTask:
    """A share of an Optuna search: where its study is, what to try, how many trials."""

    journal: Path
    study: str
    spec: SweepConfig
    base: AppConfig  # the run config of the sweep, before a trial's params
    trials: int
    seed: int
    total: int  # the study's budget: no trial beyond it, whichever task runs


def study_path(data_dir: Path, sweep_id: str) -> Path:
    """Return the study's journal file for sweep ``sweep_id``."""
    return data_dir / "sweeps" / OPTUNA / f"{sweep_id}.log"


def _suggest(trial: Any, name: str, dim: Range | list[Any]) -> Any:
    if isinstance(dim, list):
        return trial.suggest_categorical(name, dim)
    if dim.whole is not None:
        return trial.suggest_int(name, dim.whole[0], dim.whole[1], log=dim.log)
    lo, hi = dim.real or (0.0, 0.0)
    return trial.suggest_float(name, lo, hi, log=dim.log)


def run_study(task: StudyTask) -> list[Result]:
    """Run ``task.trials`` trials of the study on this worker; return their results."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task.journal.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(task.journal)))
    study = optuna.create_study(
        study_name=task.study,
        storage=storage,
        direction="maximize" if task.spec.maximize else "minimize",
        sampler=optuna.samplers.TPESampler(seed=task.seed),
        load_if_exists=True,
    )
    space = task.spec.search.space if task.spec.search is not None else {}
    results: list[Result] = []

    def objective(trial: Any) -> float:
        params = {name: _suggest(trial, name, dim) for name, dim in space.items()}
        merged = {**task.base.strategy.params, **params}  # over the config's own params
        strategy = task.base.strategy.model_copy(update={"params": merged})
        cfg = task.base.model_copy(update={"strategy": strategy})
        key = json.dumps(params, sort_keys=True, default=str)
        result = run_batch([Task(key, params, cfg)])[0]
        results.append(result)
        value = objective_of(result.metrics, task.spec.objective)
        if value is None:  # no finite objective (no trade): the study learns it is bad
            raise optuna.TrialPruned(f"{task.spec.objective} is not finite")
        return value

    budget = optuna.study.MaxTrialsCallback(task.total, states=None)
    if _count(study) < task.total:
        # A trial whose params the strategy refuses (fast 90, slow 60: each range fits, the
        # pair does not) is recorded as failed and the study goes on; the corners of the
        # space were checked before the cluster started (checks.check_study).
        study.optimize(objective, n_trials=task.trials, callbacks=[budget], catch=(ConfigError,))
    return results


def _count(study: Any) -> int:
    return sum(1 for t in study.trials if t.state.is_finished())


def finished_trials(journal: Path, study: str) -> int:
    """Return the trials the study has finished (0 when it does not exist yet)."""
    if not journal.exists():
        return 0
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    try:
        found = optuna.load_study(study_name=study, storage=storage)
    except KeyError:  # no study of that name in the file
        return 0
    return _count(found)


__all__ = ["OPTUNA", "StudyTask", "finished_trials", "run_study", "study_path"]
