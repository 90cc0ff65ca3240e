"""The Explorer shows and runs books (issue 16): sleeves, allocation, correlation, universes.

A real two-sleeve book (momentum and mean reversion, each with a ``liquid`` scanner, allocation
risk_budget monthly) is run once on the bundled sp500-2010 warehouse with
:func:`run_book_backtest` and stored; each test copies it into its own data dir and opens it
in the app (AppTest). What the page shows is checked against the stored files, and the
correlation against returns rebuilt here from the sleeves' equity and the allocations' capital.
The run form runs a book from a file and refuses a bad one with nothing under the error.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from config import load_config
from config.book_loader import load_book
from quant_core.backtest.book_run import run_book_backtest
from quant_core.backtest.results import catalog, load_run
from quant_core.cockpit.models import book_form, book_frames
from quant_core.cockpit.models.run_catalog import is_book, sleeve_names
from tests.cockpit.test_explorer import _values

Opener = Callable[[str], AppTest]
DATASET = "sp500-2010"
SLEEVES = ("mom", "revert")
TOPS = {"mom": 50, "revert": 40}
BOOK: dict[str, Any] = {
    "sleeves": [
        {
            "name": "mom",
            "strategy": {"name": "momentum", "params": {"lookback": 63}, "rebalance": 21},
            "scanner": {"name": "liquid", "params": {"top": TOPS["mom"], "min_history": 63}},
        },
        {
            "name": "revert",
            "strategy": {"name": "mean_reversion"},
            "scanner": {
                "name": "liquid",
                "params": {"top": TOPS["revert"], "window": 21, "min_history": 21},
            },
        },
    ],
    "allocation": {"method": "risk_budget", "lookback": 63, "rebalance": "monthly"},
}


def write_book(folder: Path, name: str, book: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"book": book}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def stored_book(built_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the folder of the pair book's run (stored in a copy of the built data dir)."""
    root = tmp_path_factory.mktemp("books") / "data"
    shutil.copytree(built_data_dir, root)
    cfg = load_config("backtest", [f"paths.data_dir={root}"], environ={})
    run = run_book_backtest(cfg, load_book(write_book(root / "books", "pair", BOOK)))
    return run.account.path


@pytest.fixture
def book_dir(data_dir: Path, stored_book: Path) -> Path:
    """Return this test's data dir with the book run stored beside the plain run (newest)."""
    shutil.copytree(stored_book, data_dir / "backtests" / stored_book.name)
    return data_dir / "backtests" / stored_book.name


def _charts(at: AppTest) -> dict[str, dict[str, Any]]:
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {s["layout"]["title"]["text"]: s for s in specs}


def _chart(at: AppTest, prefix: str) -> dict[str, Any]:
    found = [s for title, s in _charts(at).items() if title.startswith(prefix)]
    assert len(found) == 1, list(_charts(at))
    return found[0]


def _table(at: AppTest, column: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    frame: pd.DataFrame = found[0]
    return frame


def _subheaders(at: AppTest) -> list[str]:
    return [str(s.value) for s in at.subheader]


def _flow_adjusted_returns(folder: Path) -> pd.DataFrame:
    """Rebuild the sleeves' daily returns: r_t = E_t / (E_{t-1} + F_t) - 1, F from capital."""
    frame = pd.read_parquet(folder / "sleeves.parquet").drop(columns=["reserve"])
    equity = frame.to_numpy(dtype=float)
    allocations = pd.read_parquet(folder / "allocations.parquet")
    rows = frame.index.get_indexer(pd.DatetimeIndex(allocations["date"]))
    columns = frame.columns.get_indexer(pd.Index(allocations["sleeve"]))
    flows = np.zeros_like(equity)
    for i, k, capital in zip(rows, columns, allocations["capital"], strict=True):
        if i > 0:  # the cash moved in at the open: the new capital less the close before
            flows[i, k] = float(capital) - equity[i - 1, k]
    base = equity[:-1] + flows[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(base > 0, equity[1:] / base - 1.0, np.nan)
    out = pd.DataFrame(returns, index=frame.index[1:], columns=frame.columns)
    return out.dropna(how="any")


# ------------------------------------------------------------------------- the run view


def test_a_book_run_shows_its_sleeves(open_page: Opener, book_dir: Path) -> None:
    at = open_page("explorer")
    assert at.selectbox(key="explorer_run").value == book_dir.name
    assert "Sleeves" in _subheaders(at)
    assert "**book:pair** (sleeves mom, revert)" in at.caption[0].value

    # The figures table: sleeves.json, one row per sleeve in the book's order.
    figures = _table(at, "final_equity")
    stored = json.loads((book_dir / "sleeves.json").read_text())
    assert list(figures["sleeve"]) == list(SLEEVES)
    for name, row in figures.set_index("sleeve").iterrows():
        assert row["final_equity"] == pytest.approx(stored[name]["final_equity"])
        assert row["trades"] == stored[name]["trades"] > 0
    assert figures["weight"].sum() == pytest.approx(1.0)

    # Sleeves stacked: the sleeves (and the reserve) add up to the account's line.
    stacked = _chart(at, "Sleeves: equity stacked")["data"]
    names = [t["name"] for t in stacked]
    assert names[: len(SLEEVES)] == list(SLEEVES)
    assert names[-1] == "Account"
    layers = np.vstack([_values(t, "y") for t in stacked[:-1]])
    account = _values(stacked[-1], "y")
    curve = pd.read_parquet(book_dir / "equity.parquet")["equity"].to_numpy()
    np.testing.assert_allclose(account, curve)
    np.testing.assert_allclose(layers.sum(axis=0), account, atol=0.01)
    assert all(t.get("stackgroup") == "sleeves" for t in stacked[:-1])

    # Allocation over time: each allocation's weights sum to 1 (risk_budget splits it all).
    allocation = _chart(at, "Sleeves: allocation over time")["data"]
    assert [t["name"] for t in allocation] == list(SLEEVES)
    weights = np.vstack([_values(t, "y") for t in allocation])
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)
    stored_allocations = pd.read_parquet(book_dir / "allocations.parquet")
    assert weights.shape[1] == stored_allocations["date"].nunique() > 3
    last = stored_allocations[stored_allocations["date"] == stored_allocations["date"].max()]
    np.testing.assert_allclose(weights[:, -1], last.set_index("sleeve")["weight"][list(SLEEVES)])
    # The first allocations had no history: they fell back to equal weights, named by sleeve.
    fell = _table(at, "reason")
    assert len(fell) == stored_allocations.dropna(subset=["fallback"])["date"].nunique() > 0
    assert fell["reason"].str.contains("equal weights").all()
    assert not fell["reason"].str.contains(r"sleeve \d").any()

    # Correlation: 1 on the diagonal, and the returns rebuilt here give the same matrix.
    heatmap = _chart(at, "Sleeves: correlation")
    matrix = np.asarray(_values(heatmap["data"][0], "z"), dtype=float)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    np.testing.assert_allclose(matrix, matrix.T)
    returns = _flow_adjusted_returns(book_dir)
    np.testing.assert_allclose(matrix, returns.corr().to_numpy(), atol=1e-12)
    assert f"({len(returns)} sessions)" in heatmap["layout"]["title"]["text"]
    assert -1 < matrix[0, 1] < 1

    # Universes: each scanner sleeve's size at each scan, never above its top.
    size = _chart(at, "Sleeves: universe size")["data"]
    for trace in size:
        universe = pd.read_parquet(book_dir / f"universe_{trace['name']}.parquet")
        np.testing.assert_array_equal(_values(trace, "y"), universe["size"].to_numpy())
        assert _values(trace, "y").max() == TOPS[trace["name"]]
    assert [t["name"] for t in _chart(at, "Sleeves: universe turnover")["data"]] == list(SLEEVES)


def test_the_sleeve_picker_shows_one_sleeves_report(open_page: Opener, book_dir: Path) -> None:
    at = open_page("explorer")
    stored = json.loads((book_dir / "sleeves.json").read_text())
    trades = pd.read_parquet(book_dir / "sleeve_trades.parquet")
    for name in SLEEVES:
        at.selectbox(key="sleeve_pick").set_value(name).run()
        assert not at.exception, at.exception
        shown = {m.label: m.value for m in at.metric}
        assert shown["Final equity"] == f"${stored[name]['final_equity']:,.0f}"
        assert shown["Return (time-weighted)"] == f"{stored[name]['total_return']:.2%}"
        assert shown["Max drawdown"] == f"{stored[name]['max_drawdown']:.2%}"
        assert shown["Fills"] == f"{stored[name]['trades']:,}"
        table = _table(at, "cash")
        mine = trades[trades["sleeve"] == name]
        assert len(table) == len(mine) == stored[name]["trades"]
        assert table["cash"].sum() == pytest.approx(mine["cash"].sum())
        assert "sleeve" not in table.columns
        figure = _chart(at, "Sleeve ")
        assert figure["layout"]["title"]["text"] == f"Sleeve {name}: equity and drawdown"
        drawdown = _values(figure["data"][1], "y")
        assert drawdown.min() == pytest.approx(stored[name]["max_drawdown"])
        # Its round trips: the stored ones of this sleeve, P&L in the caption.
        trips = pd.read_parquet(book_dir / "sleeve_round_trips.parquet")
        own = trips[trips["sleeve"] == name]
        shown_trips = _table(at, "entry_date")
        assert len(shown_trips) == len(own) > 0
        assert shown_trips["pnl"].sum() == pytest.approx(own["pnl"].sum())
        assert any(f"round trips of {name}" in c.value for c in at.caption)


def test_a_plain_run_shows_no_sleeves(open_page: Opener, book_dir: Path, data_dir: Path) -> None:
    runs = catalog(data_dir / "backtests")
    (plain,) = [r for r in runs["run_id"] if r != book_dir.name]
    at = open_page("explorer")
    at.selectbox(key="explorer_run").set_value(plain).run()
    assert not at.exception, at.exception
    assert "Sleeves" not in _subheaders(at)
    assert not [t for t in _charts(at) if t.startswith("Sleeve")]
    assert "sleeve_pick" not in [s.key for s in at.selectbox]
    assert "**momentum** (" in at.caption[0].value


# ------------------------------------------------------------------------- the run form


def _book_form(at: AppTest) -> AppTest:
    at.segmented_control(key="bt_kind").set_value("Book").run()
    assert not at.exception, at.exception
    assert "New book backtest" in [h.value for h in at.header]
    assert "run_backtest" not in [b.key for b in at.button]
    return at


def test_the_form_runs_a_book_file(open_page: Opener, data_dir: Path) -> None:
    write_book(data_dir / "books", "pair", BOOK)
    before = set(catalog(data_dir / "backtests")["run_id"])
    at = _book_form(open_page("explorer"))
    files = at.selectbox(key="book_file")
    labels = list(files.options)
    assert "core · config/books/core.yaml" in labels
    assert "pair · data dir books/pair.yaml" in labels
    files.set_value(str(data_dir / "books" / "pair.yaml")).run()
    assert any("mom: momentum (lookback=63); scanner liquid" in c.value for c in at.caption)
    at.number_input(key="book_initial_cash").set_value(400_000.0)
    at.date_input(key=f"book_start__{DATASET}").set_value(dt.date(2009, 10, 1))
    at.button(key="run_book").click().run()

    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    (run_id,) = set(catalog(data_dir / "backtests")["run_id"]) - before
    (success,) = at.success
    assert success.value.startswith(f"Stored run `{run_id}`: final equity $")
    assert "Sleeves: mom $" in success.value
    # The new run is open, with its Sleeves section; what the form held reached it.
    assert at.selectbox(key="explorer_run").value == run_id
    assert "Sleeves" in _subheaders(at)
    row = catalog(data_dir / "backtests").set_index("run_id").loc[run_id]
    assert is_book(row.to_dict())
    assert sleeve_names(row.to_dict()) == list(SLEEVES)
    run = load_run(data_dir / "backtests", run_id)
    assert run.config["book"]["name"] == "pair"
    assert run.config["backtest"]["initial_cash"] == 400_000.0
    assert run.config["backtest"]["start"] == "2009-10-01"
    assert run.curve["equity"].iloc[0] == pytest.approx(400_000.0)


BAD_BOOKS = {
    # load_book refuses it: the message names the file and the field.
    "bad_param": (
        {"sleeves": [{"name": "mom", "strategy": {"name": "momentum"}, "scanner": {
            "name": "liquid", "params": {"top": 0}}}]},
        ("bad_param.yaml", "book.sleeves.0.scanner"),
    ),
    # load_book reads it; building the book refuses the sleeve named like the reserve.
    "reserved": (
        {"sleeves": [{"name": "reserve", "strategy": {"name": "momentum"}}]},
        ("reserved.yaml", "book.sleeves.0 (reserve).name"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BAD_BOOKS))
def test_a_bad_book_is_refused_with_nothing_under_it(
    open_page: Opener, data_dir: Path, name: str
) -> None:
    book, words = BAD_BOOKS[name]
    path = write_book(data_dir / "books", name, book)
    before = set(catalog(data_dir / "backtests")["run_id"])
    at = _book_form(open_page("explorer"))
    assert at.get("plotly_chart")  # the newest stored run is open before the click
    at.selectbox(key="book_file").set_value(str(path)).run()
    at.button(key="run_book").click().run()

    assert not at.exception, at.exception
    (error,) = [e.value.replace("\\", "") for e in at.error]
    assert error.startswith("Not run: ")
    for word in words:
        assert word in error
    assert set(catalog(data_dir / "backtests")["run_id"]) == before
    assert not at.success
    assert not at.get("progress")
    # Nothing of the run open before is left under the refusal.
    assert not at.get("plotly_chart")
    assert not at.metric
    assert "Nothing was stored" in at.info[0].value
    at.button(key="book_show_runs").click().run()
    assert not at.error
    assert at.get("plotly_chart")


# ------------------------------------------------------------------------- the models alone


def test_allocation_weights_show_the_unallocated_share_and_fallbacks_name_sleeves() -> None:
    allocations = pd.DataFrame(
        {
            "date": pd.to_datetime(["2010-01-04"] * 2 + ["2010-02-01"] * 2),
            "sleeve": ["a", "b", "a", "b"],
            "allocated": [0.5, 0.5, 0.6, 0.4],
            "weight": [0.5, 0.5, 0.45, 0.3],  # a Sharpe scaling left 25% unallocated
            "capital": [5.0, 5.0, 4.5, 3.0],
            "fallback": ["short_history: sleeve 0 (3), sleeve 1 (3); equal weights"] * 2
            + [None, None],
        }
    )
    weights = book_frames.allocation_weights(allocations, ["a", "b"])
    assert list(weights.columns) == ["a", "b", "reserve"]
    np.testing.assert_allclose(weights["reserve"], [0.0, 0.25])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    fell = book_frames.fallbacks(allocations, ["a", "b"])
    assert list(fell["reason"]) == ["short_history: sleeve a (3), sleeve b (3); equal weights"]
    assert list(fell["date"]) == [pd.Timestamp("2010-01-04")]
    assert list(book_frames.allocation_weights(allocations.iloc[:2], ["a", "b"]).columns) == [
        "a",
        "b",
    ]


def test_book_files_and_a_period_too_short(tmp_path: Path, built_data_dir: Path) -> None:
    data_dir = tmp_path / "data"
    assert book_form.book_files(data_dir, tmp_path / "none") == []
    mine = write_book(data_dir / "books", "pair", BOOK)
    (data_dir / "books" / "notes.txt").write_text("not a book")
    config_books = write_book(tmp_path / "config_books", "core", BOOK).parent
    assert book_form.book_files(data_dir, config_books) == [config_books / "core.yaml", mine]
    overrides = [
        f"paths.data_dir={built_data_dir}",
        *book_form.book_overrides(
            dataset=DATASET,
            start=dt.date(2010, 8, 2),
            end=dt.date(2010, 8, 20),
            initial_cash=1e6,
            cash_buffer=0.0,
        ),
    ]
    sessions = pd.bdate_range("2009-01-02", "2010-08-20").to_numpy()
    check = book_form.check_book(mine, overrides, sessions)
    assert check.first is not None  # a year of sessions before August: the book can start
    check = book_form.check_book(mine, overrides, sessions[-5:])
    (problem,) = check.problems
    assert "the book's first sleeve needs" in problem
