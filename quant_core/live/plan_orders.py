"""A rebalance's orders: the vector of signed shares as tagged orders, and the cash cuts' line.

The planner (``live/planner.py``) decides the shares; here they become :class:`Plan`: one
:class:`~quant_core.broker.Order` per symbol, under the session's strategy reference
(``qc:<session>:<symbol>``), each with its decision price (the close of T-1 it was sized from,
journaled for the daily report's implementation shortfall), and the signed value per symbol at
the prices the cash was checked at.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from quant_core.broker import Order, OrderRef, OrderType, Side
from quant_core.live.state import LastDecision

CUTS_LISTED = 5  # truncated buys (and symbols without a quote) named in the error line


@dataclass(frozen=True, slots=True)
class Plan:
    """One session's orders, and their signed value per symbol at the prices checked."""

    session: dt.date
    orders: list[Order]
    notional: dict[str, float]
    shape: LastDecision | None = None  # what shaped the weights: journaled with the decision
    prices: np.ndarray | None = None  # per symbol: the current prices the orders were checked at


def session_plan(
    session: dt.date,
    symbols: np.ndarray,
    vector: np.ndarray,
    order_type: OrderType,
    prices: np.ndarray,
    marks: np.ndarray,
    shape: LastDecision | None,
) -> Plan:
    """Return the plan of ``vector`` (signed shares per symbol of ``symbols``) for ``session``.

    ``prices``: what each order's value is counted at (the current prices the cash was checked
    at); ``marks``: the closes of T-1 the targets were sized from (each order's decision price,
    None where the symbol has none).
    """
    index = np.flatnonzero(vector)
    orders = [
        Order(
            "",
            OrderRef.strategy(session, str(symbols[i])),
            str(symbols[i]),
            Side.BUY if vector[i] > 0 else Side.SELL,
            float(abs(vector[i])),
            order_type,
            decision_price=float(marks[i]) if np.isfinite(marks[i]) else None,
        )
        for i in index
    ]
    notional = {
        o.symbol: o.signed * float(np.nan_to_num(prices[i]))
        for o, i in zip(orders, index, strict=True)
    }
    return Plan(session, orders, notional, shape, prices)


def cuts_line(
    symbols: np.ndarray,
    index: np.ndarray,
    wanted: np.ndarray,
    filled: np.ndarray,
    prices: np.ndarray,
    marks: np.ndarray,
) -> str:
    """Return the largest cash cuts by value, each with its quote and T-1 close, for the log.

    ``index``: the symbols cut; ``wanted`` and ``filled``: their shares before and after.
    """
    rows = sorted(
        zip(index, wanted, filled, strict=True),
        key=lambda row: -float((row[1] - row[2]) * prices[row[0]]),
    )[:CUTS_LISTED]
    return "; ".join(
        f"{symbols[i]} {w:g}->{f:g} at ${prices[i]:,.2f} (T-1 ${marks[i]:,.2f})" for i, w, f in rows
    )
