"""Daily bars from IB (run_data_sync.py --source ib): real ib_async client, fake TWS."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.schema import IBConfig
from quant_core.calendar import TradingCalendar
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.errors import DataError
from quant_core.ib.connection import IBConnection
from quant_core.ib.history import (
    IB_REFERENCE_SOURCE,
    VIOLATION_WAIT_S,
    IBHistorySource,
    Pacer,
    contract_reference,
)
from tests.conftest import log_has
from tests.fake_tws import LIB, client_problems
from tests.fake_tws.server import FakeTWS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START, END = dt.date(2022, 1, 3), dt.date(2024, 6, 28)


Bar = tuple[str, float, float, float, float, float]


def history(calendar: TradingCalendar, base: float) -> list[Bar]:
    days = calendar.sessions_in_range(dt.date(2021, 6, 1), END)
    rows = []
    for k, day in enumerate(days):
        close = round(base + 0.1 * k, 2)
        stamp = pd.Timestamp(day).strftime("%Y%m%d")
        rows.append((stamp, close - 0.5, close + 1.0, close - 1.0, close, 1000.0 + k))
    return rows


@pytest.fixture(autouse=True)
def _client_log_is_clean(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger=LIB)
    yield
    assert client_problems(caplog.records) == []


@pytest.fixture
def fake(calendar: TradingCalendar) -> Iterator[FakeTWS]:
    server = FakeTWS(prices={}).start()
    server.history = {
        "AAPL": history(calendar, 150.0),
        "MSFT": history(calendar, 300.0),
    }
    yield server
    server.stop()


class NoWait:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def source(fake: FakeTWS, tmp_path: Path, sleep: NoWait, **kw: object) -> IBHistorySource:
    return IBHistorySource(
        IBConfig(port=fake.port, client_id=5),
        ["AAPL", "MSFT"],
        START,
        END,
        cache_dir=tmp_path / "cache",
        pacer=Pacer(sleep=sleep),
        **kw,  # type: ignore[arg-type]
    )


def test_adjusted_bars_reach_the_warehouse_with_every_session(
    fake: FakeTWS, tmp_path: Path, calendar: TradingCalendar, warehouse: Warehouse
) -> None:
    report = sync(source(fake, tmp_path, NoWait()), warehouse, calendar, "ib")

    sessions = calendar.sessions_in_range(START, END)
    assert report.rejected == 0
    assert report.rows_written == 2 * len(sessions)
    assert (report.first_date, report.last_date) == (START, END)
    bars = warehouse.read_bars("ib", ["AAPL"])
    assert np.array_equal(bars["date"].to_numpy().astype("datetime64[D]"), sessions)
    # One ADJUSTED_LAST request per symbol, open-ended (IB refuses an end date with it).
    assert [(r[1], r[2], r[3], r[4]) for r in fake.history_requests] == [
        ("AAPL", "", "3 Y", "ADJUSTED_LAST"),
        ("MSFT", "", "3 Y", "ADJUSTED_LAST"),
    ]
    first = fake.history["AAPL"][[r[0] for r in fake.history["AAPL"]].index("20220103")]
    assert bars["close"].iloc[0] == first[4]


def test_trades_are_fetched_a_year_at_a_time(
    fake: FakeTWS, tmp_path: Path, calendar: TradingCalendar, warehouse: Warehouse
) -> None:
    report = sync(source(fake, tmp_path, NoWait(), what="TRADES"), warehouse, calendar, "ib")

    assert report.rows_written == 2 * len(calendar.sessions_in_range(START, END))
    assert report.gaps.missing == ()
    # Each year's request ends on the first bar of the year after it: no session between.
    ends = [r[2] for r in fake.history_requests if r[1] == "AAPL"]
    assert ends == [
        "20240628 23:59:59 UTC",
        "20230630 23:59:59 UTC",  # the fake's "1 Y" before 2024-06-28 starts 2023-06-30
        "20220701 23:59:59 UTC",  # and reaches back past START: the last chunk
    ]


def test_a_pacing_violation_waits_and_asks_again(
    fake: FakeTWS, tmp_path: Path, calendar: TradingCalendar, warehouse: Warehouse
) -> None:
    fake.pacing_violations = 1
    sleep = NoWait()

    report = sync(source(fake, tmp_path, sleep), warehouse, calendar, "ib")

    assert report.rows_written == 2 * len(calendar.sessions_in_range(START, END))
    assert [r[1] for r in fake.history_requests] == ["AAPL", "AAPL", "MSFT"]
    assert sleep.slept[0] == VIOLATION_WAIT_S


def test_an_interrupted_sync_resumes_from_the_cache(
    fake: FakeTWS, tmp_path: Path, calendar: TradingCalendar, warehouse: Warehouse
) -> None:
    def interrupt(task: str, done: int, total: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C once AAPL is in

    with pytest.raises(KeyboardInterrupt):
        source(fake, tmp_path, NoWait()).load(interrupt)
    assert len(list((tmp_path / "cache").glob("AAPL-*.parquet"))) == 1

    report = sync(source(fake, tmp_path, NoWait()), warehouse, calendar, "ib")

    # AAPL came from the cache: only MSFT (and AAPL's first try) went to IB.
    assert [r[1] for r in fake.history_requests] == ["AAPL", "MSFT"]
    assert report.symbols == 2


def test_a_symbol_ib_does_not_know_is_noted_and_the_others_synced(
    fake: FakeTWS,
    tmp_path: Path,
    calendar: TradingCalendar,
    warehouse: Warehouse,
    caplog: pytest.LogCaptureFixture,
) -> None:
    src = IBHistorySource(
        IBConfig(port=fake.port, client_id=5),
        ["AAPL", "NOPE", "MSFT"],
        START,
        END,
        pacer=Pacer(sleep=NoWait()),
    )

    report = sync(src, warehouse, calendar, "ib")

    assert report.symbols == 2
    assert report.unfetched == ("NOPE",)
    assert "IB knows no security NOPE (error 200): not synced" in report.notes
    assert log_has(caplog, "IB knows no security NOPE (error 200)", logging.WARNING)
    assert "order_refused" not in caplog.text
    only = IBHistorySource(
        IBConfig(port=fake.port, client_id=5), ["NOPE"], START, END, pacer=Pacer(sleep=NoWait())
    )
    with pytest.raises(DataError, match=r"IB returned no bars for NOPE \(no security NOPE"):
        only.load()


def test_run_data_sync_source_ib(fake: FakeTWS, tmp_path: Path) -> None:
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path / "d")}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_data_sync.py"),
            "--source",
            "ib",
            "--symbols",
            "aapl, msft",
            "--start",
            "2024-01-02",
            "--set",
            f"ib.port={fake.port}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "IB daily bars" in result.stdout
    assert list((tmp_path / "d" / "cache" / "ib").glob("MSFT-ADJUSTED_LAST-*.parquet"))
    missing = subprocess.run(
        [sys.executable, str(ROOT / "run_data_sync.py"), "--source", "ib"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert missing.returncode == 2
    assert "--symbols" in missing.stderr + missing.stdout
    for strict, code in (("--no-strict", 0), ("--strict", 1)):
        unknown = subprocess.run(
            [sys.executable, str(ROOT / "run_data_sync.py"), "--source", "ib"]
            + ["--symbols", "AAPL,NOPE", "--start", "2024-01-02", "--set", f"ib.port={fake.port}"]
            + ([strict] if strict == "--strict" else []),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert unknown.returncode == code, unknown.stderr
        assert "IB knows no security NOPE" in unknown.stdout


def test_trades_stop_at_the_listing_date(
    fake: FakeTWS, tmp_path: Path, calendar: TradingCalendar, warehouse: Warehouse
) -> None:
    early = dt.date(2019, 1, 2)  # before the fake's first bar (2021-06-01): IB says "no data"
    src = IBHistorySource(
        IBConfig(port=fake.port, client_id=5),
        ["AAPL"],
        early,
        END,
        what="TRADES",
        pacer=Pacer(sleep=NoWait()),
    )

    report = sync(src, warehouse, calendar, "ib")

    assert report.first_date == dt.date(2021, 6, 1)
    assert report.rows_written == len(calendar.sessions_in_range(dt.date(2021, 6, 1), END))


@pytest.mark.parametrize(
    ("now", "last"),
    [
        (dt.datetime(2024, 6, 28, 15, 0, tzinfo=dt.UTC), dt.date(2024, 6, 27)),  # 11:00 New York
        (dt.datetime(2024, 6, 28, 20, 30, tzinfo=dt.UTC), dt.date(2024, 6, 28)),  # after the close
        (dt.datetime(2024, 6, 29, 15, 0, tzinfo=dt.UTC), dt.date(2024, 6, 28)),  # a Saturday
    ],
)
def test_todays_bar_is_kept_out_until_the_close(
    fake: FakeTWS, tmp_path: Path, calendar: TradingCalendar, now: dt.datetime, last: dt.date
) -> None:
    src = IBHistorySource(
        IBConfig(port=fake.port, client_id=5),
        ["AAPL"],
        START,
        pacer=Pacer(sleep=NoWait()),
        calendar=calendar,
        clock=lambda: now,
    )
    bars = src.load().bars
    assert bars["date"].max() == pd.Timestamp(last)


def test_contract_details_fill_the_symbols_table(
    fake: FakeTWS, tmp_path: Path, calendar: TradingCalendar, warehouse: Warehouse
) -> None:
    fake.reference = {
        "AAPL": ("APPLE INC", "Technology", "Computers"),
        "MSFT": ("MICROSOFT CORP", "Technology", "Software"),
    }

    report = sync(source(fake, tmp_path, NoWait()), warehouse, calendar, "ib")

    stored = warehouse.symbols("ib").set_index("symbol")
    # IB's longName is the name, its industry the sector and its category the industry.
    assert stored[["name", "sector", "industry"]].to_dict("index") == {
        "AAPL": {"name": "APPLE INC", "sector": "Technology", "industry": "Computers"},
        "MSFT": {"name": "MICROSOFT CORP", "sector": "Technology", "industry": "Software"},
    }
    assert stored["source"].tolist() == [IB_REFERENCE_SOURCE] * 2
    assert stored["delisted"].isna().all()
    assert report.unknown_sectors == 0
    assert fake.contract_requests == 2  # one look-up per symbol synced


def test_a_symbol_ib_gives_no_details_for_is_left_to_unknown(
    fake: FakeTWS, caplog: pytest.LogCaptureFixture
) -> None:
    connection = IBConnection(IBConfig(port=fake.port, client_id=6))
    connection.connect()
    try:
        frame = contract_reference(connection, ["AAPL", "NOPE"])
    finally:
        connection.disconnect()

    assert frame["symbol"].tolist() == ["AAPL"]
    assert frame["name"].tolist() == ["AAPL INC"]  # the fake's default contract details
    assert log_has(caplog, "IB gave no contract details for NOPE", logging.WARNING)


def test_conflicting_ib_bars_are_rejected_not_deduplicated(
    fake: FakeTWS, tmp_path: Path, calendar: TradingCalendar, warehouse: Warehouse
) -> None:
    bars = fake.history["MSFT"]
    day = [b[0] for b in bars].index("20240103")
    fake.history["MSFT"] = [
        *bars[: day + 1],
        (bars[day][0], 1.0, 2.0, 0.5, 1.5, 5.0),
        *bars[day + 1 :],
    ]

    report = sync(source(fake, tmp_path, NoWait()), warehouse, calendar, "ib")

    assert report.by_rule == {"conflicting_duplicate": {"rejected": 2}}
    msft = warehouse.read_bars("ib", ["MSFT"], dt.date(2024, 1, 3), dt.date(2024, 1, 3))
    assert msft.empty  # neither copy is taken for the right one
