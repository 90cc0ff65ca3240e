"""The driver's share of an Optuna search: asking, judging and telling a trial, per trial.

An Optuna search asks and tells from the driver (``quant_core/sweeps/optuna_search.py``): for
each trial the driver asks the TPE sampler (``constant_liar``, the trials in flight counted),
judges the params (``checks.check_runnable``: the strategy built, its schedule and policy), and
tells the study the objective once the result is back, each step journaled in Optuna's
``JournalFileBackend``; between the two it records the result in the catalogue (one DuckDB
transaction) and writes the progress file, as ``runner._drive`` does for every task. This
measures that work alone: the real ``StudyFeed``, ``Catalogue`` and ``write_progress`` in a
temporary folder, ``--in-flight`` trials kept sent, each trial's result an instant random Sharpe
and a 250-session curve (no backtest), over ``--trials`` trials. The figure bounds the workers
one driver keeps busy: ``workers <= backtest seconds / driver seconds per trial``.

    python benchmarks/optuna_driver.py [--trials 1000] [--in-flight 8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from config import load_config
from config.sweep import SweepConfig
from quant_core.sweeps.batches import Job
from quant_core.sweeps.catalogue import Catalogue, Result
from quant_core.sweeps.optuna_search import StudyFeed
from quant_core.sweeps.runner import Progress, write_progress

SPACE = {"lookback": {"int": [20, 250]}, "top_quantile": {"float": [0.05, 0.5]}}


SESSIONS = pd.bdate_range("2010-01-04", periods=250)


def _result(job: Job, rng: random.Random) -> list[Result]:
    task = job.batch[0]
    metrics = {"sharpe": rng.gauss(0.5, 0.3)}
    steps = np.array([rng.gauss(0.0, 0.01) for _ in SESSIONS])
    curve = pd.Series(1e6 * (1.0 + np.cumsum(steps)), index=SESSIONS)
    return [Result(task.key, task.params, metrics, 0.01, "bench", curve)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=8, help="trials kept sent (2 a worker)")
    args = parser.parse_args()
    spec = SweepConfig.model_validate(
        {
            "name": "bench",
            "strategy": "momentum",
            "search": {"method": "optuna", "trials": args.trials, "seed": 1, "space": SPACE},
            "set": {"strategy.rebalance": 21},
        }
    )
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="optuna-driver-") as tmp:
        base = load_config(
            "backtest", ["strategy.name=momentum", f"paths.data_dir={tmp}"], environ={}
        )
        no_data = -1  # the bars version tasks would carry: none is run here (_result)
        feed = StudyFeed(Path(tmp) / "study.log", "bench", spec, base, args.trials, no_data, set())
        catalogue = Catalogue(Path(tmp) / "sweeps" / "catalogue.duckdb")
        opened = dt.datetime.now(dt.UTC)
        dump = spec.model_dump(mode="json", by_alias=True)
        catalogue.start("bench", "bench", "momentum", "sharpe", True, dump, args.trials, opened, ())
        sent: list[Job] = feed.take(args.in_flight)
        done, started, mark = 0, time.perf_counter(), time.perf_counter()
        step = max(1, args.trials // 5)
        while sent:
            job = sent.pop(0)
            results = _result(job, rng)
            catalogue.record("bench", results, "sharpe", True, spec.keep, dt.datetime.now(dt.UTC))
            feed.settle(job, results)
            progress = Progress(feed.counted(done), args.trials, None, 1.0)
            write_progress(catalogue.path.parent, "bench", progress, None, args.in_flight // 2)
            done += 1
            sent += feed.take(1)
            if done % step == 0:
                now = time.perf_counter()
                per = (now - mark) / step * 1000
                print(f"trials {done - step + 1:>5}-{done:>5}: {per:6.1f} ms a trial")
                mark = now
        total = time.perf_counter() - started
        catalogue.close()
    print(
        f"{done} trials, {args.in_flight} in flight: {total / done * 1000:.1f} ms a trial on the "
        f"driver on average ({total:.1f} s); a backtest of t seconds keeps at most "
        f"t / {total / done:.3f} workers busy"
    )


if __name__ == "__main__":
    main()
