"""Adversarial review of the walk-forward (``run_backtest.py --walk-forward``), on sp500-2010.

Each test names the defect it caught:

- a period bound given as a number validated as seconds since 1970 (``start: 0`` is
  1970-01-01): the folds were cut from another period than the file meant, silently;
- an objective no configuration changes (``start_equity``, the benchmark's figures) "chose" the
  first configuration by key on every fold, and the walk-forward ran as if it had chosen;
- a resumed fold was taken as recorded even when its test curve did not cover its test window
  (a session missing, or the cash point before the window missing, as a curve recorded by
  another engine would be): the stitched out-of-sample curve left sessions out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from config import load_config
from config.sweep import load_sweep
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError
from quant_core.sweeps import walk_forward as wf
from quant_core.sweeps.catalogue_wf import pack_curve, unpack_curve
from quant_core.sweeps.runner import CATALOGUE

pytestmark = pytest.mark.integration

HEAD = """
sweep:
  strategy: momentum
  grid: {lookback: [20, 60], top_quantile: [0.1, 0.2]}
  set: {strategy.rebalance: 21}
"""
SPEC = (
    HEAD
    + """  objective: sharpe
  period: {start: 2009-10-01, end: 2010-08-20}
  walk_forward: {train: 63, test: 42, embargo: 0, scheme: rolling}
"""
)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("walk_forward_adversarial")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


@pytest.fixture
def data_dir(tmp_path: Path, synced: Path) -> Path:
    # A data directory of the test's own (its own catalogue) on the shared warehouse.
    own = tmp_path / "data"
    own.mkdir()
    (own / "warehouse").symlink_to(synced / "warehouse", target_is_directory=True)
    return own


def _loader(data_dir: Path) -> Any:
    return lambda overrides: load_config(
        "backtest", [*overrides, f"paths.data_dir={data_dir}"], environ={}
    )


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(body)
    return path


def _watch_cluster(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    started: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        started.append(args)
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(wf, "cluster", refuse)
    return started


# --- malformed specs: refused before anything runs --------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start", "0"),  # 1970-01-01: every session of the data, from its first
        ("end", "1282262400"),  # 2010-08-20 00:00 UTC as seconds
        ("start", "1254355200.0"),  # 2009-10-01 as seconds, a float
        ("start", "'1254355200'"),  # text of a number: read as seconds too
    ],
)
def test_a_period_bound_given_as_a_number_is_refused_not_read_as_seconds_since_1970(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path, field: str, value: str
) -> None:
    # Defect: pydantic's lax date reads a number as a Unix timestamp, so `start: 0` loaded as
    # 1970-01-01 (and `end: 1282262400` as 2010-08-20): the walk-forward cut its folds from a
    # period the file never named, and ran. Expected: refused, naming the file and the field.
    other = "end: 2010-08-20" if field == "start" else "start: 2009-10-01"
    body = HEAD + (
        f"  objective: sharpe\n  period: {{{field}: {value}, {other}}}\n"
        "  walk_forward: {train: 63, test: 42}\n"
    )
    path = _write(tmp_path, body)
    started = _watch_cluster(monkeypatch)
    with pytest.raises(ConfigError, match=rf"{path}: sweep\.period\.{field}: .*not a date"):
        wf.run_walk_forward(load_sweep(path), _loader(data_dir), path=str(path))
    assert started == []
    assert not (data_dir / CATALOGUE).exists()


@pytest.mark.parametrize("objective", ["start_equity", "benchmark_total_return", "benchmark_cagr"])
def test_an_objective_no_configuration_changes_is_refused_not_a_silent_first_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path, objective: str
) -> None:
    # Defect: these are metrics of a run, so they passed as objectives; but every configuration
    # has the same start equity (the initial cash) and the same benchmark over a window, so
    # each fold "chose" the first configuration by key and reported it as the best on train.
    body = SPEC.replace("objective: sharpe", f"objective: {objective}")
    path = _write(tmp_path, body)
    started = _watch_cluster(monkeypatch)
    with pytest.raises(
        ConfigError, match=rf"{path}: sweep\.objective: {objective} is .*cannot choose"
    ):
        wf.run_walk_forward(load_sweep(path), _loader(data_dir), path=str(path))
    assert started == []
    assert not (data_dir / CATALOGUE).exists()


# --- resume: a recorded fold whose curve does not cover its window runs again -----------------


def _drop_a_middle_session(curve: pd.Series) -> pd.Series:
    return curve.drop(curve.index[len(curve) // 2])


def _drop_the_cash_point(curve: pd.Series) -> pd.Series:
    return curve.iloc[1:]  # starts at the window's first close, as if no cash point


@pytest.mark.parametrize("damage", [_drop_a_middle_session, _drop_the_cash_point])
def test_a_recorded_fold_whose_curve_misses_sessions_is_run_again_not_stitched_with_a_hole(
    tmp_path: Path, data_dir: Path, damage: Any
) -> None:
    # Defect: a resumed fold was checked for its windows and choice only; its test curve was
    # stitched as recorded. A curve missing a session (or its cash point before the window)
    # left sessions out of the out-of-sample curve, or a fold's first session's return, and the
    # walk-forward reported it as complete. Expected: that fold runs again, and the stitched
    # curve is the one of a run without a break, every session once.
    path = _write(tmp_path, SPEC)
    load = _loader(data_dir)
    first = wf.run_walk_forward(load_sweep(path), load, path=str(path), workers=2)
    assert len(first.folds) >= 3
    con = duckdb.connect(str(data_dir / CATALOGUE))
    try:
        row = con.execute(
            "SELECT test_curve FROM wf_folds WHERE wf_id = ? AND fold = 1", [first.wf_id]
        ).fetchone()
        assert row is not None
        damaged = damage(unpack_curve(bytes(row[0])))
        con.execute(
            "UPDATE wf_folds SET test_curve = ? WHERE wf_id = ? AND fold = 1",
            [pack_curve(damaged), first.wf_id],
        )
    finally:
        con.close()
    again = wf.run_walk_forward(load_sweep(path), load, path=str(path), workers=2)
    assert again.resumed == len(first.folds) - 1  # fold 1 ran again
    assert again.curve.index.equals(first.curve.index)
    assert again.metrics["sessions"] == sum(f.test.metrics["sessions"] for f in first.folds)
    pd.testing.assert_series_equal(again.curve, first.curve, check_exact=False, rtol=1e-12)
    pd.testing.assert_series_equal(
        again.folds[1].test.curve, first.folds[1].test.curve, check_freq=False
    )
