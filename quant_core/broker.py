"""The broker protocol and the value types every broker maps its own objects to.

The live worker talks to a :class:`Broker` only: the simulated broker (``live/sim_broker.py``)
and the Interactive Brokers adapter (``ib/``) implement it. Orders carry our order reference
(``ref``) so that a restarted worker recognises its own open orders and never sends one twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Side(StrEnum):
    """Buy or sell."""

    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    """Order types the worker sends."""

    MARKET = "MKT"
    LIMIT = "LMT"
    MARKET_ON_OPEN = "MOO"


class OrderStatus(StrEnum):
    """Where an order stands."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class OrderRef:
    """Our order references (IB's ``orderRef``): the one place that spells them.

    A strategy order is ``qc:<session>:<symbol>``, unique per session and symbol, so a restarted
    worker finds what it already sent for a session; FLAT's orders are ``flat:<command id>``.
    Anything else (an order typed in TWS, another program's) is not ours.
    """

    STRATEGY = "qc:"
    FLAT = "flat:"
    OURS = (STRATEGY, FLAT)

    @staticmethod
    def strategy(session: dt.date | str, symbol: str) -> str:
        """Return the reference of the strategy order for ``symbol`` in ``session``."""
        return f"{OrderRef.session_prefix(session)}{symbol}"

    @staticmethod
    def session_prefix(session: dt.date | str) -> str:
        """Return the prefix every strategy order of ``session`` starts with."""
        return f"{OrderRef.STRATEGY}{session}:"

    @staticmethod
    def flat(command_id: str) -> str:
        """Return the reference of the orders FLAT command ``command_id`` places."""
        return f"{OrderRef.FLAT}{command_id}"

    @staticmethod
    def is_ours(ref: str) -> bool:
        """Return whether ``ref`` is one of this project's references (strategy or FLAT)."""
        return ref.startswith(OrderRef.OURS)

    @staticmethod
    def is_strategy(ref: str) -> bool:
        """Return whether ``ref`` is a strategy order's."""
        return ref.startswith(OrderRef.STRATEGY)

    @staticmethod
    def session_of(ref: str) -> dt.date | None:
        """Return the session a strategy order's reference names; None for any other."""
        if not OrderRef.is_strategy(ref):
            return None
        try:
            return dt.date.fromisoformat(ref.split(":")[1])
        except (IndexError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the worker sees it; ``quantity`` in shares, always > 0.

    ``order_id`` is the broker's; an order another API client of the same IB login placed is
    ``"<client id>/<order id>"``: visible, but only its own client (or TWS) can cancel it.
    ``decision_price`` is the price the worker sized it from (a rebalance's: the close of T-1),
    journaled with it for the daily report's implementation shortfall; None when none applies.
    """

    order_id: str
    ref: str
    symbol: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    status: OrderStatus = OrderStatus.PENDING
    filled: float = 0.0
    reason: str = ""
    decision_price: float | None = None

    @property
    def signed(self) -> float:
        """Return the quantity with its sign: buys positive."""
        return self.quantity if self.side is Side.BUY else -self.quantity

    @property
    def other_client(self) -> bool:
        """Return whether another API client placed it (visible here, cancellable only there)."""
        return "/" in self.order_id


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution: shares at a price, with its commission (account currency).

    ``arrival_price`` is the price the execution aimed at when the broker knows it: the open of
    its session (the simulated broker's fills at the open; an exit at a gone symbol's last close
    aims at that close). None when the broker cannot say at once (IB: asked from the session's
    daily bar at the close, :class:`SessionOpens`).
    """

    order_id: str
    ref: str
    symbol: str
    side: Side
    quantity: float
    price: float
    commission: float
    time: dt.datetime
    exec_id: str = ""
    arrival_price: float | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """Shares held of one symbol, and their mark."""

    symbol: str
    quantity: float
    avg_cost: float
    market_price: float

    @property
    def market_value(self) -> float:
        """Return quantity x market price."""
        return self.quantity * self.market_price


@dataclass(frozen=True, slots=True)
class Account:
    """Account values, in the account currency."""

    net_liquidation: float
    cash: float
    buying_power: float
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    daily_pnl: float | None = None  # the broker's own figure (IB reqPnL); None: not reported


class Broker(Protocol):
    """What the worker needs from a broker."""

    @property
    def account_id(self) -> str:
        """Return the account traded: IB's account code, the simulated account's id."""
        ...

    def connect(self) -> None:
        """Connect (or reconnect); raise TemporaryBrokerError when the broker is unreachable."""
        ...

    def disconnect(self) -> None:
        """Close the connection."""
        ...

    def account(self) -> Account:
        """Return the account's values now."""
        ...

    def positions(self) -> list[Position]:
        """Return every non-zero position."""
        ...

    def open_orders(self) -> list[Order]:
        """Return every order not yet done."""
        ...

    def place(self, orders: list[Order]) -> list[Order]:
        """Send orders; return them as the broker accepted (or rejected) them."""
        ...

    def cancel(self, order_id: str) -> None:
        """Cancel one open order."""
        ...

    def cancel_all(self) -> None:
        """Cancel every open order."""
        ...

    def fills(self) -> list[Fill]:
        """Return the executions of the current session."""
        ...

    def settle(self, seconds: float) -> list[Fill]:
        """Let the broker work for up to ``seconds``; return the executions that arrived."""
        ...

    def wait(self, seconds: float) -> None:
        """Block for ``seconds`` while the broker's own messages keep being processed."""
        ...

    def rejections(self) -> list[Order]:
        """Return the orders refused since the last call, each with the broker's reason."""
        ...

    def quotes(
        self, symbols: list[str], on_batch: Callable[[], None] | None = None
    ) -> dict[str, float]:
        """Return a current price per symbol; symbols without one are left out.

        A broker that quotes in batches calls ``on_batch`` after each (the worker's heartbeat).
        """
        ...


@runtime_checkable
class SessionOpens(Protocol):
    """A broker that can tell the open of a session: the arrival price of its fills."""

    def session_opens(self, symbols: list[str], session: dt.date) -> dict[str, float]:
        """Return the open of ``session`` per symbol; symbols it cannot say are left out."""
        ...
