"""Sweeps: a second reading of the review's mends (s4), by fresh eyes.

The `set` of a swept parameter is refused; an Optuna space is judged over the run config's own
params and a trial the strategy refuses fails without stopping the study (run as a worker runs
it, on the real data and journal); only a whole secret's text is masked; a sweep whose strategy
parameters are all swept keeps the id it had.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.sweep import load_sweep
from quant_core.errors import ConfigError
from tests.integration.test_sweeps_review_s4 import (  # the review's fixtures and helpers
    GRID,
    _configs,
    data_dir,
    loader,
    own_dir,
    write,
)

pytestmark = pytest.mark.integration
__all__ = ["data_dir"]  # the module-scoped warehouse fixture, shared


def test_a_set_of_a_swept_parameter_is_refused(tmp_path: Path) -> None:
    # A mapping parameter (multi_factor's factors) given in `set` and swept would be deep-merged
    # into every configuration's; a plain one would be silently overridden by the grid.
    body = GRID.replace("{strategy.rebalance: 21}", "{strategy.params.lookback: 60}")
    with pytest.raises(ConfigError, match=r"sweep\.set\.strategy\.params\.lookback.*varies"):
        _configs(tmp_path, body)


SMA_OPTUNA = """
sweep:
  strategy: sma_cross
  search:
    method: optuna
    trials: 8
    seed: 3
    space: {fast: {int: [20, 90]}, slow: {int: [30, 120]}}
  set: {strategy.rebalance: 21}
  objective: sharpe
  period: {start: 2010-02-01, end: 2010-12-31}
"""


def test_an_optuna_space_is_judged_over_the_run_configs_own_params(tmp_path: Path) -> None:
    # sma_cross's slow defaults to 200: built alone at the space's high corner, fast 250 would
    # be refused, though the sweep's set makes slow 300.
    body = SMA_OPTUNA.replace(
        "space: {fast: {int: [20, 90]}, slow: {int: [30, 120]}}", "space: {fast: {int: [100, 250]}}"
    ).replace("{strategy.rebalance: 21}", "{strategy.rebalance: 21, strategy.params.slow: 300}")
    spec = load_sweep(write(tmp_path, body))
    assert spec.search is not None
    assert set(spec.search.space) == {"fast"}


def test_a_trial_the_strategy_refuses_fails_and_the_study_goes_on(
    tmp_path: Path, data_dir: Path
) -> None:
    # Each range fits alone, the pair does not always (fast 85 and slow 40): such a trial is
    # judged on the driver as it is asked, failed there, and never sent; the others run; the
    # study never stops on it (the driver's StudyFeed asking and telling, the trials run as a
    # worker runs them, on the real data and an Optuna journal).
    import optuna

    from quant_core.sweeps.checks import bars_version_of
    from quant_core.sweeps.optuna_search import StudyFeed
    from quant_core.sweeps.tasks import run_batch

    spec = load_sweep(write(tmp_path, SMA_OPTUNA))
    own = own_dir(tmp_path, data_dir)
    base = checks_base(spec, own)
    journal = tmp_path / "study.log"
    feed = StudyFeed(journal, "s4", spec, base, 8, bars_version_of(base), set())
    results: list[Any] = []
    while jobs := feed.take(2):
        for job in jobs:
            ran = run_batch(job.batch)
            feed.settle(job, ran)
            results += ran
    assert not feed.more()
    assert feed.take(1) == []  # the budget is spent
    assert feed.ended == 8
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    trials = optuna.load_study(study_name="s4", storage=storage).trials
    assert len(trials) == 8
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed, "no trial had fast >= slow: the test proves nothing"
    assert all(t.params["fast"] >= t.params["slow"] for t in failed)
    assert len(results) == 8 - len(failed)
    assert all(r.params["fast"] < r.params["slow"] for r in results)


def checks_base(spec: Any, data_dir: Path) -> Any:
    from quant_core.sweeps.checks import load_base

    return load_base(spec, loader(data_dir), (), "s4.yaml")


def test_a_value_that_contains_a_secret_is_not_masked_one_that_is_one_is() -> None:
    from config.keys import masked_override
    from config.redact import MASK, remember

    remember("S4X7Q")  # a secret's text, as the loader remembers it from secrets.yaml
    assert masked_override("backtest.initial_cash=1S4X7Q0") == "backtest.initial_cash=1S4X7Q0"
    assert masked_override("data.dataset=S4X7Q") == f"data.dataset={MASK}"
    assert masked_override("cockpit.password_hash=abc") == f"cockpit.password_hash={MASK}"


def test_a_sweep_id_without_unswept_parameters_is_what_it_was(data_dir: Path) -> None:
    # Every strategy parameter swept: the context digests the run config without its params,
    # as before the unswept ones counted, so an interrupted sweep of that kind still resumes.
    from quant_core.runs import config_digest
    from quant_core.sweeps.checks import sweep_context

    spec = load_sweep(write(data_dir, GRID, "all_swept.yaml"))
    base = checks_base(spec, data_dir)
    config = base.sanitized()
    config["strategy"].pop("params")
    context = sweep_context(base, spec)
    assert context.startswith(f"{config_digest(config)}:sp500-2010:")
