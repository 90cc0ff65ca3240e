"""The Sweeps page (contract 17c): AppTest over a catalogue written with the real ``Catalogue``.

The sweeps are the real expansions of their specs (``config.sweep.configurations``) with made-up
metrics (``sweep_helpers.py``), so the expected heatmap, histogram and table follow from a
formula; one test runs a configuration for real (the sp500-2010 warehouse of ``conftest.py``),
with the sweep's own ``--set`` values, and opens it in the Explorer. The model's own tests are
``test_sweep_data.py``; the walk-forward part's, ``test_sweeps_walk_forward.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from config.book_loader import load_book
from config.sweep import SweepConfig, configurations
from quant_core.backtest.results import load_run
from quant_core.backtest.run_admin import read_label
from quant_core.cockpit.models import sweep_data as sd
from quant_core.cockpit.models import sweep_progress as sp
from quant_core.sweeps import catalogue as cat
from quant_core.sweeps.catalogue import Catalogue
from quant_core.sweeps.runner import Progress, write_progress
from tests.cockpit.conftest import ROOT, VIEWS
from tests.cockpit.sweep_helpers import (
    CREATED,
    MOM_GRID,
    REVERSION,
    best_rows,
    chart,
    expected_best,
    fake_curve,
    fake_metrics,
    fake_sharpe,
    hold_catalogue,
    open_sweeps,
    select,
    texts,
    write_sweep,
)
from tests.cockpit.test_explorer import _store_run, _values


@pytest.fixture
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a data dir without a warehouse, set as ``QC__PATHS__DATA_DIR``."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("QC__PATHS__DATA_DIR", str(root))
    return root


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


# The sweep ran with these --set values: the rerun applies them after the configuration's own
# (rebalance 10 beats the spec's 21) and drops their data dir for the cockpit's.
EXTRA = ("backtest.initial_cash=250000", "strategy.rebalance=10", "paths.data_dir=/nowhere")


def test_run_and_open_stores_the_configuration_and_opens_it_in_the_explorer(
    data_dir: Path,
) -> None:
    sweep_id = write_sweep(data_dir, MOM_GRID, extra=EXTRA)
    at = select(open_sweeps(), sweep_id, 1)
    assert f"run with --set {' '.join(EXTRA)}" in texts(at)
    row = best_rows(at).iloc[1]
    at.button(key="sweeps_run__1").click().run()
    assert not at.exception, at.exception

    assert at.title[0].value == "Strategy Explorer"
    run_id = str(at.selectbox(key="explorer_run").value)
    run = load_run(data_dir / "backtests", run_id)
    params = {"lookback": int(row["lookback"]), "top_quantile": float(row["top_quantile"])}
    assert run.config["strategy"]["name"] == "momentum"
    assert run.config["strategy"]["params"] == params
    assert run.config["strategy"]["rebalance"] == 10
    assert run.config["backtest"]["initial_cash"] == 250_000
    assert run.curve["equity"].iloc[0] == pytest.approx(250_000)
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


def test_run_and_open_of_a_book_sweep_stores_the_book_with_its_params(data_dir: Path) -> None:
    # The spec keeps the book the sweep ran: the rerun is that book, whatever the file holds.
    book = load_book(ROOT / "config" / "books" / "core.yaml").model_dump(mode="json")
    fields = {
        "name": "core_grid",
        "book": {"file": "gone/core.yaml", "config": book},
        "grid": {"mom.lookback": [63, 126]},
        "objective": "sharpe",
    }
    sweep_id = write_sweep(data_dir, fields)
    at = select(open_sweeps(), sweep_id, 0)
    row = best_rows(at).iloc[0]
    at.button(key="sweeps_run__0").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Strategy Explorer"
    run_id = str(at.selectbox(key="explorer_run").value)
    run = load_run(data_dir / "backtests", run_id)
    sleeves = run.config["book"]["sleeves"]
    assert sleeves[0]["strategy"]["params"] == {"lookback": int(row["mom.lookback"])}
    assert sleeves[1] == book["sleeves"][1]
    summary = pd.read_parquet(data_dir / "backtests" / run_id / "summary.parquet")
    assert summary["strategy"].tolist() == ["book:core"]
    assert (data_dir / "backtests" / run_id / "sleeves.parquet").exists()
    assert read_label(data_dir / "backtests" / run_id) == (
        f"sweep core_grid: mom.lookback={int(row['mom.lookback'])}"
    )


def test_a_configuration_missing_from_its_spec_is_not_run(empty_dir: Path) -> None:
    sweep_id = write_sweep(empty_dir, MOM_GRID)
    catalogue = Catalogue(sd.catalogue_path(empty_dir))
    try:  # the spec as stored no longer has lookback 126 (edited by hand, say); extra is NULL
        spec = json.dumps({**MOM_GRID, "grid": {"lookback": [20, 60], "top_quantile": [0.1]}})
        catalogue.con.execute(
            "UPDATE sweeps SET spec = ?, extra = NULL WHERE sweep_id = ?", [spec, sweep_id]
        )
    finally:
        catalogue.close()
    at = select(open_sweeps(), sweep_id, 0)
    assert "run with --set" not in texts(at)
    at.button(key="sweeps_run__0").click().run()
    assert at.title[0].value == "Sweeps"
    (error,) = at.error
    assert "Not run: sweep 'mom_grid': no configuration" in error.value
    assert '"lookback": 126' in error.value
    assert not (empty_dir / "backtests").exists()


def test_unreadable_stored_set_values_are_named_and_nothing_runs(empty_dir: Path) -> None:
    sweep_id = write_sweep(empty_dir, MOM_GRID)
    catalogue = Catalogue(sd.catalogue_path(empty_dir))
    try:
        catalogue.con.execute(
            "UPDATE sweeps SET extra = ? WHERE sweep_id = ?",
            ['{"strategy.rebalance": 5}', sweep_id],
        )
    finally:
        catalogue.close()
    at = select(open_sweeps(), sweep_id, 0)
    assert "run with --set (unreadable: the run button says why)" in texts(at)
    at.button(key="sweeps_run__0").click().run()
    assert at.title[0].value == "Sweeps"
    (error,) = at.error
    assert "Not run: sweep 'mom_grid': its stored --set values are not a JSON list" in error.value
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
    path = sp.progress_folder(empty_dir) / f"{sweep_id}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"sweep_id": sweep_id, "done": 2, "total": 6, "at": old}))
    at = open_sweeps()
    assert "it is not running (stopped or interrupted)" in texts(at)
    assert _progress_texts(at)[1]["Best sharpe"] == "-"


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


def test_the_busy_error_is_the_catalogues_own(
    empty_dir: Path, locked: subprocess.Popen[str]
) -> None:
    assert sd.CatalogueBusy is cat.CatalogueBusy
    with pytest.raises(cat.CatalogueBusy, match="another process holds the catalogue"):
        sd.list_sweeps(sd.catalogue_path(empty_dir))


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
    try:  # a catalogue written before the overfitting measures and the --set values
        for column in (*sd.OVERFIT_KEYS, "extra"):
            catalogue.con.execute(f"ALTER TABLE sweeps DROP COLUMN {column}")
    finally:
        catalogue.close()
    at = open_sweeps()
    assert not at.exception, at.exception
    assert at.selectbox(key="sweeps_pick").value == sweep_id
    assert "Not computed for this sweep" in texts(at)
