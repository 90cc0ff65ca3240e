"""Symbols follow one rule, and a bad one never becomes part of a path (issue 10, item 5)."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pandas as pd
import pytest

from config.schema import IBConfig
from quant_core.calendar import TradingCalendar
from quant_core.data.schema import validate_bars
from quant_core.data.sources.csvfiles import CsvSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.errors import DataError
from quant_core.ib.history import IBHistorySource
from tests.factories import bars, raw_rows

HEADER = "date,open,high,low,close,volume\n"
ROW = "2010-01-04,10,11,9,10.5,1000\n"

ACCEPTED = [
    ("AAPL", "AAPL"),
    ("brk.b", "BRK.B"),
    ("BF-B", "BF-B"),
    ("1ST", "1ST"),
    ("A", "A"),
    ("  msft\t", "MSFT"),  # trimmed, then upper-cased
    ("ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO"),  # 15 characters
    ("RDS.A-1", "RDS.A-1"),
]
REFUSED = [
    "../../etc",
    "..",
    ".",
    "A/B",
    "/ETC",
    "A\\B",
    "C:X",
    "A..B",
    ".A",
    "A.",
    "-A",
    "A-",
    "A.-B",
    "A B",
    "A\x00B",
    "A\nB",
    "A\x1bB",
    "ABCDEFGHIJKLMNOP",  # 16 characters
    "\u00c9DF",  # not ASCII
    "A_B",
    "A,B",
    "A'B",
    "$SPY",
    "^GSPC",
    "A*",
]


def test_the_symbol_table(calendar: TradingCalendar) -> None:
    given = [g for g, _ in ACCEPTED] + REFUSED
    rows = [raw_rows(symbol=g, _line=k) for k, g in enumerate(given, start=2)]

    result = validate_bars(pd.DataFrame(rows), calendar)

    assert sorted(result.bars["symbol"]) == sorted(s for _, s in ACCEPTED)
    refused = result.issues[result.issues["rule"] == "bad_symbol"]
    assert refused["line"].tolist() == list(range(len(ACCEPTED) + 2, len(given) + 2))
    assert result.rejected == len(REFUSED)


@pytest.mark.parametrize("given", REFUSED)
def test_symbols_that_break_the_rule_are_rejected_by_name(
    calendar: TradingCalendar, given: str
) -> None:
    rows = [raw_rows(symbol="GOOD", _line=2), raw_rows(symbol=given, _line=3)]

    result = validate_bars(pd.DataFrame(rows), calendar)

    assert result.bars["symbol"].tolist() == ["GOOD"]
    issue = result.issues.iloc[0]
    assert (issue["rule"], issue["action"], issue["line"]) == ("bad_symbol", "rejected", 3)
    shown = given.strip().upper()
    assert issue["detail"] == (
        f"symbol {shown!r} is not 1-15 characters A-Z and 0-9, in runs joined by single "
        "'.' or '-' (e.g. BRK.B, BF-B)"
    )


@pytest.mark.parametrize("name", ["..evil.csv", "a b.csv", "AAPL_2020.csv", "-x.csv.gz"])
def test_a_file_name_that_is_not_a_symbol_is_an_error_naming_the_file(
    tmp_path: Path, warehouse: Warehouse, calendar: TradingCalendar, name: str
) -> None:
    (tmp_path / "BRK.B.csv").write_text(HEADER + ROW)
    # A file with a symbol column may have any name.
    (tmp_path / "my bars.csv").write_text("date,symbol," + HEADER[5:] + "2010-01-04,X," + ROW[11:])
    assert sync(CsvSource(tmp_path), warehouse, calendar, "mine").rows_written == 2
    content = (HEADER + ROW).encode()
    (tmp_path / name).write_bytes(gzip.compress(content) if name.endswith(".gz") else content)

    with pytest.raises(DataError) as error:
        sync(CsvSource(tmp_path), warehouse, calendar, "mine")

    assert str(error.value).startswith(f"{tmp_path / name}: the file name gives the symbol")
    assert "rename the file or add a symbol column" in str(error.value)
    assert warehouse.read_bars("mine")["symbol"].tolist() == ["BRK.B", "X"]


def test_a_path_like_symbol_is_rejected_and_creates_nothing_outside_the_warehouse(
    tmp_path: Path, calendar: TradingCalendar
) -> None:
    csv = tmp_path / "in" / "bars.csv"
    csv.parent.mkdir()
    csv.write_text(
        "date,symbol,open,high,low,close,volume\n"
        "2010-01-04,AAA,10,11,9,10.5,1000\n"
        "2010-01-04,../../../escape,10,11,9,10.5,1000\n"
    )
    warehouse = Warehouse(tmp_path / "data" / "warehouse")
    before = set(tmp_path.rglob("*"))

    report = sync(CsvSource(csv), warehouse, calendar, "mine")

    assert report.by_rule == {"bad_symbol": {"rejected": 1}}
    assert warehouse.read_bars("mine")["symbol"].tolist() == ["AAA"]
    created = set(tmp_path.rglob("*")) - before
    assert created
    assert all(path.is_relative_to(tmp_path / "data") for path in created)
    assert not list(tmp_path.rglob("*escape*"))


@pytest.mark.parametrize("symbol", ["../../ETC", "A/B", "", "A B"])
def test_the_warehouse_refuses_a_bad_symbol_from_a_caller_that_skips_validation(
    warehouse: Warehouse, calendar: TradingCalendar, symbol: str
) -> None:
    frame = bars(calendar, ("OK", symbol), sessions=2)

    with pytest.raises(DataError, match=rf"bars: invalid symbol\(s\) {symbol!r}"):
        warehouse.write_bars("mine", frame, DatasetMeta("test", "test"))

    assert not warehouse.exists("mine")


def test_ib_history_refuses_a_symbol_before_it_names_a_cache_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"IB history: invalid symbol\(s\) '../../X'"):
        IBHistorySource(IBConfig(), ["AAPL", "../../X"], dt.date(2024, 1, 2), cache_dir=tmp_path)
