"""The risk report of the worker's book, as the state document holds it (a leaf, for ``state.py``).

The document's ``book_risk``: the report of :mod:`quant_core.portfolio.risk_report` on the book
the worker holds, computed when the book changes (at start, after a rebalance's fills, on new
bars), never on a mere heartbeat. Its keys are the report's own (``ex_ante_vol``, ``var``,
``es``, ``var_sessions``, ``names``, ``sectors``, ``stress``, ``left_out``), so the cockpit reads a
stored run's report and the worker's alike; ``names`` holds the largest :data:`TOP_NAMES`
contributions only (``names_held`` counts them all). Fractions of equity throughout.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from quant_core.live.state_fields import Row

TOP_NAMES = 15  # names listed in the state: the largest risk contributions
ENCODED_KEPT = 600  # daily rows whose JSON is kept: more than the document holds (DAILY_KEPT)


@dataclass(frozen=True, slots=True)
class RiskNameRow(Row):
    """One held name: its weight and its share of the book's variance."""

    symbol: str
    sector: str
    weight: float
    contribution: float | None


@dataclass(frozen=True, slots=True)
class RiskSectorRow(Row):
    """One sector: long, short (negative), gross and net exposure, and its share of variance."""

    sector: str
    long: float
    short: float
    gross: float
    net: float
    contribution: float | None


@dataclass(frozen=True, slots=True)
class StressSessionRow(Row):
    """One of the worst sessions of the data, replayed on the book."""

    session: dt.date
    universe_return: float | None
    book_return: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BookRisk(Row):
    """The risk report of the book the worker holds (the document's ``book_risk``).

    ``data_through`` is the last close the report read; ``net_liquidation`` the equity the
    weights are fractions of. ``left_out`` names held symbols outside the covariance (too short
    a history, or not in the data at all).
    """

    computed_at: dt.datetime
    data_through: dt.date | None
    net_liquidation: float | None
    ex_ante_vol: float | None
    var: float | None
    es: float | None
    var_sessions: int
    names_held: int
    names: tuple[RiskNameRow, ...]
    sectors: tuple[RiskSectorRow, ...]
    stress: tuple[StressSessionRow, ...]
    left_out: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SectorExposureRow(Row):
    """One sector of the book at a session's close: long, short (negative), gross and net."""

    sector: str
    long: float
    short: float
    gross: float
    net: float


@dataclass(frozen=True, slots=True)
class DailyClose(Row):
    """The account at one session's close (the document's ``daily``; ``live/daily_close.py``).

    ``equity`` is the broker's net liquidation after the close, ``gross`` the book's gross
    exposure and ``sectors`` each sector held, fractions of that equity.
    """

    session: dt.date
    equity: float | None
    gross: float
    sectors: tuple[SectorExposureRow, ...]

    def to_json(self) -> Any:
        """Return the JSON object, encoded once per row (:data:`_ENCODED`).

        The document holds up to a year of these and is written at every heartbeat; a row never
        changes once taken, so its JSON is kept (by identity, with the row; the least recently
        used dropped first) and shared: a caller reads it, never changes it.
        """
        with _LOCK:
            hit = _ENCODED.get(id(self))
            if hit is not None and hit[0] is self:
                _ENCODED.move_to_end(id(self))
                return hit[1]
        out = Row.to_json(self)
        with _LOCK:
            _ENCODED[id(self)] = (self, out)
            while len(_ENCODED) > ENCODED_KEPT:
                _ENCODED.popitem(last=False)  # the least recently used
        return out


# Each row's JSON by id(row), kept with the row itself so that an id is never reused under it.
_ENCODED: OrderedDict[int, tuple[DailyClose, Any]] = OrderedDict()
_LOCK = threading.Lock()
