"""Sweeps: a parameter the sweep does not vary is the run config's, not the strategy's default.

``sma_cross``'s ``slow`` defaults to 200. A grid of ``fast`` 200 and 205 with ``slow`` 215 from
``QC__`` variables (the run config, not the sweep's ``set``) was refused by the sweep's own check,
which built each configuration on the default; the backtest itself takes it. The sweep now runs
it (a real one-worker ``LocalCluster``, through ``run_backtest.py``) and each configuration's
metrics are the single run's with the same variables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_sweeps_review_s4 import _cli, data_dir, write

pytestmark = pytest.mark.integration
__all__ = ["data_dir"]  # the module-scoped warehouse fixture, shared

# The strategy named too: a later layer naming another strategy drops the params before it.
SLOW = {"QC__STRATEGY__NAME": "sma_cross", "QC__STRATEGY__PARAMS__SLOW": "215"}


def test_a_grid_needing_the_run_configs_slow_runs_and_matches_single_runs(
    tmp_path: Path, data_dir: Path
) -> None:
    body = """
sweep:
  strategy: sma_cross
  grid: {fast: [200, 205]}
  objective: total_return
"""
    path = write(tmp_path, body, "sma.yaml")
    where = f"paths.data_dir={data_dir}"
    swept = _cli("--sweep", str(path), "--workers", "1", "--json", "--set", where, environ=SLOW)
    assert swept.returncode == 0, swept.stderr[-2000:]
    summary = json.loads(swept.stdout)
    assert (summary["configurations"], summary["ran"]) == (2, 2)
    assert sorted(r["params"]["fast"] for r in summary["results"]) == [200, 205]
    row = next(r for r in summary["results"] if r["params"] == {"fast": 200})  # once refused
    single = _cli(
        "--strategy", "sma_cross", "--param", "fast=200", "--json", "--set", where, environ=SLOW
    )  # fmt: skip
    assert single.returncode == 0, single.stderr[-2000:]
    alone = json.loads(single.stdout)
    assert alone["trades"] > 0, "no trade: the comparison proves nothing"
    assert row["metrics"] == alone["metrics"]
    # Without the variable the run config's slow is the default, and the sweep says which
    # configuration the strategy refuses before any cluster starts.
    refused = _cli("--sweep", str(path), "--workers", "1", "--json", "--set", where, environ={})
    assert refused.returncode != 0
    assert 'configuration {"fast": 200}' in refused.stderr
    assert "fast (200) must be shorter than slow (200)" in refused.stderr
