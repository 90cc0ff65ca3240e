"""run_data_sync.py end to end, as a user runs it: a subprocess, real files, exit codes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from quant_core.calendar import get_calendar
from quant_core.data.warehouse import Warehouse
from tests.fake_tws.server import FakeTWS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "run_data_sync.py"


def run(data_dir: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_sample_sync_then_list_from_another_directory(tmp_path: Path) -> None:
    result = run(tmp_path / "d", "--source", "sample", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "sp500-2010" in result.stdout
    assert "122,574" in result.stdout
    assert "2009-11-12 (408 of" in result.stdout
    assert "ETFCD -> ETFC" in result.stdout
    assert "522, 80 with sector Unknown" in result.stdout
    assert (tmp_path / "d" / "warehouse" / "sp500-2010" / "manifest.json").is_file()

    listing = run(tmp_path / "d", "--list", cwd=tmp_path)
    assert listing.returncode == 0
    assert "sp500-2010" in listing.stdout
    assert "7 missing, 1 partial" in listing.stdout


def test_synthetic_sync_is_labelled(tmp_path: Path) -> None:
    result = run(
        tmp_path, "--source", "synthetic", "--symbols", "20", "--days", "30", "--seed", "3"
    )
    assert result.returncode == 0, result.stderr
    assert "SYNTHETIC DATA" in result.stdout
    listing = run(tmp_path, "--list")
    assert "SYNTHETIC" in listing.stdout


def test_bad_rows_exit_0_or_1_under_strict(tmp_path: Path) -> None:
    csv = tmp_path / "bars.csv"
    csv.write_text(
        "date,symbol,open,high,low,close,volume\n2010-01-04,AAA,10,11,9,10.5,1\n2010-01-05,AAA,10,11,9,10.5,-1\n"
    )

    relaxed = run(tmp_path / "d", "--source", "csv", "--path", str(csv))
    strict = run(tmp_path / "d", "--source", "csv", "--path", str(csv), "--strict")

    assert relaxed.returncode == 0, relaxed.stderr
    assert strict.returncode == 1
    assert "--strict: 1 row(s) rejected" in strict.stdout
    assert "negative_volume" in strict.stdout
    issues = list((tmp_path / "d" / "warehouse" / "csv" / "syncs").glob("*-issues.csv"))
    assert len(issues) == 2


def test_unusable_csv_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    csv = tmp_path / "prices.csv"
    csv.write_text("day,price\n2010-01-04,10\n")
    result = run(tmp_path, "--source", "csv", "--path", str(csv))
    assert result.returncode == 1
    assert f"{csv}: missing column(s)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "csv"], "--source csv needs --path"),
        (["--set", "portfolio.cash_bufer=0.1", "--list"], "portfolio.cash_bufer"),
        (["--set", "calendar.exchange=NOPE", "--list"], "unknown exchange 'NOPE'"),
        (["--source", "synthetic", "--symbols", "AAPL"], "--symbols must be a number"),
        (["--source", "nope"], "invalid choice"),
        (["--reference", "symbols.csv"], "--reference is for --source csv, not sample"),
        # Flags the source would ignore: the user's filter was not applied (found by review).
        (["--source", "csv", "--path", "x.csv", "--symbols", "AAA"], "--symbols is for"),
        (["--source", "csv", "--path", "x.csv", "--start", "2024-01-03"], "--start is for"),
        (["--days", "30"], "--days is for --source synthetic, not sample"),
        (["--source", "synthetic", "--seed", "-1"], "--seed -1: give a whole number"),
        (["--source", "synthetic", "--seed", "4294967296"], "--seed 4294967296"),
        (["--source", "synthetic", "--days", "0"], "--days 0: give at least 1 session"),
        (["--path", "bars.csv"], "--path is for --source csv, not sample"),
        # Sync flags beside --list / --publish would be ignored: refused, named.
        (["--list", "--source", "csv"], "--source is for a sync, not --list"),
        (["--list", "--path", "x.csv"], "--path is for a sync, not --list"),
        (["--list", "--reference", "s.csv"], "--reference is for a sync, not --list"),
        (["--list", "--replace"], "--replace is for a sync, not --list"),
        (["--list", "--strict"], "--strict is for a sync, not --list"),
        (["--publish", "s3://b/w", "--replace"], "--replace is for a sync, not --publish"),
        (["--publish", "s3://b/w", "--source", "ib"], "--source is for a sync, not --publish"),
        (["--list", "--publish", "s3://b/w"], "--list and --publish: give one of them"),
        (["--list", "--force"], "--force is for --publish"),
    ],
)
def test_usage_and_config_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_unknown_sample_dataset_lists_valid_ones(tmp_path: Path) -> None:
    result = run(tmp_path, "--source", "sample", "--dataset", "nasdaq")
    assert result.returncode == 2
    assert "valid: sp500-2010, wiki5" in result.stderr


def test_mixing_sources_is_refused_and_replace_rebuilds(tmp_path: Path) -> None:
    run(tmp_path, "--source", "synthetic", "--symbols", "3", "--days", "20", "--dataset", "mine")
    csv = tmp_path / "bars.csv"
    csv.write_text("date,symbol,open,high,low,close,volume\n2010-01-04,AAA,10,11,9,10.5,1\n")

    mixed = run(tmp_path, "--source", "csv", "--path", str(csv), "--dataset", "mine")
    rebuilt = run(tmp_path, "--source", "csv", "--path", str(csv), "--dataset", "mine", "--replace")
    listing = run(tmp_path, "--list", "--dataset", "mine")

    assert mixed.returncode == 1
    assert "holds synthetic:seed=7,symbols=3,days=20 data; writing csv data" in mixed.stderr
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "AAA" in listing.stdout
    assert "SYN0000" not in listing.stdout
    # What --replace dropped is named, not lost in silence.
    said = " ".join((rebuilt.stdout + rebuilt.stderr).split())
    assert "--replace dropped 3 symbol(s)" in said
    assert "SYN0000, SYN0001, SYN0002" in said
    again = run(tmp_path, "--source", "csv", "--path", str(csv), "--dataset", "mine", "--replace")
    assert again.returncode == 0, again.stderr
    assert "--replace dropped" not in again.stdout + again.stderr  # AAA is still there


def test_other_exchange_calendar(tmp_path: Path) -> None:
    result = run(tmp_path, "--set", "calendar.exchange=XSHG", "--list")
    assert result.returncode == 0, result.stderr


def _next_week_session() -> dt.date:
    """Return a session at least a week after today (whatever today is)."""
    soon = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    sessions = get_calendar("XNYS").sessions_in_range(soon, soon + dt.timedelta(days=14))
    return pd.Timestamp(sessions[0]).date() if len(sessions) else soon


def test_a_bar_from_next_week_is_rejected_and_strict_exits_1(tmp_path: Path) -> None:
    future = _next_week_session()
    csv = tmp_path / "bars.csv"
    csv.write_text(
        "date,symbol,open,high,low,close,volume\n"
        f"2010-01-04,AAA,10,11,9,10.5,1\n{future},AAA,10,11,9,10.5,1\n"
    )

    relaxed = run(tmp_path / "d", "--source", "csv", "--path", str(csv))
    strict = run(tmp_path / "d", "--source", "csv", "--path", str(csv), "--strict")

    assert relaxed.returncode == 0, relaxed.stderr
    assert strict.returncode == 1
    assert "--strict: 1 row(s) rejected" in strict.stdout
    assert "future_date" in strict.stdout
    warehouse = Warehouse(tmp_path / "d" / "warehouse")
    assert warehouse.read_bars("csv")["date"].tolist() == [pd.Timestamp("2010-01-04")]
    for sync in warehouse.sync_log.entries("csv"):
        assert sync["by_rule"] == {"future_date": {"rejected": 1}}
    for issues in (tmp_path / "d" / "warehouse" / "csv" / "syncs").glob("*-issues.csv"):
        assert f"{csv},3,AAA,{future},future_date,rejected,date is after" in issues.read_text()


def test_a_file_name_that_is_not_a_symbol_exits_1_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "bars"
    folder.mkdir()
    (folder / "..hidden.csv").write_text(
        "date,open,high,low,close,volume\n2010-01-04,10,11,9,10.5,1\n"
    )

    result = run(tmp_path / "d", "--source", "csv", "--path", str(folder))

    assert result.returncode == 1
    assert f"{folder / '..hidden.csv'}: the file name gives the symbol '..HIDDEN'" in result.stderr


def test_a_path_like_ib_symbol_writes_nothing_outside_the_data_dir(tmp_path: Path) -> None:
    symbol = "../../../ESCAPE"  # the IB cache is <data_dir>/cache/ib/<symbol>-...parquet
    days = ["20240102", "20240103", "20240104"]
    server = FakeTWS(prices={}).start()
    server.history = {symbol: [(d, 10.0, 11.0, 9.0, 10.5, 1000.0) for d in days]}
    try:
        result = run(
            tmp_path / "d",
            "--source",
            "ib",
            "--symbols",
            symbol,
            "--start",
            "2024-01-02",
            "--set",
            f"ib.port={server.port}",
        )
    finally:
        server.stop()

    assert result.returncode == 1
    assert "IB history: invalid symbol(s) '../../../ESCAPE'" in result.stderr
    assert server.history_requests == []
    assert {p.name for p in tmp_path.iterdir()} <= {"d"}
    assert not list(tmp_path.rglob("*ESCAPE*"))


def test_csv_with_a_reference_file(tmp_path: Path) -> None:
    folder = tmp_path / "bars"
    folder.mkdir()
    for symbol in ("AAA", "BBB", "CCC"):
        (folder / f"{symbol}.csv").write_text(
            "date,open,high,low,close,volume\n2010-01-04,10,11,9,10.5,1\n"
        )
    ref = tmp_path / "symbols.csv"
    ref.write_text(
        "symbol,name,sector,industry,delisted\n"
        "AAA,A Corp,Energy,Oil & Gas,2010-06-30\n"
        "BBB,B Inc,Utilities,Electric,someday\n"
    )

    result = run(tmp_path / "d", "--source", "csv", "--path", str(folder), "--reference", str(ref))
    strict = run(
        tmp_path / "d",
        "--source",
        "csv",
        "--path",
        str(folder),
        "--reference",
        str(ref),
        "--strict",
    )

    assert result.returncode == 0, result.stderr
    assert "3, 2 with sector Unknown" in result.stdout  # BBB's row is bad, CCC has none
    assert f"{ref}: 1 row(s) left out" in result.stdout
    assert strict.returncode == 1  # a bad reference row counts as a rejected row
    stored = Warehouse(tmp_path / "d" / "warehouse").symbols("csv").set_index("symbol")
    assert stored["sector"].to_dict() == {"AAA": "Energy", "BBB": "Unknown", "CCC": "Unknown"}
    assert stored.loc["AAA", "delisted"] == dt.date(2010, 6, 30)
    issues = sorted((tmp_path / "d" / "warehouse" / "csv" / "syncs").glob("*-issues.csv"))
    assert f"{ref},3,,,malformed_line,rejected,reference file: delisted 'someday'" in (
        issues[0].read_text()
    )
