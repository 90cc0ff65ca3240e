"""Walk-forward on a real two-process Dask cluster, on sp500-2010.

- each fold chooses the configuration with the best train objective, as separate runs over the
  train window rank them, and its test run is exactly a separate run over the test window;
- the stitched out-of-sample curve chains the test runs' daily returns from the initial cash;
- truncation: the data cut after fold 1's test window gives folds 0 and 1 as the whole data
  does: the same choices, the same figures to float noise (rtol 1e-12, the house's truncation
  tolerance: the panels' lengths differ);
- the command line prints the folds and the out-of-sample figures as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from config import load_config
from config.sweep import configurations, load_sweep
from quant_core.atomic import json_safe
from quant_core.backtest.run import run_backtest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.sweeps.catalogue import Catalogue
from quant_core.sweeps.walk_forward import run_walk_forward

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SPEC = """
sweep:
  strategy: momentum
  grid: {lookback: [20, 60], top_quantile: [0.1, 0.2]}
  set: {strategy.rebalance: 10}
  objective: sharpe
  period: {start: 2009-10-01, end: 2010-08-20}
  walk_forward: {train: 63, test: 42, embargo: 2, scheme: rolling}
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("walk_forward")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


def _loader(data_dir: Path) -> Any:
    return lambda overrides: load_config(
        "backtest", [*overrides, f"paths.data_dir={data_dir}"], environ={}
    )


def _run(tmp_path: Path, data_dir: Path) -> Any:
    path = tmp_path / "wf.yaml"
    path.write_text(SPEC)
    return run_walk_forward(load_sweep(path), _loader(data_dir), path=str(path), workers=2)


def test_each_fold_chooses_on_train_and_its_test_run_is_a_separate_run(
    tmp_path: Path, data_dir: Path
) -> None:
    run = _run(tmp_path, data_dir)
    assert len(run.folds) >= 3
    spec = load_sweep(tmp_path / "wf.yaml")
    load = _loader(data_dir)
    fold = run.folds[1]
    w = fold.window
    assert (w.train_end < w.test_start) and (w.test_start <= w.test_end)  # noqa: PT018
    scores = {}
    for config in configurations(spec):
        window = [o for o in config.overrides if not o.startswith("backtest.")]
        window += [f"backtest.start={w.train_start}", f"backtest.end={w.train_end}"]
        scores[config.key] = run_backtest(load(window), store=False).metrics["sharpe"]
    best = max(scores.values())
    assert fold.chosen == min(k for k, v in scores.items() if v == best)  # ties: the first key
    assert fold.train_objective == pytest.approx(scores[fold.chosen], rel=0, abs=0)
    chosen = next(c for c in configurations(spec) if c.key == fold.chosen)
    window = [o for o in chosen.overrides if not o.startswith("backtest.")]
    window += [f"backtest.start={w.test_start}", f"backtest.end={w.test_end}"]
    alone = run_backtest(load(window), store=False)
    assert fold.test.metrics == json_safe(alone.metrics)
    # The stitched curve: the test runs' daily returns, chained from the initial cash.
    chained = pd.concat([f.test.curve.pct_change().iloc[1:] for f in run.folds])
    expected = 1_000_000 * (1 + chained).cumprod()
    np.testing.assert_allclose(run.curve.iloc[1:].to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert run.curve.index.is_unique
    catalogue = Catalogue(run.catalogue)
    try:
        folds, curve, figures = catalogue.walk_forward(run.wf_id)
    finally:
        catalogue.close()
    assert folds["key"].tolist() == [f.chosen for f in run.folds]
    pd.testing.assert_series_equal(curve, run.curve, check_names=False, check_freq=False)
    assert figures["sharpe"] == pytest.approx(run.metrics["sharpe"])
    # The trading figures are the folds' test runs': counts add up, dollars scaled to the
    # stitched curve (each later segment starts from the equity the earlier ones left).
    tests = [f.test.metrics for f in run.folds]
    assert run.metrics["trades"] == sum(t["trades"] for t in tests) > 0
    scale = [
        float(run.curve.loc[: f.test.curve.index[0]].iloc[-1] / f.test.curve.iloc[0])
        for f in run.folds
    ]
    assert scale[0] == 1.0
    costs = sum(k * t["total_costs"] for k, t in zip(scale, tests, strict=True))
    assert run.metrics["total_costs"] == pytest.approx(costs, rel=1e-12)
    assert 0 < run.metrics["turnover"] < float("inf")
    assert figures["total_costs"] == run.metrics["total_costs"]


def test_data_after_a_folds_test_window_changes_nothing_in_that_fold(
    tmp_path: Path, data_dir: Path
) -> None:
    (tmp_path / "whole").mkdir()
    whole = _run(tmp_path / "whole", data_dir)
    cut = whole.folds[1].window.test_end
    source = Warehouse(data_dir / "warehouse")
    short = tmp_path / "short"
    target = Warehouse(short / "warehouse")
    target.write_bars(
        "sp500-2010", source.read_bars("sp500-2010", end=cut), source.meta("sp500-2010")
    )
    target.write_symbols("sp500-2010", source.symbols("sp500-2010"))
    (tmp_path / "cut").mkdir()
    truncated = _run(tmp_path / "cut", short)
    assert len(truncated.folds) == 2
    for mine, theirs in zip(truncated.folds, whole.folds[:2], strict=False):
        assert mine.window == theirs.window
        assert mine.chosen == theirs.chosen
        # Float noise only (the panels' lengths differ; the house's rtol for truncation).
        assert mine.train_objective == pytest.approx(theirs.train_objective, rel=1e-12)
        assert mine.test.metrics == pytest.approx(theirs.test.metrics, rel=1e-12, nan_ok=True)
        pd.testing.assert_series_equal(
            mine.test.curve, theirs.test.curve, check_exact=False, rtol=1e-12
        )


def _cli_walk_forward(
    path: Path, data_dir: Path, flag: str = "--walk-forward"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "run_backtest.py",
            flag,
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


def test_a_walk_forward_file_given_to_sweep_runs_the_sweep_and_says_the_folds_are_not_read(
    tmp_path: Path, data_dir: Path
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(SPEC)
    proc = _cli_walk_forward(path, data_dir, "--sweep")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{path} has a walk_forward section, which --sweep does not read" in proc.stderr
    assert f"--walk-forward {path} runs its folds" in proc.stderr
    assert "folds" not in json.loads(proc.stdout)  # the plain sweep's summary


def test_the_command_line_prints_the_folds_as_json(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(SPEC)
    proc = _cli_walk_forward(path, data_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Dask dashboard: http://127.0.0.1:" in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["resumed"] == 0
    again = _cli_walk_forward(path, data_dir)  # every fold recorded: all read back, none run
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = json.loads(again.stdout)
    assert resumed["resumed"] == len(summary["folds"])
    assert resumed["wf_id"] == summary["wf_id"]
    assert resumed["folds"] == summary["folds"]
    assert resumed["metrics"] == summary["metrics"]
    assert "Dask dashboard" not in again.stderr  # no cluster started
    assert summary["wf_id"].startswith("wf-")
    assert len(summary["folds"]) >= 3
    assert {"sharpe", "total_return", "max_drawdown"} <= set(summary["metrics"])
    first = summary["folds"][0]
    assert set(first["params"]) == {"lookback", "top_quantile"}
    assert first["train"][1] < first["test"][0]
