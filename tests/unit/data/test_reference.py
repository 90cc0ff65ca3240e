"""The symbols table: its pinned schema, how the sync completes it, and the sectors it loads."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_core.backtest.run import load_market
from quant_core.calendar import TradingCalendar
from quant_core.data import reference
from quant_core.data.sources.csvfiles import CsvSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.errors import DataError

BARS = (
    "date,symbol,open,high,low,close,volume\n"
    "2010-01-04,AAA,10,11,9,10.5,100\n"
    "2010-01-04,BBB,20,21,19,20.5,100\n"
    "2010-01-04,CCC,30,31,29,30.5,100\n"
    "2010-01-05,AAA,10,11,9,10.5,100\n"
    "2010-01-05,BBB,20,21,19,20.5,100\n"
    "2010-01-05,CCC,30,31,29,30.5,100\n"
)


def table(**changes: list[object]) -> pd.DataFrame:
    rows = {
        "symbol": ["AAA", "BBB"],
        "name": ["A Corp", None],
        "sector": ["Energy", "Unknown"],
        "industry": ["Oil", "Unknown"],
        "source": ["test", "test"],
        "delisted": [None, dt.date(2010, 3, 1)],
    }
    return pd.DataFrame({**rows, **changes})


# ------------------------------------------------------------------------------ the schema


def test_a_valid_table_is_typed_to_the_schema() -> None:
    arrow = reference.check_table("d", table(delisted=["2010-02-01", pd.Timestamp("2010-03-01")]))

    assert arrow.schema == reference.SCHEMA
    assert arrow.column("delisted").to_pylist() == [dt.date(2010, 2, 1), dt.date(2010, 3, 1)]
    assert arrow.column("name").to_pylist() == ["A Corp", None]


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"sector": ["Energy", ""]}, ["column sector", "''", "symbol BBB", "'Unknown'"]),
        ({"industry": ["Oil", None]}, ["column industry", "null", "symbol BBB"]),
        ({"source": [" ", "test"]}, ["column source", "' '", "symbol AAA"]),
        ({"delisted": ["soon", None]}, ["column delisted", "'soon'", "symbol AAA"]),
        ({"name": [3, None]}, ["column name", "3", "symbol AAA"]),
        ({"symbol": ["AAA", "b/../c"]}, ["column symbol", "'b/../c'"]),
    ],
)
def test_a_bad_value_names_the_dataset_the_column_and_the_value(
    changes: dict[str, list[object]], fragments: list[str]
) -> None:
    with pytest.raises(DataError) as info:
        reference.check_table("my-data", table(**changes))

    message = str(info.value)
    assert "symbols of dataset 'my-data'" in message
    for fragment in fragments:
        assert fragment in message


def test_duplicate_symbols_are_refused_and_named() -> None:
    frame = pd.concat([table(), table(), table().iloc[:1]], ignore_index=True)
    frame["symbol"] = ["AAA", "BBB", "CCC", "BBB", "CCC"]

    with pytest.raises(DataError, match=r"column symbol: BBB, CCC listed more than once"):
        reference.check_table("d", frame)


def test_missing_and_unknown_columns_are_refused() -> None:
    with pytest.raises(DataError, match=r"missing column\(s\) source, delisted"):
        reference.check_table("d", table().drop(columns=["source", "delisted"]))
    with pytest.raises(DataError, match=r"column\(s\) ticker_id not in the schema"):
        reference.check_table("d", table(ticker_id=[1, 2]))


def test_the_warehouse_refuses_a_bad_table_and_keeps_the_last_good_one(
    warehouse: Warehouse, calendar: TradingCalendar, tmp_path: Path
) -> None:
    (tmp_path / "bars.csv").write_text(BARS)
    sync(CsvSource(tmp_path / "bars.csv"), warehouse, calendar, "d")
    before = warehouse.symbols("d")

    with pytest.raises(DataError, match="column sector"):
        warehouse.write_symbols("d", table(sector=["Energy", ""]))

    pd.testing.assert_frame_equal(warehouse.symbols("d"), before)


# ------------------------------------------------------------------------ completing a table


def test_complete_fills_unknown_and_leaves_out_symbols_not_synced() -> None:
    given = pd.DataFrame(
        {
            "symbol": ["AAA", "ZZZ", "BBB"],
            "sector": ["Energy", "Energy", " "],
            "name": ["A", "Z", ""],
        }
    )

    out = reference.complete(given, ["CCC", "BBB", "AAA", "AAA"], "csv", "d")

    assert out["symbol"].tolist() == ["AAA", "BBB", "CCC"]
    assert out["sector"].tolist() == ["Energy", "Unknown", "Unknown"]
    assert out["industry"].tolist() == ["Unknown"] * 3
    assert out["name"].tolist() == ["A", None, None]
    assert out["source"].tolist() == ["csv"] * 3
    assert out["delisted"].tolist() == [None] * 3
    assert reference.unknown_sectors(out) == 2
    reference.check_table("d", out)  # what the sync writes passes the schema


def test_a_later_sync_keeps_the_rows_of_symbols_it_did_not_touch(
    warehouse: Warehouse, calendar: TradingCalendar, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text(BARS)
    (tmp_path / "ref.csv").write_text("symbol,sector\nAAA,Energy\nCCC,Utilities\n")
    sync(CsvSource(tmp_path / "a.csv", tmp_path / "ref.csv"), warehouse, calendar, "d")
    (tmp_path / "b.csv").write_text(
        "date,symbol,open,high,low,close,volume\n2010-01-06,AAA,10,11,9,10.5,100\n"
    )
    (tmp_path / "ref2.csv").write_text("symbol,sector\nAAA,Materials\n")

    report = sync(CsvSource(tmp_path / "b.csv", tmp_path / "ref2.csv"), warehouse, calendar, "d")

    stored = warehouse.symbols("d").set_index("symbol")["sector"].to_dict()
    assert stored == {"AAA": "Materials", "BBB": "Unknown", "CCC": "Utilities"}
    assert (report.symbols, report.unknown_sectors) == (1, 0)


# ---------------------------------------------------------------------- loading the sectors


def test_load_market_fills_sectors_aligned_with_the_symbols(
    warehouse: Warehouse, calendar: TradingCalendar, tmp_path: Path
) -> None:
    (tmp_path / "bars.csv").write_text(BARS)
    (tmp_path / "ref.csv").write_text("symbol,sector\nCCC,Utilities\nAAA,Energy\n")
    sync(CsvSource(tmp_path / "bars.csv", tmp_path / "ref.csv"), warehouse, calendar, "d")

    data = load_market(warehouse, "d")

    assert data.symbols.tolist() == ["AAA", "BBB", "CCC"]
    assert data.sectors is not None
    assert data.sectors.tolist() == ["Energy", "Unknown", "Utilities"]


def test_a_dataset_synced_before_the_schema_reads_unknown_with_one_log_line(
    warehouse: Warehouse, calendar: TradingCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    bars = pd.DataFrame(
        {
            "date": pd.to_datetime(["2010-01-04", "2010-01-04"]),
            "symbol": ["AAA", "BBB"],
            **{c: [10.0, 20.0] for c in ("open", "high", "low", "close")},
            "volume": [1.0, 1.0],
            "adj_factor": [1.0, 1.0],
            "flags": [0, 0],
        }
    )
    warehouse.write_bars("old", bars, DatasetMeta("old", "csv"))  # no symbols file at all
    caplog.set_level(logging.INFO, logger="quant_core.data.reference")

    data = load_market(warehouse, "old")
    old_table = pd.DataFrame({"symbol": ["AAA"], "sector": ["Energy"]})  # the former columns
    old = reference.sectors_of(old_table, np.array(["AAA", "BBB"]), "older")

    assert data.sectors is not None
    assert data.sectors.tolist() == ["Unknown", "Unknown"]
    assert old.tolist() == ["Unknown", "Unknown"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "Dataset old has no reference data of the current schema" in lines[0]
    assert "Dataset older" in lines[1]


# ------------------------------------------------------------- a read while a sync replaces it


@pytest.mark.parametrize("read", ["panels", "symbols"])
def test_a_read_while_a_sync_replaces_the_reference_data_reads_the_new_version(
    warehouse: Warehouse,
    calendar: TradingCalendar,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    read: str,
) -> None:
    # The reader loaded the manifest (and read the bars); the sync then committed new reference
    # data and deleted the old file. It failed with DuckDB's "No files found that match the
    # pattern" (found by review: a backtest or the worker reading while a sync ran).
    (tmp_path / "bars.csv").write_text(BARS)
    sync(CsvSource(tmp_path / "bars.csv"), warehouse, calendar, "d")
    warehouse.write_symbols("d", table())
    store = warehouse.store
    loaded = store.load
    written: list[bool] = []

    def load_then_a_sync(dataset: str, *, required: bool):
        manifest = loaded(dataset, required=required)
        if not written:  # once: a real writer, between this read and the file's
            written.append(True)
            warehouse.write_symbols("d", table(sector=["Utilities", "Unknown"]))
        return manifest

    monkeypatch.setattr(store, "load", load_then_a_sync)
    if read == "panels":
        _, frames, symbols = warehouse.panels("d", ["close"])
        assert list(frames["close"].columns) == ["AAA", "BBB", "CCC"]
    else:
        symbols = warehouse.symbols("d")
    assert written
    assert symbols.set_index("symbol")["sector"].to_dict() == {"AAA": "Utilities", "BBB": "Unknown"}


def test_a_reference_file_without_a_column_keeps_the_stored_values_of_it(
    warehouse: Warehouse, calendar: TradingCalendar, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text(BARS)
    (tmp_path / "ref.csv").write_text(
        "symbol,name,sector,industry,delisted\n"
        "AAA,A Corp,Energy,Oil,2010-06-30\n"
        "BBB,B Inc,Utilities,Electric,2010-07-30\n"
    )
    sync(CsvSource(tmp_path / "a.csv", tmp_path / "ref.csv"), warehouse, calendar, "d")
    # Only the sector, and a blank delisting date for BBB: a cell given, even blank, wins.
    (tmp_path / "ref2.csv").write_text("symbol,sector,delisted\nAAA,Materials,\nBBB,,\n")

    sync(CsvSource(tmp_path / "a.csv", tmp_path / "ref2.csv"), warehouse, calendar, "d")

    stored = warehouse.symbols("d").set_index("symbol").loc[["AAA", "BBB"]]
    assert stored["name"].to_dict() == {"AAA": "A Corp", "BBB": "B Inc"}
    assert stored["industry"].to_dict() == {"AAA": "Oil", "BBB": "Electric"}
    assert stored["sector"].to_dict() == {"AAA": "Materials", "BBB": "Unknown"}
    assert stored["delisted"].isna().all()


def test_a_source_without_delistings_keeps_the_stored_ones() -> None:
    stored = pd.DataFrame(
        {
            "symbol": ["AAA", "BBB"],
            "name": ["A Corp", None],
            "sector": ["Energy", "Unknown"],
            "industry": ["Oil", "Unknown"],
            "source": ["csv", "csv"],
            "delisted": [dt.date(2024, 1, 9), None],
        }
    )
    # IB's contract details: name, sector, industry and source, never a delisting date.
    given = pd.DataFrame(
        {
            "symbol": ["AAA", "BBB"],
            "name": ["APPLE", "B INC"],
            "sector": ["Technology", "Utilities"],
            "industry": ["Computers", "Electric"],
            "source": ["ib contract details"] * 2,
        }
    )

    table, _ = reference.for_sync(given, ["AAA", "BBB"], stored, "ib:ADJUSTED_LAST", "d")

    out = table.set_index("symbol")
    assert out["delisted"].tolist() == [dt.date(2024, 1, 9), None]
    assert out["sector"].tolist() == ["Technology", "Utilities"]
    assert out["name"].tolist() == ["APPLE", "B INC"]
    reference.check_table("d", table)
