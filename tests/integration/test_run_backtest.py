"""run_backtest.py as a user runs it: a subprocess, a real warehouse, exit codes, --json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bt")
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(root)}
    subprocess.run(
        [sys.executable, str(ROOT / "run_data_sync.py")], env=env, check=True, capture_output=True
    )
    return root


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, str(ROOT / "run_backtest.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_json_summary_with_holiday_dates(data_dir: Path) -> None:
    # 2009-10-03 is a Saturday and 2010-07-05 a holiday (Independence Day observed).
    result = run(
        data_dir,
        "--strategy",
        "momentum",
        "--param",
        "lookback=60",
        "--param",
        "top_quantile=0.2",
        "--set",
        "strategy.rebalance=21",
        "--start",
        "2009-10-03",
        "--end",
        "2010-07-05",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) >= {
        "run_id",
        "final_equity",
        "metrics",
        "trades",
        "truncated",
        "unfilled",
        "path",
    }
    assert Path(summary["path"], "trades.parquet").is_file()
    assert summary["metrics"]["sessions"] > 100


def test_metrics_table_and_where_results_are(data_dir: Path) -> None:
    result = run(data_dir)
    assert result.returncode == 0, result.stderr
    assert "final equity" in result.stdout
    for cost in ("commissions", "slippage", "total costs"):  # slippage is a cost, and shown
        assert re.search(rf"{cost}[\s│|]+\$[\d,]+\.\d\d", result.stdout), cost
    assert "Results stored in" in result.stdout


def test_stops_halts_constraints_and_fallbacks_are_counted_when_set(data_dir: Path) -> None:
    default = run(data_dir, "--json")
    assert "stops" not in json.loads(default.stdout)["metrics"]  # the default run: unchanged
    assert "stops:" not in run(data_dir).stdout

    result = run(data_dir, "--set", "risk.stop_loss=0.02", "--set", "risk.trailing_stop=0.03")

    assert result.returncode == 0, result.stderr
    line = re.search(
        r"stops: (\d+) \(stop_loss (\d+), take_profit (\d+), trailing_stop (\d+)\); "
        r"halts: 0; constraints bound at \d+ rebalances; fallbacks: 0",
        result.stdout,
    )
    assert line is not None, result.stdout
    total, loss, profit, trailing = (int(g) for g in line.groups())
    assert total == loss + profit + trailing > 0
    assert profit == 0  # not configured
    metrics = json.loads(
        run(
            data_dir, "--json", "--set", "risk.stop_loss=0.02", "--set", "risk.trailing_stop=0.03"
        ).stdout
    )["metrics"]
    assert (metrics["stops"], metrics["stop_loss"], metrics["trailing_stop"]) == (
        total,
        loss,
        trailing,
    )


def test_list_strategies(data_dir: Path) -> None:
    result = run(data_dir, "--list-strategies")
    assert result.returncode == 0
    for name in ("momentum", "multi_factor", "sma_cross", "mean_reversion", "lookback = 126"):
        assert name in result.stdout


def test_list_constructions(data_dir: Path) -> None:
    result = run(data_dir, "--list-constructions")
    assert result.returncode == 0, result.stderr
    methods = ("as_is", "equal", "inverse_vol", "risk_parity", "hrp", "min_variance")
    scored = ("mean_variance", "black_litterman", "half_kelly")
    for name in (*methods, *scored, "lookback = 60", "covariance = 'ledoit_wolf'", "ic = 0.05"):
        assert name in result.stdout
    assert "Later slices" not in result.stdout
    assert "falls back to inverse_vol" in result.stdout


def test_construction_is_chosen_with_set(data_dir: Path) -> None:
    result = run(data_dir, "--set", "portfolio.construction.method=inverse_vol", "--json")
    assert result.returncode == 0, result.stderr
    assert "Construction inverse_vol for" in result.stderr  # names left out, reported
    default = json.loads(run(data_dir, "--json").stdout)
    assert json.loads(result.stdout)["final_equity"] != default["final_equity"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--param", "lookback=-3"], "lookback = -3"),
        (["--param", "lookbak=3"], "lookbak"),
        (["--start", "2010-13-01"], "is not a date"),
        (["--start", "2031-01-01"], ""),
        # Its picks are held hold_sessions sessions only if it rebalances every session.
        (["--strategy", "mean_reversion"], "must rebalance with strategy.rebalance=1, not 21"),
    ],
)
def test_errors_exit_codes(data_dir: Path, args, message) -> None:
    result = run(data_dir, *args)
    expected = 1 if args[1].startswith("2031") else 2
    assert result.returncode == expected, result.stderr
    assert message in result.stderr
