"""The worker's market clock: when the data refresh runs, what the data must reach, the hours.

Pure: every function takes the calendar and the moment ``now`` (time-zone aware) and reads
no clock and no file. Times are worked out in the exchange's zone (``TradingCalendar.tz``),
so a daylight-saving change or an early close moves them as the exchange's own clock does:

- :func:`refresh_moment`: the nightly refresh of session S runs ``live.refresh_time`` after
  a regular close, and as much earlier after an early close (16:30 on a regular XNYS day,
  13:30 after a 13:00 close);
- :func:`needed_through`: the last session whose refresh moment has passed: the data must
  reach it before the next rebalance;
- :func:`after_close_refusal`: why a session's rebalance cannot be taken (the rebalance time
  is at or after its close);
- :func:`market_hours`: today's session and the next, and what the worker waits for, in
  words (the state's ``market`` and the log).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from quant_core.calendar import TradingCalendar
from quant_core.live.state_refresh import MarketHours

DAY = dt.timedelta(days=1)


def _aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be time-zone aware, got {now!r}")


def _local(calendar: TradingCalendar, moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.astimezone(ZoneInfo(calendar.tz))


def refresh_delay(calendar: TradingCalendar, refresh_time: dt.time) -> dt.timedelta:
    """Return how long after a session's close its data refresh runs.

    delay = refresh_time - regular close (exchange-local clock times; XNYS 16:30 - 16:00 =
    30 min). A refresh time before the regular close means the next morning: one day more
    (06:00 -> 14 h after a 16:00 close).
    """
    anchor = dt.date(2000, 1, 3)
    delay = dt.datetime.combine(anchor, refresh_time) - dt.datetime.combine(
        anchor, calendar.regular_close_time
    )
    return delay + DAY if delay < dt.timedelta(0) else delay


MIN_REFRESH_DELAY = dt.timedelta(minutes=15)  # a closing auction's bars settle after the close


def refresh_time_warnings(
    calendar: TradingCalendar, refresh_time: dt.time, rebalance_time: dt.time
) -> list[str]:
    """Return what is odd about ``live.refresh_time`` on this exchange (empty: nothing).

    Too soon after the regular close (under :data:`MIN_REFRESH_DELAY`: 16:30 is the close
    itself on XLON, inside its closing auction) the day's bar may be missing or not final; at or
    after the next regular session's rebalance time, every rebalance waits for the refresh (and
    a whole universe at IB's pacing takes over an hour).
    """
    delay = refresh_delay(calendar, refresh_time)
    close = calendar.regular_close_time
    anchor = dt.date(2000, 1, 3)
    until_rebalance = (
        dt.datetime.combine(anchor, rebalance_time) + DAY - dt.datetime.combine(anchor, close)
    )
    warnings = []
    if delay < MIN_REFRESH_DELAY:
        warnings.append(
            f"live.refresh_time {refresh_time:%H:%M} is {delay.total_seconds() / 60:.0f} min "
            f"after {calendar.exchange}'s close {close:%H:%M} {calendar.tz}: the session's bar may "
            "not be final yet; set it at least 15 min after the close"
        )
    if delay >= until_rebalance:
        warnings.append(
            f"live.refresh_time {refresh_time:%H:%M} comes after the next session's "
            f"live.rebalance_time {rebalance_time:%H:%M}: every rebalance would wait for the "
            "refresh; set it between the close and the next rebalance"
        )
    return warnings


def refresh_moment(
    calendar: TradingCalendar, day: dt.date, refresh_time: dt.time
) -> dt.datetime | None:
    """Return when session ``day``'s data refresh runs (UTC), or None if ``day`` is no session.

    moment = close_of(day) + :func:`refresh_delay`, added to the exchange-local wall clock (a
    daylight-saving change in between keeps the local time): XNYS 16:30 on a regular day,
    13:30 after a 13:00 early close.
    """
    close = _local(calendar, calendar.close_of(day))
    if close is None:
        return None
    return (close + refresh_delay(calendar, refresh_time)).astimezone(dt.UTC)


def needed_through(
    calendar: TradingCalendar, now: dt.datetime, refresh_time: dt.time
) -> dt.date | None:
    """Return the last session S with ``refresh_moment(S) <= now`` (None before any).

    The data must reach S before the next rebalance. XNYS, refresh 16:30: Friday 16:29 ->
    Thursday; Friday 16:31 -> Friday; Saturday, Sunday, Monday 09:35 -> Friday; the day
    after a holiday, before its refresh -> the session before the holiday.
    """
    _aware(now)
    session = calendar.last_completed_session(now)  # refresh moments come at or after closes
    while session is not None:
        moment = refresh_moment(calendar, session, refresh_time)
        if moment is not None and moment <= now:
            return session
        session = calendar.previous_session(session)
    return None


def after_close_refusal(
    calendar: TradingCalendar, day: dt.date, rebalance_time: dt.time
) -> str | None:
    """Return why session ``day`` takes no rebalance, or None when it can.

    A message when ``day`` is a session whose close (early closes included) is at or before
    ``rebalance_time`` on its local date, e.g. "rebalance for 2026-11-27 refused:
    live.rebalance_time 14:00 is at or after the session's early close 13:00
    America/New_York; the schedule takes it at the next session". None otherwise (no session,
    or the rebalance time comes before the close).
    """
    close = _local(calendar, calendar.close_of(day))
    if close is None:
        return None
    zone = ZoneInfo(calendar.tz)
    if dt.datetime.combine(day, rebalance_time, tzinfo=zone) < close:
        return None
    start = (
        f"rebalance for {day} refused: live.rebalance_time {rebalance_time:%H:%M} is at or "
        f"after the session's"
    )
    if calendar.is_early_close(day):
        return (
            f"{start} early close {close:%H:%M} {calendar.tz}; "
            "the schedule takes it at the next session"
        )
    return f"{start} close {close:%H:%M} {calendar.tz}; set live.rebalance_time before the close"


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _day(day: dt.date) -> str:
    # "Monday 2026-12-07": English weekday names, whatever the locale.
    return f"{WEEKDAYS[day.weekday()]} {day}"


def _waiting(
    calendar: TradingCalendar,
    local: dt.datetime,
    hours: tuple[dt.datetime, dt.datetime] | None,
    next_open: dt.datetime | None,
) -> str | None:
    # What the worker waits for at ``local`` (exchange time), given today's (open, close).
    zone = calendar.tz
    if next_open is None:
        after = f"no later session in the calendar (it ends {calendar.last})"
    else:
        after = f"{_day(next_open.date())} {next_open:%H:%M} {zone}"
    if hours is None:
        until = after if next_open is None else f"waiting until {after}"
        return f"not a session ({_day(local.date())}): {until}"
    opens, closes = hours
    if local < opens:
        return f"before the open: waiting until {opens:%H:%M} {zone}"
    if local < closes:
        return None
    kind = ", early close" if calendar.is_early_close(local.date()) else ""
    if next_open is not None:
        after = f"next session {_day(next_open.date())} opens {next_open:%H:%M} {zone}"
    return f"after the close ({closes:%H:%M}{kind}): {after}"


def market_hours(
    calendar: TradingCalendar, now: dt.datetime, rebalance_time: dt.time, refresh_time: dt.time
) -> MarketHours:
    """Return today's session at the exchange and the next, and what the worker waits for.

    ``today`` is ``now``'s exchange-local date. Times are exchange-local (with their UTC
    offset). ``rebalance_at``: today's rebalance moment, None when today is no session or the
    rebalance time is at or after its close; ``refresh_at``: :func:`refresh_moment`. ``waiting``
    (None inside a session's hours): "not a session (Saturday 2026-12-05): waiting until
    Monday 2026-12-07 09:30 America/New_York"; "before the open: waiting until 09:30
    America/New_York"; "after the close (13:00, early close): next session Monday 2026-12-07
    opens 09:30 America/New_York".
    """
    _aware(now)
    zone = ZoneInfo(calendar.tz)
    local = now.astimezone(zone)
    today = local.date()
    opens = _local(calendar, calendar.open_of(today))
    closes = _local(calendar, calendar.close_of(today))
    early = calendar.is_early_close(today)
    following = calendar.next_session(today)
    next_open = None if following is None else _local(calendar, calendar.open_of(following))
    rebalance_at = refresh_at = None
    if closes is not None:
        rebalance_at = dt.datetime.combine(today, rebalance_time, tzinfo=zone)
        rebalance_at = None if rebalance_at >= closes else rebalance_at
        refresh_at = _local(calendar, refresh_moment(calendar, today, refresh_time))
    hours = None if opens is None or closes is None else (opens, closes)
    waiting = _waiting(calendar, local, hours, next_open)
    return MarketHours(
        today=today,
        session=closes is not None,
        opens_at=opens,
        closes_at=closes,
        early_close=early,
        rebalance_at=rebalance_at,
        refresh_at=refresh_at,
        next_session=following,
        next_open=next_open,
        waiting=waiting,
    )
