"""The Sweeps page (contract 17c): AppTest over a catalogue written with the real ``Catalogue``.

The sweeps are the real expansions of their specs (``config.sweep.configurations``) with made-up
metrics, so the expected heatmap, histogram and table follow from a formula here; one test runs a
configuration for real (the sp500-2010 warehouse of ``conftest.py``) and opens it in the Explorer.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from config.sweep import SweepConfig, configurations, sweep_digest
from quant_core.backtest.results import load_run
from quant_core.backtest.run_admin import read_label
from quant_core.cockpit.models import sweep_data as sd
from quant_core.errors import ConfigError
from quant_core.sweeps.catalogue import Catalogue, Result
from quant_core.sweeps.runner import Progress, write_progress
from tests.cockpit.conftest import APP, ROOT, VIEWS
from tests.cockpit.test_explorer import _store_run, _values

CREATED = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
MOM_GRID: dict[str, Any] = {
    "name": "mom_grid",
    "strategy": "momentum",
    "grid": {"lookback": [20, 60, 126], "top_quantile": [0.1, 0.2]},
    "set": {"strategy.rebalance": 21},
    "objective": "sharpe",
    "period": {"start": "2010-03-01", "end": "2010-08-20"},
    "keep": 3,
}
# Three parameters: the heatmap folds the third.
REVERSION: dict[str, Any] = {
    "name": "reversion",
    "strategy": "mean_reversion",
    "grid": {"lookback": [3, 5], "bottom_quantile": [0.1, 0.2, 0.3], "hold_sessions": [2, 5]},
    "objective": "sharpe",
}


def fake_sharpe(params: dict[str, Any]) -> float:
    """Return the made-up Sharpe ratio of a configuration (every parameter counts)."""
    quantile = params.get("top_quantile", params.get("bottom_quantile", 0.0))
    return float(params["lookback"]) / 100 + quantile - params.get("hold_sessions", 0) / 10


def fake_metrics(params: dict[str, Any]) -> dict[str, Any]:
    """Return a configuration's made-up metrics: the keys of a single run's metrics."""
    sharpe = fake_sharpe(params)
    return {"sharpe": sharpe, "cagr": sharpe / 10, "max_drawdown": -sharpe / 20, "trades": 7}


def fake_curve(params: dict[str, Any]) -> pd.Series:
    """Return a made-up equity curve: 20 sessions growing with the Sharpe ratio."""
    days = pd.bdate_range("2010-03-01", periods=20)
    growth = (1 + fake_sharpe(params) / 100) ** np.arange(len(days))
    return pd.Series(100_000.0 * growth, index=days)


def write_sweep(
    data_dir: Path,
    spec_fields: dict[str, Any],
    created: dt.datetime = CREATED,
    *,
    done: int | None = None,
    metrics: Callable[[dict[str, Any]], dict[str, Any]] = fake_metrics,
) -> str:
    """Record a sweep in ``data_dir``'s catalogue (all or the first ``done`` configurations)."""
    spec = SweepConfig.model_validate(spec_fields)
    every = configurations(spec)
    sweep_id = sweep_digest(spec)[:16]
    catalogue = Catalogue(sd.catalogue_path(data_dir))
    try:
        catalogue.start(
            sweep_id,
            spec.name,
            spec.strategy,
            spec.objective,
            spec.maximize,
            spec.model_dump(mode="json"),
            len(every),
            created,
        )
        chosen = every if done is None else every[:done]
        results = [
            Result(c.key, c.params, metrics(c.params), 1.0 + i, f"w{i % 2}", fake_curve(c.params))
            for i, c in enumerate(chosen)
        ]
        at = created + dt.timedelta(minutes=1)
        catalogue.record(sweep_id, results, spec.objective, spec.maximize, spec.keep, at)
        if len(chosen) == len(every):
            catalogue.finish(sweep_id, created + dt.timedelta(minutes=2))
    finally:
        catalogue.close()
    return sweep_id


def expected_best(spec_fields: dict[str, Any], x: str, y: str) -> dict[tuple[str, str], float]:
    """Return the max made-up Sharpe for each (y value, x value): the fold done by brute force."""
    out: dict[tuple[str, str], float] = {}
    for c in configurations(SweepConfig.model_validate(spec_fields)):
        cell = (f"{c.params[y]:g}", f"{c.params[x]:g}")
        out[cell] = max(out.get(cell, -np.inf), fake_sharpe(c.params))
    return out


@pytest.fixture
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a data dir without a warehouse, set as ``QC__PATHS__DATA_DIR``."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("QC__PATHS__DATA_DIR", str(root))
    return root


def open_sweeps() -> AppTest:
    """Return the app run once, then switched to the Sweeps page."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    at.switch_page(f"{VIEWS}/sweeps.py").run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, title: str) -> dict[str, Any]:
    """Return the plotly spec of the chart whose title starts with ``title``."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    found = [s for s in specs if s["layout"]["title"]["text"].startswith(title)]
    assert len(found) == 1, [s["layout"]["title"]["text"] for s in specs]
    spec: dict[str, Any] = found[0]
    return spec


def texts(at: AppTest) -> str:
    """Return every markdown, caption, info, warning and error text of the page, joined."""
    kinds = (at.markdown, at.caption, at.info, at.warning, at.error, at.success)
    return "\n".join(str(e.value) for kind in kinds for e in kind)


def best_rows(at: AppTest) -> pd.DataFrame:
    """Return the best configurations table."""
    (table,) = [d.value for d in at.dataframe if "worker" in d.value.columns]
    frame: pd.DataFrame = table
    return frame


def select(at: AppTest, sweep_id: str, *rows: int) -> AppTest:
    """Select rows of the best table (as a click on their checkboxes would), then rerun."""
    at.session_state[f"sweeps_best__{sweep_id}"] = {
        "selection": {"rows": list(rows), "columns": [], "cells": []}
    }
    return at.run()


# ------------------------------------------------------------------------------ the page


def test_without_a_catalogue_the_page_says_how_to_run_a_sweep(empty_dir: Path) -> None:
    at = open_sweeps()
    assert at.title[0].value == "Sweeps"
    assert "run_backtest.py --sweep research/mom_grid.yaml" in at.info[0].value
    assert not (empty_dir / "sweeps").exists()  # the page never creates the catalogue


def test_the_picker_lists_the_latest_first_with_its_counts(empty_dir: Path) -> None:
    older = write_sweep(empty_dir, REVERSION, CREATED)
    newer = write_sweep(empty_dir, MOM_GRID, CREATED + dt.timedelta(days=1), done=4)
    at = open_sweeps()

    picker = at.selectbox(key="sweeps_pick")
    assert picker.value == newer
    assert picker.options[0].startswith("mom_grid · momentum · max sharpe · 4 of 6 done")
    assert "created 2026-03-03 14:30 UTC · not finished" in picker.options[0]
    assert picker.options[1].startswith("reversion · mean_reversion · max sharpe · 12 of 12 done")
    assert "finished 2026-03-02 14:32 UTC" in picker.options[1]
    assert "4 of 6 configurations recorded" in texts(at)

    picker.set_value(older).run()
    assert not at.exception, at.exception
    assert len(best_rows(at)) == 12


def test_the_heatmap_is_the_max_over_the_other_parameter(empty_dir: Path) -> None:
    sweep_id = write_sweep(empty_dir, REVERSION)
    at = open_sweeps()
    spec = chart(at, "sharpe by lookback and bottom_quantile")
    trace = spec["data"][0]
    assert trace["x"] == ["3", "5"]
    assert trace["y"] == ["0.1", "0.2", "0.3"]
    best = expected_best(REVERSION, "lookback", "bottom_quantile")
    z, count = _values(trace, "z"), _values(trace, "customdata")
    for i, y in enumerate(trace["y"]):
        for j, x in enumerate(trace["x"]):
            assert z[i, j] == pytest.approx(best[(y, x)])
            assert count[i, j] == 2  # two hold_sessions values folded
    assert "The other parameters (hold_sessions) are aggregated by the max" in texts(at)

    at.selectbox(key=f"sweeps_x__{sweep_id}").set_value("hold_sessions").run()
    trace = chart(at, "sharpe by hold_sessions and bottom_quantile")["data"][0]
    assert trace["x"] == ["2", "5"]
    best = expected_best(REVERSION, "hold_sessions", "bottom_quantile")
    assert _values(trace, "z")[2, 0] == pytest.approx(best[("0.3", "2")])
    assert "(lookback) are aggregated by the max" in texts(at)

    at.selectbox(key=f"sweeps_y__{sweep_id}").set_value("hold_sessions").run()
    assert "Pick two different parameters." in texts(at)


def test_a_minimised_objective_is_folded_by_its_min(empty_dir: Path) -> None:
    write_sweep(empty_dir, {**REVERSION, "objective": "max_drawdown", "maximize": False})
    at = open_sweeps()
    trace = chart(at, "max_drawdown by lookback and bottom_quantile")["data"][0]
    # max_drawdown = -sharpe / 20: the min over hold_sessions is at the lower hold (2).
    params = {"lookback": 5, "bottom_quantile": 0.3, "hold_sessions": 2}
    assert _values(trace, "z")[2, 1] == pytest.approx(-fake_sharpe(params) / 20)
    assert "aggregated by the min" in texts(at)


def test_the_histogram_counts_every_finite_objective(empty_dir: Path) -> None:
    def some_without(params: dict[str, Any]) -> dict[str, Any]:
        out = fake_metrics(params)
        if params["hold_sessions"] == 5 and params["lookback"] == 3:
            out["sharpe"] = float("nan")  # a run without a finite objective (3 of 12)
        return out

    write_sweep(empty_dir, REVERSION, metrics=some_without)
    at = open_sweeps()
    spec = chart(at, "Distribution of sharpe")
    assert _values(spec["data"][0], "y").sum() == 9
    assert "12 configurations; 3 without a finite sharpe, left out" in json.dumps(spec)
    best = max(fake_sharpe(c.params) for c in configurations(SweepConfig(**REVERSION)))
    assert spec["layout"]["shapes"][0]["x0"] == pytest.approx(best)


def test_the_best_table_lists_the_best_first_with_their_figures(empty_dir: Path) -> None:
    write_sweep(empty_dir, MOM_GRID)
    at = open_sweeps()
    table = best_rows(at)
    assert list(table.columns) == [
        "rank",
        "lookback",
        "top_quantile",
        "objective",
        "sharpe",
        "cagr",
        "max_drawdown",
        "trades",
        "seconds",
        "worker",
    ]
    assert list(table["rank"]) == [1, 2, 3, 4, 5, 6]
    assert table["objective"].is_monotonic_decreasing
    first = {"lookback": 126, "top_quantile": 0.2}
    assert table.iloc[0][["lookback", "top_quantile"]].to_dict() == first
    assert table.iloc[0]["cagr"] == pytest.approx(fake_sharpe(first) / 10)
    assert set(table["worker"]) == {"w0", "w1"}
    assert not [b for b in at.button if b.label == "Run and open in Explorer"]


def test_a_selected_row_gets_its_run_button(empty_dir: Path) -> None:
    sweep_id = write_sweep(empty_dir, MOM_GRID)
    at = select(open_sweeps(), sweep_id, 0, 2)
    buttons = [b for b in at.button if b.label == "Run and open in Explorer"]
    assert [b.key for b in buttons] == ["sweeps_run__0", "sweeps_run__2"]
    shown = [m.value for m in at.markdown if str(m.value).startswith("**#")]
    assert shown == [
        "**#1** lookback=126, top_quantile=0.2 · sharpe 1.46",
        "**#3** lookback=60, top_quantile=0.2 · sharpe 0.8",
    ]


def test_run_and_open_stores_the_configuration_and_opens_it_in_the_explorer(
    data_dir: Path,
) -> None:
    sweep_id = write_sweep(data_dir, MOM_GRID)
    at = select(open_sweeps(), sweep_id, 1)
    row = best_rows(at).iloc[1]
    at.button(key="sweeps_run__1").click().run()
    assert not at.exception, at.exception

    assert at.title[0].value == "Strategy Explorer"
    run_id = str(at.selectbox(key="explorer_run").value)
    run = load_run(data_dir / "backtests", run_id)
    params = {"lookback": int(row["lookback"]), "top_quantile": float(row["top_quantile"])}
    assert run.config["strategy"]["name"] == "momentum"
    assert run.config["strategy"]["params"] == params
    assert run.config["strategy"]["rebalance"] == 21
    assert str(run.config["backtest"]["start"]) == "2010-03-01"
    assert Path(run.config["paths"]["data_dir"]) == data_dir
    assert read_label(data_dir / "backtests" / run_id) == (
        f"sweep mom_grid: lookback={params['lookback']}, top_quantile={params['top_quantile']}"
    )

    # Back on the page, the row remembers its run: open it again without running again, though
    # a newer run (the Explorer's default) is stored meanwhile.
    newer = _store_run(data_dir, "backtest.start=2010-06-01")
    at.switch_page(f"{VIEWS}/sweeps.py").run()
    runs_before = sorted(p.name for p in (data_dir / "backtests").iterdir())
    select(at, sweep_id, 1).button(key="sweeps_open__1").click().run()
    assert at.title[0].value == "Strategy Explorer"
    assert at.selectbox(key="explorer_run").value == run_id != newer
    assert sorted(p.name for p in (data_dir / "backtests").iterdir()) == runs_before


def test_a_configuration_missing_from_its_spec_is_not_run(empty_dir: Path) -> None:
    sweep_id = write_sweep(empty_dir, MOM_GRID)
    catalogue = Catalogue(sd.catalogue_path(empty_dir))
    try:  # the spec as stored no longer has lookback 126 (edited by hand, say)
        spec = json.dumps({**MOM_GRID, "grid": {"lookback": [20, 60], "top_quantile": [0.1]}})
        catalogue.con.execute("UPDATE sweeps SET spec = ? WHERE sweep_id = ?", [spec, sweep_id])
    finally:
        catalogue.close()
    at = select(open_sweeps(), sweep_id, 0)
    at.button(key="sweeps_run__0").click().run()
    assert at.title[0].value == "Sweeps"
    (error,) = at.error
    assert "Not run: sweep 'mom_grid': no configuration" in error.value
    assert '"lookback": 126' in error.value
    assert not (empty_dir / "backtests").exists()


def test_the_kept_curves_are_drawn_best_first(empty_dir: Path) -> None:
    write_sweep(empty_dir, MOM_GRID)
    at = open_sweeps()
    spec = chart(at, "Equity of the best 3 configurations")
    names = [t["name"] for t in spec["data"]]
    assert names == [
        "#1 lookback=126, top_quantile=0.2",
        "#2 lookback=126, top_quantile=0.1",
        "#3 lookback=60, top_quantile=0.2",
    ]
    first = fake_curve({"lookback": 126, "top_quantile": 0.2})
    assert _values(spec["data"][0], "y") == pytest.approx(first.to_numpy())


def _progress_texts(at: AppTest) -> tuple[str, dict[str, str]]:
    bar = at.get("progress")[0].proto.text
    return bar, {str(m.label): str(m.value) for m in at.metric}


def test_the_progress_file_is_shown_and_followed(empty_dir: Path) -> None:
    sweep_id = write_sweep(empty_dir, MOM_GRID, done=2)
    folder = empty_dir / "sweeps"
    link = "http://127.0.0.1:8787/status"
    write_progress(folder, sweep_id, Progress(2, 6, 1.46, 0.5), link, 2)
    at = open_sweeps()
    bar, figures = _progress_texts(at)
    assert bar == "2 of 6 configurations done (33%)"
    assert figures["Best sharpe"] == "1.460"
    assert figures["Rate"] == "0.50 cfg/s"
    assert figures["Workers"] == "2"
    assert figures["Time left"] == "8.0 s"  # 4 left at 0.5 a second
    assert at.get("link_button")[0].proto.url == link

    write_progress(folder, sweep_id, Progress(5, 6, 1.5, 1.0), link, 2)
    at.run()  # stands in for the fragment's tick
    bar, figures = _progress_texts(at)
    assert bar == "5 of 6 configurations done (83%)"
    assert figures["Time left"] == "1.0 s"

    write_progress(folder, sweep_id, Progress(6, 6, 1.5, 1.0), link, 2)
    at.run()
    bar, figures = _progress_texts(at)
    assert bar == "6 of 6 configurations done (100%)"
    assert figures["Time left"] == "-"
    assert not at.get("link_button")  # the cluster is gone with the sweep


def test_a_stale_progress_file_says_the_sweep_is_not_running(empty_dir: Path) -> None:
    sweep_id = write_sweep(empty_dir, MOM_GRID, done=2)
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).isoformat(timespec="seconds")
    path = sd.progress_folder(empty_dir) / f"{sweep_id}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"sweep_id": sweep_id, "done": 2, "total": 6, "at": old}))
    at = open_sweeps()
    assert "it is not running (stopped or interrupted)" in texts(at)
    assert _progress_texts(at)[1]["Best sharpe"] == "-"


# A sweep's driver, as far as the lock goes: it opens the catalogue read-write, records the
# sweep's row (sweep id argv[2]), then holds the file until its stdin closes.
DRIVER = (
    "import sys, datetime as dt; from pathlib import Path;"
    "from quant_core.sweeps.catalogue import Catalogue;"
    "c = Catalogue(Path(sys.argv[1]));"
    "c.start(sys.argv[2], 'mom_next', 'momentum', 'sharpe', True, {}, 8, dt.datetime.now(dt.UTC));"
    "print('locked', flush=True); sys.stdin.read(); c.close()"
)


def hold_catalogue(data_dir: Path, sweep_id: str) -> subprocess.Popen[str]:
    """Start :data:`DRIVER` on ``data_dir``'s catalogue; return once it holds the file."""
    path = sd.catalogue_path(data_dir)
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(path), sweep_id],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def locked(empty_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """Hold the catalogue in another process, as a running sweep's driver does."""
    with hold_catalogue(empty_dir, "abc123") as proc:  # closes its pipes at the end
        yield proc
        if proc.poll() is None:
            proc.kill()


def test_a_busy_catalogue_shows_the_running_sweeps_progress(
    empty_dir: Path, locked: subprocess.Popen[str]
) -> None:
    write_progress(empty_dir / "sweeps", "abc123", Progress(3, 6, 0.9, 1.5), None, 2)
    at = open_sweeps()
    assert "The sweep catalogue is busy" in at.warning[0].value
    assert _progress_texts(at)[0] == "3 of 6 configurations done (50%)"
    assert "abc123" in texts(at)
    assert not at.selectbox  # no sweep to pick while busy

    assert locked.stdin is not None
    locked.stdin.close()  # the driver finishes and lets go
    locked.wait(10)
    at.run()
    assert not at.warning
    picker = at.selectbox(key="sweeps_pick")
    assert picker.value == "abc123"
    assert picker.options[0].startswith("mom_next · momentum · max sharpe · 0 of 8 done")
    assert "No configuration of this sweep is recorded yet." in texts(at)


def test_the_overfitting_area_is_there_and_reads_its_figures_when_present(
    empty_dir: Path,
) -> None:
    sweep_id = write_sweep(empty_dir, MOM_GRID)
    at = open_sweeps()
    assert "Overfitting" in [h.value for h in at.subheader]
    assert "Not computed for this sweep" in texts(at)

    catalogue = Catalogue(sd.catalogue_path(empty_dir))
    try:  # as quant_core.sweeps.overfitting records them when a sweep completes
        figures = {"deflated_sharpe": 0.42, "pbo": 0.125, "trials": 6.0, "effective_trials": None}
        catalogue.set_overfitting(sweep_id, figures)
    finally:
        catalogue.close()
    at.run()
    shown = {str(m.label): str(m.value) for m in at.metric}
    assert shown == {
        "Deflated Sharpe ratio": "42.0%",
        "PBO": "12.5%",
        "Trials": "6",
        "Effective trials": "-",
    }


def test_a_catalogue_without_the_overfitting_columns_is_read(empty_dir: Path) -> None:
    sweep_id = write_sweep(empty_dir, MOM_GRID)
    catalogue = Catalogue(sd.catalogue_path(empty_dir))
    try:  # a catalogue written before the overfitting measures
        for column in sd.OVERFIT_KEYS:
            catalogue.con.execute(f"ALTER TABLE sweeps DROP COLUMN {column}")
    finally:
        catalogue.close()
    at = open_sweeps()
    assert not at.exception, at.exception
    assert at.selectbox(key="sweeps_pick").value == sweep_id
    assert "Not computed for this sweep" in texts(at)


# ------------------------------------------------------------------------------ the model


def test_a_random_search_axis_is_binned_and_a_grid_axis_is_not() -> None:
    draws = pd.Series(np.linspace(0.05, 0.5, 40))
    levels = sd.axis_levels(draws)
    assert len(levels.cat.categories) == sd.BINS
    assert levels.iloc[0] == "0.05 to 0.095"
    assert levels.iloc[-1] == "0.455 to 0.5"
    assert levels.value_counts().sum() == 40
    grid = sd.axis_levels(pd.Series([126, 20, 60, 20]))
    assert list(grid.cat.categories) == ["20", "60", "126"]
    assert list(sd.axis_levels(pd.Series([True, False])).cat.categories) == ["False", "True"]


def test_run_overrides_are_the_configurations_own_plus_the_data_dir(tmp_path: Path) -> None:
    spec = SweepConfig.model_validate(MOM_GRID)
    wanted = next(
        c for c in configurations(spec) if c.params == {"lookback": 60, "top_quantile": 0.1}
    )
    overrides = sd.run_overrides("mom_grid", spec.model_dump_json(), wanted.key, tmp_path)
    assert overrides == [*wanted.overrides, f"paths.data_dir={tmp_path}"]
    assert "strategy.params.lookback=60" in overrides
    assert "backtest.end=2010-08-20" in overrides
    with pytest.raises(ConfigError, match=r"sweep 'mom_grid': no configuration \{\"lookback\": 7"):
        sd.run_overrides("mom_grid", spec.model_dump_json(), '{"lookback": 7}', tmp_path)
    with pytest.raises(ConfigError, match="sweep 'x': its stored spec does not validate"):
        sd.run_overrides("x", json.dumps({"name": "x", "strategy": "momentum"}), "{}", tmp_path)


def test_a_malformed_progress_file_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    assert sd.read_progress(path) is None
    path.write_text('{"done": 1')
    assert sd.read_progress(path) is None
    path.write_text(json.dumps({"done": "x", "total": 2}))
    assert sd.read_progress(path) is None
    path.write_text(json.dumps({"done": 1, "total": 2, "dashboard": "javascript:alert(1)"}))
    read = sd.read_progress(path)
    assert read is not None
    assert read.dashboard is None
    assert read.sweep_id == "p"
