"""When a book's sleeves and its allocation are due in the worker: the backtest's schedules.

The backtest (:mod:`quant_core.backtest.book_engine`) anchors each schedule at its first session:
sleeve ``k`` rebalances on ``rebalance_rows(dates, first_k, last, rule_k)``, the allocation on
``rebalance_rows(dates, first, last, allocation.rebalance)`` and is applied at the first book
session on or after each of its sessions. The worker takes the same sessions, one decision at a
time: a schedule anchored at ``anchor`` is due at session ``T`` when one of its sessions ``s``
lies in ``(last, T]`` (``last`` the session it last acted on; never acted on: due at once).
A worker that missed a session (down that day) so catches up at the next one, as the plain
schedule does (:func:`quant_core.portfolio.schedule.is_due`).

Sessions are rows of one array (:func:`session_rows`): the data's dates, then the calendar's
sessions after them, so a data row and a session row are one number (the decision for the
session after the data's last close is row ``len(data.dates)``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from quant_core.portfolio.schedule import Rule, rebalance_rows


def session_rows(dates: np.ndarray, calendar_sessions: np.ndarray) -> np.ndarray:
    """Return the data's dates followed by the calendar's sessions after the last of them."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    later = np.asarray(calendar_sessions, dtype="datetime64[D]")
    later = later[later > dates[-1]] if dates.size else later
    return np.concatenate([dates, later])


def row_of(sessions: np.ndarray, day: dt.date) -> int:
    """Return the row of session ``day`` in ``sessions`` (ValueError if it is not a session)."""
    at = np.datetime64(day, "D")
    row = int(np.searchsorted(sessions, at))
    if row >= len(sessions) or sessions[row] != at:
        raise ValueError(f"{day} is not a session of the data or the exchange's calendar")
    return row


def due(
    sessions: np.ndarray,
    anchor: dt.date | None,
    last: dt.date | None,
    row: int,
    rule: Rule,
) -> bool:
    """Return whether a schedule anchored at ``anchor``, last acted on ``last``, is due at ``row``.

    Never acted on (``anchor`` None): due. Otherwise due when one of
    ``rebalance_rows(sessions, row(anchor), row, rule)`` lies after ``last``.
    """
    if anchor is None or last is None:
        return True
    runs = rebalance_rows(sessions, row_of(sessions, anchor), row, rule)
    after = np.datetime64(last, "D")
    return bool((sessions[runs] > after).any())


def source_row(sessions: np.ndarray, anchor: dt.date | None, row: int, rule: Rule) -> int:
    """Return the latest session row ``<= row`` of the schedule anchored at ``anchor``.

    What a scanner on its own schedule holds at ``row``: the universe it computed at its own
    latest session (:class:`~quant_core.book.build.ScheduledScanner`); ``row`` itself when the
    schedule starts there.
    """
    if anchor is None:
        return row
    runs = rebalance_rows(sessions, row_of(sessions, anchor), row, rule)
    return int(runs[-1]) if runs.size else row


__all__ = ["due", "row_of", "session_rows", "source_row"]
