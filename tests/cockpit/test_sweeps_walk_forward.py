"""The Sweeps page's walk-forward part: AppTest over walk-forwards recorded by the real catalogue.

A walk-forward is written as ``quant_core.sweeps.walk_forward._record`` writes one, through
``Catalogue.record_walk_forward`` (``sweep_helpers.write_walk_forward``): the real folds of its
spec (``walk_forward.windows`` over business days), a configuration of the spec's grid chosen per
fold by a rule, made-up test segments stitched by the real ``stitch`` and measured by the real
``stitched_metrics``; so the expected curve, bands, metrics, parameter path and fold table follow
from those.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from config.sweep import SweepConfig
from quant_core.cockpit.charts.walk_forward_figures import parameter_path_figure
from quant_core.cockpit.models import sweep_data as sd
from quant_core.cockpit.models import walk_forward_data as wd
from quant_core.sweeps.catalogue import Catalogue
from tests.cockpit.sweep_helpers import (
    ANCHORED,
    CREATED,
    MOM_GRID,
    MOM_WF,
    REVERSION,
    chart,
    daily_return,
    fake_sharpe,
    hold_catalogue,
    open_sweeps,
    texts,
    write_sweep,
    write_walk_forward,
)
from tests.cockpit.test_explorer import _values


@pytest.fixture
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a data dir without a warehouse, set as ``QC__PATHS__DATA_DIR``."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("QC__PATHS__DATA_DIR", str(root))
    return root


def open_walk_forwards() -> AppTest:
    """Return the Sweeps page switched to its walk-forward part."""
    at = open_sweeps()
    at.radio(key="sweeps_mode").set_value("Walk-forwards").run()
    assert not at.exception, at.exception
    return at


def _rows(data_dir: Path) -> list[dict[str, Any]]:
    frame = wd.list_walk_forwards(sd.catalogue_path(data_dir))
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def _has(at: AppTest, key: str) -> bool:
    return any(s.key == key for s in at.selectbox)


@pytest.fixture
def locked(empty_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """Hold the catalogue in another process, as a running sweep's driver does."""
    write_walk_forward(empty_dir, MOM_WF)
    with hold_catalogue(empty_dir, "abc123") as proc:
        yield proc
        if proc.poll() is None:
            proc.kill()


def fold_rows(at: AppTest) -> pd.DataFrame:
    """Return the fold table."""
    (table,) = [d.value for d in at.dataframe if "test_sharpe" in d.value.columns]
    frame: pd.DataFrame = table
    return frame


# ------------------------------------------------------------------------------ the page


def test_the_picker_lists_the_latest_walk_forward_first(empty_dir: Path) -> None:
    write_sweep(empty_dir, MOM_GRID)  # a sweep in the same catalogue: not listed here
    older = write_walk_forward(empty_dir, ANCHORED, CREATED)
    newer = write_walk_forward(empty_dir, MOM_WF, CREATED + dt.timedelta(days=1))
    at = open_walk_forwards()
    picker = at.selectbox(key="sweeps_wf_pick")
    assert picker.options == [wd.wf_label(r) for r in _rows(empty_dir)]
    assert picker.value == newer.wf_id
    total = newer.metrics["total_return"]
    assert picker.options[0] == (
        "mom_wf · momentum · max sharpe · rolling: train 40, test 25 sessions, embargo 2 · "
        f"out-of-sample return {total:.2%} · created 2026-03-03 14:30 UTC"
    )
    assert picker.options[1].startswith(
        "mom_wf_anchored · momentum · max sharpe · anchored: train 60, test 30 sessions · "
    )
    assert not _has(at, "sweeps_pick")  # the sweeps part is not drawn

    picker.set_value(older.wf_id).run()
    assert not at.exception, at.exception
    assert len(fold_rows(at)) == len(older.windows)
    at.radio(key="sweeps_mode").set_value("Sweeps").run()
    assert at.selectbox(key="sweeps_pick").options[0].startswith("mom_grid · momentum")


def test_each_part_keeps_its_pick_across_a_switch(empty_dir: Path) -> None:
    older_sweep = write_sweep(empty_dir, REVERSION, CREATED)
    write_sweep(empty_dir, MOM_GRID, CREATED + dt.timedelta(days=1))
    older = write_walk_forward(empty_dir, ANCHORED, CREATED)
    write_walk_forward(empty_dir, MOM_WF, CREATED + dt.timedelta(days=1))
    at = open_sweeps()
    at.selectbox(key="sweeps_pick").set_value(older_sweep).run()
    mode = at.radio(key="sweeps_mode")
    mode.set_value("Walk-forwards").run()
    at.selectbox(key="sweeps_wf_pick").set_value(older.wf_id).run()
    at.radio(key="sweeps_mode").set_value("Sweeps").run()
    assert at.selectbox(key="sweeps_pick").value == older_sweep
    at.radio(key="sweeps_mode").set_value("Walk-forwards").run()
    assert at.selectbox(key="sweeps_wf_pick").value == older.wf_id
    assert not at.exception, at.exception


def test_the_curve_is_the_stitched_one_with_a_band_per_test_window(empty_dir: Path) -> None:
    wf = write_walk_forward(empty_dir, MOM_WF)
    at = open_walk_forwards()
    spec = chart(at, "Out-of-sample equity")
    trace = spec["data"][0]
    assert _values(trace, "y") == pytest.approx(wf.curve.to_numpy())
    assert trace["x"][0] == f"{wf.windows[0].test_start}"
    assert trace["x"][-1] == f"{wf.windows[-1].test_end}"
    bands = [s for s in spec["layout"]["shapes"] if s["type"] == "rect"]
    assert [(b["x0"], b["x1"]) for b in bands] == [
        (str(w.test_start), str(w.test_end)) for w in wf.windows
    ]
    assert len({b["fillcolor"] for b in bands}) == 2  # neighbours differ
    labels = [a["text"] for a in spec["layout"]["annotations"]]
    assert labels == [f"F{w.fold}" for w in wf.windows]
    # Each session's hover names its fold and that fold's choice.
    custom = trace["customdata"]
    for i, day in enumerate(trace["x"]):
        (w, c) = next(
            (w, c)
            for w, c in zip(wf.windows, wf.chosen, strict=True)
            if str(w.test_start) <= day <= str(w.test_end)
        )
        assert custom[i] == [str(w.fold), sd.params_text(c.params)]


def test_the_metrics_are_the_stitched_curves(empty_dir: Path) -> None:
    wf = write_walk_forward(empty_dir, MOM_WF)
    at = open_walk_forwards()
    shown = {str(m.label): str(m.value) for m in at.metric}
    expected = wf.metrics
    assert shown == {
        "Total return": f"{expected['total_return']:.2%}",
        "Sharpe ratio": f"{expected['sharpe']:.3f}",
        "Max drawdown": f"{expected['max_drawdown']:.2%}",
        "CAGR": f"{expected['cagr']:.2%}",
    }
    # Alternating +0.2 % and -0.1 % a session: the stitched return is their product.
    sessions = [len(s) - 1 for s in wf.segments]
    growth = np.prod(
        [(1 + daily_return(w.fold)) ** n for w, n in zip(wf.windows, sessions, strict=True)]
    )
    assert expected["total_return"] == pytest.approx(growth - 1)
    assert expected["max_drawdown"] < 0
    caption = texts(at)
    assert f"{len(wf.windows)} folds (rolling: train 40, test 25 sessions, embargo 2)" in caption
    assert f"{len(wf.curve) - 1} sessions out of sample" in caption
    # From the first test session, not the curve's anchor (the last training close before it).
    first, last = wf.curve.index[1], wf.curve.index[-1]
    assert f"out of sample, {first:%Y-%m-%d} to {last:%Y-%m-%d}" in caption


def test_the_parameter_path_steps_through_the_choices(empty_dir: Path) -> None:
    wf = write_walk_forward(empty_dir, MOM_WF)
    at = open_walk_forwards()
    spec = chart(at, "Parameters chosen per fold")
    traces = {t["name"]: t for t in spec["data"]}
    assert list(traces) == ["lookback", "top_quantile"]
    starts = [str(w.test_start) for w in wf.windows]
    for name, trace in traces.items():
        assert trace["line"]["shape"] == "hv"
        assert trace["x"] == [*starts, str(wf.windows[-1].test_end)]
        chosen = [c.params[name] for c in wf.chosen]
        assert _values(trace, "y") == pytest.approx([*chosen, chosen[-1]])
    assert len(set(_values(traces["lookback"], "y"))) > 1  # the path moves
    assert len(set(_values(traces["top_quantile"], "y"))) > 1
    assert spec["layout"]["yaxis"]["title"]["text"] == "lookback"
    assert spec["layout"]["yaxis2"]["title"]["text"] == "top_quantile"


def test_the_fold_table_has_windows_choices_and_test_figures(empty_dir: Path) -> None:
    wf = write_walk_forward(empty_dir, MOM_WF)
    at = open_walk_forwards()
    table = fold_rows(at)
    assert list(table.columns) == [
        "fold",
        "train_start",
        "train_end",
        "test_start",
        "test_end",
        "lookback",
        "top_quantile",
        "train_objective",
        "test_return",
        "test_sharpe",
    ]
    assert list(table["fold"]) == [w.fold for w in wf.windows]
    for i, (w, c, s) in enumerate(zip(wf.windows, wf.chosen, wf.segments, strict=True)):
        row = table.iloc[i]
        window = [row["train_start"], row["train_end"], row["test_start"], row["test_end"]]
        assert [pd.Timestamp(d).date() for d in window] == [
            w.train_start,
            w.train_end,
            w.test_start,
            w.test_end,
        ]
        assert pd.Timestamp(row["train_end"]) < pd.Timestamp(row["test_start"])
        assert {"lookback": row["lookback"], "top_quantile": row["top_quantile"]} == c.params
        assert row["train_objective"] == pytest.approx(fake_sharpe(c.params))
        assert row["test_return"] == pytest.approx(s.iloc[-1] / s.iloc[0] - 1)
        if w.fold % 2 == 0:
            assert row["test_sharpe"] == pytest.approx(1.5)
        else:  # a NaN test Sharpe stays missing, not zero
            assert np.isnan(row["test_sharpe"])


def test_without_walk_forwards_the_part_says_how_to_run_one(empty_dir: Path) -> None:
    at = open_walk_forwards()
    assert "run_backtest.py --walk-forward research/mom_wf.yaml" in at.info[0].value
    assert not (empty_dir / "sweeps").exists()  # the page never creates the catalogue

    write_sweep(empty_dir, MOM_GRID)
    at.run()
    assert "The catalogue holds no walk-forward yet" in at.info[0].value


def test_a_catalogue_from_before_walk_forwards_lists_none(empty_dir: Path) -> None:
    write_sweep(empty_dir, MOM_GRID)
    catalogue = Catalogue(sd.catalogue_path(empty_dir))
    try:
        catalogue.con.execute("DROP TABLE walk_forwards")
        catalogue.con.execute("DROP TABLE wf_folds")
    finally:
        catalogue.close()
    at = open_walk_forwards()
    assert "The catalogue holds no walk-forward yet" in at.info[0].value


def test_a_busy_catalogue_is_said_in_the_walk_forward_part(
    empty_dir: Path, locked: subprocess.Popen[str]
) -> None:
    at = open_walk_forwards()
    assert "The sweep catalogue is busy" in at.warning[0].value
    assert not _has(at, "sweeps_wf_pick")


# ------------------------------------------------------------------------------ the model


def test_fold_of_finds_each_sessions_test_window() -> None:
    folds = pd.DataFrame(
        {
            "fold": [0, 1, 2],
            "test_start": [dt.date(2010, 1, 4), dt.date(2010, 2, 1), dt.date(2010, 3, 1)],
        }
    )
    dates = pd.DatetimeIndex(["2010-01-04", "2010-01-29", "2010-02-01", "2010-02-26", "2010-03-31"])
    assert list(wd.fold_of(dates, folds)) == [0, 0, 1, 1, 2]


def test_a_text_parameter_gets_a_category_axis_and_a_number_a_linear_one() -> None:
    folds = pd.DataFrame(
        {
            "fold": [0, 1, 2],
            "test_start": pd.to_datetime(["2010-01-04", "2010-02-01", "2010-03-01"]),
            "test_end": pd.to_datetime(["2010-01-29", "2010-02-26", "2010-03-31"]),
            "params": [
                {"weighting": "equal", "lookback": 20},
                {"weighting": "rank", "lookback": 60},
                {"weighting": "equal", "lookback": 60},
            ],
        }
    )
    spec = json.loads(
        parameter_path_figure(wd.parameter_path(folds, ["lookback", "weighting"])).to_json()
    )
    lookback, weighting = spec["data"]
    assert _values(lookback, "y") == pytest.approx([20, 60, 60, 60])
    assert weighting["y"] == ["equal", "rank", "equal", "equal"]
    assert spec["layout"]["yaxis2"]["type"] == "category"
    assert spec["layout"]["yaxis"].get("type") != "category"
    assert weighting["x"][-1] == "2010-03-31"


def test_the_windows_text_reads_the_spec_and_survives_a_bad_one() -> None:
    spec = SweepConfig.model_validate(ANCHORED).model_dump_json(by_alias=True)
    assert wd.windows_text(spec) == "anchored: train 60, test 30 sessions"
    assert wd.windows_text("not json") == "folds unknown"
    assert wd.windows_text(None) == "folds unknown"
    assert wd.headline({"sharpe": float("nan"), "cagr": 0.1}) == {
        "total_return": None,
        "sharpe": None,
        "max_drawdown": None,
        "cagr": 0.1,
    }
