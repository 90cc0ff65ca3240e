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

    def close_of(self, day: dt.date) -> dt.datetime | None:
        """Return the close of session ``day`` (UTC, early closes included), or None."""
        row = int(np.searchsorted(self._sessions, np.datetime64(day, "D")))
        if row >= len(self._sessions) or self._sessions[row] != np.datetime64(day, "D"):
            return None
        close: dt.datetime = self._closes[row].to_pydatetime()
        return close

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
