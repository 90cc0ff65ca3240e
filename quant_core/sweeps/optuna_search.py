"""Optuna's search through the sweep's Dask cluster (``search: {method: optuna, trials: N}``).

Ask and tell, with the study held by the driver: the driver asks the study for a trial's
params, the cluster runs the trial's backtest (:func:`quant_core.sweeps.tasks.run_batch`, one
configuration per task, as a grid's), and the driver tells the study its objective when the
task comes back. A worker holds no study and needs no shared folder for one: a cluster whose
machines share nothing but the warehouse (object storage) searches one study, not one per
machine. A few trials more than the workers are kept in flight, so each worker always has a
next one; the TPE sampler is told to treat the trials still running as bad (``constant_liar``),
so that the trials in flight are not proposed alike.

The study lives in an Optuna journal file (``<data_dir>/sweeps/optuna/<sweep_id>.log``,
``JournalFileBackend``: appends under a file lock; SQLite's locking does not survive parallel
writers), so a sweep run again goes on from the trials it has. A trial the driver asked but
never told (Ctrl-C, a killed driver) is failed when the sweep runs again and listed in the
study's ``abandoned`` attribute: it does not count against the budget, whose trials are those
that ended (complete; pruned: no finite objective; failed: params the strategy refuses).

The catalogue, not the journal, holds the results: a trial complete or pruned in the journal
whose result the catalogue lacks (a catalogue moved aside, as a damaged one's message says to,
or lost) is abandoned too and its params queued to run again (``enqueue_trial``), so the
search records every trial it counts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.schema import AppConfig
from config.sweep import Range, SweepConfig
from config.sweep_book import with_params
from quant_core.errors import ConfigError
from quant_core.research.model import ModelNotReady
from quant_core.sweeps.batches import Job
from quant_core.sweeps.catalogue import Result, objective_of
from quant_core.sweeps.checks import check_book, check_runnable
from quant_core.sweeps.model_checks import ModelChecks
from quant_core.sweeps.tasks import Task

logger = logging.getLogger(__name__)

OPTUNA = "optuna"  # folder under <data_dir>/sweeps
ABANDONED = "abandoned"  # the study's user attribute: trial numbers asked and never told
IN_FLIGHT_PER_WORKER = 2  # trials sent ahead per worker (one running, one waiting)
LOCK_GRACE_S = 3  # seconds before a journal lock left by a killed driver is taken over


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


def _storage(journal: Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

    # One writer (the driver; the catalogue's lock keeps a second driver of the sweep out): a
    # lock a killed driver left is taken over after LOCK_GRACE_S, not Optuna's 30 s.
    lock = JournalFileSymlinkLock(str(journal), grace_period=LOCK_GRACE_S)
    return JournalStorage(JournalFileBackend(str(journal), lock_obj=lock))


def _ended(study: Any) -> int:
    # The trials that count against the budget: ended, and not abandoned by a stopped driver.
    abandoned = set(study.user_attrs.get(ABANDONED, []))
    return sum(1 for t in study.trials if t.state.is_finished() and t.number not in abandoned)


def finished_trials(journal: Path, study: str) -> int:
    """Return the trials of the study that count against its budget (0 with no study yet)."""
    if not journal.exists():
        return 0
    import optuna

    try:
        found = optuna.load_study(study_name=study, storage=_storage(journal))
    except KeyError:  # no study of that name in the file
        return 0
    return _ended(found)


@dataclass
class StudyFeed:
    """The driver's side of a search: trials asked of the study, sent, and told back.

    ``take(n)`` asks up to ``n`` more trials (never beyond the budget ``total``) and returns
    each as a job of one configuration for :func:`quant_core.sweeps.tasks.run_batch`;
    ``settle`` reads a job's outcome and tells the study. ``window(workers)``: how many trials
    are kept in flight.
    """

    journal: Path
    name: str
    spec: SweepConfig
    base: AppConfig  # the run config of the sweep, before a trial's params
    total: int
    bars_version: int  # the sweep's: every trial's task carries it (tasks.market)
    recorded: set[str]  # the keys the catalogue holds for the sweep (Catalogue.done)
    study: Any = field(init=False)
    asked: int = field(init=False)  # trials that count (ended) plus those asked by this run
    ended: int = field(init=False)  # trials that count against the budget
    loaded: set[str] = field(init=False, default_factory=set)  # stored models' factors loaded
    models: ModelChecks = field(init=False)  # the stored models trials trade, read once each

    def __post_init__(self) -> None:
        import optuna

        self.models = ModelChecks(self.base.paths.data_dir, self.base.backtest.end)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        storage = _storage(self.journal)
        found = optuna.create_study(
            study_name=self.name,
            storage=storage,
            direction="maximize" if self.spec.maximize else "minimize",
            load_if_exists=True,
        )
        _abandon_stale(found)
        _rerun_unrecorded(found, self.recorded)
        ended = _ended(found)
        # Seeded by the trials already ended: a resumed search does not replay the first
        # run's random start (its proposals would repeat: recorded once, budget spent).
        seed = (self.spec.search.seed if self.spec.search is not None else 0) + ended
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        self.study = optuna.load_study(study_name=self.name, storage=storage, sampler=sampler)
        self.asked = self.ended = ended

    def window(self, workers: int) -> int:
        """Return the trials kept in flight for ``workers`` workers."""
        return IN_FLIGHT_PER_WORKER * max(workers, 1)

    def more(self) -> bool:
        """Return whether the budget has trials left to ask."""
        return self.asked < self.total

    def take(self, n: int) -> list[Job]:
        """Ask up to ``n`` more trials of the study; return each as a job of one task.

        Each trial's params are judged here first, as the corners of the space were
        (``checks.check_runnable``): params the strategy refuses (fast 90, slow 60: each range
        fits, the pair does not) fail that trial at once and the search goes on. What a worker
        refuses after that is the setup's fault (a benchmark not in the data, a worker's
        credentials), the same for every trial: it stops the sweep, as it stops a grid's.
        """
        from optuna.trial import TrialState

        space = self.spec.search.space if self.spec.search is not None else {}
        out: list[Job] = []
        while len(out) < n and self.asked < self.total:
            trial = self.study.ask()
            self.asked += 1
            params = {name: _suggest(trial, name, dim) for name, dim in space.items()}
            try:
                task = self._task(params)
            except (ConfigError, ModelNotReady) as exc:
                self.study.tell(trial.number, state=TrialState.FAIL)
                self.ended += 1
                logger.warning("Optuna trial %d refused, the search goes on: %s", trial.number, exc)
                continue
            out.append(Job([task], trial.number))
        return out

    def _task(self, params: dict[str, Any]) -> Task:
        # A trial's run: its params over the config's own (a book's: over its sleeves'), judged.
        key = trial_key(params)
        if self.spec.book is not None:
            book = with_params(self.spec.book.config, params)
            check_book(self.base, book, self.loaded, self.models)
            return Task(key, params, self.base, self.bars_version, book)
        merged = {**self.base.strategy.params, **params}
        check_runnable(self.base, merged, self.loaded, self.models)
        strategy = self.base.strategy.model_copy(update={"params": merged})
        cfg = self.base.model_copy(update={"strategy": strategy})
        return Task(key, params, cfg, self.bars_version)

    def settle(self, job: Job, results: list[Result]) -> None:
        """Tell the study the objective of ``job``'s trial, once its results are recorded.

        Told after the catalogue has them: a driver stopped between the two leaves the trial
        abandoned (asked again) with its result kept, never told with its result lost. No
        finite objective (no trade) prunes the trial.
        """
        from optuna.trial import TrialState

        value = objective_of(results[0].metrics, self.spec.objective) if results else None
        if value is None:
            self.study.tell(job.trial, state=TrialState.PRUNED)
        else:
            self.study.tell(job.trial, value)
        self.ended += 1

    def counted(self, recorded: int) -> int:
        """Return the sweep's progress: the trials ended (of the budget), not the results."""
        return self.ended


def trial_key(params: dict[str, Any]) -> str:
    """Return the catalogue's key of a trial's params."""
    return json.dumps(params, sort_keys=True, default=str)


def _abandon(study: Any, numbers: list[int]) -> None:
    listed = list(study.user_attrs.get(ABANDONED, []))
    study.set_user_attr(ABANDONED, sorted({*listed, *numbers}))


def _rerun_unrecorded(study: Any, recorded: set[str]) -> None:
    # Trials ended with a result (complete, pruned) that the catalogue does not hold: abandoned
    # (out of the budget) and their params queued, so the next trials asked run them again.
    from optuna.trial import TrialState

    abandoned = set(study.user_attrs.get(ABANDONED, []))
    lost = [
        t
        for t in study.trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        and t.number not in abandoned
        and trial_key(t.params) not in recorded
    ]
    if not lost:
        return
    _abandon(study, [t.number for t in lost])
    queued: set[str] = set()
    for trial in lost:
        if (key := trial_key(trial.params)) not in queued:  # a repeated proposal: run once
            queued.add(key)
            study.enqueue_trial(trial.params, skip_if_exists=False)
    logger.warning(
        "Optuna study %s: %d trial(s) in the journal have no result in the catalogue (moved "
        "aside, or lost); they run again",
        study.study_name,
        len(lost),
    )


def _abandon_stale(study: Any) -> None:
    # Trials left running by a driver that stopped (the catalogue's lock lets one driver run a
    # sweep at a time, so none of them runs now): failed, and listed as abandoned.
    from optuna.trial import TrialState

    stale = [t.number for t in study.trials if t.state == TrialState.RUNNING]
    if not stale:
        return
    _abandon(study, stale)
    for number in stale:
        study.tell(number, state=TrialState.FAIL)
    logger.info(
        "Optuna study %s: %d trial(s) of a stopped run abandoned", study.study_name, len(stale)
    )


__all__ = ["ABANDONED", "OPTUNA", "StudyFeed", "finished_trials", "study_path", "trial_key"]
