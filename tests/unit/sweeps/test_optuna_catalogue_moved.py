"""An Optuna search whose catalogue was moved aside runs its trials again, not "finished".

The budget was counted on the study's journal (``<data_dir>/sweeps/optuna/<id>.log``), which
stays when the catalogue is moved aside (what a damaged catalogue's message tells the user to
do): the sweep then said it had every trial and recorded none. A trial counts only when the
catalogue holds its result; the others are abandoned and their params run again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from config.sweep import load_sweep
from quant_core.sweeps import runner
from quant_core.sweeps.catalogue import Catalogue
from quant_core.sweeps.optuna_search import ABANDONED, study_path
from tests.unit.sweeps.test_sweeps_review import _file, _loader, fakes  # noqa: F401 - fixture

OPTUNA = """
sweep:
  strategy: momentum
  search: {method: optuna, trials: 4, seed: 3, space: {lookback: {int: [20, 120]}}}
  set: {strategy.rebalance: 21}
  objective: sharpe
"""


def _recorded(path: Path, sweep_id: str) -> tuple[set[str], bool]:
    catalogue = Catalogue(path)
    try:
        finished = catalogue.sweeps().set_index("sweep_id")["finished_at"].notna()[sweep_id]
        return catalogue.done(sweep_id), bool(finished)
    finally:
        catalogue.close()


def test_a_search_whose_catalogue_was_moved_aside_runs_its_trials_again(
    tmp_path: Path,
    fakes: list[Any],  # noqa: F811 - the fixture
) -> None:
    path = _file(tmp_path, OPTUNA)
    spec, load = load_sweep(path), _loader(tmp_path)
    first = runner.run_sweep(spec, load, path=path, workers=1)
    keys, finished = _recorded(first.catalogue, first.sweep_id)
    assert finished
    assert keys

    shutil.move(first.catalogue, tmp_path / "catalogue.aside.duckdb")  # the journal stays
    again = runner.run_sweep(spec, load, path=path, workers=1)
    assert again.sweep_id == first.sweep_id
    assert again.ran == len(keys)  # every trial's params again, recorded
    rerun, finished = _recorded(again.catalogue, again.sweep_id)
    assert rerun == keys
    assert finished

    storage = JournalStorage(JournalFileBackend(str(study_path(tmp_path, again.sweep_id))))
    study = optuna.load_study(study_name=again.sweep_id, storage=storage)
    abandoned = set(study.user_attrs[ABANDONED])
    counted = [t for t in study.trials if t.state.is_finished() and t.number not in abandoned]
    assert len(counted) == 4  # the budget, each with its result in the catalogue
    assert len(abandoned) == 4  # the first run's, whose results were moved aside

    third = runner.run_sweep(spec, load, path=path, workers=1)  # nothing lost: nothing runs
    assert third.ran == 0
