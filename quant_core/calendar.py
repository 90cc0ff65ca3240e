"""Trading days of an exchange, from ``exchange_calendars`` (never a hand-written holiday list)."""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd
from pandas.errors import Pandas4Warning

from quant_core.errors import ConfigError

logger = logging.getLogger(__name__)

# exchange_calendars builds only 20 years back by default; our data starts earlier.
CALENDAR_START = "1990-01-02"
CALENDAR_END = "2030-12-31"
TRADING_DAYS_PER_YEAR = 252  # sessions, for annualising per-session statistics


class TradingCalendar:
    """The sessions of one exchange as a sorted array of dates.

    Parameters
    ----------
    exchange
        An ``exchange_calendars`` code such as ``"XNYS"``.
    """

    def __init__(self, exchange: str) -> None:
        try:
            # exchange_calendars 4.13.2 reads Series.values on tz-aware data, which pandas 3.1
            # deprecates; the sessions it returns are unaffected. Silence only that, only here.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Pandas4Warning)
                cal = _build(exchange)
        except xcals.errors.InvalidCalendarName as exc:
            raise ConfigError(
                f"calendar.exchange: unknown exchange {exchange!r}; "
                "expected an exchange_calendars code such as XNYS"
            ) from exc
        self.exchange = exchange
        self.tz = str(cal.tz)  # the exchange's time zone, e.g. America/New_York
        self._sessions: np.ndarray = cal.sessions.to_numpy().astype("datetime64[D]")
        self._closes = pd.DatetimeIndex(cal.closes).tz_convert("UTC")
        self._opens = pd.DatetimeIndex(cal.opens).tz_convert("UTC")
        self._close_after, self._regular_after = _close_distances(
            self._closes, self._sessions, self.tz
        )

    @property
    def sessions(self) -> np.ndarray:
        """Return every session as ``datetime64[D]``, ascending."""
        return self._sessions

    @property
    def first(self) -> dt.date:
        """Return the first session the calendar knows."""
        return pd.Timestamp(self._sessions[0]).date()

    @property
    def last(self) -> dt.date:
        """Return the last session the calendar knows."""
        return pd.Timestamp(self._sessions[-1]).date()

    def is_session(self, dates: np.ndarray) -> np.ndarray:
        """Return a boolean mask: which of ``dates`` (``datetime64[D]``) are sessions."""
        days = np.asarray(dates, dtype="datetime64[D]")
        idx = np.searchsorted(self._sessions, days)
        idx = np.clip(idx, 0, len(self._sessions) - 1)
        return np.asarray(self._sessions[idx] == days)

    def _row(self, day: dt.date) -> int | None:
        # The row of session ``day`` in the arrays, or None when ``day`` is not a session.
        key = np.datetime64(day, "D")
        row = int(np.searchsorted(self._sessions, key))
        if row >= len(self._sessions) or self._sessions[row] != key:
            return None
        return row

    def close_of(self, day: dt.date) -> dt.datetime | None:
        """Return the close of session ``day`` (UTC, early closes included), or None."""
        row = self._row(day)
        if row is None:
            return None
        close: dt.datetime = self._closes[row].to_pydatetime()
        return close

    def open_of(self, day: dt.date) -> dt.datetime | None:
        """Return the open of session ``day`` (UTC), or None when ``day`` is not a session."""
        row = self._row(day)
        if row is None:
            return None
        opened: dt.datetime = self._opens[row].to_pydatetime()
        return opened

    @property
    def regular_close_time(self) -> dt.time:
        """Return the exchange-local regular close (XNYS: 16:00), by today's rules.

        The most common local close time over the sessions of the calendar's last year (its
        projection of the current rules; computed once, when the calendar is built). A close
        at the midnight ending the session's day (a 24/7 calendar) reads 00:00.
        """
        seconds = int(self._regular_after[-1]) // 1_000_000_000 % 86_400
        return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)

    def is_early_close(self, day: dt.date) -> bool:
        """Return whether session ``day`` closes before the regular time (False: no session).

        The regular time of ``day`` is the most common close of its calendar year, so a year
        whose exchange moved its close (Tokyo, 15:00 to 15:30 in November 2024) flags none of
        its later sessions as early.
        """
        row = self._row(day)
        return row is not None and bool(self._close_after[row] < self._regular_after[row])

    def last_completed_session(self, now: dt.datetime) -> dt.date | None:
        """Return the last session whose close (early closes included) is at or before ``now``.

        ``now`` must be time-zone aware; a session still trading at ``now`` is not completed.
        Returns None when ``now`` is before the first close the calendar knows.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now must be time-zone aware, got {now!r}")
        row = int(self._closes.searchsorted(pd.Timestamp(now).tz_convert("UTC"), side="right"))
        return None if row == 0 else pd.Timestamp(self._sessions[row - 1]).date()

    def last_opened_session(self, now: dt.datetime) -> dt.date | None:
        """Return the last session whose open is at or before ``now`` (trading or completed).

        ``now`` must be time-zone aware. Returns None before the first open the calendar knows.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now must be time-zone aware, got {now!r}")
        row = int(self._opens.searchsorted(pd.Timestamp(now).tz_convert("UTC"), side="right"))
        return None if row == 0 else pd.Timestamp(self._sessions[row - 1]).date()

    def previous_session(self, day: dt.date) -> dt.date | None:
        """Return the last session before ``day`` (None before the calendar's first)."""
        row = int(np.searchsorted(self._sessions, np.datetime64(day, "D"), side="left"))
        return None if row == 0 else pd.Timestamp(self._sessions[row - 1]).date()

    def next_session(self, day: dt.date) -> dt.date | None:
        """Return the first session strictly after ``day`` (None past the calendar's last)."""
        row = int(np.searchsorted(self._sessions, np.datetime64(day, "D"), side="right"))
        return None if row == len(self._sessions) else pd.Timestamp(self._sessions[row]).date()

    def sessions_in_range(self, start: dt.date, end: dt.date) -> np.ndarray:
        """Return the sessions from ``start`` to ``end``, both included."""
        lo = np.searchsorted(self._sessions, np.datetime64(start, "D"), side="left")
        hi = np.searchsorted(self._sessions, np.datetime64(end, "D"), side="right")
        return self._sessions[lo:hi]

    def count_sessions(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Return, element-wise, how many sessions lie from ``start`` to ``end`` inclusive."""
        lo = np.searchsorted(self._sessions, np.asarray(start, dtype="datetime64[D]"), "left")
        hi = np.searchsorted(self._sessions, np.asarray(end, dtype="datetime64[D]"), "right")
        return np.asarray(hi - lo)

    def last_sessions(self, count: int, end: dt.date) -> np.ndarray:
        """Return the ``count`` sessions ending at or before ``end``."""
        hi = int(np.searchsorted(self._sessions, np.datetime64(end, "D"), side="right"))
        if count > hi:
            raise ConfigError(
                f"{count} sessions before {end} reach past the calendar start {self.first}"
            )
        return self._sessions[hi - count : hi]


def _close_distances(
    closes: pd.DatetimeIndex, sessions: np.ndarray, tz: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return each close's and its year's regular close's distance from local midnight, ns.

    distance = local close - the session's date at 00:00 local, as int64 nanoseconds (XNYS:
    16:00 = 57.6e12; a close at the next midnight, as on a 24/7 calendar, is 24 h). The
    regular distance of a session is the most common distance among the sessions of its
    calendar year (ties: the later close).
    """
    local = closes.tz_convert(tz).tz_localize(None).to_numpy("datetime64[ns]")
    after = (local - sessions.astype("datetime64[ns]")).astype(np.int64)
    year = sessions.astype("datetime64[Y]").astype(np.int64)
    pairs, counts = np.unique(np.stack([year, after]), axis=1, return_counts=True)
    # Per year, the most common distance: sort by year, then count, then distance; take the last.
    order = np.lexsort((pairs[1], counts, pairs[0]))
    years, regular = pairs[0][order], pairs[1][order]
    last = np.r_[years[1:] != years[:-1], True]
    per_year = regular[last]
    return after, per_year[np.searchsorted(years[last], year)]


def _build(exchange: str) -> xcals.ExchangeCalendar:
    try:
        return xcals.get_calendar(exchange, start=CALENDAR_START, end=CALENDAR_END)
    except ValueError:
        # Some calendars know fewer years (XSHG: 1990-12-03 to 2026): keep within their bounds.
        kind = type(xcals.get_calendar(exchange))
        lo, hi = kind.bound_min(), kind.bound_max()
        start = max(pd.Timestamp(CALENDAR_START), lo) if lo is not None else CALENDAR_START
        end = min(pd.Timestamp(CALENDAR_END), hi) if hi is not None else CALENDAR_END
        return xcals.get_calendar(exchange, start=start, end=end)


@lru_cache(maxsize=8)
def get_calendar(exchange: str) -> TradingCalendar:
    """Return the (cached) calendar of ``exchange``."""
    logger.debug("Building trading calendar %s", exchange)
    return TradingCalendar(exchange)
