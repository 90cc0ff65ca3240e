"""Bars dated after the last completed session are never stored (issue 10, item 5).

Every clock here is frozen: no test depends on the day it runs, but the one that checks the
default clock, whose dates are computed from today.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from quant_core.calendar import TradingCalendar
from quant_core.data.schema import ValidationResult, validate_bars
from quant_core.data.sources.csvfiles import CsvSource
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sources.synthetic import SyntheticSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from tests.factories import raw_rows

NY = ZoneInfo("America/New_York")
HEADER = "date,symbol,open,high,low,close,volume\n"


def at(text: str, tz: dt.tzinfo = NY) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz)


def frozen(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


def _validate(calendar: TradingCalendar, now: dt.datetime, *dates: str) -> ValidationResult:
    rows = [raw_rows(date=d, _line=k) for k, d in enumerate(dates, start=2)]
    return validate_bars(pd.DataFrame(rows), calendar, now=now)


@pytest.mark.parametrize(
    ("now", "last"),
    [
        (at("2024-06-28T11:00"), "2024-06-27"),  # Friday, trading
        (at("2024-06-28T15:59:59"), "2024-06-27"),  # one second before the close
        (at("2024-06-28T16:00"), "2024-06-28"),  # the close itself completes the session
        (at("2024-06-29T10:00"), "2024-06-28"),  # Saturday
        (at("2024-07-01T09:00"), "2024-06-28"),  # Monday before the open
        (at("2024-07-03T12:59"), "2024-07-02"),  # early close at 13:00 ...
        (at("2024-07-03T13:00"), "2024-07-03"),  # ... reached
        (at("2024-07-04T20:00"), "2024-07-03"),  # Independence Day, no session
        (at("2024-06-29T01:00", dt.UTC), "2024-06-28"),  # 21:00 the day before in New York
        (at("2024-06-29T04:30", ZoneInfo("Asia/Tokyo")), "2024-06-27"),  # 15:30 New York
    ],
)
def test_last_completed_session(calendar: TradingCalendar, now: dt.datetime, last: str) -> None:
    assert calendar.last_completed_session(now) == dt.date.fromisoformat(last)


def test_last_completed_session_needs_an_aware_time(calendar: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="time-zone aware"):
        calendar.last_completed_session(dt.datetime(2024, 6, 28, 17))  # noqa: DTZ001
    assert calendar.last_completed_session(at("1980-01-02T12:00")) is None


@pytest.mark.parametrize(
    ("date", "why"),
    [
        ("2024-07-05", "next week, a session"),
        ("2024-06-28", "today, before the close"),
        ("2024-06-29", "tomorrow, a Saturday"),
        ("2024-07-04", "a holiday next week"),
        ("20240701", "a compact date"),
        ("2031-01-02", "beyond the calendar's last year"),
    ],
)
def test_rows_after_the_last_completed_session_are_rejected(
    calendar: TradingCalendar, date: str, why: str
) -> None:
    result = _validate(calendar, at("2024-06-28T11:00"), "2024-06-27", date)

    assert result.bars["date"].tolist() == [pd.Timestamp("2024-06-27")], why
    assert result.rejected == 1
    issue = result.issues.iloc[0]
    assert (issue["rule"], issue["action"], issue["line"]) == ("future_date", "rejected", 3)
    assert issue["detail"] == (
        "date is after the last completed XNYS session (2024-06-27) as of 2024-06-28 11:00 EDT"
    )


def test_todays_bar_is_future_until_the_close(calendar: TradingCalendar) -> None:
    before = _validate(calendar, at("2024-06-28T15:59"), "2024-06-28")
    after = _validate(calendar, at("2024-06-28T16:01"), "2024-06-28")
    early_before = _validate(calendar, at("2024-07-03T12:30"), "2024-07-03")
    early_after = _validate(calendar, at("2024-07-03T13:30"), "2024-07-03")

    assert before.issues["rule"].tolist() == ["future_date"]
    assert early_before.issues["rule"].tolist() == ["future_date"]
    assert before.bars.empty
    assert early_before.bars.empty
    assert after.issues.empty
    assert early_after.issues.empty
    assert after.bars["date"].tolist() == [pd.Timestamp("2024-06-28")]
    assert early_after.bars["date"].tolist() == [pd.Timestamp("2024-07-03")]


def test_a_past_holiday_is_still_not_a_session(calendar: TradingCalendar) -> None:
    result = _validate(calendar, at("2024-07-05T20:00"), "2024-07-04", "2024-07-05")
    assert result.issues["rule"].tolist() == ["not_a_session"]
    assert result.bars["date"].tolist() == [pd.Timestamp("2024-07-05")]


def test_the_default_clock_is_now(calendar: TradingCalendar) -> None:
    soon = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    later = calendar.sessions_in_range(soon, soon + dt.timedelta(days=14))
    day = pd.Timestamp(later[0]).date() if len(later) else soon
    result = validate_bars(pd.DataFrame([raw_rows(date=day.isoformat())]), calendar)
    assert result.issues["rule"].tolist() == ["future_date"]


def test_csv_sync_reports_future_rows_everywhere_and_writes_none(
    tmp_path: Path, warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        HEADER
        + "2024-06-27,AAA,10,11,9,10.5,1000\n"
        + "2024-06-28,AAA,10,11,9,10.5,1000\n"  # today, the session still trading
        + "2024-07-05,AAA,10,11,9,10.5,1000\n"  # next week
    )
    now = at("2024-06-28T11:00")

    report = sync(CsvSource(path), warehouse, calendar, "mine", clock=frozen(now))

    assert (report.rows_in, report.rows_written, report.rejected) == (3, 1, 2)
    assert report.by_rule == {"future_date": {"rejected": 2}}
    assert report.started_at == now
    assert report.last_date == dt.date(2024, 6, 27)
    assert report.issues_file is not None
    issues = pd.read_csv(report.issues_file)
    assert issues[["line", "date", "rule"]].to_numpy().tolist() == [
        [3, "2024-06-28", "future_date"],
        [4, "2024-07-05", "future_date"],
    ]
    logged = json.loads((warehouse.root / "mine" / "syncs.jsonl").read_text().splitlines()[-1])
    assert logged["by_rule"] == {"future_date": {"rejected": 2}}
    assert logged["rejected"] == 2
    stored = warehouse.read_bars("mine")["date"]
    assert stored.tolist() == [pd.Timestamp("2024-06-27")]


def test_synthetic_sync_drops_the_session_still_trading(
    warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    # The generator's data ends on 2024-12-31; at noon that day, that session is not over.
    source = SyntheticSource(calendar, symbols=3, days=5, seed=1)

    report = sync(source, warehouse, calendar, "synth", clock=frozen(at("2024-12-31T12:00")))

    assert report.by_rule == {"future_date": {"rejected": 3}}
    assert report.last_date == dt.date(2024, 12, 30)
    assert warehouse.read_bars("synth")["date"].max() == pd.Timestamp("2024-12-30")


def test_sample_sync_drops_the_session_still_trading(
    warehouse: Warehouse, calendar: TradingCalendar
) -> None:
    # wiki5 ends on Friday 2013-03-01: five symbols.
    clock = frozen(at("2013-03-01T10:00"))

    report = sync(SampleSource("wiki5"), warehouse, calendar, "wiki5", clock=clock)

    assert report.by_rule == {"future_date": {"rejected": 5}}
    dates = warehouse.read_bars("wiki5")["date"].to_numpy(dtype="datetime64[D]")
    assert dates.max() == np.datetime64("2013-02-28")


def test_a_naive_clock_is_refused(warehouse: Warehouse, calendar: TradingCalendar) -> None:
    source = SyntheticSource(calendar, symbols=1, days=2, seed=1)
    naive = dt.datetime(2025, 1, 2, 12)  # noqa: DTZ001
    with pytest.raises(ValueError, match="time-zone aware"):
        sync(source, warehouse, calendar, "synth", clock=frozen(naive))
    assert not warehouse.exists("synth")
