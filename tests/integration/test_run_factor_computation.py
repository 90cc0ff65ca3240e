"""Factor computation against a real warehouse: stored values, incremental runs, the CLI."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.factors import make_factor
from quant_core.factors.compute import compute_factors

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def warehouse(tmp_path: Path, calendar) -> Warehouse:
    store = Warehouse(tmp_path / "warehouse")
    sync(SampleSource("wiki5"), store, calendar, "wiki5")
    return store


def test_stored_values_equal_a_direct_computation(warehouse: Warehouse) -> None:
    compute_factors(warehouse, "wiki5", ["momentum_126", "rsi_14"])

    stored = warehouse.factor_store.panel("wiki5", "momentum_126")
    direct = make_factor("momentum_126").compute({"close": warehouse.panel("wiki5", "close")})
    direct = direct.dropna(how="all")
    assert stored.shape == direct.shape
    np.testing.assert_allclose(stored.to_numpy(), direct.to_numpy(), equal_nan=True)
    assert warehouse.factor_store.names("wiki5") == ["momentum_126", "rsi_14"]


def test_incremental_run_computes_only_new_sessions_and_matches_full(warehouse: Warehouse) -> None:
    compute_factors(warehouse, "wiki5", ["volatility_20"], start=None)
    full = warehouse.factor_store.panel("wiki5", "volatility_20")
    # Drop the last year, then let an incremental run fill it in from the window before it.
    cut = dt.date(2012, 3, 1)
    store2 = Warehouse(warehouse.root.parent / "second")
    store2.write_bars(
        "wiki5",
        warehouse.read_bars("wiki5", end=cut),
        warehouse.meta("wiki5"),
    )
    compute_factors(store2, "wiki5", ["volatility_20"])
    store2.write_bars("wiki5", warehouse.read_bars("wiki5", start=cut))
    reports = compute_factors(store2, "wiki5", ["volatility_20"])

    assert reports[0].first is not None
    assert reports[0].first > cut
    again = store2.factor_store.panel("wiki5", "volatility_20")
    pd.testing.assert_frame_equal(again, full)
    assert compute_factors(store2, "wiki5", ["volatility_20"])[0].rows_written == 0


def test_start_limits_what_is_written(warehouse: Warehouse) -> None:
    compute_factors(warehouse, "wiki5", ["reversal_5"], start=dt.date(2012, 6, 2))
    stored = warehouse.factor_store.panel("wiki5", "reversal_5")
    assert stored.index.min() == pd.Timestamp("2012-06-04")


def test_cli(tmp_path: Path, warehouse: Warehouse) -> None:
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path)}
    args = [sys.executable, str(ROOT / "run_factor_computation.py"), "--dataset", "wiki5"]
    result = subprocess.run(
        [*args, "--factors", "momentum_126,volatility_20"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "momentum_126" in result.stdout
    bad = subprocess.run([*args, "--factors", "magic_3"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    assert "unknown factor 'magic_3'" in bad.stderr


def test_a_factor_longer_than_the_history_says_why_it_wrote_nothing(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    short = Warehouse(tmp_path / "short" / "warehouse")
    bars = warehouse.read_bars("wiki5")
    first_100 = sorted(bars["date"].unique())[:100]
    short.write_bars("wiki5", bars[bars["date"].isin(first_100)], warehouse.meta("wiki5"))
    window = make_factor("momentum_126").window

    reports = compute_factors(short, "wiki5", ["momentum_126", "volatility_20"])

    long_one, short_one = reports
    assert long_one.rows_written == 0
    assert long_one.note == (
        f"needs {window} sessions of history; dataset has 100: no value (sync a longer history)"
    )
    assert short_one.rows_written > 0
    assert short_one.note == ""
    again = compute_factors(short, "wiki5", ["volatility_20"])[0]  # up to date: nothing to say
    assert (again.rows_written, again.note) == (0, "")

    env = {**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path / "short"), "COLUMNS": "200"}
    args = [sys.executable, str(ROOT / "run_factor_computation.py"), "--dataset", "wiki5"]
    shown = subprocess.run(
        [*args, "--factors", "momentum_126", "--full"], capture_output=True, text=True, env=env
    )
    assert shown.returncode == 0, shown.stderr
    assert f"needs {window} sessions of history; dataset has 100" in shown.stdout
