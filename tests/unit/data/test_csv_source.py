from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from quant_core.data.sources.csvfiles import CsvSource
from quant_core.data.sync import sync
from quant_core.errors import DataError

HEADER = "Date,SYMBOL,Open,High,Low,Close,Volume\n"


def test_long_file_with_any_header_case(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(HEADER + "2010-01-04,AAA,10,11,9,10.5,1000\n2010-01-04,BBB,20,21,19,20.5,5\n")

    batch = CsvSource(path).load()

    assert batch.bars["symbol"].tolist() == ["AAA", "BBB"]
    assert batch.bars["_line"].tolist() == [2, 3]
    assert batch.bars["_source"].unique().tolist() == [str(path)]
    assert batch.ohlc is None


def test_folder_of_per_symbol_files(tmp_path: Path) -> None:
    (tmp_path / "aapl.csv").write_text(
        "date,open,high,low,close,volume\n2010-01-04,10,11,9,10.5,100\n"
    )
    with gzip.open(tmp_path / "MSFT.csv.gz", "wt") as handle:
        handle.write(
            "Date,Open,High,Low,Close,Volume,Adj Close\n2010-01-04,30,31,29,30.5,100,15.25\n"
        )
    (tmp_path / "notes.txt").write_text("ignored")

    batch = CsvSource(tmp_path).load()

    assert sorted(batch.bars["symbol"]) == ["AAPL", "MSFT"]
    assert "adj_close" in batch.bars.columns


def test_missing_columns_name_the_file_and_what_is_expected(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("day,ticker,price\n2010-01-04,AAA,10\n")
    with pytest.raises(DataError) as info:
        CsvSource(path).load()
    message = str(info.value)
    assert str(path) in message
    assert "missing column(s) date, open, high, low, close, volume" in message
    assert "found day, ticker, price" in message


def test_ragged_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        HEADER
        + "2010-01-04,AAA,10,11,9,10.5,1000\n\n"
        + "2010-01-05,AAA,10,11\n2010-01-06,AAA,10,11,9,10.5,7\n"
    )

    batch = CsvSource(path).load()

    assert batch.bars["_line"].tolist() == [2, 5]  # the blank line 3 counts, it is not data
    assert batch.malformed is not None
    assert batch.malformed["_line"].tolist() == [4]
    assert "4 fields where the header has 7" in batch.malformed["detail"].item()


def test_extra_columns_are_reported_not_silently_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        "date,symbol,open,high,low,close,volume,vwap\n2010-01-04,AAA,10,11,9,10.5,1000,10.2\n"
    )
    batch = CsvSource(path).load()
    assert any("ignored column(s) vwap" in note for note in batch.notes)


def test_empty_file_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        CsvSource(tmp_path / "empty.csv").load()
    with pytest.raises(DataError, match="no such file"):
        CsvSource(tmp_path / "nope.csv").load()
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match=r"no \.csv"):
        CsvSource(tmp_path / "d").load()


def test_sync_writes_good_rows_and_reports_every_bad_one(
    tmp_path: Path, warehouse, calendar
) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        HEADER
        + "2010-01-04,AAA,10,11,9,10.5,1000\n"
        + "2010-01-05,AAA,10,11,9,10.5,-1\n"
        + "2010-01-05,AAA,10,11\n"
        + "2010-01-06,AAA,10,11,9,10.5,1000\n"
    )

    report = sync(CsvSource(path), warehouse, calendar, "mine")

    assert report.rows_in == 4
    assert report.rows_written == 2
    assert report.rejected == 2
    assert report.by_rule == {"negative_volume": {"rejected": 1}, "malformed_line": {"rejected": 1}}
    assert report.issues_file is not None
    issues = report.issues_file.read_text().splitlines()
    assert issues[0] == "source,line,symbol,date,rule,action,detail"
    assert f"{path},3,AAA,2010-01-05,negative_volume,rejected,volume=-1 < 0" in issues
    assert any(line.startswith(f"{path},4,,,malformed_line") for line in issues)
    assert len(warehouse.read_bars("mine")) == 2
    assert warehouse.sync_log.last("mine")["rejected"] == 2


def test_sync_with_every_row_rejected_still_writes_the_reasons(
    tmp_path: Path, warehouse, calendar
) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(HEADER + "2010-01-02,AAA,10,11,9,10.5,1000\n")
    with pytest.raises(DataError, match="no valid rows"):
        sync(CsvSource(path), warehouse, calendar, "mine")
    files = list(warehouse.sync_log.issues_dir("mine").glob("*-issues.csv"))
    assert len(files) == 1
    assert "not_a_session" in files[0].read_text()
    assert not warehouse.exists("mine")


def test_folder_mixing_files_with_and_without_adj_close(
    tmp_path: Path, warehouse, calendar
) -> None:
    (tmp_path / "AAA.csv").write_text(
        "date,open,high,low,close,volume\n2010-01-04,10,11,9,10.5,100\n"
    )
    (tmp_path / "BBB.csv").write_text(
        "date,open,high,low,close,volume,adj_close\n2010-01-04,30,31,29,30.5,100,15.25\n"
    )

    report = sync(CsvSource(tmp_path), warehouse, calendar, "mixed")

    assert report.rejected == 0
    stored = warehouse.read_bars("mixed").set_index("symbol")
    assert stored.loc["AAA", "close"] == 10.5
    assert stored.loc["AAA", "adj_factor"] == 1.0
    assert stored.loc["BBB", "close"] == 15.25


def test_per_symbol_file_whose_column_disagrees_is_reported(tmp_path: Path) -> None:
    (tmp_path / "GOOG.csv").write_text(
        "date,ticker,open,high,low,close,volume\n2010-01-04,ORCL,10,11,9,10.5,1\n"
    )
    batch = CsvSource(tmp_path).load()
    assert batch.bars["symbol"].tolist() == ["ORCL"]
    assert any("symbol column gives ORCL, not GOOG" in note for note in batch.notes)


def test_relative_path_is_recorded_absolute(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "b.csv").write_text(HEADER + "2010-01-04,AAA,10,11,9,10.5,1000\n")
    monkeypatch.chdir(tmp_path)
    batch = CsvSource(Path("b.csv")).load()
    assert batch.bars["_source"].unique().tolist() == [str(tmp_path / "b.csv")]


def test_csv_files_merge_into_one_dataset_but_synthetic_does_not(
    tmp_path: Path, warehouse, calendar
) -> None:
    from quant_core.data.sources.synthetic import SyntheticSource

    (tmp_path / "jan.csv").write_text(HEADER + "2010-01-04,AAA,10,11,9,10.5,1000\n")
    (tmp_path / "feb.csv").write_text(HEADER + "2010-02-01,AAA,10,11,9,10.5,1000\n")
    sync(CsvSource(tmp_path / "jan.csv"), warehouse, calendar, "mine")
    sync(CsvSource(tmp_path / "feb.csv"), warehouse, calendar, "mine")
    assert len(warehouse.read_bars("mine")) == 2

    with pytest.raises(DataError, match="would mix"):
        sync(SyntheticSource(calendar, symbols=2, days=5, seed=1), warehouse, calendar, "mine")
    assert len(warehouse.read_bars("mine")) == 2


def test_symbols_with_dots_keep_them(tmp_path: Path) -> None:
    (tmp_path / "BRK.A.csv").write_text(
        "date,open,high,low,close,volume\n2010-01-04,10,11,9,10.5,1\n"
    )
    with gzip.open(tmp_path / "brk.b.csv.gz", "wt") as handle:
        handle.write("date,open,high,low,close,volume\n2010-01-04,10,11,9,10.5,1\n")
    batch = CsvSource(tmp_path).load()
    assert sorted(batch.bars["symbol"]) == ["BRK.A", "BRK.B"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("latin1.csv", HEADER.encode() + "2010-01-04,SOCI\xc9T\xc9,1,1,1,1,1\n".encode("latin-1")),
        ("fake.csv.gz", b"this is not gzip"),
    ],
)
def test_unreadable_files_are_data_errors_naming_the_file(tmp_path: Path, name, content) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=rf"{name}: cannot be read as a UTF-8 CSV"):
        CsvSource(path).load()


def test_repeated_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("date,symbol,ticker,open,high,low,close,volume\n2010-01-04,A,B,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"column\(s\) symbol appear more than once"):
        CsvSource(path).load()


def test_large_file_reports_progress_by_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = "".join(f"2010-01-04,S{i},10,11,9,10.5,1\n" for i in range(250_000))
    path.write_text(HEADER + rows)
    seen: list[tuple[str, int, int]] = []

    CsvSource(path).load(lambda task, done, total: seen.append((task, done, total)))

    reads = [s for s in seen if s[0] == "read big.csv"]
    assert len(reads) == 2
    assert all(0 < done <= total == path.stat().st_size for _, done, total in reads)
