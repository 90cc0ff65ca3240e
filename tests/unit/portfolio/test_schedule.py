"""The one rebalance schedule: rows for the engine, is_due and next_due for the worker."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_core.portfolio.schedule import Rule, is_due, next_due, rebalance_rows

D = dt.date
RULES = st.one_of(st.integers(1, 30), st.sampled_from(["weekly", "monthly"]))


@st.composite
def sessions(draw: st.DrawFn, max_size: int = 80) -> np.ndarray:
    # Sorted, unique days, mostly a few days apart (weekends, holidays) and sometimes weeks apart
    # (long closures), spanning year ends and ISO weeks 53 often enough.
    start = draw(st.dates(D(1998, 1, 1), D(2035, 12, 31)))
    gap = st.one_of(st.integers(1, 4), st.integers(1, 40))
    gaps = draw(st.lists(gap, min_size=0, max_size=max_size - 1))
    offsets = np.cumsum([0, *gaps])
    return np.datetime64(start, "D") + offsets.astype("timedelta64[D]")


def _day(value: np.datetime64) -> dt.date:
    return pd.Timestamp(value).date()


@given(data=st.data(), dates=sessions(), rule=RULES)
def test_rebalance_rows_are_the_sessions_is_due_picks(
    data: st.DataObject, dates: np.ndarray, rule: Rule
) -> None:
    first = data.draw(st.integers(0, len(dates) - 1), label="first")
    last = data.draw(st.integers(first, len(dates) - 1), label="last")

    walked = [first]
    for row in range(first + 1, last + 1):
        if is_due(_day(dates[walked[-1]]), _day(dates[row]), rule, dates):
            walked.append(row)

    assert rebalance_rows(dates, first, last, rule).tolist() == walked


@given(a=st.dates(D(1990, 1, 1), D(2040, 12, 31)), b=st.dates(D(1990, 1, 1), D(2040, 12, 31)))
def test_weekly_and_monthly_are_iso_weeks_and_calendar_months(a: dt.date, b: dt.date) -> None:
    last, today = min(a, b), max(a, b)
    none = np.array([], dtype="datetime64[D]")  # the calendar rules count no sessions
    iso = last.isocalendar()[:2] != today.isocalendar()[:2]
    assert is_due(last, today, "weekly", none) == iso
    month = (last.year, last.month) != (today.year, today.month)
    assert is_due(last, today, "monthly", none) == month


@given(data=st.data(), dates=sessions(), rule=st.integers(1, 30))
def test_an_int_rule_counts_the_sessions_after_last_through_today(
    data: st.DataObject, dates: np.ndarray, rule: int
) -> None:
    i = data.draw(st.integers(0, len(dates) - 1), label="last")
    j = data.draw(st.integers(i, len(dates) - 1), label="today")
    last, today = _day(dates[i]), _day(dates[j])
    counted = sum(1 for s in dates if last < _day(s) <= today)
    assert is_due(last, today, rule, dates) == (counted >= rule)


def test_iso_week_53_at_a_year_end() -> None:
    none = np.array([], dtype="datetime64[D]")
    # 2020-12-31 (Thursday) to 2021-01-03 (Sunday) are ISO week 53 of 2020.
    assert D(2021, 1, 1).isocalendar()[:2] == (2020, 53)
    assert not is_due(D(2020, 12, 31), D(2021, 1, 1), "weekly", none)
    assert is_due(D(2020, 12, 31), D(2021, 1, 4), "weekly", none)
    # 2024-12-30 (Monday) already starts week 1 of 2025.
    assert is_due(D(2024, 12, 27), D(2024, 12, 30), "weekly", none)
    assert not is_due(D(2024, 12, 30), D(2025, 1, 3), "weekly", none)
    # Week 53 of 2026 and week 53 of 2020 are other weeks, though the same number.
    assert is_due(D(2020, 12, 31), D(2026, 12, 31), "weekly", none)


def test_month_changes() -> None:
    none = np.array([], dtype="datetime64[D]")
    assert is_due(D(2010, 1, 29), D(2010, 2, 1), "monthly", none)
    assert not is_due(D(2010, 2, 1), D(2010, 2, 26), "monthly", none)
    assert is_due(D(2009, 12, 31), D(2010, 1, 4), "monthly", none)
    assert is_due(D(2009, 1, 15), D(2010, 1, 15), "monthly", none)  # same month, next year


def test_an_int_rule_skips_holidays(calendar) -> None:
    sessions = calendar.sessions
    # Monday 2010-07-05 is a holiday (Independence Day observed): after Thursday 07-01, the
    # sessions are 07-02 and 07-06.
    assert not is_due(D(2010, 7, 1), D(2010, 7, 2), 2, sessions)
    assert is_due(D(2010, 7, 1), D(2010, 7, 6), 2, sessions)
    assert not is_due(D(2010, 7, 1), D(2010, 7, 6), 3, sessions)
    # Good Friday 2010-04-02: one session from Thursday 04-01 to Monday 04-05.
    assert is_due(D(2010, 4, 1), D(2010, 4, 5), 1, sessions)
    assert not is_due(D(2010, 4, 1), D(2010, 4, 5), 2, sessions)


def test_next_due(calendar) -> None:
    sessions = calendar.sessions
    # No rebalance yet: the first session on or after today (a Sunday before a holiday).
    assert next_due(None, D(2010, 7, 4), 21, sessions) == D(2010, 7, 6)
    assert next_due(D(2010, 7, 1), D(2010, 7, 2), 2, sessions) == D(2010, 7, 6)
    assert next_due(D(2010, 7, 1), D(2010, 7, 2), "monthly", sessions) == D(2010, 8, 2)
    # 2010-12-31 is a session in the week of 12-30; the next week starts 2011-01-03.
    assert next_due(D(2010, 12, 30), D(2010, 12, 31), "weekly", sessions) == D(2011, 1, 3)
    # Today itself, when it is due.
    assert next_due(D(2010, 7, 1), D(2010, 7, 6), 2, sessions) == D(2010, 7, 6)
    # Nothing due within the horizon.
    assert next_due(D(2010, 7, 1), D(2010, 7, 2), "monthly", sessions, horizon=5) is None
    # The horizon is 60 sessions from today: the 60th after 07-01 is the last one looked at.
    assert next_due(D(2010, 7, 1), D(2010, 7, 2), 60, sessions) == D(2010, 9, 27)
    assert next_due(D(2010, 7, 1), D(2010, 7, 2), 61, sessions) is None


@pytest.mark.parametrize("rule", [1, 5, "weekly", "monthly"])
def test_next_due_agrees_with_is_due(calendar, rule: Rule) -> None:
    sessions = calendar.sessions
    last = D(2010, 3, 17)
    found = next_due(last, D(2010, 3, 18), rule, sessions)
    assert found is not None
    between = sessions[
        (sessions > np.datetime64(last, "D")) & (sessions < np.datetime64(found, "D"))
    ]
    assert is_due(last, found, rule, sessions)
    assert not any(is_due(last, _day(s), rule, sessions) for s in between)
