"""Adversarial review of sweep files, the pre-flight checks and the catalogue: hostile inputs.

Each test states what the product should do with an input a user may well write; each failed
before its mend (an unexpected exception, a silently ignored or coerced value, a cluster started
for a period with no session, a damaged catalogue crashing with a traceback). Real: the sweeps
run over the bundled sp500-2010 warehouse, and a refusal is checked with the cluster watched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from config.sweep import configurations, load_sweep, sweep_digest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError, DataError
from quant_core.sweeps import runner
from quant_core.sweeps import walk_forward as wf
from tests.integration.test_sweeps_review_s4 import loader, own_dir, write

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

GRID = """
sweep:
  strategy: momentum
  grid: {lookback: [20, 60]}
  set: {strategy.rebalance: 21}
  objective: sharpe
  period: {start: 2010-02-01, end: 2010-06-30}
"""
SEARCH = """
sweep:
  strategy: momentum
  search: {method: random, trials: 3, seed: 1, space: SPACE}
  set: {strategy.rebalance: 21}
  period: {start: 2010-02-01, end: 2010-06-30}
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("sweep_adversarial")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


def watch_cluster(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every cluster the sweep and the walk-forward start (none may, in these tests)."""
    started: list[Any] = []

    def watched(scheduler: str | None, workers: int | None) -> Any:
        started.append((scheduler, workers))
        raise AssertionError("a cluster started for a sweep that should have been refused")

    monkeypatch.setattr(runner, "cluster", watched)
    monkeypatch.setattr(wf, "cluster", watched)
    return started


# --- the file itself: refused when read, naming the file and the field -------------------------


def test_an_unknown_top_level_key_is_refused_not_ignored(tmp_path: Path) -> None:
    # `period:` beside `sweep:` instead of under it was ignored: the sweep ran on all the data.
    path = write(tmp_path, GRID + "period: {start: 2010-03-01}\n")
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) period") as exc:
        load_sweep(path)
    assert str(path) in str(exc.value)


def test_a_grid_value_given_twice_is_refused_not_silently_dropped(tmp_path: Path) -> None:
    # [20, 20] ran one configuration where the file lists two (20 and 20.0 were refused).
    path = write(tmp_path, GRID.replace("[20, 60]", "[20, 60, 20]"))
    with pytest.raises(ConfigError, match=r"sweep\.grid\.lookback: 20 is given twice") as exc:
        load_sweep(path)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("trials: 3", "trials: true", r"sweep\.search\.trials"),
        ("seed: 1", "seed: true", r"sweep\.search\.seed"),
        ("trials: 3", "trials: '3'", r"sweep\.search\.trials"),
        ("SPACE", "{lookback: {int: [true, 30]}}", r"sweep\.search\.space\.lookback"),
        ("set:", "keep: true\n  set:", r"sweep\.keep"),
        ("set:", "batch: true\n  set:", r"sweep\.batch"),
        ("set:", "walk_forward: {train: 40, test: true}\n  set:", r"sweep\.walk_forward\.test"),
    ],
)
def test_a_boolean_or_text_is_no_count(tmp_path: Path, old: str, new: str, field: str) -> None:
    # YAML's `true` passed as 1 (one trial, keep one curve, a test window of one session).
    body = SEARCH.replace(old, new).replace("SPACE", "{lookback: {int: [10, 30]}}")
    path = write(tmp_path, body)
    with pytest.raises(ConfigError, match=field) as exc:
        load_sweep(path)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize("end", [".nan", ".inf"])
def test_a_range_end_that_is_not_finite_is_refused_not_a_crash(tmp_path: Path, end: str) -> None:
    # numpy's OverflowError ("high - low range exceeds valid bounds"): exit 3, a traceback.
    path = write(tmp_path, SEARCH.replace("SPACE", f"{{top_quantile: {{float: [0.1, {end}]}}}}"))
    with pytest.raises(ConfigError, match=r"sweep\.search\.space\.top_quantile") as exc:
        configurations(load_sweep(path), path)
    assert str(path) in str(exc.value)


def test_an_empty_list_in_a_search_space_is_refused_not_a_crash(tmp_path: Path) -> None:
    # numpy's ValueError ("high <= 0") when the first trial was drawn: exit 3, a traceback.
    path = write(tmp_path, SEARCH.replace("SPACE", "{lookback: []}"))
    with pytest.raises(ConfigError, match=r"sweep\.search\.space.*empty list") as exc:
        configurations(load_sweep(path), path)
    assert str(path) in str(exc.value)


# --- the period against the data: said before a cluster starts ---------------------------------


@pytest.mark.parametrize(
    ("period", "said"),
    [
        ("{start: 2030-01-01, end: 2031-01-01}", "no session from 2030-01-01"),
        ("{start: 2009-08-01, end: 2009-11-01}", "needs 127 sessions of history"),
    ],
)
def test_a_period_with_no_session_to_trade_is_refused_before_the_cluster_starts(
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    period: str,
    said: str,
) -> None:
    # The cluster started, every task failed on its worker ("Compute Failed" and a traceback),
    # and the error named neither the sweep file nor the field.
    started = watch_cluster(monkeypatch)
    own = own_dir(tmp_path, data_dir)
    body = GRID.replace("[20, 60]", "[20, 126]").replace(
        "{start: 2010-02-01, end: 2010-06-30}", period
    )
    path = write(tmp_path, body)
    with pytest.raises(DataError, match=said) as exc:
        runner.run_sweep(load_sweep(path), loader(own), path=path, workers=1)
    assert str(path) in str(exc.value)
    assert "sweep.period" in str(exc.value)
    assert started == []
    assert not (own / runner.CATALOGUE).exists()  # nothing recorded of a sweep never run


def test_a_walk_forward_whose_first_train_window_lacks_history_is_refused_first(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = watch_cluster(monkeypatch)
    body = GRID.replace("[20, 60]", "[20, 126]").replace("2010-02-01", "2009-08-01")
    path = write(tmp_path, body + "  walk_forward: {train: 40, test: 60}\n")
    with pytest.raises(DataError, match="first train window") as exc:
        wf.run_walk_forward(load_sweep(path), loader(own_dir(tmp_path, data_dir)), path=str(path))
    assert str(path) in str(exc.value)
    assert '{"lookback": 126}' in str(exc.value)
    assert started == []


def test_walk_forward_errors_name_the_file_and_the_embargo(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # They named "sweep adv" (the file's stem) and left the embargo, the cause, out.
    watch_cluster(monkeypatch)
    own = own_dir(tmp_path, data_dir)
    path = write(tmp_path, GRID)
    with pytest.raises(ConfigError, match=r"sweep\.walk_forward") as exc:
        wf.run_walk_forward(load_sweep(path), loader(own), path=str(path))
    assert str(path) in str(exc.value)
    path = write(tmp_path, GRID + "  walk_forward: {train: 40, test: 20, embargo: 5000}\n")
    with pytest.raises(DataError, match="embargo 5000") as short:
        wf.run_walk_forward(load_sweep(path), loader(own), path=str(path))
    assert str(path) in str(short.value)


# --- the catalogue: a damaged file is named and kept, not a traceback ----------------------------


def test_a_damaged_catalogue_is_a_named_data_error_and_is_left_as_it_is(
    tmp_path: Path, data_dir: Path
) -> None:
    # DuckDB's IOException went through as an unexpected error: exit 3 and a traceback.
    own = own_dir(tmp_path, data_dir)
    target = own / runner.CATALOGUE
    target.parent.mkdir(parents=True)
    junk = b"not a catalogue, a note someone saved here\n" * 50
    target.write_bytes(junk)
    path = write(tmp_path, GRID)
    done = subprocess.run(
        [sys.executable, "run_backtest.py", "--sweep", str(path), "--workers", "1", "--json"],
        cwd=ROOT,
        env={**os.environ, "QC__PATHS__DATA_DIR": str(own)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert str(target) in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert target.read_bytes() == junk


# --- the cluster: a scheduler that is not there is named, not a traceback ------------------------


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:1", "foo://nowhere:8786"])
def test_a_scheduler_that_cannot_be_reached_is_a_named_config_error(address: str) -> None:
    # distributed's OSError / ValueError went through as an unexpected error (exit 3).
    import dask
    import distributed  # noqa: F401  (its config defaults, before dask.config.set restores)

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ConfigError, match=f"--scheduler {address}: no Dask scheduler"),
        runner.cluster(address, None),
    ):
        pass


# --- the sweep's identity: an edit that changes the draws is another sweep ----------------------


def test_a_search_space_in_another_order_is_another_sweep_not_a_resume(tmp_path: Path) -> None:
    # The draws follow the space's order, but the id sorted it away: the edited file "resumed"
    # the old sweep, ran three other configurations and recorded six results for three trials.
    space = "{lookback: {int: [10, 200]}, top_quantile: {float: [0.1, 0.5]}}"
    turned = "{top_quantile: {float: [0.1, 0.5]}, lookback: {int: [10, 200]}}"
    first = load_sweep(write(tmp_path, SEARCH.replace("SPACE", space), "a.yaml"))
    again = load_sweep(write(tmp_path, SEARCH.replace("SPACE", space), "b.yaml"))
    other = load_sweep(write(tmp_path, SEARCH.replace("SPACE", turned), "c.yaml"))
    keys = {c.key for c in configurations(first)}
    assert {c.key for c in configurations(other)} != keys  # other draws ...
    assert sweep_digest(other) != sweep_digest(first)  # ... another sweep
    assert {c.key for c in configurations(again)} == keys
    assert sweep_digest(again) == sweep_digest(first)  # the same file: the same sweep


def test_a_file_with_neither_grid_nor_search_names_sweep_not_a_dangling_dot(
    tmp_path: Path,
) -> None:
    # "s.yaml: sweep.: give one of grid ...": the model's own rule had an empty field path.
    path = write(tmp_path, "sweep: {strategy: momentum}\n")
    with pytest.raises(ConfigError) as exc:
        load_sweep(path)
    assert str(exc.value) == (
        f"{path}: sweep: give one of grid (every combination) or search (random draws)"
    )


@pytest.mark.parametrize("values", ['["20", "60"]', "[20, '60']"])
def test_text_for_a_numeric_parameter_is_refused_not_keyed_as_text(
    tmp_path: Path, values: str
) -> None:
    # "20" ran as 20 but was keyed, stored and shown as the text "20" (and sorted as text).
    path = write(tmp_path, GRID.replace("[20, 60]", values))
    with pytest.raises(ConfigError, match=r"sweep\.grid\.lookback: .* is text") as exc:
        configurations(load_sweep(path), path)
    assert str(path) in str(exc.value)
