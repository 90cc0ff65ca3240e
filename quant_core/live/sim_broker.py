"""The simulated broker: the Broker protocol over the backtest's own fill/cash kernel.

Market orders wait in the book until the next price event: :meth:`SimBroker.open_session`
(the next open, in replay) executes everything waiting as one batch through
:func:`quant_core.portfolio.ledger.execute` (sells first, the cash check, the shortfall rule,
commission and slippage), exactly as the backtest engine does, so a replay and a backtest fill
alike. :meth:`SimBroker.fill_now` executes at the latest known marks instead (live sim mode).
Orders without a price stay unfilled and are cancelled with the reason, as the engine records
them. Orders are tagged with our reference, so :meth:`SimBroker.open_orders` lets a restarted
worker find its own.

Like a real broker's, the simulated account outlives the worker: with ``store`` set, cash,
positions, cost basis, the waiting orders and the day's executions are written atomically, in
one file, after every change and read back on start, so a worker killed mid-rebalance finds its
orders where it left them, and one killed after a fill finds the fill: :meth:`SimBroker.fills`
reports the executions of the current day (by ``clock``, in its zone), as IB does after a
restart. Each execution has an id unique to the account (``sim-<account>-<n>``), as IB's do.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from quant_core.broker import Account, Fill, Order, OrderStatus, OrderType, Position, Side
from quant_core.errors import OperationalError
from quant_core.live.files import save_sim_account
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.ledger import Ledger, execute, fill_prices

logger = logging.getLogger(__name__)


class SimBroker:
    """A broker in memory over a fixed symbol universe.

    Parameters
    ----------
    symbols
        The universe, in the order of the price arrays handed to it.
    initial_cash
        Starting cash, account currency.
    costs, shortfall, fractional
        As in the backtest (the shared ``costs`` and ``portfolio`` config).
    clock
        Returns the current time (a replay's simulated clock, or the wall clock).
    """

    def __init__(
        self,
        symbols: pd.Index,
        initial_cash: float,
        costs: CostModel,
        shortfall: Literal["pro_rata", "sequential"],
        fractional: bool,
        clock: Callable[[], dt.datetime],
        store: Path | None = None,
        zone: dt.tzinfo | None = None,
    ) -> None:
        self.symbols = symbols
        self.ledger = Ledger(initial_cash, np.zeros(len(symbols)))
        self.costs, self.shortfall, self.fractional = costs, shortfall, fractional
        self.clock = clock
        # The day whose executions are reported: the exchange's (19:30 and 20:30 in New York are
        # one day, two UTC dates); the clock's own zone when none is given.
        self.zone = zone
        self.marks = np.full(len(symbols), np.nan)
        self._book: dict[str, Order] = {}
        self._rejected: list[Order] = []
        self._fills: list[Fill] = []
        self._cost_basis = np.zeros(len(symbols))
        self._realized = 0.0
        self._ids = itertools.count(1)
        self._next_exec = 1
        self.account_id = uuid.uuid4().hex[:8]
        self.as_of: dt.datetime | None = None  # the clock at the account's last change
        self._opens: tuple[dt.date, np.ndarray] | None = None  # the last session opened here
        self.store = store
        if store is not None and store.is_file():
            self._load(store)

    # ------------------------------------------------------------------- the Broker protocol

    def connect(self) -> None:
        """Nothing to connect to: the simulated broker lives in this process."""

    def disconnect(self) -> None:
        """Nothing to close."""

    def account(self) -> Account:
        """Return cash, net liquidation at the marks, and PnL."""
        value = self.ledger.equity(self.marks)
        held = self.ledger.positions != 0
        unrealized = float(
            (self.ledger.positions[held] * np.nan_to_num(self.marks[held])).sum()
            - self._cost_basis[held].sum()
        )
        shorts = self.ledger.positions < 0
        owed = float(-(self.ledger.positions[shorts] * np.nan_to_num(self.marks[shorts])).sum())
        buying_power = max(0.0, self.ledger.cash - owed)  # short proceeds are not free cash
        return Account(value, self.ledger.cash, buying_power, self._realized, unrealized)

    def positions(self) -> list[Position]:
        """Return every non-zero position at its mark."""
        out = []
        for i in np.flatnonzero(self.ledger.positions).tolist():
            qty = float(self.ledger.positions[i])
            out.append(
                Position(str(self.symbols[i]), qty, self._cost_basis[i] / qty, float(self.marks[i]))
            )
        return out

    def open_orders(self) -> list[Order]:
        """Return the orders waiting for a price."""
        return list(self._book.values())

    def place(self, orders: list[Order]) -> list[Order]:
        """Queue market orders; unknown symbols are rejected."""
        accepted = []
        for order in orders:
            if order.symbol not in self.symbols:
                rejected = replace(order, status=OrderStatus.REJECTED, reason="unknown symbol")
                self._rejected.append(rejected)
                accepted.append(rejected)
                continue
            placed = replace(
                order,
                order_id=order.order_id or f"sim-{next(self._ids)}",
                status=OrderStatus.SUBMITTED,
            )
            self._book[placed.order_id] = placed
            accepted.append(placed)
        self._save()
        return accepted

    def wait(self, seconds: float) -> None:
        """Sleep: the simulated broker has no messages to process."""
        time.sleep(seconds)

    def rejections(self) -> list[Order]:
        """Return the orders refused since the last call."""
        out, self._rejected = self._rejected, []
        return out

    def cancel(self, order_id: str) -> None:
        """Cancel one waiting order."""
        order = self._book.pop(order_id, None)
        if order is None:
            raise OperationalError(f"no open order {order_id}")
        self._save()

    def cancel_all(self) -> None:
        """Cancel every waiting order."""
        for order_id in list(self._book):
            self.cancel(order_id)

    def fills(self) -> list[Fill]:
        """Return the executions of the current day, as IB reports them (after a restart too)."""
        return self._today(self._fills)

    def _today(self, fills: list[Fill]) -> list[Fill]:
        zone = self.zone or self.clock().tzinfo
        today = self._day()
        return [f for f in fills if f.time.astimezone(zone).date() == today]

    def _day(self) -> dt.date:
        # The day by the clock, in the exchange's zone (the clock's own when none is given).
        now = self.clock()
        return now.astimezone(self.zone or now.tzinfo).date()

    def quotes(
        self, symbols: list[str], on_batch: Callable[[], None] | None = None
    ) -> dict[str, float]:
        """Return the marks (latest closes) of ``symbols``; unknown or unmarked ones left out."""
        where = pd.Index(self.symbols).get_indexer(pd.Index(symbols))
        return {
            s: float(self.marks[i])
            for s, i in zip(symbols, where, strict=True)
            if i >= 0 and np.isfinite(self.marks[i])
        }

    # --------------------------------------------------------------------- price events

    def mark(self, closes: np.ndarray) -> None:
        """Mark positions at ``closes``; a symbol without one keeps its last mark."""
        known = np.isfinite(closes)
        self.marks = np.where(known, closes, self.marks)
        self._save()

    def open_session(self, opens: np.ndarray, exits: np.ndarray | None = None) -> list[Fill]:
        """Execute every waiting order at ``opens`` (the next open), as one batch.

        ``exits`` holds the last close of symbols whose data ended (NaN otherwise): an order
        that only reduces such a position fills there, as in the backtest. Each fill's
        ``arrival_price`` is the price it aimed at (the open, or that last close); the opens are
        kept for the session's later fills (:meth:`session_opens`).
        """
        self._opens = (self._day(), np.asarray(opens, dtype=float).copy())
        return self._execute(opens, exits, arrival=True)

    def session_opens(self, symbols: list[str], session: dt.date) -> dict[str, float]:
        """Return the opens of ``session`` (known once it opened here); others left out."""
        if self._opens is None or self._opens[0] != session:
            return {}
        opens = self._opens[1]
        where = pd.Index(self.symbols).get_indexer(pd.Index(symbols))
        return {
            s: float(opens[i])
            for s, i in zip(symbols, where, strict=True)
            if i >= 0 and np.isfinite(opens[i])
        }

    def settle(self, seconds: float = 0.0) -> list[Fill]:
        """Fill what waits at the latest marks (a simulation needs no time)."""
        return self.fill_now()

    def fill_now(self) -> list[Fill]:
        """Execute every waiting order at the latest marks (live simulation)."""
        return self._execute(self.marks)

    def _execute(
        self, prices: np.ndarray, exits: np.ndarray | None = None, arrival: bool = False
    ) -> list[Fill]:
        if not self._book:
            return []
        book = list(self._book.values())
        self._book.clear()
        where = self.symbols.get_indexer(pd.Index([o.symbol for o in book]))
        vector = np.zeros(len(self.symbols))
        np.add.at(vector, where, [o.signed for o in book])
        if exits is not None:
            prices = fill_prices(prices, exits, vector, self.ledger.positions)
        aimed = np.asarray(prices, dtype=float)  # the price each order aimed at, before costs
        self.ledger, result = execute(
            self.ledger, vector, prices, self.costs, self.shortfall, self.fractional
        )
        now = self.clock()
        by_symbol = dict(zip(result.index.tolist(), range(len(result.index)), strict=True))
        new_fills: list[Fill] = []
        for order, i in zip(book, where, strict=True):
            k = by_symbol.get(int(i))
            if k is None:  # orders on one symbol netted to zero: nothing to trade
                continue
            share = order.signed / result.requested[k]
            qty = abs(result.filled[k] * share)
            if qty == 0:  # refused (no price, no cash): gone from the book, nothing filled
                continue
            fill = Fill(
                order.order_id,
                order.ref,
                order.symbol,
                order.side,
                float(qty),
                float(result.price[k]),
                float(result.commission[k] * abs(share)),
                now,
                f"sim-{self.account_id}-{self._next_exec + len(new_fills)}",
                float(aimed[i]) if arrival and np.isfinite(aimed[i]) else None,
            )
            self._book_cost(int(i), fill)
            new_fills.append(fill)
        self._fills.extend(new_fills)
        self._next_exec += len(new_fills)
        self._save()
        return new_fills

    def _save(self) -> None:
        self.as_of = self.clock()
        self._fills = self._today(self._fills)  # a new day: IB too forgets the day before
        if self.store is None:
            return
        held = np.flatnonzero(self.ledger.positions).tolist()
        save_sim_account(
            self.store,
            {
                "cash": self.ledger.cash,
                "positions": {str(self.symbols[i]): float(self.ledger.positions[i]) for i in held},
                "cost_basis": {str(self.symbols[i]): float(self._cost_basis[i]) for i in held},
                "marks": {
                    str(s): float(m)
                    for s, m in zip(self.symbols, self.marks, strict=True)
                    if np.isfinite(m)
                },
                "realized": self._realized,
                "book": [_fields_of(o) for o in self._book.values()],
                "next_id": next(self._ids),
                "account_id": self.account_id,
                "as_of": self.as_of.isoformat(),
                "executions": [
                    {**_fields_of(f), "time": f.time.isoformat()} for f in self._fills
                ],  # with the account in one atomic write: a fill and its record go together
                "next_exec": self._next_exec,
            },
        )

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        where = self.symbols.get_indexer(pd.Index(list(data["positions"])))
        if (where < 0).any():
            raise OperationalError(f"{path}: positions in symbols outside the universe")
        positions = np.zeros(len(self.symbols))
        positions[where] = list(data["positions"].values())
        self.ledger = Ledger(float(data["cash"]), positions)
        self._cost_basis[where] = [data["cost_basis"][s] for s in data["positions"]]
        marks = data.get("marks", {})
        known = self.symbols.get_indexer(pd.Index(list(marks)))
        self.marks[known[known >= 0]] = np.array(list(marks.values()))[known >= 0]
        self._realized = float(data["realized"])
        for raw in data["book"]:
            order = Order(
                **{
                    **raw,
                    "side": Side(raw["side"]),
                    "order_type": OrderType(raw["order_type"]),
                    "status": OrderStatus(raw["status"]),
                }
            )
            self._book[order.order_id] = order
        self._ids = itertools.count(int(data["next_id"]))
        # Files written before the account kept its executions have none of these.
        self.account_id = str(data.get("account_id", self.account_id))
        self.as_of = dt.datetime.fromisoformat(data["as_of"]) if "as_of" in data else None
        self._fills = [_execution(path, raw) for raw in data.get("executions", [])]
        self._next_exec = int(data.get("next_exec", 1))
        logger.info(
            "Simulated account restored from %s: cash %.2f, %d positions, %d open orders, "
            "%d execution(s) of the day",
            path,
            self.ledger.cash,
            len(data["positions"]),
            len(self._book),
            len(self.fills()),
        )

    def _book_cost(self, i: int, fill: Fill) -> None:
        # The cost basis is signed (average cost x position): a short's is negative. A trade
        # that reduces a position realises (price - average cost) on what it closes; one that
        # opens or adds moves the average. Commissions are realised costs when paid.
        traded = fill.quantity if fill.side is Side.BUY else -fill.quantity
        before = float(self.ledger.positions[i] - traded)
        self._realized -= fill.commission
        if before == 0 or np.sign(traded) == np.sign(before):
            self._cost_basis[i] += traded * fill.price
            return
        average = self._cost_basis[i] / before
        closed = min(abs(traded), abs(before))
        self._realized += closed * (fill.price - average) * np.sign(before)
        self._cost_basis[i] -= average * closed * np.sign(before)
        opened = abs(traded) - closed  # a trade through zero opens the other side
        if opened > 0:
            self._cost_basis[i] = np.sign(traded) * opened * fill.price


def _execution(path: Path, raw: dict[str, Any]) -> Fill:
    # An execution as _save wrote it; a field missing or malformed names the file and the field.
    try:
        when = dt.datetime.fromisoformat(str(raw["time"]))
        if when.tzinfo is None:
            raise ValueError(f"time {raw['time']!r} has no timezone")
        return Fill(
            str(raw["order_id"]),
            str(raw["ref"]),
            str(raw["symbol"]),
            Side(raw["side"]),
            float(raw["quantity"]),
            float(raw["price"]),
            float(raw["commission"]),
            when,
            str(raw["exec_id"]),
            None if raw.get("arrival_price") is None else float(raw["arrival_price"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise OperationalError(f"{path}: unreadable execution {raw!r}: {exc}") from None


def _fields_of(record: Order | Fill) -> dict[str, Any]:
    """Return ``record``'s fields by name: ``asdict`` without its deep copy of each value.

    Saved three times a session (the marks, the opens, the fills); the values are immutable.
    """
    return {f.name: getattr(record, f.name) for f in fields(record)}
