"""What a live book carries from session to session, and what one decision gives.

:class:`BookMemory` is saved whole with the sub-accounts (``live/book_state_io.py``): the
sleeves' schedules (anchor and last decision), the allocation's, the halts' reasons, the sleeves'
equity at each close and the cash the allocation moved in (their returns feed the next
allocation: :func:`quant_core.book.capital.sleeve_returns`), and the requests of recent sessions
(:class:`Pending`), which their executions are attributed on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from quant_core.live.journal_book import AllocationRow
from quant_core.strategies.decide import Decision


@dataclass(slots=True)
class Pending:
    """A session's book orders: the sleeves' requests (``K x n``) and the net orders sent."""

    requests: np.ndarray
    orders: np.ndarray
    settled: bool = False  # its open's crossings and executions attributed (at its close)


@dataclass(frozen=True, slots=True)
class BookDecision:
    """What the book decided at a session: net orders, requests, decisions, allocation rows."""

    session: dt.date
    orders: np.ndarray
    requests: np.ndarray
    decisions: list[tuple[int, Decision]]
    allocations: list[AllocationRow] = field(default_factory=list)


@dataclass(slots=True)
class BookMemory:
    """What a book carries from session to session (saved whole: :mod:`live.book_state_io`)."""

    anchors: list[dt.date | None]  # each sleeve's first decision (its schedule's anchor)
    last: list[dt.date | None]  # each sleeve's last decision
    reasons: list[str]  # why each halted sleeve is halted ("" when active)
    alloc_anchor: dt.date | None = None
    allocated: dt.date | None = None  # the last allocation's session
    weights: np.ndarray | None = None  # the last allocation's weights
    decided: dt.date | None = None  # the last session the book decided for
    marked: dt.date | None = None  # the last close marked (sleeve equity, limits)
    history: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # equity, L x K
    flows: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # moved in, L x K
    next_flow: np.ndarray = field(default_factory=lambda: np.zeros(0))  # into the next close
    capital_in: np.ndarray = field(default_factory=lambda: np.zeros(0))  # net moved in, K
    pending: dict[dt.date, Pending] = field(default_factory=dict)
    # A cash gap with the broker at the last close marked: one seen again at the next close
    # goes to the reserve, though the worker restarted between them (a cron --once a day).
    gap_seen: float | None = None

    @classmethod
    def start(cls, sleeves: int) -> BookMemory:
        """Return the memory of a book that never ran."""
        k = sleeves
        return cls(
            [None] * k,
            [None] * k,
            [""] * k,
            history=np.zeros((0, k)),
            flows=np.zeros((0, k)),
            next_flow=np.zeros(k),
            capital_in=np.zeros(k),
        )


__all__ = ["BookDecision", "BookMemory", "Pending"]
