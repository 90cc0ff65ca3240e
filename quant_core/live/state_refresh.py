"""The data refresh and the market's hours, as the state document holds them (a leaf).

The document's ``refresh`` (:class:`DataRefresh`): what the worker's own data refresh
(``live.refresh: broker``, ``live/refresh_watch.py``) did last and is doing now, for the Live
Dashboard's line "data through 2026-12-03, refreshed 16:41, 500 symbols, 2 rejected rows". The
document's ``market`` (:class:`MarketHours`): today's session at the exchange (early closes
included), the next one, and what the worker waits for ("not a session: waiting until Monday
2026-12-07 09:30 America/New_York"), from ``live/market_clock.py``. Times carry their UTC offset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from quant_core.live.state_fields import Row


class RefreshStatus(StrEnum):
    """Where the worker's data refresh stands."""

    OFF = "off"  # live.refresh: none (run_data_sync.py keeps the data fresh)
    IDLE = "idle"  # the data is as fresh as the calendar allows: nothing to fetch
    DUE = "due"  # sessions are missing; the refresh starts at the next heartbeat
    RUNNING = "running"  # fetching, validating, storing, recomputing factors
    FAILED = "failed"  # the last attempt failed; tried again at next_attempt_at


@dataclass(frozen=True, slots=True, kw_only=True)
class DataRefresh(Row):
    """The worker's data refresh: the data's last session, the last outcome, the current run.

    ``data_through``: the last session in the warehouse for the worker's dataset;
    ``needed_through``: the last session whose refresh time has passed (the data must reach it
    before the next rebalance). ``phase``/``done``/``total``: the running attempt's progress
    (``"ib history"``, 120 of 500 symbols; ``"factors"``, ...). ``symbols``, ``rows_written``,
    ``rejected``, ``requests``: the last successful refresh's figures. ``attempts``: failures in a
    row (0 after a success). ``summary``: the one line the dashboard shows.
    """

    status: RefreshStatus
    data_through: dt.date | None = None
    needed_through: dt.date | None = None
    refreshed_at: dt.datetime | None = None  # when the last successful refresh finished
    started_at: dt.datetime | None = None  # when the current (or last) attempt began
    phase: str | None = None
    done: int | None = None
    total: int | None = None
    symbols: int | None = None
    rows_written: int | None = None
    rejected: int | None = None
    requests: int | None = None
    factors: tuple[str, ...] = ()  # the factors recomputed by the last successful refresh
    attempts: int = 0
    error: str | None = None  # the last failure's message
    next_attempt_at: dt.datetime | None = None
    summary: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketHours(Row):
    """Today at the exchange and the next session, by the worker's market clock.

    ``today`` is the exchange-local date; ``opens_at``/``closes_at`` its session's hours (None:
    not a session), ``early_close`` whether it closes before the regular time. ``refresh_at``
    and ``rebalance_at``: today's refresh and rebalance moments (None: none today).
    ``waiting``: what the worker waits for, in words (None: it is inside a session's hours).
    """

    today: dt.date
    session: bool
    opens_at: dt.datetime | None = None
    closes_at: dt.datetime | None = None
    early_close: bool = False
    rebalance_at: dt.datetime | None = None
    refresh_at: dt.datetime | None = None
    next_session: dt.date | None = None
    next_open: dt.datetime | None = None
    waiting: str | None = None
