"""What the state file and the Live Dashboard show of a book: its sleeves, each on its own.

The worker running a book (``run_live_strategy.py --book``) keeps each sleeve's virtual
sub-account (:mod:`quant_core.live.book_live`); :meth:`~quant_core.live.book_live.LiveBook.status`
returns a :class:`BookStatus`, written under ``book`` in ``dashboard_state.json`` (null for a
plain strategy). Units: money in the account's currency, shares in shares, ``drawdown`` a
fraction (0.05 = 5% below the sleeve's peak net asset value).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class SleeveState(StrEnum):
    """A sleeve's state: trading, halted (its own limit or a HALT command) or not started."""

    ACTIVE = "active"
    HALTED = "halted"
    WAITING = "waiting"  # before its first decision (its warm-up, or the book's first session)


@dataclass(frozen=True, slots=True)
class SleevePosition:
    """One of a sleeve's positions: its attributed shares and their value at the last close."""

    symbol: str
    shares: float
    value: float


@dataclass(frozen=True, slots=True)
class SleeveStatus:
    """One sleeve: state, capital, P&L, drawdown and positions.

    ``equity`` = ``cash`` + the positions' value at the last close; ``pnl`` = ``equity`` less
    the capital the allocation moved in (net of what it took out); ``weight`` the last
    allocation's weight (None before the first); ``last_rebalance`` the last session it decided.
    """

    name: str
    state: SleeveState
    reason: str | None
    equity: float
    cash: float
    pnl: float
    drawdown: float
    weight: float | None
    last_rebalance: dt.date | None
    positions: tuple[SleevePosition, ...]


@dataclass(frozen=True, slots=True)
class BookStatus:
    """The book: its name, the reserve (cash no sleeve holds), the last allocation, sleeves."""

    name: str
    reserve: float
    allocated: dt.date | None
    sleeves: tuple[SleeveStatus, ...]


__all__ = ["BookStatus", "SleevePosition", "SleeveState", "SleeveStatus"]
