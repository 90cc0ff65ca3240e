"""The Data page: what it shows equals what the warehouse holds and what the last sync did."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from quant_core.calendar import TradingCalendar
from quant_core.cockpit.models.dataset_snapshot import snapshot
from quant_core.cockpit.tables import datasets as dp
from quant_core.data.sources.csvfiles import CsvSource
from quant_core.data.sync import Gaps, dataset_gaps, sync
from quant_core.data.warehouse import DatasetMeta, Warehouse
from tests.cockpit.test_factors import chart, metrics, open_view, plotly_array

DATASET = "sp500-2010"


@pytest.fixture
def warehouse(data_dir: Path) -> Warehouse:
    return Warehouse(data_dir / "warehouse")


def frame(at: AppTest, first_column: str, *more: str) -> pd.DataFrame:
    """Return the one dataframe on the page whose columns start with the given names."""
    wanted = [first_column, *more]
    found = [d.value for d in at.dataframe if list(d.value.columns[: len(wanted)]) == wanted]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


# --------------------------------------------------------------------------------- AppTest


def test_metrics_show_what_the_warehouse_holds(
    open_page: Callable[[str], AppTest], warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    at = open_page("data")

    coverage = warehouse.coverage(DATASET, calendar)
    gaps = dataset_gaps(warehouse, DATASET, calendar)
    shown = metrics(at)
    assert shown["Symbols"] == f"{len(coverage):,}" == "522"
    assert shown["Bars"] == f"{int(coverage['rows'].sum()):,}"
    assert shown["First session"] == "2009-08-21"
    assert shown["Last session"] == "2010-08-20"
    assert shown["Missing sessions"] == str(len(gaps.missing)) == "7"
    assert shown["Partial sessions"] == str(len(gaps.partial)) == "1"
    assert shown["Factors stored"] == str(len(warehouse.factor_store.names(DATASET)))
    # The chart marks each missing session, and the partial one at its bar count.
    bars = chart(at, "Symbols with a bar per session")
    missing = next(t for t in bars["data"] if t["name"].startswith("missing session"))
    assert [x[:10] for x in missing["x"]] == [str(d) for d in gaps.missing]
    partial = next(t for t in bars["data"] if t["name"] == "partial session")
    assert plotly_array(partial["y"]).tolist() == [408]


def test_last_sync_shows_the_repaired_rows_and_their_rules(
    open_page: Callable[[str], AppTest], warehouse: Warehouse
) -> None:
    at = open_page("data")

    last = warehouse.sync_log.last(DATASET)
    assert last is not None
    shown = metrics(at)
    assert shown["Rows repaired"] == str(last["repaired"]) == "78"
    assert shown["Rows rejected"] == "0"
    assert shown["Rows written"] == f"{last['rows_written']:,}"
    rules = frame(at, "rule", "rejected", "repaired")
    assert dict(zip(rules["rule"], rules["repaired"], strict=True)) == {
        "high_below_open_close": 44,
        "low_above_open_close": 34,
    }
    rows = frame(at, "source", "line", "symbol")
    assert len(rows) == 78
    assert set(rows["action"]) == {"repaired"}
    assert set(rows["source"]) == {"SP500_ind.csv"}
    assert rows["detail"].str.contains("raised|lowered").all()
    assert any(f"{last['rows_in']:,} rows in" in m.value for m in at.markdown)


def test_symbols_gaps_history_and_factors_tables(
    open_page: Callable[[str], AppTest], warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    at = open_page("data")

    symbols = frame(at, "symbol", "name", "sector")
    coverage = warehouse.coverage(DATASET, calendar).set_index("symbol")
    assert len(symbols) == 522
    wynn = symbols.set_index("symbol").loc["WYNN"]
    assert wynn["rows"] == coverage.loc["WYNN", "rows"]
    assert wynn["missing sessions"] == coverage.loc["WYNN", "missing_sessions"] == 15
    assert symbols.set_index("symbol").loc["AAPL", "name"] == "Apple Inc."
    # The reference data: every column of the symbols table, and the count of Unknown sectors.
    stored = warehouse.symbols(DATASET).set_index("symbol")
    shown = symbols.set_index("symbol")
    assert {"industry", "delisted", "source"} <= set(shown.columns)
    assert shown.loc["AAPL", "industry"] == "Computer Hardware"
    assert stored.loc["AAPL", "industry"] == "Computer Hardware"
    assert shown.loc["ACS", "sector"] == "Unknown"
    unknown = int((stored["sector"] == "Unknown").sum())
    assert (shown["sector"] == "Unknown").sum() == unknown == 80
    captions = [c.value for c in at.caption]
    assert f"{unknown} of 522 symbols with sector Unknown" in " ".join(captions)
    gaps = frame(at, "session", "kind")
    assert gaps["kind"].value_counts().to_dict() == {"missing": 7, "partial": 1}
    history = frame(at, "finished (UTC)", "sync id")
    assert len(history) == len(warehouse.sync_log.entries(DATASET)) == 1
    assert history["repaired"].tolist() == [78]
    factors = frame(at, "factor", "first date", "last date")
    assert factors["factor"].tolist() == warehouse.factor_store.names(DATASET)
    momentum = warehouse.factor_store.panel(DATASET, "momentum_126")
    row = factors[factors["factor"] == "momentum_126"].iloc[0].to_dict()
    assert pd.Timestamp(str(row["first date"])) == momentum.index.min()
    assert row["values"] == int(momentum.notna().to_numpy().sum())


def test_a_second_dataset_with_rejected_rows(
    open_page: Callable[[str], AppTest],
    warehouse: Warehouse,
    calendar: TradingCalendar,
    tmp_path: Path,
) -> None:
    csv = tmp_path / "bars.csv"
    csv.write_text(
        "date,symbol,open,high,low,close,volume\n"
        "2010-01-04,AAA,10,11,9,10.5,100\n"
        "2010-01-05,AAA,10,9,11,10.5,100\n"  # high below low: rejected
        "2010-01-05,BBB,-1,11,9,10.5,100\n"  # nonpositive price: rejected
        "2010-01-06,AAA,10,11,9,10.5,100\n"
    )
    sync(CsvSource(csv), warehouse, calendar, "mini")
    at = open_page("data")

    overview = frame(at, "dataset", "kind", "source")
    assert overview["dataset"].tolist() == ["mini", DATASET]
    at.selectbox(key="data_dataset").set_value("mini")
    at.run()

    assert not at.exception
    shown = metrics(at)
    assert shown["Symbols"] == "1"
    assert shown["Rows rejected"] == "2"
    assert shown["Rows repaired"] == "0"
    rows = frame(at, "source", "line", "symbol")
    assert rows["rule"].tolist() == ["high_below_low", "nonpositive_price"]
    assert rows["line"].tolist() == [3, 4]
    assert "No factors stored for mini" in " ".join(i.value for i in at.info)


def test_empty_warehouse_names_the_sync_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QC__PATHS__DATA_DIR", str(tmp_path / "empty"))

    at = open_view("data")

    assert [t.value for t in at.title] == ["Data"]
    assert "python run_data_sync.py --source sample --dataset sp500-2010" in at.info[0].value
    assert not at.dataframe


# ------------------------------------------------------------------------- pure builders


def test_issues_are_found_by_sync_id_in_a_moved_data_folder(
    data_dir: Path, built_data_dir: Path, warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    snap = snapshot(warehouse, DATASET, calendar)

    assert snap.last_sync is not None
    # The summary names the file where the sync wrote it; the page reads this copy's own.
    assert str(built_data_dir) in snap.last_sync["issues_file"]
    assert snap.issues_file is not None
    assert snap.issues_file.is_relative_to(data_dir)
    assert len(snap.issues) == 78
    assert snap.issues["line"].dtype == "Int64"


def test_sync_line_and_history_read_the_summary() -> None:
    summary = {
        "sync_id": "20100104T000000Z-abcdef",
        "source": "csv:/x/bars.csv",
        "finished_at": "2010-01-04 21:30:00+00:00",
        "rows_in": 1200,
        "rows_written": 1100,
        "rows_replaced": 10,
        "rejected": 100,
        "repaired": 3,
    }
    now = dt.datetime(2010, 1, 5, 0, 30, tzinfo=dt.UTC)

    line = dp.sync_line(summary, now)
    history = dp.sync_history_table([summary, {**summary, "sync_id": "later"}])

    assert line == (
        "2010-01-04 21:30:00 UTC (3 h ago) from `csv:/x/bars.csv`: 1,200 rows in, 1,100 written "
        "(10 replaced existing rows), 100 rejected, 3 repaired."
    )
    assert dp.sync_line(None, now) == "No sync recorded for this dataset."
    assert history["sync id"].tolist() == ["later", "20100104T000000Z-abcdef"]  # newest first


def test_rule_table_and_gaps_table() -> None:
    rules = dp.rule_table({"by_rule": {"b_rule": {"repaired": 2}, "a_rule": {"rejected": 5}}})
    gaps = dp.gaps_table(
        Gaps((dt.date(2010, 1, 8), dt.date(2010, 1, 4)), ((dt.date(2010, 1, 6), 40, 50),))
    )

    assert rules.to_dict("records") == [
        {"rule": "a_rule", "rejected": 5, "repaired": 0},
        {"rule": "b_rule", "rejected": 0, "repaired": 2},
    ]
    assert dp.rule_table(None).empty
    assert gaps["kind"].tolist() == ["missing", "partial", "missing"]
    assert gaps["bars"].tolist() == [0, 40, 0]
    assert np.isnan(gaps["symbols listed"].iloc[0])


def test_a_dataset_without_reference_data_says_so(
    warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    bars = warehouse.read_bars(DATASET, ["AAPL"]).assign(symbol="AAPL")
    warehouse.write_bars("old", bars, DatasetMeta("old", "csv"))  # no symbols file

    snap = snapshot(warehouse, "old", calendar)

    assert "No reference data of the current schema" in dp.unknown_sectors_line(snap)
    assert dp.symbols_table(snap)["symbol"].tolist() == ["AAPL"]
