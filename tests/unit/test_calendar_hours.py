"""The calendar's hours: opens, early closes, the regular close, the next session (XNYS 2026).

Every fact below is exchange_calendars' (the NYSE's published 2026 hours), checked here
against the calendar the worker builds; no holiday list is written in the code.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from quant_core.calendar import TradingCalendar, get_calendar

NY = ZoneInfo("America/New_York")


def _ny(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=NY)


def test_the_regular_close_is_the_exchanges(calendar: TradingCalendar) -> None:
    assert calendar.regular_close_time == dt.time(16, 0)
    assert get_calendar("XLON").regular_close_time == dt.time(16, 30)
    # Tokyo moved its close from 15:00 to 15:30 on 2024-11-05: today's rule, not the past's.
    tokyo = get_calendar("XTKS")
    assert tokyo.regular_close_time == dt.time(15, 30)
    assert not tokyo.is_early_close(dt.date(2024, 10, 1))  # 15:00 then: regular that year
    assert not tokyo.is_early_close(dt.date(2024, 12, 2))  # 15:30: the new rule, not "late"


def test_early_closes_are_the_half_days(calendar: TradingCalendar) -> None:
    for day in ("2026-11-27", "2026-12-24"):  # the day after Thanksgiving, Christmas Eve
        assert calendar.is_early_close(dt.date.fromisoformat(day))
        assert calendar.close_of(dt.date.fromisoformat(day)) == _ny(day, "13:00")
    for day in ("2026-11-25", "2026-11-30", "2026-12-23", "2026-07-02"):  # regular sessions
        assert not calendar.is_early_close(dt.date.fromisoformat(day))
    for day in ("2026-11-26", "2026-12-25", "2026-12-05"):  # holidays, a Saturday
        assert not calendar.is_early_close(dt.date.fromisoformat(day))


def test_every_early_close_closes_before_four_and_the_count_is_a_handful(
    calendar: TradingCalendar,
) -> None:
    days = calendar.sessions_in_range(dt.date(2010, 1, 1), dt.date(2029, 12, 31))
    early = [d for d in days.astype(object) if calendar.is_early_close(d)]
    closes = [calendar.close_of(d).astimezone(NY).time() for d in early]  # type: ignore[union-attr]
    assert all(c < dt.time(16, 0) for c in closes)
    assert 20 <= len(early) <= 80  # two or three half days a year
    others = [calendar.close_of(d) for d in days.astype(object)[:300] if d not in early]
    assert {c.astimezone(NY).time() for c in others if c is not None} == {dt.time(16, 0)}


def test_open_of_is_utc_and_none_off_sessions(calendar: TradingCalendar) -> None:
    opened = calendar.open_of(dt.date(2026, 11, 27))
    assert opened == _ny("2026-11-27", "09:30")
    assert opened is not None
    assert opened.utcoffset() == dt.timedelta(0)
    # Across the daylight-saving change of 2026-11-01: 13:30 UTC, then 14:30 UTC.
    assert calendar.open_of(dt.date(2026, 10, 30)) == dt.datetime(
        2026, 10, 30, 13, 30, tzinfo=dt.UTC
    )
    assert calendar.open_of(dt.date(2026, 11, 2)) == dt.datetime(2026, 11, 2, 14, 30, tzinfo=dt.UTC)
    assert calendar.open_of(dt.date(2026, 11, 26)) is None  # Thanksgiving
    assert calendar.open_of(dt.date(2026, 11, 1)) is None  # a Sunday


def test_next_session_skips_weekends_and_holidays(calendar: TradingCalendar) -> None:
    nxt = calendar.next_session
    assert nxt(dt.date(2026, 9, 4)) == dt.date(2026, 9, 8)  # Friday -> Tuesday after Labor Day
    assert nxt(dt.date(2026, 9, 7)) == dt.date(2026, 9, 8)  # from the holiday itself
    assert nxt(dt.date(2026, 9, 8)) == dt.date(2026, 9, 9)  # strictly after
    assert nxt(dt.date(2026, 11, 25)) == dt.date(2026, 11, 27)  # over Thanksgiving
    assert nxt(dt.date(2026, 12, 24)) == dt.date(2026, 12, 28)  # over Christmas and a weekend
    assert calendar.previous_session(dt.date(2026, 9, 8)) == dt.date(2026, 9, 4)
    assert nxt(calendar.last) is None


def test_the_answers_agree_with_the_session_list(calendar: TradingCalendar) -> None:
    # next_session(d) is the first session > d, for every day of two years (sessions or not).
    days = np.arange(np.datetime64("2025-01-01"), np.datetime64("2027-01-01"))
    sessions = calendar.sessions
    for day in days:
        expected = sessions[sessions > day][0]
        assert np.datetime64(calendar.next_session(day.astype(object)), "D") == expected
    mask = calendar.is_session(days)
    opened = [calendar.open_of(d) is not None for d in days.astype(object)]
    assert opened == list(mask)


@pytest.mark.parametrize("exchange", ["24/7", "XHKG"])
def test_other_calendars_have_a_regular_close(exchange: str) -> None:
    cal = get_calendar(exchange)
    day = cal.sessions_in_range(dt.date(2026, 3, 2), dt.date(2026, 3, 31))[0].astype(object)
    close = cal.close_of(day)
    assert close is not None
    assert close.astimezone(ZoneInfo(cal.tz)).time() == cal.regular_close_time
    assert not cal.is_early_close(day)
