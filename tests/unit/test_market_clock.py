"""The market clock on XNYS 2026: the refresh moment, the data needed, refusals, the hours.

Dates (each checked against exchange_calendars by tests/unit/test_calendar_hours.py):
2026-11-27 and 2026-12-24 close at 13:00; 2026-11-26 (Thanksgiving) and 2026-12-25 are
holidays; Monday 2026-09-07 (Labor Day) closes a long weekend; daylight saving ends on Sunday
2026-11-01.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from quant_core.calendar import TradingCalendar
from quant_core.live.market_clock import (
    after_close_refusal,
    market_hours,
    needed_through,
    refresh_moment,
)
from quant_core.live.state import MarketHours

NY = ZoneInfo("America/New_York")
REFRESH = dt.time(16, 30)
REBALANCE = dt.time(9, 35)
D = dt.date.fromisoformat


def _ny(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=NY)


# ------------------------------------------------------------------------- refresh_moment


def test_the_refresh_is_half_an_hour_after_the_close(calendar: TradingCalendar) -> None:
    moment = refresh_moment(calendar, D("2026-11-25"), REFRESH)
    assert moment == _ny("2026-11-25", "16:30")
    assert moment is not None
    assert moment.utcoffset() == dt.timedelta(0)


def test_an_early_close_moves_the_refresh_as_much_earlier(calendar: TradingCalendar) -> None:
    assert refresh_moment(calendar, D("2026-11-27"), REFRESH) == _ny("2026-11-27", "13:30")
    assert refresh_moment(calendar, D("2026-12-24"), REFRESH) == _ny("2026-12-24", "13:30")
    assert refresh_moment(calendar, D("2026-12-24"), dt.time(17, 0)) == _ny("2026-12-24", "14:00")


def test_no_refresh_on_a_holiday_or_weekend(calendar: TradingCalendar) -> None:
    for day in ("2026-11-26", "2026-12-25", "2026-09-07", "2026-12-05"):
        assert refresh_moment(calendar, D(day), REFRESH) is None


def test_the_refresh_keeps_local_time_across_daylight_saving(calendar: TradingCalendar) -> None:
    # EDT (UTC-4) on Friday 2026-10-30, EST (UTC-5) on Monday 2026-11-02.
    utc = dt.UTC
    assert refresh_moment(calendar, D("2026-10-30"), REFRESH) == dt.datetime(
        2026, 10, 30, 20, 30, tzinfo=utc
    )
    assert refresh_moment(calendar, D("2026-11-02"), REFRESH) == dt.datetime(
        2026, 11, 2, 21, 30, tzinfo=utc
    )


def test_a_refresh_time_before_the_close_is_the_next_morning(calendar: TradingCalendar) -> None:
    # 06:00 is 14 h after a 16:00 close; after a 13:00 close, 14 h later is 03:00.
    assert refresh_moment(calendar, D("2026-11-25"), dt.time(6, 0)) == _ny("2026-11-26", "06:00")
    assert refresh_moment(calendar, D("2026-11-27"), dt.time(6, 0)) == _ny("2026-11-28", "03:00")
    # ... and across the change of 2026-11-01: Friday 16:00 EDT + 14 h local is Saturday 06:00.
    assert refresh_moment(calendar, D("2026-10-30"), dt.time(6, 0)) == _ny("2026-10-31", "06:00")


# ------------------------------------------------------------------------- needed_through


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (_ny("2026-12-04", "16:29"), "2026-12-03"),  # Friday before the refresh: Thursday
        (_ny("2026-12-04", "16:30"), "2026-12-04"),  # at the refresh moment: Friday
        (_ny("2026-12-04", "16:31"), "2026-12-04"),
        (_ny("2026-12-05", "12:00"), "2026-12-04"),  # Saturday
        (_ny("2026-12-06", "23:59"), "2026-12-04"),  # Sunday
        (_ny("2026-12-07", "09:35"), "2026-12-04"),  # Monday morning
        (_ny("2026-12-07", "16:00"), "2026-12-04"),  # Monday at the close: not yet
        (_ny("2026-12-07", "16:30"), "2026-12-07"),
    ],
)
def test_needed_through_around_the_refresh_and_a_weekend(
    calendar: TradingCalendar, now: dt.datetime, expected: str
) -> None:
    assert needed_through(calendar, now, REFRESH) == D(expected)


def test_needed_through_around_holidays_and_early_closes(calendar: TradingCalendar) -> None:
    # Thanksgiving (Thursday): Wednesday's data; Friday closes 13:00, refreshed at 13:30.
    assert needed_through(calendar, _ny("2026-11-26", "12:00"), REFRESH) == D("2026-11-25")
    assert needed_through(calendar, _ny("2026-11-27", "13:29"), REFRESH) == D("2026-11-25")
    assert needed_through(calendar, _ny("2026-11-27", "13:30"), REFRESH) == D("2026-11-27")
    assert needed_through(calendar, _ny("2026-12-25", "10:00"), REFRESH) == D("2026-12-24")
    assert needed_through(calendar, _ny("2026-12-28", "09:35"), REFRESH) == D("2026-12-24")


def test_needed_through_over_a_long_weekend(calendar: TradingCalendar) -> None:
    # Labor Day: from Friday's refresh until Tuesday's, the data must reach Friday.
    for now in (_ny("2026-09-05", "10:00"), _ny("2026-09-07", "16:45"), _ny("2026-09-08", "09:35")):
        assert needed_through(calendar, now, REFRESH) == D("2026-09-04")
    assert needed_through(calendar, _ny("2026-09-08", "16:30"), REFRESH) == D("2026-09-08")


def test_needed_through_across_daylight_saving(calendar: TradingCalendar) -> None:
    # The Sunday the clocks go back, in UTC: Friday's data, whichever offset is read.
    sunday = dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)  # 01:30 EST, after the change
    assert needed_through(calendar, sunday, REFRESH) == D("2026-10-30")
    # Monday 2026-11-02 16:30 EST is 21:30 UTC: at 21:29 UTC (16:29 EST) not yet.
    assert needed_through(calendar, dt.datetime(2026, 11, 2, 21, 29, tzinfo=dt.UTC), REFRESH) == D(
        "2026-10-30"
    )
    assert needed_through(calendar, dt.datetime(2026, 11, 2, 21, 30, tzinfo=dt.UTC), REFRESH) == D(
        "2026-11-02"
    )


def test_needed_through_with_a_morning_refresh(calendar: TradingCalendar) -> None:
    # A 06:00 refresh: Friday's data is needed from Saturday 06:00 on, not Friday evening.
    assert needed_through(calendar, _ny("2026-12-04", "20:00"), dt.time(6, 0)) == D("2026-12-03")
    assert needed_through(calendar, _ny("2026-12-05", "06:00"), dt.time(6, 0)) == D("2026-12-04")


def test_a_naive_now_is_refused(calendar: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="time-zone aware"):
        needed_through(calendar, dt.datetime(2026, 12, 4, 17, 0), REFRESH)  # noqa: DTZ001
    with pytest.raises(ValueError, match="time-zone aware"):
        market_hours(calendar, dt.datetime(2026, 12, 4, 17, 0), REBALANCE, REFRESH)  # noqa: DTZ001


# ------------------------------------------------------------------------- after_close_refusal


def test_a_rebalance_after_an_early_close_is_refused_with_the_reason(
    calendar: TradingCalendar,
) -> None:
    assert after_close_refusal(calendar, D("2026-11-27"), dt.time(14, 0)) == (
        "rebalance for 2026-11-27 refused: live.rebalance_time 14:00 is at or after the "
        "session's early close 13:00 America/New_York; the schedule takes it at the next session"
    )
    message = after_close_refusal(calendar, D("2026-12-24"), dt.time(13, 0))  # at the close
    assert message is not None
    assert "early close 13:00" in message


def test_no_refusal_before_the_close_or_off_sessions(calendar: TradingCalendar) -> None:
    assert after_close_refusal(calendar, D("2026-11-27"), dt.time(12, 59)) is None
    assert after_close_refusal(calendar, D("2026-11-27"), REBALANCE) is None
    assert after_close_refusal(calendar, D("2026-11-25"), dt.time(14, 0)) is None  # regular day
    assert after_close_refusal(calendar, D("2026-11-26"), dt.time(14, 0)) is None  # holiday


def test_a_rebalance_time_after_the_regular_close_is_refused_every_day(
    calendar: TradingCalendar,
) -> None:
    message = after_close_refusal(calendar, D("2026-11-25"), dt.time(16, 0))
    assert message == (
        "rebalance for 2026-11-25 refused: live.rebalance_time 16:00 is at or after the "
        "session's close 16:00 America/New_York; set live.rebalance_time before the close"
    )


# ------------------------------------------------------------------------- market_hours


def test_a_saturday_waits_for_mondays_open(calendar: TradingCalendar) -> None:
    hours = market_hours(calendar, _ny("2026-12-05", "11:00"), REBALANCE, REFRESH)
    assert hours == MarketHours(
        today=D("2026-12-05"),
        session=False,
        next_session=D("2026-12-07"),
        next_open=_ny("2026-12-07", "09:30"),
        waiting="not a session (Saturday 2026-12-05): waiting until Monday 2026-12-07 09:30 "
        "America/New_York",
    )


def test_a_worker_started_on_a_holiday_says_until_when(calendar: TradingCalendar) -> None:
    # Started on Labor Day, at any hour, and asked in UTC: it waits for Tuesday's open.
    for now in (_ny("2026-09-07", "00:05"), dt.datetime(2026, 9, 7, 18, 0, tzinfo=dt.UTC)):
        hours = market_hours(calendar, now, REBALANCE, REFRESH)
        assert not hours.session
        assert hours.opens_at is None
        assert hours.rebalance_at is None
        assert hours.waiting == (
            "not a session (Monday 2026-09-07): waiting until Tuesday 2026-09-08 09:30 "
            "America/New_York"
        )
    thanksgiving = market_hours(calendar, _ny("2026-11-26", "10:00"), REBALANCE, REFRESH)
    assert thanksgiving.waiting == (
        "not a session (Thursday 2026-11-26): waiting until Friday 2026-11-27 09:30 "
        "America/New_York"
    )


def test_before_the_open_during_and_after_a_regular_session(calendar: TradingCalendar) -> None:
    before = market_hours(calendar, _ny("2026-12-04", "08:00"), REBALANCE, REFRESH)
    assert before.waiting == "before the open: waiting until 09:30 America/New_York"
    assert before.session
    assert not before.early_close
    assert before.opens_at == _ny("2026-12-04", "09:30")
    assert before.closes_at == _ny("2026-12-04", "16:00")
    assert before.rebalance_at == _ny("2026-12-04", "09:35")
    assert before.refresh_at == _ny("2026-12-04", "16:30")
    assert before.next_session == D("2026-12-07")
    assert market_hours(calendar, _ny("2026-12-04", "09:30"), REBALANCE, REFRESH).waiting is None
    assert market_hours(calendar, _ny("2026-12-04", "15:59"), REBALANCE, REFRESH).waiting is None
    after = market_hours(calendar, _ny("2026-12-04", "16:00"), REBALANCE, REFRESH)
    assert after.waiting == (
        "after the close (16:00): next session Monday 2026-12-07 opens 09:30 America/New_York"
    )


def test_after_an_early_close(calendar: TradingCalendar) -> None:
    hours = market_hours(calendar, _ny("2026-11-27", "13:05"), dt.time(14, 0), REFRESH)
    assert hours.session
    assert hours.early_close
    assert hours.closes_at == _ny("2026-11-27", "13:00")
    assert hours.refresh_at == _ny("2026-11-27", "13:30")
    assert hours.rebalance_at is None  # 14:00 is after the close: no rebalance today
    assert hours.waiting == (
        "after the close (13:00, early close): next session Monday 2026-11-30 opens 09:30 "
        "America/New_York"
    )
    during = market_hours(calendar, _ny("2026-11-27", "12:59"), REBALANCE, REFRESH)
    assert during.waiting is None
    assert during.rebalance_at == _ny("2026-11-27", "09:35")


def test_hours_are_exchange_local_across_daylight_saving(calendar: TradingCalendar) -> None:
    # Sunday 2026-11-01 (EDT until 02:00, EST after): Monday opens 09:30 EST = 14:30 UTC.
    hours = market_hours(
        calendar, dt.datetime(2026, 11, 1, 5, 0, tzinfo=dt.UTC), REBALANCE, REFRESH
    )
    assert hours.today == D("2026-11-01")
    assert hours.next_open == dt.datetime(2026, 11, 2, 14, 30, tzinfo=dt.UTC)
    assert hours.next_open is not None
    assert hours.next_open.utcoffset() == dt.timedelta(hours=-5)
    assert hours.waiting is not None
    assert hours.waiting.endswith("Monday 2026-11-02 09:30 America/New_York")
    # Late Friday evening in New York is Saturday in UTC: today is the exchange's Friday.
    friday = market_hours(
        calendar, dt.datetime(2026, 10, 31, 1, 0, tzinfo=dt.UTC), REBALANCE, REFRESH
    )
    assert friday.today == D("2026-10-30")
    assert friday.session
    assert friday.waiting is not None
    assert friday.waiting.startswith("after the close (16:00)")


def test_the_clock_is_pure() -> None:
    # No I/O and no clock: the module takes ``now`` and reads nothing else.
    path = Path(__file__).resolve().parents[2] / "quant_core" / "live" / "market_clock.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    assert imported <= {
        "__future__",
        "datetime",
        "zoneinfo",
        "quant_core.calendar",
        "quant_core.live.state_refresh",
    }
    calls = {
        n.func.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }
    assert not calls & {"now", "today", "utcnow", "monotonic", "perf_counter", "open"}
