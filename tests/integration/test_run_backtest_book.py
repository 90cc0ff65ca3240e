"""run_backtest.py --book as a user runs it: a real warehouse, the stored frames, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from config import load_config
from config.book_loader import load_book
from quant_core.backtest.run import load_market
from quant_core.book.build import ScheduledScanner, build_book
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError
from quant_core.portfolio.schedule import rebalance_rows
from quant_core.scanners import build_scanner

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "config" / "books" / "core.yaml"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("book")
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
        timeout=180,
    )


def write_book(folder: Path, name: str, book: dict[str, Any]) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"book": book}))
    return path


@pytest.fixture(scope="module")
def core_run(data_dir: Path) -> dict[str, Any]:
    result = run(data_dir, "--book", str(CORE), "--json")
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def test_the_sample_book_runs_and_reports_each_sleeve(core_run: dict[str, Any]) -> None:
    sleeves = core_run["sleeves"]
    assert list(sleeves) == ["mom", "revert"]
    for figures in sleeves.values():
        assert figures["trades"] > 0
        assert set(figures) == {
            "final_equity",
            "pnl",
            "total_return",
            "max_drawdown",
            "trades",
            "weight",
        }
        assert -1 < figures["max_drawdown"] <= 0
    # risk_budget: the last weights are a split of the whole account, by inverse volatility.
    assert sum(f["weight"] for f in sleeves.values()) == pytest.approx(1.0)
    assert sleeves["mom"]["weight"] != pytest.approx(0.5)
    # The sleeves' equity and pnl add up to the account's (the reserve is empty by then).
    final = sum(f["final_equity"] for f in sleeves.values())
    assert final == pytest.approx(core_run["final_equity"], abs=0.01)
    pnl = sum(f["pnl"] for f in sleeves.values())
    assert pnl == pytest.approx(core_run["final_equity"] - 1_000_000.0, abs=0.01)


def test_the_stored_run_holds_the_book_frames(core_run: dict[str, Any]) -> None:
    folder = Path(core_run["path"])
    equity = pd.read_parquet(folder / "equity.parquet")["equity"]
    sleeves = pd.read_parquet(folder / "sleeves.parquet")
    assert list(sleeves.columns) == ["mom", "revert", "reserve"]
    pd.testing.assert_index_equal(sleeves.index, equity.index)
    assert (sleeves.sum(axis=1) - equity).abs().max() < 0.005
    trades = pd.read_parquet(folder / "sleeve_trades.parquet")
    account = pd.read_parquet(folder / "trades.parquet")
    filled = account.groupby(["date", "symbol"])["filled"].sum()
    by_sleeves = trades.groupby(["date", "symbol"])["shares"].sum()
    pd.testing.assert_series_equal(
        by_sleeves.reindex(filled.index, fill_value=0.0), filled, check_names=False
    )
    allocations = pd.read_parquet(folder / "allocations.parquet")
    assert set(allocations["sleeve"]) == {"mom", "revert"}
    months = pd.DatetimeIndex(allocations["date"].unique()).to_period("M")
    assert len(months) > 6
    assert months[1:].is_unique  # monthly after the first allocation (at the first session)
    assert months.is_monotonic_increasing
    np.testing.assert_allclose(allocations.groupby("date")["weight"].sum(), 1.0)
    for name in ("mom", "revert"):
        universe = pd.read_parquet(folder / f"universe_{name}.parquet")
        assert {"size", "turnover"} <= set(universe.columns)
        assert universe["size"].max() == {"mom": 200, "revert": 100}[name]
    summary = pd.read_parquet(folder / "summary.parquet").iloc[0]
    assert (summary["strategy"], summary["kind"], summary["sleeves"]) == (
        "book:core",
        "book",
        "mom,revert",
    )
    config = json.loads((folder / "config.json").read_text())
    assert [s["name"] for s in config["book"]["sleeves"]] == ["mom", "revert"]
    assert set(json.loads((folder / "sleeves.json").read_text())) == {"mom", "revert"}
    assert (folder / "round_trips.parquet").is_file()


def test_the_tables_show_one_line_per_sleeve_and_the_allocation(data_dir: Path) -> None:
    result = run(data_dir, "--book", str(CORE))
    assert result.returncode == 0, result.stderr
    assert "final equity" in result.stdout  # the plain run's metrics table
    for name in ("mom", "revert"):
        assert f"Sleeve {name}: final equity $" in result.stdout
    assert "Allocation of 2010-08-02: mom " in result.stdout


def test_a_book_of_one_is_the_plain_run(data_dir: Path, tmp_path: Path) -> None:
    params = {"lookback": 60, "top_quantile": 0.2}
    book = {
        "sleeves": [
            {
                "name": "main",
                "strategy": {"name": "momentum", "params": params, "rebalance": 21},
                "weight": 1.0,
            }
        ],
        "allocation": {"method": "fixed"},
    }
    path = write_book(tmp_path, "one", book)
    result = run(data_dir, "--book", str(path), "--json")
    assert result.returncode == 0, result.stderr
    plain = run(
        data_dir,
        "--strategy",
        "momentum",
        "--param",
        "lookback=60",
        "--param",
        "top_quantile=0.2",
        "--set",
        "strategy.rebalance=21",
        "--json",
    )
    assert plain.returncode == 0, plain.stderr
    one, alone = json.loads(result.stdout), json.loads(plain.stdout)
    assert alone["trades"] > 50
    assert one["final_equity"] == alone["final_equity"]
    assert one["trades"] == alone["trades"]
    assert one["sleeves"]["main"]["final_equity"] == pytest.approx(alone["final_equity"])
    assert one["sleeves"]["main"]["weight"] == 1.0


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"weight": 1.5}, "book.sleeves.0.weight", "1.5"),
        ({"scanner": {"name": "liquid", "params": {"top": 0}}}, "book.sleeves.0.scanner", "top"),
        ({"scanner": {"name": "nope"}}, "book.sleeves.0.scanner.name", "unknown scanner"),
        ({"name": "reserve"}, "book.sleeves.0 (reserve).name", "reserved"),
    ],
)
def test_a_bad_book_file_exits_2_naming_the_file_and_field(
    data_dir: Path, tmp_path: Path, change: dict[str, Any], field: str, message: str
) -> None:
    sleeve = {"name": "mom", "strategy": {"name": "momentum", "rebalance": 21}, **change}
    path = write_book(tmp_path, "bad", {"sleeves": [sleeve]})
    result = run(data_dir, "--book", str(path))
    assert result.returncode == 2, result.stderr
    assert field in result.stderr
    assert message in result.stderr
    assert str(path) in result.stderr


def test_a_missing_book_file_exits_2(data_dir: Path, tmp_path: Path) -> None:
    result = run(data_dir, "--book", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "nope.yaml: no such book file" in result.stderr


@pytest.mark.parametrize(
    "flags",
    [
        ["--strategy", "momentum"],
        ["--param", "lookback=20"],
        ["--report-only", "x"],
        ["--set", "strategy.params.lookback=5"],  # was run, and read by no sleeve
        ["--set", " Strategy.rebalance=3"],
    ],
)
def test_a_book_refuses_strategy_flags(data_dir: Path, flags: list[str]) -> None:
    result = run(data_dir, "--book", str(CORE), *flags)
    assert result.returncode == 2
    shown = flags[0] if flags[0] != "--set" else f"--set {flags[1]}"
    assert f"{shown} cannot go with it" in result.stderr


def test_build_book_resolves_each_sleeve(data_dir: Path, tmp_path: Path) -> None:
    cfg = load_config("backtest", overrides=[f"paths.data_dir={data_dir}"])
    book = build_book(load_book(CORE), cfg)
    mom, revert = book.sleeves
    assert (mom.rebalance, revert.rebalance) == (21, 1)  # mean_reversion declares its own
    assert mom.policy.construction.method == "inverse_vol"
    assert revert.policy.construction.method == cfg.portfolio.construction.method
    assert mom.scanner is not None
    assert not isinstance(mom.scanner, ScheduledScanner)
    assert (book.allocation.method, book.allocation.rebalance) == ("risk_budget", "monthly")
    # A sleeve's risk: its stops (no trailing stop) and its drawdown halt.
    sleeve = {
        "name": "a",
        "strategy": {"name": "momentum", "rebalance": "monthly"},
        "scanner": {"name": "liquid", "params": {"top": 50, "min_history": 20}, "rebalance": 5},
        "risk": {"stop_loss": 0.1, "take_profit": 0.3, "max_drawdown_frac": 0.2},
    }
    # A construction that needs scores, on a strategy that gives none: named with the sleeve.
    unscored = {
        "name": "b",
        "strategy": {"name": "mean_reversion"},
        "construction": {"method": "mean_variance"},
    }
    with pytest.raises(ConfigError, match=r"book scored: book\.sleeves\.1 \(b\): .*mean_var"):
        build_book(load_book(write_book(tmp_path, "scored", {"sleeves": [sleeve, unscored]})), cfg)
    built = build_book(load_book(write_book(tmp_path, "risky", {"sleeves": [sleeve]})), cfg)
    risk = built.sleeves[0].risk
    assert (risk.stops.stop_loss, risk.stops.take_profit, risk.stops.trailing_stop) == (
        0.1,
        0.3,
        None,
    )
    assert (risk.max_drawdown, risk.on_breach) == (0.2, "halt")
    assert isinstance(built.sleeves[0].scanner, ScheduledScanner)


def test_a_scanner_on_its_own_schedule_holds_its_last_universe(data_dir: Path) -> None:
    data = load_market(Warehouse(data_dir / "warehouse"), "sp500-2010")
    inner = build_scanner("liquid", {"top": 30, "window": 10, "min_history": 10})
    scheduled = ScheduledScanner(inner, 5)
    rows = rebalance_rows(data.dates, 40, len(data.dates) - 1, "weekly")
    masks = scheduled.scan(data, rows)
    runs = np.arange(rows[0], rows[-1] + 1, 5)  # the scanner's sessions, from the first asked
    for i, t in enumerate(rows):
        source = runs[runs <= t].max()  # its latest session at or before t: data through S-1
        np.testing.assert_array_equal(masks[i], inner.scan(data, np.array([source]))[0])
    # Weekly rows and every-5-session scans differ somewhere: the holding is not a no-op.
    assert (masks != inner.scan(data, rows)).any()
    assert scheduled.warmup == inner.warmup
