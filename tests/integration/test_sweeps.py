"""Sweeps on a real Dask cluster of two worker processes (``LocalCluster``), on sp500-2010.

- a sweep's metrics for configurations picked at random are exactly those of separate runs;
- a worker process killed mid-sweep loses no result (Dask runs its task again elsewhere);
- a sweep interrupted (Ctrl-C) keeps what finished, and run again resumes without redoing any
  configuration it recorded; Ctrl-C to the terminal's whole process group stops it quietly
  (exit 130, no worker's traceback, a line saying what was kept), local workers ignoring it;
- a sweep file naming a parameter the strategy does not have names it and runs nothing;
- ``run_backtest.py --sweep --json`` prints every configuration's params and metrics.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from config import load_config
from config.sweep import METRIC_NAMES, configurations, load_sweep
from quant_core.atomic import json_safe
from quant_core.backtest.run import run_backtest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError
from quant_core.sweeps.catalogue import Catalogue, Result
from quant_core.sweeps.overfitting import overfitting
from quant_core.sweeps.runner import run_sweep

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GRID = """
sweep:
  strategy: momentum
  grid: {lookback: [20, 40, 60, 126], top_quantile: [0.1, 0.2]}
  set: {strategy.rebalance: 21}
  objective: sharpe
  period: {start: 2009-10-01, end: 2010-08-20}
  batch: 1
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("sweeps")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


def _spec(tmp_path: Path, text: str = GRID) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def _loader(data_dir: Path) -> Any:
    return lambda overrides: load_config(
        "backtest", [*overrides, f"paths.data_dir={data_dir}"], environ={}
    )


def _results(data_dir: Path, sweep_id: str) -> dict[str, dict[str, Any]]:
    catalogue = Catalogue(data_dir / "sweeps" / "catalogue.duckdb")
    try:
        frame = catalogue.results(sweep_id)
    finally:
        catalogue.close()
    return dict(zip(frame["key"].astype(str), frame["metrics"], strict=True))


def test_a_sweep_on_two_workers_gives_exactly_the_metrics_of_separate_runs(
    tmp_path: Path, data_dir: Path
) -> None:
    path = _spec(tmp_path)
    spec = load_sweep(path)
    load = _loader(data_dir)
    done = run_sweep(spec, load, path=path, workers=2)
    assert (done.total, done.ran, done.workers) == (8, 8, 2)
    recorded = _results(data_dir, done.sweep_id)
    assert len(recorded) == 8
    for metrics in recorded.values():  # every metric of a run may be an objective
        assert set(metrics) <= METRIC_NAMES
    # Every configuration starts on the session lookback 126 first trades (sweeps.span): a run
    # alone is the configuration's overrides and that start.
    assert done.start is not None
    assert spec.period.start is not None
    assert done.start > spec.period.start
    every = configurations(spec, path)
    picked = [every[i] for i in np.random.default_rng(7).choice(len(every), 3, replace=False)]
    for config in picked:
        alone = run_backtest(load([*config.overrides, f"backtest.start={done.start}"]), store=False)
        assert recorded[config.key] == json_safe(alone.metrics), config.key
    catalogue = Catalogue(done.catalogue)
    try:
        curves = catalogue.curves(done.sweep_id)
        best = catalogue.results(done.sweep_id)["key"].iloc[0]
    finally:
        catalogue.close()
    assert curves.shape[1] == 8  # keep: 10, so every curve
    assert best in curves.columns
    catalogue = Catalogue(done.catalogue)
    try:
        judged = catalogue.overfitting(done.sweep_id)
        every_curve = catalogue.all_curves(done.sweep_id)
    finally:
        catalogue.close()
    assert every_curve.shape[1] == 8
    assert judged == pytest.approx(overfitting(every_curve, best))  # recorded as computed
    pbo, dsr, n_eff = judged["pbo"], judged["deflated_sharpe"], judged["effective_trials"]
    assert pbo is not None
    assert dsr is not None
    assert n_eff is not None
    assert 0.0 <= pbo <= 1.0
    assert 0.0 <= dsr <= 1.0
    assert 1.0 <= n_eff <= 8
    assert judged["trials"] == 8


def test_a_worker_killed_mid_sweep_loses_nothing_and_an_interrupted_sweep_resumes(
    tmp_path: Path, data_dir: Path
) -> None:
    path = _spec(tmp_path, GRID.replace("[0.1, 0.2]", "[0.1, 0.2, 0.3]"))
    spec = load_sweep(path)
    load = _loader(data_dir)
    killed: list[int] = []
    seen: list[Result] = []

    def kill_one_then_stop(client: Any, results: list[Result]) -> None:
        seen.extend(results)
        if not killed:  # a worker process dies (SIGKILL) while it has work
            pids = client.run(os.getpid)
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
        elif len(seen) >= 6:
            raise KeyboardInterrupt("Ctrl-C")

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, load, path=path, workers=2, on_batch=kill_one_then_stop)
    first = _results(data_dir, _sweep_id(spec, load))
    assert 6 <= len(first) < 12  # what finished is kept
    again = run_sweep(spec, load, path=path, workers=2)
    assert again.resumed == len(first)
    assert again.ran == 12 - len(first)  # no finished configuration run again
    final = _results(data_dir, again.sweep_id)
    assert len(final) == 12
    for key, metrics in first.items():
        assert final[key] == metrics


def _sweep_id(spec: Any, load: Any) -> str:
    # As run_sweep makes it: the period's start moved to the one every configuration shares.
    from config.sweep import sweep_digest
    from quant_core.sweeps.checks import sweep_context
    from quant_core.sweeps.prepare import prepare

    ready = prepare(spec, load)
    return sweep_digest(ready.spec, (), sweep_context(ready.base, ready.spec))[:16]


def test_an_unknown_parameter_is_named_and_nothing_runs(tmp_path: Path, data_dir: Path) -> None:
    path = _spec(tmp_path, GRID.replace("top_quantile", "top_quantil"))
    with pytest.raises(ConfigError, match=r"sweep.grid.top_quantil: momentum has no parameter"):
        load_sweep(path)
    proc = subprocess.run(
        [
            sys.executable,
            "run_backtest.py",
            "--sweep",
            str(path),
            "--set",
            f"paths.data_dir={tmp_path / 'fresh'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "top_quantil" in proc.stderr
    assert "lookback" in proc.stderr  # the valid parameters are listed
    assert not (tmp_path / "fresh" / "sweeps").exists()


def test_the_command_line_prints_every_configuration_as_json(
    tmp_path: Path, data_dir: Path
) -> None:
    path = _spec(tmp_path, GRID.replace("[20, 40, 60, 126]", "[20, 60]"))
    proc = subprocess.run(
        [
            sys.executable,
            "run_backtest.py",
            "--sweep",
            str(path),
            "--workers",
            "2",
            "--json",
            "--set",
            f"paths.data_dir={data_dir}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["configurations"] == 4
    assert len(summary["results"]) == 4
    objectives = [r["objective"] for r in summary["results"]]
    assert objectives == sorted(objectives, reverse=True)  # the best first
    first = summary["results"][0]
    assert set(first["params"]) == {"lookback", "top_quantile"}
    assert {"sharpe", "cagr", "max_drawdown", "final_equity"} <= set(first["metrics"])
    assert set(summary["overfitting"]) == {
        "deflated_sharpe",
        "pbo",
        "trials",
        "effective_trials",
        "distinct_curves",
    }


OPTUNA = """
sweep:
  strategy: momentum
  search:
    method: optuna
    trials: 10
    seed: 1
    space: {lookback: {int: [10, 150]}, top_quantile: {float: [0.05, 0.4]}}
  set: {strategy.rebalance: 21}
  objective: sharpe
  period: {start: 2009-10-01, end: 2010-08-20}
"""


def test_optuna_searches_through_the_cluster_with_one_study_the_driver_holds(
    tmp_path: Path, data_dir: Path
) -> None:
    # Ask and tell: the driver asks the study, both workers run trials, the driver tells; no
    # worker opens the study (nor imports Optuna), so machines that share no folder search one
    # study, not one each.
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from quant_core.sweeps.optuna_search import study_path

    path = _spec(tmp_path, OPTUNA)
    spec = load_sweep(path)
    load = _loader(data_dir)
    seen: list[dict[str, bool]] = []
    ran_on: set[str] = set()

    def look(client: Any, results: list[Any]) -> None:
        seen.append(client.run(lambda: "optuna" in __import__("sys").modules))
        ran_on.update(r.worker for r in results)

    done = run_sweep(spec, load, path=path, workers=2, on_batch=look)
    assert done.total == 10
    assert seen, "no batch came back"
    assert not any(any(s.values()) for s in seen), "a worker imported Optuna"
    assert len(ran_on) == 2, f"the trials ran on {ran_on}, not on both workers"
    recorded = _results(data_dir, done.sweep_id)
    assert 1 <= len(recorded) <= 10  # a proposal repeated is recorded once
    journal = JournalStorage(JournalFileBackend(str(study_path(data_dir, done.sweep_id))))
    study = optuna.load_study(study_name=done.sweep_id, storage=journal)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 10  # the trials of both workers' tasks, in one study
    # A trial is a full backtest: its metrics are a separate run's, from the session the
    # space's longest lookback first trades (the corners stand for the trials: sweeps.span).
    assert done.start is not None
    key, metrics = next(iter(recorded.items()))
    params = json.loads(key)
    overrides = [
        "strategy.name=momentum",
        "strategy.rebalance=21",
        f"backtest.start={done.start}",
        "backtest.end=2010-08-20",
        *(f"strategy.params.{k}={v}" for k, v in params.items()),
    ]
    assert metrics == json_safe(run_backtest(load(overrides), store=False).metrics)
    again = run_sweep(spec, load, path=path, workers=2)
    assert again.resumed == len(recorded)
    assert again.ran <= 10 - len(recorded)  # only the trials it lacks


def test_local_workers_start_without_the_nannys_trim_threshold() -> None:
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers: measured, each backtest took
    # 2.03x its in-process time with it (benchmarks/sweep.py); the runner's workers go without.
    from quant_core.sweeps.cluster import TRIM, cluster

    before = os.environ.get(TRIM)
    with cluster(None, 1) as client:
        seen = client.run(lambda: os.environ.get(TRIM))
        profiling = client.run(
            lambda: __import__("dask").config.get("distributed.worker.profile.enabled")
        )
    assert list(seen.values()) == [None]
    assert list(profiling.values()) == [False]
    assert os.environ.get(TRIM) == before  # the driver's environment as it was


def test_workers_start_whatever_the_callers_main_module_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spawned workers re-run the parent's __main__ by its path; a __main__ that is no script to
    # re-run (a Streamlit page, AppTest's temporary file, a notebook) broke the cluster's start.
    from quant_core.sweeps.cluster import cluster

    script = tmp_path / "page.py"
    script.write_text("raise RuntimeError('this script must not run in a worker')\n")
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "__file__", str(script), raising=False)
    monkeypatch.setattr(main, "__spec__", None, raising=False)
    with cluster(None, 1) as client:
        assert client.submit(sum, [1, 2], pure=False).result() == 3
    assert main.__file__ == str(script)  # given back as it was


def _ignoring_ctrl_c() -> bool:
    return bool(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)


def test_local_workers_leave_ctrl_c_to_the_driver_even_when_restarted() -> None:
    # The terminal sends Ctrl-C to the whole process group: local workers ignore it (else each
    # dies printing a traceback while the driver stops cleanly); a worker restarted after a
    # loss ignores it too (the preload). The driver's own handler is given back.
    from quant_core.sweeps.cluster import cluster

    before = signal.getsignal(signal.SIGINT)
    with cluster(None, 2) as client:
        assert signal.getsignal(signal.SIGINT) is before
        pids = client.run(os.getpid)
        assert list(client.run(_ignoring_ctrl_c).values()) == [True, True]
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = client.run(os.getpid, on_error="ignore")
            if len(now) == 2 and victim not in now.values():
                break
            time.sleep(0.2)
        else:
            pytest.fail("the killed worker was not restarted within 60 s")
        assert list(client.run(_ignoring_ctrl_c).values()) == [True, True]


def test_a_ctrl_c_while_the_cluster_starts_is_noted_not_lost_nor_raised_into_dask() -> None:
    # The entry points' handler notes a Ctrl-C, then raises. While the cluster starts it is
    # only noted: the start completes (no half-started cluster for Dask's exit hook), the
    # caller stops at its next check (at the latest once the cluster is closed: one noted during
    # the close too), and the handler is given back.
    import threading

    from quant_core import cli, interrupt
    from quant_core.sweeps.cluster import cluster

    before = signal.signal(signal.SIGINT, cli._on_sigint)
    ctrl_c = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    try:
        seen: dict[str, Any] = {}

        def start() -> None:  # seen inside; asserted outside (the close's check would mask it)
            with cluster(None, 2) as client:
                ctrl_c.join()
                seen["noted"] = interrupt.asked()
                seen["handler"] = signal.getsignal(signal.SIGINT)
                seen["workers ignore it"] = list(client.run(_ignoring_ctrl_c).values())

        ctrl_c.start()
        with pytest.raises(KeyboardInterrupt):  # once closed: a caller that checks nothing stops
            start()
        assert seen == {
            "noted": True,  # not lost
            "handler": cli._on_sigint,  # given back after the start
            "workers ignore it": [True, True],
        }
    finally:
        ctrl_c.cancel()
        signal.signal(signal.SIGINT, before)
        interrupt.clear()


def _live(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_to_the_terminal_stops_a_sweep_quietly_and_says_what_it_kept(
    tmp_path: Path, data_dir: Path
) -> None:
    # As a terminal does: SIGINT to the sweep's whole process group (driver and workers) once
    # some batches are recorded. Exit 130, no worker's traceback, a line saying how many were
    # kept and where, no process left; run again, it resumes.
    lookbacks = list(range(10, 160, 5))
    path = _spec(
        tmp_path,
        GRID.replace("[20, 40, 60, 126]", str(lookbacks)).replace(
            "[0.1, 0.2]", "[0.1, 0.3, 0.5, 0.7, 0.9]"
        ),
    )
    total = len(lookbacks) * 5
    progress = data_dir / "sweeps" / "progress"
    seen_before = set(progress.glob("*.json")) if progress.is_dir() else set()
    command = [
        sys.executable,
        "run_backtest.py",
        "--sweep",
        str(path),
        "--workers",
        "2",
        "--set",
        f"paths.data_dir={data_dir}",
    ]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 240
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            fresh = [p for p in progress.glob("*.json") if p not in seen_before]
            if progress.is_dir() and fresh:
                done = json.loads(fresh[0].read_text())["done"]
                if done >= 2:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        assert done >= 2, "no batch recorded within 240 s"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert "KeyboardInterrupt" not in err, err[-3000:]
    said = [line for line in err.splitlines() if " interrupted: " in line]
    assert len(said) == 1, err[-3000:]
    sweep_id = said[0].split("Sweep ")[1].split(" interrupted")[0]
    kept = int(said[0].split(" interrupted: ")[1].split(" of ")[0])
    assert f" of {total} configuration(s) recorded in " in said[0]
    assert str(data_dir / "sweeps" / "catalogue.duckdb") in said[0]
    deadline = time.monotonic() + 30
    while _live(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _live(proc.pid), "a worker process outlived the driver"
    spec = load_sweep(path)
    load = _loader(data_dir)
    assert len(_results(data_dir, sweep_id)) == kept >= 2
    extra = (f"paths.data_dir={data_dir}",)  # the command line's --set
    again = run_sweep(spec, load, path=path, extra=extra, workers=2)
    assert (again.sweep_id, again.resumed, again.ran) == (sweep_id, kept, total - kept)


def _batch_that_kills_its_worker(tasks: list[Any]) -> list[Result]:
    # A batch whose run ends the process, as an out-of-memory kill does; the others run.
    if any(task.params["lookback"] == 60 for task in tasks):
        os._exit(1)
    from quant_core.sweeps.tasks import run_batch

    return run_batch(tasks)


def test_a_batch_that_kills_every_worker_stops_the_sweep_saying_which_and_what_is_kept(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dask runs a lost worker's task again elsewhere, up to its allowed failures, then raises
    # KilledWorker: the sweep stops with an error naming the configuration, the count kept
    # and the catalogue, not an unexpected error's traceback; run again, it resumes.
    import dask
    import distributed  # noqa: F401 - its defaults loaded first: the set must not drop them

    from quant_core.errors import OperationalError
    from quant_core.sweeps import runner

    path = _spec(tmp_path, GRID.replace("[20, 40, 60, 126]", "[20, 40, 60]"))
    spec = load_sweep(path)
    load = _loader(data_dir)
    monkeypatch.setattr(runner, "run_batch", _batch_that_kills_its_worker)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 1}),  # two deaths, not four
        pytest.raises(OperationalError) as raised,
    ):
        run_sweep(spec, load, path=path, workers=2)
    message = str(raised.value)
    # The batch named: the culprit, or one queued on the same worker when it died.
    assert re.search(r'batch of configuration\(s\) \{"lookback": (20|40|60), "top_q', message)
    assert "worker processes kept dying (out of memory, or a crash)" in message
    sweep_id = _sweep_id(spec, load)
    recorded = _results(data_dir, sweep_id)
    kept = len(recorded)
    assert kept < 6
    assert f"{kept} of 6 configuration(s) are recorded in " in message
    assert str(data_dir / "sweeps" / "catalogue.duckdb") in message
    monkeypatch.undo()
    again = run_sweep(spec, load, path=path, workers=2)
    assert (again.resumed, again.ran) == (kept, 6 - kept)


def test_a_finished_sweep_run_again_with_another_keep_keeps_its_new_best_curves(
    tmp_path: Path, data_dir: Path
) -> None:
    # `keep` is not part of a sweep's identity: run again with another, the sweep resumes with
    # nothing to run, and its kept curves were still the first run's best N (found by review).
    load = _loader(data_dir)
    path = _spec(tmp_path)
    first = run_sweep(load_sweep(path), load, path=path, workers=2)
    for keep in (3, 0, 5):
        path = _spec(tmp_path, GRID + f"  keep: {keep}\n")
        again = run_sweep(load_sweep(path), load, path=path, workers=2)
        assert (again.sweep_id, again.ran, again.resumed) == (first.sweep_id, 0, 8)
        catalogue = Catalogue(again.catalogue)
        try:
            kept = catalogue.curves(again.sweep_id)
            best = catalogue.results(again.sweep_id)["key"].iloc[:keep].tolist()
            every = catalogue.all_curves(again.sweep_id)
        finally:
            catalogue.close()
        assert sorted(kept.columns) == sorted(best), keep
        for key in best:  # each the configuration's own recorded curve, to the bit
            assert kept[key].to_numpy().tolist() == every[key].to_numpy().tolist()
            assert list(kept.index) == [d.date() for d in every.index]


@pytest.mark.parametrize("mode", ["sweep", "walk-forward"])
def test_a_benchmark_the_data_lacks_is_refused_before_a_cluster_starts(
    tmp_path: Path, data_dir: Path, mode: str
) -> None:
    # It passed the driver's checks: each worker's run then refused it, every one printing a
    # "Compute Failed" traceback, before the sweep stopped with the error (found by review).
    text = GRID + "  walk_forward: {train: 60, test: 40}\n" if mode == "walk-forward" else GRID
    path = _spec(tmp_path, text)
    proc = subprocess.run(
        [
            sys.executable,
            "run_backtest.py",
            f"--{mode}",
            str(path),
            "--set",
            f"paths.data_dir={data_dir}",
            "--set",
            "backtest.benchmark=NOPEXYZ",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "backtest.benchmark: no symbol 'NOPEXYZ' in dataset 'sp500-2010'" in proc.stderr
    assert str(path) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Compute Failed" not in proc.stderr
    assert "dask" not in proc.stderr.lower()  # no cluster started
