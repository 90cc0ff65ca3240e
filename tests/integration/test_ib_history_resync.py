"""Re-syncing IB history into a dataset that holds bars already (run_data_sync.py --source ib)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from config.schema import IBConfig
from quant_core.calendar import TradingCalendar
from quant_core.data.sources import SourceRequest
from quant_core.data.sources.csvfiles import CsvSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError, DataError
from quant_core.ib.history import IBHistorySource, Pacer, source_from_request
from quant_core.ib.history_check import stored_reader
from tests.fake_tws.server import FakeTWS
from tests.integration.test_ib_history import END, START, NoWait, history

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAYS = ["20240102", "20240103", "20240104", "20240105"]


@pytest.fixture
def fake(calendar: TradingCalendar) -> Iterator[FakeTWS]:
    server = FakeTWS(prices={}).start()
    server.history = {"AAPL": history(calendar, 150.0)}
    yield server
    server.stop()


def ib_source(
    fake: FakeTWS, start: dt.date, warehouse: Warehouse | None, **kw: object
) -> IBHistorySource:
    return IBHistorySource(
        IBConfig(port=fake.port, client_id=5),
        ["AAPL"],
        start,
        END,
        pacer=Pacer(sleep=NoWait()),
        stored=stored_reader(warehouse, "ib"),
        **kw,  # type: ignore[arg-type]
    )


def halve(fake: FakeTWS) -> None:
    """A 2:1 split after END: IB's adjusted history is halved all the way back."""
    fake.history = {
        s: [(d, o / 2, h / 2, lo / 2, c / 2, v * 2) for d, o, h, lo, c, v in bars]
        for s, bars in fake.history.items()
    }


@pytest.mark.parametrize("what", ["ADJUSTED_LAST", "TRADES"])
def test_a_later_start_after_a_split_fetches_the_whole_history_again(
    fake: FakeTWS, calendar: TradingCalendar, warehouse: Warehouse, what: str
) -> None:
    sync(ib_source(fake, START, warehouse, what=what), warehouse, calendar, "ib")
    before = warehouse.read_bars("ib", ["AAPL"])
    halve(fake)
    fake.history_requests.clear()

    later = dt.date(2024, 6, 3)  # IB's answer (a year) overlaps the stored bars, not all
    report = sync(ib_source(fake, later, warehouse, what=what), warehouse, calendar, "ib")

    after = warehouse.read_bars("ib", ["AAPL"])
    assert len(after) == len(before)
    assert np.allclose(after["close"].to_numpy(), before["close"].to_numpy() / 2)
    assert any("AAPL: IB's adjusted history changed" in n for n in report.notes)
    if what == "ADJUSTED_LAST":
        assert [(r[1], r[3]) for r in fake.history_requests] == [("AAPL", "1 Y"), ("AAPL", "3 Y")]


def test_an_unchanged_history_keeps_to_the_start_asked(
    fake: FakeTWS, calendar: TradingCalendar, warehouse: Warehouse
) -> None:
    sync(ib_source(fake, START, warehouse), warehouse, calendar, "ib")
    fake.history_requests.clear()

    report = sync(ib_source(fake, dt.date(2024, 6, 3), warehouse), warehouse, calendar, "ib")

    assert report.first_date == dt.date(2024, 6, 3)
    assert len(fake.history_requests) == 1
    assert not any("changed" in n for n in report.notes)


def test_run_data_sync_from_a_later_start_after_a_split(tmp_path: Path) -> None:
    server = FakeTWS(prices={}).start()
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path / "d")}

    def run(start: str) -> None:
        args = ["--source", "ib", "--symbols", "AAPL", "--start", start]
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "run_data_sync.py"),
                *args,
                "--set",
                f"ib.port={server.port}",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr

    try:
        server.history = {"AAPL": [(d, 10.0, 11.0, 9.0, 10.5, 1000.0) for d in DAYS]}
        server.history_today = "20240105"
        run("2024-01-02")
        server.history = {"AAPL": [(d, 5.0, 5.5, 4.5, 5.25, 2000.0) for d in [*DAYS, "20240108"]]}
        server.history_today = "20240108"
        run("2024-01-08")
    finally:
        server.stop()

    bars = Warehouse(tmp_path / "d" / "warehouse").read_bars("ib", ["AAPL"])
    assert bars["close"].tolist() == [5.25] * 5  # one basis: no fake -50% return


def test_a_dataset_of_another_source_is_refused_before_ib_is_asked(
    fake: FakeTWS, calendar: TradingCalendar, warehouse: Warehouse, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text(
        "date,symbol,open,high,low,close,volume\n2024-01-02,AAPL,10,11,9,10.5,100\n"
    )
    sync(CsvSource(tmp_path / "a.csv"), warehouse, calendar, "ib")

    with pytest.raises(DataError, match=r"dataset 'ib' holds csv data; writing ib:ADJUSTED_LAST"):
        sync(ib_source(fake, START, warehouse), warehouse, calendar, "ib")

    assert fake.history_requests == []
    assert fake.accepted == 0  # not even connected


def test_a_start_after_the_last_completed_session_is_refused_before_connecting(
    tmp_path: Path, calendar: TradingCalendar
) -> None:
    later = dt.date.today() + dt.timedelta(days=7)  # noqa: DTZ011
    request = SourceRequest(calendar, symbols="AAPL", start=later, ib=IBConfig(port=1))
    with pytest.raises(ConfigError, match=rf"--start {later} is after the last completed session"):
        source_from_request(request)

    args = ["--source", "ib", "--symbols", "AAPL", "--start", "2999-01-04"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_data_sync.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path / "d")},
        timeout=120,
    )
    assert result.returncode == 2
    assert "--start 2999-01-04 is after today" in result.stderr
