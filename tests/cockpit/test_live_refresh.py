"""The Live Dashboard's data refresh and market hours: the words (unit) and the page (AppTest).

The model (``cockpit.models.live_refresh``) is tested from hand-built ``DataRefresh`` and
``MarketHours`` rows of the XNYS calendar in December 2026 (EST, UTC-5): Thursday 2026-12-03
and Friday 2026-12-04 are regular sessions, Saturday 2026-12-05 is none, Friday 2026-11-27 (after
Thanksgiving) closes at 13:00. The page is tested with state files written by the worker's own
writer, holding each refresh status and market case, and an older file without the sections.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from quant_core.calendar import TradingCalendar
from quant_core.cockpit.models import live_refresh as words
from quant_core.cockpit.models.dashboard import Message
from quant_core.live.market_clock import market_hours
from quant_core.live.state import DataRefresh, MarketHours, RefreshStatus
from tests.cockpit import live_reports as reports

Opener = Callable[[str], AppTest]
NY = ZoneInfo("America/New_York")
UTC = dt.UTC
THU, FRI, SAT, MON = (dt.date(2026, 12, d) for d in (3, 4, 5, 7))
BLACK_FRIDAY = dt.date(2026, 11, 27)
WAITING = (
    "not a session (Saturday 2026-12-05): waiting until Monday 2026-12-07 09:30 America/New_York"
)
WORKER_SUMMARY = "data through 2026-12-03, refreshed 16:41, 500 symbols, 2 rejected rows"
RUNNING_SUMMARY = "refreshing through 2026-12-04: ib history 120/500"


def at_utc(day: dt.date, hour: int, minute: int) -> dt.datetime:
    """Return ``day`` ``hour:minute`` UTC."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def idle(**over: Any) -> DataRefresh:
    """Return an idle refresh: Thursday's data, refreshed 16:41 EST (21:41 UTC)."""
    fields: dict[str, Any] = {
        "status": RefreshStatus.IDLE,
        "data_through": THU,
        "needed_through": THU,
        "refreshed_at": at_utc(THU, 21, 41),
        "started_at": at_utc(THU, 21, 30),
        "symbols": 500,
        "rows_written": 498,
        "rejected": 2,
        "requests": 500,
        "factors": ("mom_12_1", "vol_20"),
    }
    return DataRefresh(**(fields | over))


def running(**over: Any) -> DataRefresh:
    """Return a refresh fetching Friday: ib history, 120 of 500 symbols."""
    base: dict[str, Any] = {
        "status": RefreshStatus.RUNNING,
        "needed_through": FRI,
        "started_at": at_utc(FRI, 21, 30),
        "phase": "ib history",
        "done": 120,
        "total": 500,
    }
    return idle(**(base | over))


def failed(**over: Any) -> DataRefresh:
    """Return a refresh of Friday that failed twice; the next attempt at 17:41 EST."""
    base: dict[str, Any] = {
        "status": RefreshStatus.FAILED,
        "needed_through": FRI,
        "started_at": at_utc(FRI, 22, 11),
        "attempts": 2,
        "error": "TemporaryBrokerError: Gateway not connected",
        "next_attempt_at": at_utc(FRI, 22, 41),
    }
    return idle(**(base | over))


def market(day: dt.date, **over: Any) -> MarketHours:
    """Return ``day``'s market hours: a regular session 09:30-16:00 EST unless ``over`` says."""
    fields: dict[str, Any] = {
        "today": day,
        "session": True,
        "opens_at": at_utc(day, 14, 30),
        "closes_at": at_utc(day, 21, 0),
        "rebalance_at": at_utc(day, 15, 0),
        "refresh_at": at_utc(day, 21, 30),
        "next_session": day + dt.timedelta(days=1),
        "next_open": at_utc(day + dt.timedelta(days=1), 14, 30),
    }
    return MarketHours(**(fields | over))


def saturday() -> MarketHours:
    """Return Saturday 2026-12-05: no session, waiting for Monday's open."""
    return MarketHours(
        today=SAT, session=False, next_session=MON, next_open=at_utc(MON, 14, 30), waiting=WAITING
    )


def early_close() -> MarketHours:
    """Return Friday 2026-11-27: closes 13:00 EST, the refresh moves to 13:30."""
    return market(
        BLACK_FRIDAY,
        closes_at=at_utc(BLACK_FRIDAY, 18, 0),
        early_close=True,
        refresh_at=at_utc(BLACK_FRIDAY, 18, 30),
        next_session=dt.date(2026, 11, 30),
        next_open=at_utc(dt.date(2026, 11, 30), 14, 30),
    )


# ----------------------------------------------------------------------------- the words


def test_times_are_the_exchanges_with_the_date_unless_today() -> None:
    december = at_utc(THU, 21, 41)  # EST: UTC-5
    assert words.exchange_time(december, NY, THU) == "16:41"
    assert words.exchange_time(december, NY, FRI) == "2026-12-03 16:41"
    assert words.exchange_time(december, NY) == "2026-12-03 16:41"
    july = dt.datetime(2026, 7, 1, 20, 41, tzinfo=UTC)  # EDT: UTC-4
    assert words.exchange_time(july, NY, dt.date(2026, 7, 1)) == "16:41"
    # A time that carries another offset is converted, not read as written.
    tokyo = july.astimezone(ZoneInfo("Asia/Tokyo"))
    assert words.exchange_time(tokyo, NY, dt.date(2026, 7, 1)) == "16:41"
    assert words.exchange_time(None, NY) == "-"


def test_the_summary_is_the_workers_else_built_from_the_fields() -> None:
    assert words.summary(idle(summary="as the worker says"), NY) == "as the worker says"
    # Built from the fields, it is the line: refreshed 21:41 UTC is 16:41 in New York.
    assert words.summary(idle(), NY, THU) == WORKER_SUMMARY
    assert words.summary(idle(symbols=None, rejected=None, refreshed_at=None), NY) == (
        "data through 2026-12-03"
    )
    assert words.summary(running(), NY) == "refreshing through 2026-12-04: ib history 120/500 (24%)"
    assert words.summary(failed(), NY, FRI) == (
        "refresh through 2026-12-04 failed (2 attempts): TemporaryBrokerError: Gateway not "
        "connected; next attempt 17:41"
    )
    assert "live.refresh: none" in words.summary(DataRefresh(status=RefreshStatus.OFF), NY)


def test_progress_is_done_over_total_only_while_running() -> None:
    bar = words.progress(running())
    assert bar is not None
    assert bar.fraction == pytest.approx(120 / 500)
    assert bar.text == "ib history 120/500 (24%)"
    over = words.progress(running(done=510))  # a count past its total is drawn full
    assert over is not None
    assert over.fraction == 1.0
    unknown = words.progress(running(phase="plan", done=None, total=None))
    assert unknown == words.Progress(0.0, "plan")
    zero = words.progress(running(phase=None, done=0, total=0))
    assert zero == words.Progress(0.0, "starting")
    assert words.progress(idle()) is None
    assert words.progress(failed()) is None
    assert words.progress(None) is None


def test_a_failure_is_a_warning_with_the_error_attempts_and_next_attempt() -> None:
    message = words.refresh_message(failed(), NY, FRI)
    assert message is not None
    assert message.level == "warning"
    assert "TemporaryBrokerError: Gateway not connected" in message.text
    assert "2 attempts in a row" in message.text
    assert "Next attempt 17:41" in message.text
    assert "does not rebalance on stale data" in message.text
    once = words.refresh_message(failed(attempts=1), NY)
    assert once is not None
    assert "(1 attempt in a row)" in once.text
    assert "Next attempt 2026-12-04 17:41" in once.text  # not today: dated


def test_off_says_the_data_comes_from_run_data_sync() -> None:
    message = words.refresh_message(DataRefresh(status=RefreshStatus.OFF), NY)
    assert message is not None
    assert message.level == "info"
    assert "run_data_sync.py" in message.text
    assert "live.refresh: none" in message.text


def test_due_says_what_is_missing_and_quiet_states_say_nothing() -> None:
    due = words.refresh_message(idle(status=RefreshStatus.DUE, needed_through=FRI), NY)
    assert due is not None
    assert due.level == "info"
    assert "the data ends 2026-12-03" in due.text
    assert "needs 2026-12-04" in due.text
    assert words.refresh_message(idle(), NY) is None
    assert words.refresh_message(running(), NY) is None
    assert words.refresh_message(None, NY) is None


@pytest.mark.parametrize(
    ("refresh", "badge"),
    [
        (DataRefresh(status=RefreshStatus.OFF), ":gray-badge[refresh off]"),
        (idle(), ":green-badge[refresh idle]"),
        (idle(status=RefreshStatus.DUE), ":blue-badge[refresh due]"),
        (running(), ":blue-badge[refresh running]"),
        (failed(), ":orange-badge[refresh failed]"),
    ],
)
def test_the_headline_carries_the_status_badge(refresh: DataRefresh, badge: str) -> None:
    headline = words.refresh_headline(refresh, NY)
    assert headline.startswith(f"**Data refresh** {badge} ")


def test_the_headline_escapes_the_files_text() -> None:
    headline = words.refresh_headline(failed(summary="failed: *boom* [x](http://h)"), NY)
    assert "\\*boom\\* \\[x\\](http://h)" in headline
    assert "not reported" in words.refresh_headline(None, NY)


def test_the_lines_give_the_span_the_last_outcome_and_the_attempt() -> None:
    lines = words.refresh_lines(idle(), NY, THU)
    assert lines == [
        "Data through 2026-12-03; needed through 2026-12-03 (up to date)",
        "Last refresh finished 16:41 · 500 symbols · 498 rows written · 2 rejected rows · "
        "500 history requests",
        "Factors recomputed: mom_12_1, vol_20",
    ]
    behind = words.refresh_lines(running(), NY, FRI)
    assert behind[0] == "Data through 2026-12-03; needed through 2026-12-04 (behind)"
    assert behind[1].startswith("Last refresh finished 2026-12-03 16:41 · ")
    assert behind[-1] == "Attempt started 16:30"
    first = words.refresh_lines(
        DataRefresh(status=RefreshStatus.DUE, needed_through=FRI, rejected=3), NY
    )
    assert first == [
        "Data through unknown; needed through 2026-12-04 (behind)",
        "No refresh has finished yet",
    ]
    assert words.refresh_lines(failed(), NY, FRI)[-1] == "Last attempt started 17:11"
    assert words.refresh_lines(None, NY) == []


def test_a_regular_session_shows_its_hours_and_the_days_moments() -> None:
    today = market(THU)
    assert words.session_hours(today, NY) == "09:30-16:00"
    assert words.market_headline(today, NY) == (
        "**Market** :green-badge[session today] Thursday 2026-12-03: 09:30-16:00"
    )
    assert words.market_lines(today, NY) == [
        "Today: rebalance at 10:00 · data refresh at 16:30",
        "Next session: Friday 2026-12-04, opens 09:30",
    ]
    assert words.waiting_message(today) is None


def test_an_early_close_is_flagged_and_the_refresh_moves() -> None:
    day = early_close()
    assert words.session_hours(day, NY) == "09:30-13:00 (early close)"
    assert words.market_headline(day, NY).startswith("**Market** :orange-badge[early close] ")
    assert words.market_lines(day, NY)[0] == "Today: rebalance at 10:00 · data refresh at 13:30"


def test_a_non_session_day_says_until_when_the_worker_waits() -> None:
    day = saturday()
    assert words.session_hours(day, NY) == "not a session"
    assert words.market_headline(day, NY) == (
        "**Market** :gray-badge[no session today] Saturday 2026-12-05: not a session"
    )
    message = words.waiting_message(day)
    assert message == Message("info", f"Worker waiting: {WAITING}")
    assert words.market_lines(day, NY) == ["Next session: Monday 2026-12-07, opens 09:30"]


@pytest.mark.parametrize(
    ("now", "headline", "waiting"),
    [
        (
            dt.datetime(2026, 12, 5, 12, 0, tzinfo=NY),
            "no session today] Saturday 2026-12-05: not a session",
            WAITING,
        ),
        (
            dt.datetime(2026, 11, 27, 14, 0, tzinfo=NY),
            "early close] Friday 2026-11-27: 09:30-13:00 (early close)",
            "after the close (13:00, early close): next session Monday 2026-11-30 opens 09:30",
        ),
        (
            dt.datetime(2026, 12, 3, 8, 0, tzinfo=NY),
            "session today] Thursday 2026-12-03: 09:30-16:00",
            "before the open",
        ),
        (
            dt.datetime(2026, 12, 3, 11, 0, tzinfo=NY),
            "session today] Thursday 2026-12-03: 09:30-16:00",
            None,
        ),
    ],
)
def test_the_worker_market_clock_reads_through_the_state_file(
    calendar: TradingCalendar, now: dt.datetime, headline: str, waiting: str | None
) -> None:
    clock = market_hours(calendar, now, dt.time(10, 0), dt.time(16, 30))
    read = MarketHours.from_json(clock.to_json())  # as the page gets it: through the file
    assert headline in words.market_headline(read, NY)
    message = words.waiting_message(read)
    if waiting is None:
        assert message is None
    else:
        assert message is not None
        assert waiting in message.text


def test_an_older_state_says_not_reported() -> None:
    assert "not reported" in words.market_headline(None, NY)
    assert words.market_lines(None, NY) == []
    assert words.waiting_message(None) is None
    assert words.zone_caption(NY) == "Times at the exchange (America/New_York)"


# ----------------------------------------------------------------------------- the page


def write(data_dir: Path, refresh: DataRefresh | None, hours: MarketHours | None) -> None:
    """Write a running worker's state with these sections (None: left out, as an older file)."""
    document = reports.state(reports.SESSIONS[-1], [], [])
    if refresh is not None:
        document["refresh"] = refresh.to_json()
    if hours is not None:
        document["market"] = hours.to_json()
    reports.write(data_dir / "live", document)


def texts(at: AppTest, kind: str) -> str:
    """Return the values of every element of ``kind`` (markdown, caption, info, ...), joined."""
    return "\n".join(str(e.value) for e in getattr(at, kind))


def open_live(
    data_dir: Path, open_page: Opener, refresh: DataRefresh | None, hours: MarketHours | None
) -> AppTest:
    """Write the state, then open the Live Dashboard (no exception allowed)."""
    write(data_dir, refresh, hours)
    at = open_page("live")
    assert not at.exception, at.exception
    return at


def test_page_shows_a_running_refresh_with_its_progress(data_dir: Path, open_page: Opener) -> None:
    at = open_live(data_dir, open_page, running(summary=RUNNING_SUMMARY), market(FRI))
    markdown = texts(at, "markdown")
    assert f"**Data refresh** :blue-badge[refresh running] {RUNNING_SUMMARY}" in markdown
    [bar] = at.progress
    assert bar.value == 24
    assert bar.text == "ib history 120/500 (24%)"
    captions = texts(at, "caption")
    assert "needed through 2026-12-04 (behind)" in captions
    assert "2 rejected rows" in captions
    assert "Times at the exchange (America/New_York)" in captions
    assert "refresh" not in texts(at, "warning")


def test_page_follows_the_refresh_to_its_outcome_on_the_next_tick(
    data_dir: Path, open_page: Opener
) -> None:
    at = open_live(data_dir, open_page, running(), market(FRI))
    assert len(at.progress) == 1
    write(data_dir, idle(data_through=FRI, needed_through=FRI, summary=WORKER_SUMMARY), market(FRI))
    at.run()
    assert not at.exception, at.exception
    assert not at.progress
    assert f":green-badge[refresh idle] {WORKER_SUMMARY}" in texts(at, "markdown")


def test_page_warns_of_a_failed_refresh(data_dir: Path, open_page: Opener) -> None:
    at = open_live(data_dir, open_page, failed(), market(FRI))
    warnings = texts(at, "warning")
    assert "Data refresh through 2026-12-04 failed (2 attempts in a row)" in warnings
    assert "TemporaryBrokerError: Gateway not connected" in warnings
    assert "17:41" in warnings
    assert ":orange-badge[refresh failed]" in texts(at, "markdown")
    assert not at.progress


@pytest.mark.parametrize(
    ("refresh", "badge", "info"),
    [
        (DataRefresh(status=RefreshStatus.OFF), "refresh off", "run_data_sync.py"),
        (idle(status=RefreshStatus.DUE, needed_through=FRI), "refresh due", "Sessions are missing"),
        (idle(summary=WORKER_SUMMARY), "refresh idle", None),
    ],
)
def test_page_shows_each_quiet_status(
    data_dir: Path, open_page: Opener, refresh: DataRefresh, badge: str, info: str | None
) -> None:
    at = open_live(data_dir, open_page, refresh, market(THU))
    assert f"-badge[{badge}]" in texts(at, "markdown")
    infos = texts(at, "info")
    if info is None:
        assert "refresh" not in infos.lower()
        assert WORKER_SUMMARY in texts(at, "markdown")
    else:
        assert info in infos
    assert not at.progress


def test_page_says_until_when_a_worker_waits_on_a_non_session_day(
    data_dir: Path, open_page: Opener
) -> None:
    at = open_live(data_dir, open_page, idle(), saturday())
    assert f"Worker waiting: {WAITING}" in texts(at, "info")
    assert ":gray-badge[no session today] Saturday 2026-12-05: not a session" in texts(
        at, "markdown"
    )
    assert "Next session: Monday 2026-12-07, opens 09:30" in texts(at, "caption")


def test_page_flags_an_early_close(data_dir: Path, open_page: Opener) -> None:
    at = open_live(data_dir, open_page, idle(), early_close())
    assert ":orange-badge[early close] Friday 2026-11-27: 09:30-13:00 (early close)" in texts(
        at, "markdown"
    )
    assert "data refresh at 13:30" in texts(at, "caption")


def test_page_renders_an_older_state_file_without_the_sections(
    data_dir: Path, open_page: Opener
) -> None:
    at = open_live(data_dir, open_page, None, None)
    markdown = texts(at, "markdown")
    assert "Data refresh: not reported" in markdown
    assert "Market hours: not reported" in markdown
    assert "Times at the exchange" not in texts(at, "caption")
    assert not at.progress
    assert "Worker waiting" not in texts(at, "info")
