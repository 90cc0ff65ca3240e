"""The typed contract of ``dashboard_state.json``, shared by the worker and the cockpit (a leaf).

The worker builds a :class:`DashboardState` and writes its :meth:`DashboardState.to_json`; the
cockpit reads the file back only through :meth:`DashboardState.from_json`. Every key of the
document is a field name here (``live/state_fields.py`` reads and writes them by their types).
Also the worker's states and modes, so the modules beside the worker import no worker for a
name (the names of the files in ``data/live`` are ``live/files.py``'s).

Reading is strict: a document of another ``schema_version``, a missing field or a value of the
wrong type raises :class:`StateSchemaError` naming the field. Fields with a default were added
by a worker within version 1 (the STOP latch flags, the replay's end, ``broker_as_of``, the risk
limits, a command's source, detail and sleeve, the reconciliation's details, the book's risk
report, the last rebalance's bindings, the data refresh, the market's hours, a book's sleeves):
an older file may lack them. Times are ISO 8601 with their UTC offset (one without is taken
as UTC); the equity points of a replay are session dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, ClassVar

from quant_core.broker import OrderStatus, Side

# Re-exported (``as``, for mypy): the cockpit reads a book's sleeves from here.
from quant_core.live.book_status import BookStatus as BookStatus
from quant_core.live.book_status import SleevePosition as SleevePosition
from quant_core.live.book_status import SleeveState as SleeveState
from quant_core.live.book_status import SleeveStatus as SleeveStatus
from quant_core.live.state_fields import (
    BadValue,
    Row,
    encode,
    is_number,
    parse_date,
    parse_time,
)

# Re-exported (``as``, for mypy): readers of the document import it from here.
from quant_core.live.state_fields import StateSchemaError as StateSchemaError
from quant_core.live.state_refresh import DataRefresh as DataRefresh
from quant_core.live.state_refresh import MarketHours as MarketHours
from quant_core.live.state_refresh import RefreshStatus as RefreshStatus
from quant_core.live.state_risk import BookRisk as BookRisk
from quant_core.live.state_risk import DailyClose as DailyClose
from quant_core.live.state_risk import SectorExposureRow as SectorExposureRow

SCHEMA_VERSION = 1  # written as the document's "schema_version"; bump on a breaking change
FILLS_KEPT = 500  # the document holds today's last 500 fills
LEFT_OUT_KEPT = 10  # names left out of the last rebalance listed in the document
DATE_LENGTH = len("2026-03-02")  # a session's date as written, told from a time by its length


class WorkerState(StrEnum):
    """The worker's states."""

    STARTING = "STARTING"
    CONNECTING = "CONNECTING"
    RUNNING = "RUNNING"
    HALTED = "HALTED"
    DISCONNECTED = "DISCONNECTED"
    STOPPED = "STOPPED"

    TRADING: ClassVar[frozenset[WorkerState]]
    RESUMABLE: ClassVar[frozenset[WorkerState]]


WorkerState.TRADING = frozenset({WorkerState.RUNNING})
WorkerState.RESUMABLE = frozenset({WorkerState.HALTED, WorkerState.STOPPED})


class WorkerMode(StrEnum):
    """Where the worker trades."""

    SIM = "sim"
    IB_PAPER = "ib-paper"
    IB_LIVE = "ib-live"


class RiskStatus(StrEnum):
    """Whether a risk limit has halted the worker."""

    OK = "ok"
    TRIPPED = "tripped"


@dataclass(frozen=True, slots=True)
class WorkerInfo(Row):
    """The worker's identity, state and heartbeat (the document's ``worker``)."""

    pid: int
    state: WorkerState
    reason: str
    mode: WorkerMode | None
    account: str | None
    run_id: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    session: dt.date | None
    strategy: str
    # STOP's latch: a worker heartbeating while STOPPED was started under it (None: older file).
    latched: bool | None = None
    halted_latch: bool | None = None
    exited: bool | None = None  # the last state of a process that has ended
    replay_finished: dt.date | None = None  # a replay's end, not a crash
    broker_as_of: dt.datetime | None = None  # when the broker's figures were read


@dataclass(frozen=True, slots=True)
class AccountSummary(Row):
    """The broker's account figures in dollars (None: not reported, or not a number)."""

    net_liquidation: float | None
    cash: float | None
    buying_power: float | None
    daily_pnl: float | None  # the broker's own, or net liquidation against the day's start
    unrealized_pnl: float | None
    realized_pnl: float | None


@dataclass(frozen=True, slots=True)
class PositionRow(Row):
    """One position held at the broker."""

    symbol: str
    quantity: float
    avg_cost: float | None
    market_price: float | None
    market_value: float | None
    weight: float | None  # market value over net liquidation (a fraction)


@dataclass(frozen=True, slots=True)
class OpenOrderRow(Row):
    """One order open at the broker."""

    order_id: str
    ref: str
    symbol: str
    side: Side
    quantity: float
    filled: float
    status: OrderStatus

    @property
    def remaining(self) -> float:
        """Return the shares still to fill."""
        return self.quantity - self.filled


@dataclass(frozen=True, slots=True)
class FillRow(Row):
    """One execution today."""

    order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    commission: float | None
    time: dt.datetime


@dataclass(frozen=True, slots=True)
class EquityPoint(Row):
    """Net liquidation at a time, or at a replayed session's close (a bare date)."""

    at: dt.datetime | dt.date
    value: float | None

    @property
    def session_only(self) -> bool:
        """Return whether the point is a session's date rather than a time."""
        return not isinstance(self.at, dt.datetime)

    def to_json(self) -> list[Any]:
        """Return the JSON pair ``[time or date, dollars]``."""
        return [encode(self.at), encode(self.value)]

    @classmethod
    def read(cls, data: object) -> EquityPoint:
        """Read a ``[time or date, dollars]`` pair."""
        if isinstance(data, list) and len(data) == 2:
            text, value = data
            # A session's date is written in full (a compact "20260302" is a time, as before).
            day = parse_date(text) if isinstance(text, str) and len(text) == DATE_LENGTH else None
            at = day if day is not None else parse_time(text)
            if at is not None and (value is None or is_number(value)):
                return cls(at, value)
        raise BadValue(data, "a [time, dollars] pair")


@dataclass(frozen=True, slots=True)
class RiskLimitRow(Row):
    """One account limit (daily loss, drawdown): its bound, its usage now, whether tripped."""

    name: str
    label: str
    limit: float | None
    usage: float | None
    tripped: bool


@dataclass(frozen=True, slots=True)
class RiskSummary(Row):
    """The risk status: which limit tripped and why, and every limit with its usage."""

    status: RiskStatus
    limit: str | None
    reason: str | None
    limits: tuple[RiskLimitRow, ...] = ()  # daily loss, drawdown: limit and usage
    flat_on_breach: bool | None = None

    @property
    def tripped(self) -> bool:
        """Return whether a limit has halted the worker."""
        return self.status is RiskStatus.TRIPPED


@dataclass(frozen=True, slots=True)
class RebalanceSchedule(Row):
    """The last session rebalanced and the next one planned."""

    last: dt.date | None
    next: dt.date | None


@dataclass(frozen=True, slots=True)
class BindingRow(Row):
    """A constraint that changed a rebalance's weights (its config key) and what it did."""

    constraint: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LastDecision(Row):
    """What shaped the last rebalance's weights (the document's ``last_decision``).

    ``bindings`` are the constraints that changed the weights, in the order applied;
    ``left_out`` counts the names construction left out, ``left_out_names`` lists the first
    :data:`LEFT_OUT_KEPT` of them (the journal keeps them all); ``fallback`` says why
    ``inverse_vol`` gave the weights when the construction method failed (None: it did not).
    """

    session: dt.date
    bindings: tuple[BindingRow, ...] = ()
    left_out: int = 0
    left_out_names: tuple[str, ...] = ()
    fallback: str | None = None

    def kept(self) -> LastDecision:
        """Return the record as the state holds it: the first names left out only."""
        return replace(self, left_out_names=self.left_out_names[:LEFT_OUT_KEPT])


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciliation(Row):
    """What the worker found at the broker when it started (the document holds ``{}`` until)."""

    at: dt.datetime | None = None
    positions: int
    our_open_orders: int
    open_order_sessions: tuple[str, ...] = ()
    journal: Mapping[str, int] | None = None  # what the journal needed, by name
    account: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandAck(Row):
    """The worker's answer to one command: accepted or refused, and what came of it."""

    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"source", "detail", "sleeve"})

    id: str | None  # None: a file with no readable id
    at: dt.datetime
    command: str | None  # None: refused before its kind was known
    accepted: bool
    source: str | None = None  # "risk" for the FLAT a breach sends
    result: str
    detail: Any = None  # what CANCEL and FLAT left (JSON)
    sleeve: str | None = None  # the book's sleeve a HALT or RESUME was for


@dataclass(frozen=True, slots=True)
class WorkerError(Row):
    """One error the worker recorded."""

    at: dt.datetime
    message: str


@dataclass(frozen=True, slots=True)
class DashboardState(Row):
    """The whole document: the worker, the broker's figures, risk, schedule, answers, errors."""

    worker: WorkerInfo
    account: AccountSummary
    positions: tuple[PositionRow, ...]
    open_orders: tuple[OpenOrderRow, ...]
    fills_today: tuple[FillRow, ...]
    equity: tuple[EquityPoint, ...]
    risk: RiskSummary
    rebalance: RebalanceSchedule
    reconciled: Reconciliation | None  # None until the worker has reconciled
    commands: tuple[CommandAck, ...]
    errors: tuple[WorkerError, ...]
    book_risk: BookRisk | None = None  # the held book's risk report (live/state_risk.py)
    last_decision: LastDecision | None = None  # what shaped the last rebalance (None: none yet)
    daily: tuple[DailyClose, ...] = ()  # one row per session close, oldest first (daily_close.py)
    refresh: DataRefresh | None = None  # the worker's own data refresh (live/refresh_watch.py)
    market: MarketHours | None = None  # today's session and the next (live/market_clock.py)
    book: BookStatus | None = None  # a book's sleeves (live/book_status.py); None: no book

    def to_json(self) -> dict[str, Any]:
        """Return the document as written to ``dashboard_state.json``."""
        body = Row.to_json(self)
        body["reconciled"] = body["reconciled"] or {}
        return {"schema_version": SCHEMA_VERSION, **body}

    @classmethod
    def from_json(cls, data: object, where: str = "") -> DashboardState:
        """Read a document.

        Raises
        ------
        StateSchemaError
            The document is of another ``schema_version`` (both versions are named), or a field
            is missing or of the wrong type (the field is named, e.g. ``positions[2].quantity``).
        """
        version = data.get("schema_version") if isinstance(data, dict) else None
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise StateSchemaError(
                f"the state document has schema_version {version}; this reader expects "
                f"{SCHEMA_VERSION}",
                "schema_version",
                version,
                other_version=True,
            )
        return super(DashboardState, cls).from_json(data, where)
