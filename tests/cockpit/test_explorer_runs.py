"""The Explorer's stored runs (issue 14): labels, rename, delete, compare, holdings.

AppTest on the real sp500-2010 warehouse (``tests/cockpit/conftest.py``), plus the run folder
functions of :mod:`quant_core.backtest.run_admin` on their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from quant_core.backtest import metrics
from quant_core.backtest.results import catalog, load_run
from quant_core.backtest.run_admin import (
    LABEL_FILE,
    delete_run,
    read_label,
    rename_run,
    stored_runs,
)
from quant_core.cockpit.models import run_compare
from quant_core.cockpit.views import explorer_run
from quant_core.data.warehouse import Warehouse
from quant_core.errors import DataError
from tests.cockpit.test_explorer import _chart, _run_ids, _store_run, _values

Opener = Callable[[str], AppTest]
SUMMARY_FACTS = ("initial_cash", "schedule", "costs", "benchmark")


def _only_run(data_dir: Path) -> str:
    (run_id,) = _run_ids(data_dir)
    return run_id


def _ids(data_dir: Path) -> list[str]:
    return [str(i) for i in catalog(data_dir / "backtests")["run_id"]]


def _label(at: AppTest, data_dir: Path, run_id: str) -> str:
    options = at.selectbox(key="explorer_run").options
    ids = _ids(data_dir)
    assert len(options) == len(ids)
    return str(options[ids.index(run_id)])


def _table(at: AppTest, column: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    frame: pd.DataFrame = found[0]
    return frame


# ------------------------------------------------------------------------------- labels


def test_labels_carry_period_capital_schedule_and_costs(open_page: Opener, data_dir: Path) -> None:
    first = _only_run(data_dir)
    second = _store_run(
        data_dir,
        "backtest.initial_cash=250000",
        "strategy.rebalance=monthly",
        "costs.model=bps",
        "costs.commission_bps=2",
        "costs.slippage_bps=7",
        "backtest.benchmark=AAPL",
    )
    at = open_page("explorer")
    assert not at.exception, at.exception

    label = _label(at, data_dir, second)
    row = catalog(data_dir / "backtests").set_index("run_id").loc[second]
    assert f"sp500-2010 {row['start']}..{row['end']}" in label
    assert " · $250,000 · " in label
    assert " · monthly · " in label
    assert " · costs bps 2 bps; slippage 7 bps · " in label
    first_label = _label(at, data_dir, first)
    assert " · $1,000,000 · every 21 sessions · costs per_share 0.005 USD/share" in first_label
    assert "; slippage 5 bps · " in first_label
    # The caption of the open run (the newest) says the same, and the benchmark.
    description = at.caption[0].value
    assert "capital $250,000" in description
    assert "rebalance monthly" in description
    assert "costs bps 2 bps; slippage 7 bps" in description
    assert "benchmark AAPL" in description


def test_a_run_stored_before_the_summary_facts_reads_them_from_its_config(
    open_page: Opener, data_dir: Path
) -> None:
    run_id = _only_run(data_dir)
    at = open_page("explorer")
    new_label = _label(at, data_dir, run_id)
    summary = data_dir / "backtests" / run_id / "summary.parquet"
    frame = pd.read_parquet(summary)
    assert set(SUMMARY_FACTS) <= set(frame.columns)
    frame.drop(columns=list(SUMMARY_FACTS)).to_parquet(summary)  # as a run stored before

    at = open_page("explorer")

    assert not at.exception, at.exception
    # The words from config.json are the words backtest/run.py stores in the summary.
    assert _label(at, data_dir, run_id) == new_label
    assert "benchmark equal_weight" in at.caption[0].value


# ------------------------------------------------------------------------------- rename


def test_renaming_a_run_shows_its_new_name(open_page: Opener, data_dir: Path) -> None:
    run_id = _only_run(data_dir)
    folder = data_dir / "backtests" / run_id
    files = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    at = open_page("explorer")

    at.text_input(key=f"rename__{run_id}").set_value("  Momentum, costs doubled  ")
    at.button(key="rename_run").click().run()

    assert not at.exception, at.exception
    assert json.loads((folder / LABEL_FILE).read_text()) == {"label": "Momentum, costs doubled"}
    assert _label(at, data_dir, run_id).startswith("Momentum, costs doubled · ")
    assert any("now named" in s.value for s in at.success)
    assert at.caption[0].value.startswith("*Momentum, costs doubled*: ")
    # The run's own files are untouched; no temporary file is left.
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name != LABEL_FILE} == (
        files
    )
    assert not list(folder.glob("*.tmp"))
    # The compare legend uses the name too (the id's suffix keeps equal names apart).
    at.multiselect(key="compare_runs").set_value([run_id]).run()
    spec = _chart(at, "Compare runs: growth of $1")
    assert [t["name"] for t in spec["data"]] == [f"Momentum, costs doubled #{run_id[-4:]}"]

    # A reopened page (a new session) reads the name back from the folder.
    at = open_page("explorer")
    assert _label(at, data_dir, run_id).startswith("Momentum, costs doubled · ")
    assert at.text_input(key=f"rename__{run_id}").value == "Momentum, costs doubled"


def test_an_empty_name_is_refused_and_the_old_one_kept(open_page: Opener, data_dir: Path) -> None:
    run_id = _only_run(data_dir)
    rename_run(data_dir / "backtests", run_id, "kept")
    at = open_page("explorer")

    at.text_input(key=f"rename__{run_id}").set_value("   ")
    at.button(key="rename_run").click().run()

    assert [e.value for e in at.error] == [
        "Not renamed: run label: empty; give the run a name of 1 to 80 characters"
    ]
    assert read_label(data_dir / "backtests" / run_id) == "kept"
    assert _label(at, data_dir, run_id).startswith("kept · ")


# ------------------------------------------------------------------------------- delete


def test_delete_asks_first_then_removes_the_folder_and_the_run(
    open_page: Opener, data_dir: Path
) -> None:
    root = data_dir / "backtests"
    older = _only_run(data_dir)
    newer = _store_run(data_dir, "strategy.params.top_quantile=0.1")
    at = open_page("explorer")
    at.multiselect(key="compare_runs").set_value([older, newer]).run()
    assert at.selectbox(key="explorer_run").value == newer
    assert explorer_run.load(str(root), newer).run_id == newer  # in the page's cache now

    at.button(key="delete_run").click().run()

    assert [b.key for b in at.button if str(b.key).startswith("delete_")] == [
        "delete_run",
        "delete_confirm",
        "delete_abort",
    ]
    assert (root / newer).is_dir()  # nothing happens before the confirmation
    at.button(key="delete_abort").click().run()
    assert "delete_confirm" not in [b.key for b in at.button]
    assert (root / newer).is_dir()

    at.button(key="delete_run").click().run()
    at.button(key="delete_confirm").click().run()

    assert not at.exception, at.exception
    assert not (root / newer).exists()
    assert [p.name for p in root.iterdir()] == [older]  # no .deleted folder left behind
    assert "delete_confirm" not in [b.key for b in at.button]  # the dialog closed
    assert any(newer in s.value and "Deleted run" in s.value for s in at.success)
    picker = at.selectbox(key="explorer_run")
    assert picker.value == older
    assert len(picker.options) == 1
    assert at.multiselect(key="compare_runs").value == [older]
    assert list(at.multiselect(key="compare_runs").options) == list(picker.options)
    # The cache cannot serve the deleted run: loading it again reads the (gone) folder.
    with pytest.raises(DataError, match="no backtest run"):
        explorer_run.load(str(root), newer)

    at.run()  # a rerun still lists only the run left
    assert len(at.selectbox(key="explorer_run").options) == 1


# ------------------------------------------------------------------------------- compare


def test_compare_on_different_periods_rebases_on_the_common_period_and_warns(
    open_page: Opener, data_dir: Path
) -> None:
    root = data_dir / "backtests"
    first = _only_run(data_dir)  # lookback 126: starts 2010-03-03
    # A shorter lookback starts sooner; a later end and half the capital.
    second = _store_run(
        data_dir,
        "strategy.params.lookback=63",
        "backtest.initial_cash=500000",
        "backtest.end=2010-07-30",
    )
    curves = {r: load_run(root, r).curve for r in (first, second)}
    start = max(pd.Timestamp(c.index[0]) for c in curves.values())
    end = min(pd.Timestamp(c.index[-1]) for c in curves.values())
    assert pd.Timestamp(curves[second].index[0]) < start  # the periods really differ
    assert end == pd.Timestamp("2010-07-30")
    at = open_page("explorer")

    at.multiselect(key="compare_runs").set_value([first, second]).run()

    assert not at.exception, at.exception
    a, b = f"momentum #{first[-4:]}", f"momentum #{second[-4:]}"
    (warning,) = [w.value.replace("\\", "") for w in at.warning]  # Markdown escapes off
    assert "Capital differs" in warning
    assert a in warning
    assert b in warning
    assert "500,000" in warning
    assert "1,000,000" in warning
    assert "Period differs" in warning
    assert f"common period {start.date()} to {end.date()}" in warning
    assert f"rebased to 1 on {start.date()}" in warning
    spec = _chart(at, f"Compare runs: growth of $1 (rebased on {start.date()})")
    assert [t["name"] for t in spec["data"]] == [a, b]
    for trace, run_id in zip(spec["data"], (first, second), strict=True):
        equity = curves[run_id]["equity"]
        window = equity.loc[(equity.index >= start) & (equity.index <= end)]
        y = _values(trace, "y")
        assert y[0] == 1.0
        assert len(y) == len(window)
        np.testing.assert_allclose(y, window.to_numpy() / window.iloc[0], rtol=1e-12)
    table = at.dataframe[-1].value
    assert table.loc["Compared over", b] == f"{start.date()} to {end.date()}"
    assert table.loc["Period", b] == f"{curves[second].index[0].date()} to {end.date()}"
    assert table.loc["Capital", b] == "$500,000"
    window = curves[second].loc[start:end, "equity"]
    # Over the common period: its start equity and return, not the run's own.
    assert table.loc["Start equity", b] == f"${window.iloc[0]:,.0f}"
    assert table.loc["Total return", b] == f"{metrics.total_return(window):.2%}"
    assert table.loc["Total return", b] != f"{load_run(root, second).metrics['total_return']:.2%}"
    assert any("Metrics over the common period" in c.value for c in at.caption)

    at.radio(key="compare_scale").set_value("Equity ($)").run()

    spec = _chart(at, "Compare runs: equity ($)")
    first_x = [str(t["x"][0])[:10] for t in spec["data"]]
    assert first_x == [str(start.date())] * 2


def test_compare_of_runs_alike_shows_no_warning(open_page: Opener, data_dir: Path) -> None:
    first = _only_run(data_dir)
    second = _store_run(data_dir, "strategy.params.top_quantile=0.1")
    at = open_page("explorer")
    at.multiselect(key="compare_runs").set_value([first, second]).run()
    assert not at.warning
    assert any("full period, which all of them share" in c.value for c in at.caption)


# ------------------------------------------------------------------------------- holdings


def test_holdings_as_of_a_chosen_rebalance_and_by_sector(open_page: Opener, data_dir: Path) -> None:
    run_id = _only_run(data_dir)
    folder = data_dir / "backtests" / run_id
    run = load_run(data_dir / "backtests", run_id)
    at = open_page("explorer")
    picker = at.selectbox(key="holdings_date")
    dates = sorted(pd.DatetimeIndex(run.trades["date"]).unique())
    assert len(picker.options) == len(dates) > 2
    assert picker.value == dates[-1].date()  # the last book first

    day = dates[1]
    picker.set_value(day.date()).run()

    assert not at.exception, at.exception
    shown = _table(at, "weight")
    held = run.positions[pd.DatetimeIndex(run.positions["date"]) == day]
    held = held[held["shares"] != 0].set_index("symbol")
    assert sorted(shown["symbol"]) == sorted(held.index)
    at_day = pd.DatetimeIndex(run.curve.index) == day
    close = {str(c): float(run.curve[c].to_numpy()[at_day][0]) for c in run.curve.columns}
    equity = close["equity"]
    by_symbol = shown.set_index("symbol")
    np.testing.assert_array_equal(by_symbol["shares"], held.loc[by_symbol.index, "shares"])
    np.testing.assert_allclose(by_symbol["value"], held.loc[by_symbol.index, "value"])
    np.testing.assert_allclose(by_symbol["weight"], by_symbol["value"] / equity, rtol=1e-12)
    # Weights add up to the run's own invested fraction at that close.
    invested = (close["long_value"] - close["short_value"]) / equity
    assert by_symbol["weight"].abs().sum() == pytest.approx(invested, rel=1e-9)
    # Sectors are the reference data's.
    reference = Warehouse(data_dir / "warehouse").symbols("sp500-2010").set_index("symbol")
    assert (by_symbol["sector"] == reference.loc[by_symbol.index, "sector"]).all()
    assert by_symbol["sector"].nunique() > 3

    sectors = _table(at, "gross").set_index("sector")
    expected = by_symbol.groupby("sector")["weight"].sum()
    np.testing.assert_allclose(sectors.loc[expected.index, "net"], expected, rtol=1e-12)
    assert sectors["names"].sum() == len(held)
    # The same as the sector exposure the backtest stored at that rebalance.
    stored = pd.read_parquet(folder / "risk_exposure.parquet")
    stored = stored[pd.DatetimeIndex(stored["date"]) == day].set_index("sector")
    stored = stored[stored["gross"] != 0]
    np.testing.assert_allclose(
        sectors.loc[stored.index, "gross"], stored["gross"], rtol=1e-9, atol=1e-12
    )
    spec = _chart(at, f"Weights by sector after {day.date()}")
    bars = spec["data"][0]
    assert bars["type"] == "bar"
    assert bars["orientation"] == "h"
    assert list(bars["y"]) == list(sectors.index)
    np.testing.assert_allclose(_values(bars, "x"), sectors["long"], rtol=1e-12)
    assert any(f"after the trades of {day.date()}" in c.value for c in at.caption)


# ------------------------------------------------------------------------------- run_admin


def test_run_admin_refuses_a_missing_run_or_a_bad_label(data_dir: Path) -> None:
    root = data_dir / "backtests"
    run_id = _only_run(data_dir)
    with pytest.raises(DataError, match=r"no backtest run 'nope' in "):
        rename_run(root, "nope", "x")
    with pytest.raises(DataError, match=r"no backtest run 'nope' in "):
        delete_run(root, "nope")
    for bad in ("../backtests", ".hidden", "a/b"):
        with pytest.raises(DataError, match="is not a backtest run id"):
            delete_run(root, bad)
    with pytest.raises(DataError, match="81 characters, more than 80"):
        rename_run(root, run_id, "x" * 81)
    with pytest.raises(DataError, match="control character"):
        rename_run(root, run_id, "two\nlines")
    assert not (root / run_id / LABEL_FILE).exists()
    assert rename_run(root, run_id, "y" * 80) == "y" * 80
    assert read_label(root / run_id) == "y" * 80


def test_the_listing_never_shows_half_a_run(data_dir: Path) -> None:
    root = data_dir / "backtests"
    run_id = _only_run(data_dir)
    # A run being written (.partial) and a deletion cut short (.deleted), each with a summary:
    # neither catalog() nor the Explorer's listing shows them.
    for trash in (f".{run_id}x.partial", f".{run_id}y.deleted"):
        (root / trash).mkdir()
        summary = pd.read_parquet(root / run_id / "summary.parquet")
        summary.assign(run_id=trash.split(".")[1]).to_parquet(root / trash / "summary.parquet")
    assert list(catalog(root)["run_id"]) == [run_id]
    listed = stored_runs(root)
    assert list(listed["run_id"]) == [run_id]
    assert listed["label"].isna().all()

    delete_run(root, run_id)

    assert stored_runs(root).empty
    assert sorted(p.name for p in root.iterdir()) == [f".{run_id}x.partial"]  # swept


def test_runs_that_share_no_session_are_not_aligned() -> None:
    def curve(start: str, n: int) -> pd.DataFrame:
        dates = pd.bdate_range(start, periods=n, name="date")
        return pd.DataFrame({"equity": np.linspace(100.0, 110.0, n)}, index=dates)

    apart = {"a": curve("2020-01-01", 5), "b": curve("2021-01-01", 5)}
    aligned = run_compare.align(apart)
    assert (aligned.start, aligned.end, aligned.curves) == (None, None, {})
    periods = {k: run_compare.period(c) for k, c in apart.items()}
    (line,) = run_compare.differences(periods, {"a": 1e6, "b": 1e6}, aligned)
    assert line.startswith("Period differs: a 2020-01-01 to 2020-01-07; b 2021-01-01 to ")
    assert line.endswith("The runs share no session: nothing to align.")
    overlap = run_compare.align({"a": curve("2020-01-01", 5), "b": curve("2020-01-03", 5)})
    assert (str(overlap.start.date()), overlap.sessions) == ("2020-01-03", 2)  # type: ignore[union-attr]
