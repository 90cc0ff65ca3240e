"""An adversarial user's CSV files against the real sync: real files, a real warehouse.

Each test pins one promise of the CSV import (README "Your CSV files", "Validation: nothing is
dropped silently", "The warehouse"): a bad row is reported where it stands, never lost; a
symbol is never silently turned into another; a re-sync keeps what it does not replace; a
writer killed mid-sync leaves the old warehouse or the new one, never a mix.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from quant_core.calendar import get_calendar
from quant_core.data.sources.csv_reference import read_reference
from quant_core.data.sources.csvfiles import CsvSource
from quant_core.data.sync import SyncReport, sync
from quant_core.data.warehouse import Warehouse
from quant_core.errors import DataError
from tests.integration.test_run_data_sync import ROOT, SCRIPT, run

pytestmark = pytest.mark.integration

HEADER = "date,symbol,open,high,low,close,volume\n"
CALENDAR = get_calendar("XNYS")


def _now() -> dt.datetime:
    return dt.datetime(2026, 1, 5, 22, 0, tzinfo=dt.UTC)


def _sync(path: Path, root: Path, reference: Path | None = None) -> SyncReport:
    return sync(CsvSource(path, reference), Warehouse(root), CALENDAR, "csv", clock=_now)


def _issues(report: SyncReport) -> pd.DataFrame:
    assert report.issues_file is not None
    return pd.read_csv(report.issues_file, dtype={"detail": "string"})


def _rows(symbol: str, days: list[str], close: float = 10.5) -> str:
    return "".join(f"{d},{symbol},10,11,9,{close},100\n" for d in days)


DAYS = ["2010-01-04", "2010-01-05", "2010-01-06", "2010-01-07", "2010-01-08"]


# ------------------------------------------------------------------ quoting: nothing swallowed


def test_an_unterminated_quote_reports_every_line_it_swallows(tmp_path: Path) -> None:
    # A stray quote on line 3 makes the csv module read lines 3..6 as one record: four rows of
    # the user's file must not vanish behind one "malformed line".
    path = tmp_path / "bars.csv"
    body = _rows("AAA", DAYS[:1]) + '2010-01-05,AAA,"10,11,9,10.5,100\n' + _rows("AAA", DAYS[2:])
    path.write_text(HEADER + body)

    report = _sync(path, tmp_path / "w")

    issues = _issues(report)
    assert report.rows_written + report.rejected == 5
    assert sorted(issues["line"]) == [3, 4, 5, 6]
    assert (issues["rule"] == "malformed_line").all()
    assert "quote" in issues["detail"].iloc[0]


def test_an_unterminated_quote_in_a_large_file_is_reported_line_by_line_too(
    tmp_path: Path,
) -> None:
    # Past the csv module's field limit (131,072 characters) the whole file was refused with
    # "field larger than field limit", naming no line (found by review).
    path = tmp_path / "bars.csv"
    body = _rows("AAA", DAYS[1:]) * 1500  # 6,000 lines, all inside the quote
    path.write_text(HEADER + _rows("BBB", DAYS[:1]) + '2010-01-04,AAA,"10,11,9,10.5,100\n' + body)
    assert path.stat().st_size > 131_072

    report = _sync(path, tmp_path / "w")

    issues = _issues(report)
    lines = body.count("\n") + 1
    assert (report.rows_written, report.rejected) == (1, lines)
    assert sorted(issues["line"]) == list(range(3, lines + 3))
    assert "a quoted field opened on line 3" in issues["detail"].iloc[0]


# ------------------------------------------------------------- symbols are never transliterated


def test_a_non_ascii_symbol_is_rejected_not_folded_into_another(tmp_path: Path) -> None:
    # "\u0131bm" (dotless i) upper-cases to "IBM" and "ﬁt" (a ligature) to "FIT": both would be
    # stored as other, real symbols.
    path = tmp_path / "bars.csv"
    path.write_text(
        HEADER + _rows("\u0131bm", DAYS[:2]) + _rows("ﬁt", DAYS[:2]) + _rows("KO", DAYS)
    )

    report = _sync(path, tmp_path / "w")

    issues = _issues(report)
    assert set(issues["rule"]) == {"bad_symbol"}
    assert len(issues) == 4
    stored = Warehouse(tmp_path / "w").read_bars("csv")
    assert sorted(stored["symbol"].unique()) == ["KO"]


def test_a_non_ascii_file_name_is_not_folded_into_a_symbol(tmp_path: Path) -> None:
    folder = tmp_path / "bars"
    folder.mkdir()
    (folder / "\u0131bm.csv").write_text(
        "date,open,high,low,close,volume\n2010-01-04,10,11,9,10,1\n"
    )

    with pytest.raises(DataError, match="\u0131bm" + r"\.csv.*not a valid symbol"):
        _sync(folder, tmp_path / "w")


def test_a_non_ascii_reference_symbol_is_reported(tmp_path: Path) -> None:
    ref = tmp_path / "symbols.csv"
    ref.write_text("symbol,sector\n\u0131bm,Tech\nKO,Staples\n")

    rows, bad = read_reference(ref)

    assert rows["symbol"].tolist() == ["KO"]
    assert bad["_line"].tolist() == [2]


# ------------------------------------------------------------------------- reference data


def test_a_compact_delisting_date_of_the_wrong_length_is_not_misread(tmp_path: Path) -> None:
    # "201012" is no YYYYMMDD date; strptime reads it as 2010-01-02 without a word.
    ref = tmp_path / "symbols.csv"
    ref.write_text("symbol,delisted\nAAA,201012\nBBB,2010218\nCCC,20100208\n")

    rows, bad = read_reference(ref)

    assert rows["symbol"].tolist() == ["CCC"]
    assert rows["delisted"].tolist() == [dt.date(2010, 2, 8)]
    assert bad["_line"].tolist() == [2, 3]
    assert "201012" in bad["detail"].iloc[0]


def test_a_sync_without_reference_keeps_the_stored_sectors(tmp_path: Path) -> None:
    # The daily update of a folder carries no --reference: it must not wipe the sectors.
    ref = tmp_path / "symbols.csv"
    ref.write_text("symbol,name,sector,industry\nAAA,Aaa Inc,Tech,Chips\n")
    first = tmp_path / "first.csv"
    first.write_text(HEADER + _rows("AAA", DAYS[:3]))
    update = tmp_path / "update.csv"
    update.write_text(HEADER + _rows("AAA", DAYS[3:]))

    _sync(first, tmp_path / "w", ref)
    report = _sync(update, tmp_path / "w")

    table = Warehouse(tmp_path / "w").symbols("csv").set_index("symbol")
    assert table.loc["AAA", "sector"] == "Tech"
    assert table.loc["AAA", "name"] == "Aaa Inc"
    assert report.unknown_sectors == 0


def test_reference_rows_apply_to_stored_symbols_and_unknown_ones_are_named(
    tmp_path: Path,
) -> None:
    first = tmp_path / "aaa.csv"
    first.write_text(HEADER + _rows("AAA", DAYS))
    second = tmp_path / "bbb.csv"
    second.write_text(HEADER + _rows("BBB", DAYS))
    ref = tmp_path / "symbols.csv"
    ref.write_text("symbol,sector\nAAA,Tech\nBBB,Energy\nZZZ,Utilities\n")

    _sync(first, tmp_path / "w")
    report = _sync(second, tmp_path / "w", ref)

    table = Warehouse(tmp_path / "w").symbols("csv").set_index("symbol")
    assert table.loc["AAA", "sector"] == "Tech"  # given, not silently dropped
    assert table.loc["BBB", "sector"] == "Energy"
    assert any("ZZZ" in note for note in report.notes), report.notes


# ------------------------------------------------------------------------------ duplicates


def test_a_conflicting_duplicate_names_the_other_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "bars"
    folder.mkdir()
    plain = (
        "date,open,high,low,close,volume\n2010-01-04,10,11,9,10.5,100\n2010-01-05,10,11,9,10,1\n"
    )
    (folder / "AAA.csv").write_text(plain)
    with gzip.open(folder / "AAA.csv.gz", "wt") as handle:
        handle.write("date,open,high,low,close,volume\n2010-01-04,10,11,9,10.7,100\n")

    report = _sync(folder, tmp_path / "w")

    issues = _issues(report)
    detail = dict(zip(issues["source"], issues["detail"], strict=True))
    assert set(issues["rule"]) == {"conflicting_duplicate"}
    assert "AAA.csv.gz:2" in str(detail[str(folder / "AAA.csv")])
    assert f"{folder / 'AAA.csv'}:2" in str(detail[str(folder / "AAA.csv.gz")])


def test_rows_that_differ_only_in_adj_close_are_not_identical(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        "date,symbol,open,high,low,close,volume,adj_close\n"
        "2010-01-04,AAA,10,11,9,10,100,5\n"
        "2010-01-04,AAA,10,11,9,10,100,10\n"
        "2010-01-05,AAA,10,11,9,10,100,10\n"
    )

    report = _sync(path, tmp_path / "w")

    assert set(_issues(report)["rule"]) == {"conflicting_duplicate"}
    assert report.rows_written == 1


# -------------------------------------------------------------------------------- dates


def test_a_date_before_the_calendar_says_so(tmp_path: Path) -> None:
    # 1985-01-02 was a NYSE session: "not a session" would be false.
    path = tmp_path / "bars.csv"
    path.write_text(HEADER + "1985-01-02,AAA,10,11,9,10.5,100\n" + _rows("AAA", DAYS[:1]))

    report = _sync(path, tmp_path / "w")

    detail = _issues(report)["detail"].iloc[0]
    assert "1990-01-02" in detail
    assert "calendar" in detail


def test_blank_lines_before_the_header_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("\r\n\r\n" + HEADER.replace("\n", "\r\n") + _rows("AAA", DAYS[:2]))
    ref = tmp_path / "symbols.csv"
    ref.write_text("\nsymbol,sector\nAAA,Tech\n")

    report = _sync(path, tmp_path / "w", ref)

    assert report.rows_written == 2
    assert report.issues_file is None
    assert Warehouse(tmp_path / "w").symbols("csv")["sector"].tolist() == ["Tech"]


# ------------------------------------------------------- re-syncs, and a kill in the middle


def test_resync_is_idempotent_and_a_changed_row_replaces_the_old(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("\ufeff" + HEADER.replace("\n", "\r\n") + _rows("AAA", DAYS))
    data = tmp_path / "d"
    assert run(data, "--source", "csv", "--path", str(path)).returncode == 0
    first = Warehouse(data / "warehouse").read_bars("csv")

    again = run(data, "--source", "csv", "--path", str(path))
    assert again.returncode == 0, again.stderr
    pd.testing.assert_frame_equal(Warehouse(data / "warehouse").read_bars("csv"), first)

    path.write_text(HEADER + _rows("AAA", DAYS[:1], close=10.25))
    assert run(data, "--source", "csv", "--path", str(path)).returncode == 0
    after = Warehouse(data / "warehouse").read_bars("csv")
    assert len(after) == 5
    assert after["close"].tolist() == [10.25, 10.5, 10.5, 10.5, 10.5]


def test_a_torn_sync_log_line_does_not_break_the_log(tmp_path: Path) -> None:
    # A sync killed while appending to syncs.jsonl leaves half a line; the next sync and every
    # reader of the log (the cockpit's Data page) must go on.
    path = tmp_path / "bars.csv"
    path.write_text(HEADER + _rows("AAA", DAYS))
    _sync(path, tmp_path / "w")
    log = tmp_path / "w" / "csv" / "syncs.jsonl"
    with log.open("a", encoding="utf-8") as handle:
        handle.write('{"sync_id": "20260105T210000Z-torn", "rows_in": 5, "no')

    _sync(path, tmp_path / "w")

    entries = Warehouse(tmp_path / "w").sync_log.entries("csv")
    assert len(entries) == 2
    assert all(entry["dataset"] == "csv" for entry in entries)


@pytest.mark.parametrize("kind", ["dangling link", "folder"])
def test_an_unreadable_file_in_the_folder_is_a_data_error_naming_it(
    tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "bars"
    folder.mkdir()
    (folder / "AAA.csv").write_text(HEADER + _rows("AAA", DAYS))
    if kind == "folder":
        (folder / "BBB.csv").mkdir()
    else:
        (folder / "BBB.csv").symlink_to(tmp_path / "gone.csv")

    result = run(tmp_path / "d", "--source", "csv", "--path", str(folder))

    assert result.returncode == 1, result.stderr[-2000:]
    assert f"{folder / 'BBB.csv'}: cannot be read" in result.stderr
    assert "Traceback" not in result.stderr


KILLER = textwrap.dedent(
    """
    import os, runpy, signal, sys
    from quant_core.data import store

    original = store.DatasetStore.commit
    seen = [0]

    def commit(self, dataset, manifest):
        seen[0] += 1
        if seen[0] == int(os.environ["KILL_AT_COMMIT"]):
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, dataset, manifest)

    store.DatasetStore.commit = commit
    sys.argv = [sys.argv[1], *sys.argv[2:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
    """
)


@pytest.mark.parametrize("kill_at", [1, 2])
def test_a_kill_mid_sync_leaves_bars_and_sectors_of_one_sync(tmp_path: Path, kill_at: int) -> None:
    data = tmp_path / "d"
    old = tmp_path / "old.csv"
    old.write_text(HEADER + _rows("AAA", DAYS))
    old_ref = tmp_path / "old_ref.csv"
    old_ref.write_text("symbol,sector\nAAA,Tech\n")
    assert (
        run(data, "--source", "csv", "--path", str(old), "--reference", str(old_ref)).returncode
        == 0
    )
    new = tmp_path / "new.csv"
    new.write_text(HEADER + _rows("AAA", DAYS, close=10.75) + _rows("BBB", DAYS))
    new_ref = tmp_path / "new_ref.csv"
    new_ref.write_text("symbol,sector\nAAA,Hardware\nBBB,Software\n")

    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLER,
            str(SCRIPT),
            "--source",
            "csv",
            "--path",
            str(new),
            "--reference",
            str(new_ref),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "QC__PATHS__DATA_DIR": str(data), "KILL_AT_COMMIT": str(kill_at)},
        cwd=ROOT,
        timeout=120,
    )

    assert killed.returncode == -9, killed.stderr
    warehouse = Warehouse(data / "warehouse")
    bars = warehouse.read_bars("csv")
    sectors = dict(zip(*warehouse.symbols("csv")[["symbol", "sector"]].T.values, strict=True))
    if set(bars["symbol"]) == {"AAA"}:
        assert bars["close"].eq(10.5).all()
        assert sectors == {"AAA": "Tech"}
    else:
        assert bars["close"].eq(10.75).sum() == 5
        assert sectors == {"AAA": "Hardware", "BBB": "Software"}
