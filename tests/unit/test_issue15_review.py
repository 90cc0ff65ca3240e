"""Review of issue 15: --health's odd files and its boundary wording; the calendar's hard days.

The calendar checks pin what the review found right (a year's turn, other exchanges' half
days, a rebalance time exactly at the close), so a later change cannot quietly break it.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from quant_core.calendar import TradingCalendar, get_calendar
from quant_core.live.files import STATE_FILE
from quant_core.live.health import check_health
from quant_core.live.market_clock import (
    after_close_refusal,
    market_hours,
    needed_through,
    refresh_moment,
)
from quant_core.live.state import SCHEMA_VERSION, WorkerInfo, WorkerMode, WorkerState

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)
NY = ZoneInfo("America/New_York")
D = dt.date.fromisoformat


def _state(live: Path, heartbeat_at: dt.datetime) -> Path:
    worker = WorkerInfo(
        pid=77,
        state=WorkerState.RUNNING,
        reason="connected",
        mode=WorkerMode.SIM,
        account="SIM",
        run_id="run-1",
        started_at=heartbeat_at - dt.timedelta(hours=1),
        heartbeat_at=heartbeat_at,
        session=None,
        strategy="fixed",
    )
    live.mkdir(parents=True, exist_ok=True)
    doc = {"schema_version": SCHEMA_VERSION, "worker": worker.to_json()}
    (live / STATE_FILE).write_text(json.dumps(doc))
    return live


# ----------------------------------------------------------------------------- --health


def test_a_state_path_that_cannot_be_read_is_unhealthy_not_a_crash(tmp_path: Path) -> None:
    # A directory where the file should be (or a file the monitor's user may not read): the
    # answer is still one line and a verdict, never a traceback and exit 3.
    live = tmp_path / "live"
    (live / STATE_FILE).mkdir(parents=True)
    ok, line = check_health(live, NOW, 60.0)
    assert not ok
    assert line.startswith(f"unhealthy: {live / STATE_FILE} cannot be read (IsADirectoryError")


def test_health_on_an_unreadable_state_exits_1_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "live" / STATE_FILE).mkdir(parents=True)
    data_dir = f"paths.data_dir={tmp_path}"
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_live_strategy.py"), "--health", "--set", data_dir],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("unhealthy: ")
    assert "Traceback" not in result.stderr


def test_a_stale_heartbeat_never_reads_as_the_limit_itself(tmp_path: Path) -> None:
    # 60.4 s is past a 60 s limit: "heartbeat 60 s old (max 60 s)" would contradict the verdict.
    live = _state(tmp_path / "live", NOW - dt.timedelta(seconds=60.4))
    ok, line = check_health(live, NOW, 60.0)
    assert not ok
    assert "heartbeat 60.4 s old (max 60 s)" in line
    ok, line = check_health(live, NOW, 61.0)
    assert ok
    assert "heartbeat 60 s old (max 61 s)" in line


def test_a_limit_under_a_second_is_shown_as_given(tmp_path: Path) -> None:
    live = _state(tmp_path / "live", NOW - dt.timedelta(seconds=1))
    ok, line = check_health(live, NOW, 0.5)
    assert not ok
    assert "heartbeat 1 s old (max 0.5 s)" in line


def test_a_heartbeat_just_past_the_future_limit_says_so(tmp_path: Path) -> None:
    live = _state(tmp_path / "live", NOW + dt.timedelta(seconds=60.3))
    ok, line = check_health(live, NOW, 60.0)
    assert not ok
    assert "heartbeat 60.3 s in the future (max 60 s old)" in line


# ----------------------------------------------------------------------------- calendar


def test_the_years_turn_waits_over_new_year_and_needs_december_31(
    calendar: TradingCalendar,
) -> None:
    # Thursday 2026-12-31 is a session, Friday 2027-01-01 a holiday, Monday 2027-01-04 next.
    assert calendar.next_session(D("2026-12-31")) == D("2027-01-04")
    new_year = dt.datetime(2027, 1, 1, 12, 0, tzinfo=NY)
    hours = market_hours(calendar, new_year, dt.time(9, 35), dt.time(16, 30))
    assert not hours.session
    assert hours.waiting == (
        "not a session (Friday 2027-01-01): waiting until Monday 2027-01-04 09:30 America/New_York"
    )
    monday = dt.datetime(2027, 1, 4, 9, 35, tzinfo=NY)
    assert needed_through(calendar, monday, dt.time(16, 30)) == D("2026-12-31")
    assert needed_through(calendar, new_year, dt.time(16, 30)) == D("2026-12-31")


def test_a_rebalance_exactly_at_the_close_is_refused_one_minute_before_is_not(
    calendar: TradingCalendar,
) -> None:
    assert after_close_refusal(calendar, D("2026-11-27"), dt.time(13, 0)) is not None
    assert after_close_refusal(calendar, D("2026-11-27"), dt.time(12, 59)) is None
    regular = after_close_refusal(calendar, D("2026-11-25"), dt.time(16, 0))
    assert regular is not None
    assert regular.endswith(
        "close 16:00 America/New_York; set live.rebalance_time before the close"
    )
    at_close = dt.datetime(2026, 11, 27, 13, 0, tzinfo=NY)
    assert market_hours(calendar, at_close, dt.time(9, 35), dt.time(16, 30)).waiting == (
        "after the close (13:00, early close): next session Monday 2026-11-30 opens 09:30 "
        "America/New_York"
    )


@pytest.mark.parametrize(
    ("exchange", "day", "close", "regular", "refresh_at"),
    [
        # A 17:00 refresh is 30 min after London's 16:30 close, 60 min after Hong Kong's 16:00.
        ("XLON", "2026-12-24", dt.time(12, 30), dt.time(16, 30), dt.time(13, 0)),
        ("XLON", "2026-12-31", dt.time(12, 30), dt.time(16, 30), dt.time(13, 0)),
        ("XHKG", "2026-12-24", dt.time(12, 0), dt.time(16, 0), dt.time(13, 0)),
        ("XHKG", "2026-02-16", dt.time(12, 0), dt.time(16, 0), dt.time(13, 0)),  # Lunar NY eve
    ],
)
def test_other_exchanges_half_days_move_the_refresh_and_refuse_an_afternoon_rebalance(
    exchange: str, day: str, close: dt.time, regular: dt.time, refresh_at: dt.time
) -> None:
    cal = get_calendar(exchange)
    zone = ZoneInfo(cal.tz)
    assert cal.regular_close_time == regular
    assert cal.is_early_close(D(day))
    closes = cal.close_of(D(day))
    assert closes is not None
    assert closes.astimezone(zone).time() == close
    moment = refresh_moment(cal, D(day), dt.time(17, 0))
    assert moment is not None
    assert moment.astimezone(zone) == dt.datetime.combine(D(day), refresh_at, tzinfo=zone)
    refusal = after_close_refusal(cal, D(day), dt.time(14, 0))
    assert refusal is not None
    assert f"early close {close:%H:%M} {cal.tz}" in refusal


def test_tokyo_moving_its_close_flags_no_early_close() -> None:
    # Tokyo closed at 15:00 until 2024-11-01 and at 15:30 from 2024-11-05: neither is early.
    cal = get_calendar("XTKS")
    assert cal.regular_close_time == dt.time(15, 30)
    sessions = cal.sessions_in_range(D("2024-01-01"), D("2026-12-31"))
    assert not any(cal.is_early_close(day.astype(dt.date)) for day in sessions)
