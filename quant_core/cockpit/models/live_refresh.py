"""The Live Dashboard's data refresh and market hours, in words (no Streamlit: unit-tested).

The worker reports its own data refresh (the state's ``refresh``,
:class:`~quant_core.live.state.DataRefresh`) and the exchange's hours as its market clock sees
them (the state's ``market``, :class:`~quant_core.live.state.MarketHours`). This module turns
both into what ``views/live_data.py`` draws: a headline with a status badge, the worker's
one-line summary ("data through 2026-12-03, refreshed 16:41, 500 symbols, 2 rejected rows"),
the running attempt's progress (``done / total`` as a fraction of 1), a message when the refresh
failed (warning: the error, the failures in a row, the next attempt) or is off ("the data comes
from run_data_sync.py"), detail lines, and the waiting text of a worker outside a session.

Times are shown at the exchange (``zone``, its calendar's time zone, e.g. America/New_York), as
the worker's market clock reasons: ``16:41`` on ``today`` (the exchange-local date now), else
``2026-12-03 16:41``. An older state file without these sections gives "not reported".
Strings from the file are escaped for Markdown only where this module writes Markdown
(:func:`refresh_headline`, :func:`market_headline`); the other lines are plain text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from quant_core.cockpit.format import md
from quant_core.cockpit.models.dashboard import Message
from quant_core.live.state import DataRefresh, MarketHours, RefreshStatus

NOT_REPORTED_REFRESH = (
    "Data refresh: not reported (the worker's state file has no refresh section: "
    "a worker older than live.refresh)."
)
NOT_REPORTED_MARKET = "Market hours: not reported (the worker's state file has no market section)."
OFF_TEXT = (
    "Data refresh is off (live.refresh: none): the data comes from run_data_sync.py. Run it "
    "after each close, before live.rebalance_time; the worker refuses to rebalance on stale data."
)
BADGE_COLORS = {  # status -> badge colour
    RefreshStatus.OFF: "gray",
    RefreshStatus.IDLE: "green",
    RefreshStatus.DUE: "blue",
    RefreshStatus.RUNNING: "blue",
    RefreshStatus.FAILED: "orange",
}


@dataclass(frozen=True, slots=True)
class Progress:
    """A running attempt's progress: ``fraction`` = done / total in [0, 1], and its label."""

    fraction: float
    text: str


def exchange_time(when: dt.datetime | None, zone: ZoneInfo, today: dt.date | None = None) -> str:
    """Return ``when`` at the exchange: ``16:41`` on ``today``, else ``2026-12-03 16:41``.

    ``-`` when unknown. ``today`` is the exchange-local date now (None: always the date).
    """
    if when is None:
        return "-"
    local = when.astimezone(zone)
    return f"{local:%H:%M}" if local.date() == today else f"{local:%Y-%m-%d %H:%M}"


def weekday_date(day: dt.date) -> str:
    """Return ``Monday 2026-12-07``."""
    return f"{day:%A %Y-%m-%d}"


def summary(refresh: DataRefresh, zone: ZoneInfo, today: dt.date | None = None) -> str:
    """Return the refresh's one line: the worker's ``summary``, or one built from the fields.

    Built (an empty ``summary``): off, "data refresh off (live.refresh: none)"; running,
    "refreshing through D: <phase> <done>/<total>"; failed, "refresh through D failed (N
    attempts): <error>; next attempt HH:MM"; otherwise "data through D, refreshed HH:MM,
    N symbols, R rejected rows" (the parts known).
    """
    if refresh.summary:
        return refresh.summary
    status = refresh.status
    through = refresh.needed_through or "the last session"
    if status is RefreshStatus.OFF:
        return "data refresh off (live.refresh: none)"
    if status is RefreshStatus.RUNNING:
        return f"refreshing through {through}: {progress_label(refresh)}"
    if status is RefreshStatus.FAILED:
        return (
            f"refresh through {through} failed ({_attempts(refresh.attempts)}): "
            f"{refresh.error or 'no error reported'}; next attempt "
            f"{exchange_time(refresh.next_attempt_at, zone, today)}"
        )
    parts = [f"data through {refresh.data_through or 'unknown'}"]
    if refresh.refreshed_at is not None:
        parts.append(f"refreshed {exchange_time(refresh.refreshed_at, zone, today)}")
    if refresh.symbols is not None:
        parts.append(f"{refresh.symbols:,} symbols")
    if refresh.rejected is not None:
        parts.append(f"{refresh.rejected:,} rejected rows")
    return ", ".join(parts)


def progress_label(refresh: DataRefresh) -> str:
    """Return ``ib history 120/500 (24%)``; the phase alone without counts; ``starting``."""
    phase = refresh.phase or "starting"
    if refresh.done is None or not refresh.total:
        return phase
    return f"{phase} {refresh.done:,}/{refresh.total:,} ({refresh.done / refresh.total:.0%})"


def progress(refresh: DataRefresh | None) -> Progress | None:
    """Return a running attempt's progress bar (None: not running).

    ``fraction = done / total``, clipped to [0, 1]; 0 while the total is unknown.
    """
    if refresh is None or refresh.status is not RefreshStatus.RUNNING:
        return None
    fraction = 0.0
    if refresh.done is not None and refresh.total:
        fraction = min(1.0, max(0.0, refresh.done / refresh.total))
    return Progress(fraction, progress_label(refresh))


def refresh_headline(
    refresh: DataRefresh | None, zone: ZoneInfo, today: dt.date | None = None
) -> str:
    """Return the section's Markdown headline: a status badge, then the summary line."""
    if refresh is None:
        return md(NOT_REPORTED_REFRESH)
    color = BADGE_COLORS[refresh.status]
    badge = f":{color}-badge[refresh {refresh.status.value}]"
    return f"**Data refresh** {badge} {md(summary(refresh, zone, today))}"


def refresh_message(
    refresh: DataRefresh | None, zone: ZoneInfo, today: dt.date | None = None
) -> Message | None:
    """Return the refresh's message: a failure (warning), off or due (info); None otherwise."""
    if refresh is None:
        return None
    status = refresh.status
    if status is RefreshStatus.OFF:
        return Message("info", OFF_TEXT)
    if status is RefreshStatus.FAILED:
        through = refresh.needed_through or "the last session"
        return Message(
            "warning",
            f"Data refresh through {through} failed ({_attempts(refresh.attempts)} in a row): "
            f"{refresh.error or 'no error reported'}. Next attempt "
            f"{exchange_time(refresh.next_attempt_at, zone, today)}. The worker does not "
            "rebalance on stale data until a refresh succeeds.",
        )
    if status is RefreshStatus.DUE:
        return Message(
            "info",
            f"Sessions are missing: the data ends {refresh.data_through or 'nowhere yet'}, the "
            f"next rebalance needs {refresh.needed_through or 'the last session'}. The refresh "
            "starts at the worker's next heartbeat.",
        )
    return None


def refresh_lines(
    refresh: DataRefresh | None, zone: ZoneInfo, today: dt.date | None = None
) -> list[str]:
    """Return the refresh's detail lines (plain text): the data's span, the last outcome, now."""
    if refresh is None:
        return []
    data, needed = refresh.data_through, refresh.needed_through
    span = f"Data through {data or 'unknown'}"
    if needed is not None:
        behind = data is None or data < needed
        span += f"; needed through {needed} ({'behind' if behind else 'up to date'})"
    lines = [span]
    if refresh.refreshed_at is None:
        lines.append("No refresh has finished yet")
    else:
        figures = [f"Last refresh finished {exchange_time(refresh.refreshed_at, zone, today)}"]
        for value, unit in (
            (refresh.symbols, "symbols"),
            (refresh.rows_written, "rows written"),
            (refresh.rejected, "rejected rows"),
            (refresh.requests, "history requests"),
        ):
            if value is not None:
                figures.append(f"{value:,} {unit}")
        lines.append(" · ".join(figures))
    if refresh.factors:
        lines.append(f"Factors recomputed: {', '.join(refresh.factors)}")
    if refresh.status is RefreshStatus.RUNNING and refresh.started_at is not None:
        lines.append(f"Attempt started {exchange_time(refresh.started_at, zone, today)}")
    if refresh.status is RefreshStatus.FAILED and refresh.started_at is not None:
        lines.append(f"Last attempt started {exchange_time(refresh.started_at, zone, today)}")
    return lines


def _attempts(n: int) -> str:
    return f"{n} attempt" + ("" if n == 1 else "s")


# ----------------------------------------------------------------------------- market


def session_hours(market: MarketHours, zone: ZoneInfo) -> str:
    """Return today's session: ``09:30-13:00 (early close)``; ``not a session``."""
    if not market.session or market.opens_at is None or market.closes_at is None:
        return "not a session"
    hours = f"{market.opens_at.astimezone(zone):%H:%M}-{market.closes_at.astimezone(zone):%H:%M}"
    return hours + (" (early close)" if market.early_close else "")


def market_headline(market: MarketHours | None, zone: ZoneInfo) -> str:
    """Return the market's Markdown headline: a badge (session, early close, none) and today."""
    if market is None:
        return md(NOT_REPORTED_MARKET)
    if not market.session:
        badge = ":gray-badge[no session today]"
    elif market.early_close:
        badge = ":orange-badge[early close]"
    else:
        badge = ":green-badge[session today]"
    today = f"{weekday_date(market.today)}: {session_hours(market, zone)}"
    return f"**Market** {badge} {md(today)}"


def waiting_message(market: MarketHours | None) -> Message | None:
    """Return what the worker waits for (the market clock's words), or None inside a session."""
    if market is None or not market.waiting:
        return None
    return Message("info", f"Worker waiting: {market.waiting}")


def market_lines(market: MarketHours | None, zone: ZoneInfo) -> list[str]:
    """Return the market's detail lines: today's rebalance and refresh moments, the next session."""
    if market is None:
        return []
    lines = []
    moments = [
        f"{what} at {exchange_time(when, zone, market.today)}"
        for what, when in (("rebalance", market.rebalance_at), ("data refresh", market.refresh_at))
        if when is not None
    ]
    if moments:
        lines.append("Today: " + " · ".join(moments))
    if market.next_session is not None:
        opens = (
            f", opens {market.next_open.astimezone(zone):%H:%M}"
            if market.next_open is not None
            else ""
        )
        lines.append(f"Next session: {weekday_date(market.next_session)}{opens}")
    return lines


def zone_caption(zone: ZoneInfo) -> str:
    """Return the section's note on its times: ``Times at the exchange (America/New_York)``."""
    return f"Times at the exchange ({zone.key})"
