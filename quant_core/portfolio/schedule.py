"""The rebalance schedule: which sessions rebalance, one rule for the backtest and the worker.

A rule is a number of sessions (rebalance when at least that many sessions have passed since
the last rebalance) or ``"weekly"`` / ``"monthly"`` (rebalance on the first session of another
ISO week / calendar month). The backtest engine and a replay pick their rows at once with
:func:`rebalance_rows`; the live worker asks day by day with :func:`is_due` and plans with
:func:`next_due`. Both read the period of a day from one function, and a property test checks
that walking the sessions with :func:`is_due` picks exactly the rows of :func:`rebalance_rows`.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
import pandas as pd

from quant_core.errors import ConfigError, DataError

Rule = int | Literal["weekly", "monthly"]
NEXT_DUE_HORIZON = 60  # sessions looked ahead for the next rebalance


def _periods(days: np.ndarray, rule: Literal["weekly", "monthly"]) -> np.ndarray:
    # One number per datetime64[D] day: its ISO week (as the count of Monday-to-Sunday weeks
    # since 1969-12-29, a Monday; two days share one exactly when they share an ISO year and
    # week) or its calendar month.
    day = days.astype("datetime64[D]")
    if rule == "weekly":
        return np.asarray((day.astype(np.int64) + 3) // 7)
    return np.asarray(day.astype("datetime64[M]").astype(np.int64))


def rebalance_rows(dates: np.ndarray, first: int, last: int, rule: Rule) -> np.ndarray:
    """Return the row indices of the rebalance sessions from ``first`` to ``last``.

    ``first`` is always one; then every ``rule`` sessions, or the first session of each later
    ISO week / calendar month. ``dates`` are the sessions, ascending (``datetime64[D]``).
    """
    if first > last:
        return np.array([], dtype=int)
    if isinstance(rule, int):
        return np.arange(first, last + 1, rule)
    key = _periods(dates[first : last + 1], rule)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return np.unique(np.r_[0, starts]) + first


def is_due(last: dt.date, today: dt.date, rule: Rule, sessions: np.ndarray) -> bool:
    """Return whether ``today`` rebalances when the last rebalance was on ``last``.

    Parameters
    ----------
    last
        The session of the last rebalance.
    today
        The day asked about (a session, after ``last``).
    rule
        A number of sessions: due when at least ``rule`` sessions ``s`` with
        ``last < s <= today`` passed; ``"weekly"``: ``today`` is in another ISO week than
        ``last``; ``"monthly"``: in another calendar month.
    sessions
        The trading sessions, ascending ``datetime64[D]`` (e.g. ``TradingCalendar.sessions``);
        only an int rule counts them.

    Returns
    -------
    bool
        True if the schedule rebalances on ``today``.
    """
    ends = np.array([last, today], dtype="datetime64[D]")
    if isinstance(rule, int):
        passed = np.diff(np.searchsorted(sessions, ends, side="right"))
        return bool(passed[0] >= rule)
    key = _periods(ends, rule)
    return bool(key[0] != key[1])


def next_due(
    last: dt.date | None,
    today: dt.date,
    rule: Rule,
    sessions: np.ndarray,
    horizon: int = NEXT_DUE_HORIZON,
) -> dt.date | None:
    """Return the first session on or after ``today`` that the schedule rebalances on.

    Parameters
    ----------
    last
        The session of the last rebalance; None if there was none (then the first session on
        or after ``today`` is due).
    today
        The first day considered.
    rule
        The schedule rule (:func:`is_due`).
    sessions
        The trading sessions, ascending ``datetime64[D]``.
    horizon
        How many sessions from ``today`` on to look at.

    Returns
    -------
    datetime.date or None
        The session, or None if none of the next ``horizon`` sessions is due.
    """
    upcoming = sessions[sessions >= np.datetime64(today, "D")]
    for day in upcoming[:horizon]:
        session = pd.Timestamp(day).date()
        if last is None or (session > last and is_due(last, session, rule, sessions)):
            return session
    return None


def session_range(
    dates: np.ndarray, warmup: int, start: dt.date | None, end: dt.date | None
) -> tuple[int, int]:
    """Return the rows of the first rebalance and of the last session.

    ``start`` and ``end`` may be any calendar date (weekends and holidays included); the
    first rebalance is the first session on or after ``start`` with ``warmup`` sessions
    before it.
    """
    lo = 0 if start is None else int(np.searchsorted(dates, np.datetime64(start, "D"), "left"))
    hi = len(dates) - 1
    if end is not None:
        hi = int(np.searchsorted(dates, np.datetime64(end, "D"), "right")) - 1
    if start is not None and end is not None and start > end:
        raise ConfigError(f"the start {start} is after the end {end}")
    first = max(lo, warmup, 1)
    span = f"{pd.Timestamp(dates[0]).date()}..{pd.Timestamp(dates[-1]).date()}"
    if hi < lo:
        raise DataError(
            f"no session from {start or 'the start'} to {end or 'the end'}: the data spans {span}"
        )
    if first > hi:
        raise DataError(
            f"no session to trade from {start or 'the start'} to {end or 'the end'}: the data "
            f"spans {span} and the strategy needs {warmup} sessions of history first"
        )
    return first, hi
