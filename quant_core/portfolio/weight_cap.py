"""The position cap at the execution price: orders trimmed to ``risk.max_position_weight``.

The construction caps weights (``portfolio.constraints.max_weight``, by default
``risk.max_position_weight``) at the close of T-1, in units of equity x (1 - cash_buffer). The
live worker's pre-trade guard (:class:`quant_core.portfolio.risk.MaxPositionWeight`) measures the
position after the order at the current quote against the equity now: a name at the cap that
opens more than about 2% above its T-1 close would trip it and halt the worker.

:func:`cap_orders` trims the orders that add to a position (a buy of a long, a sale that opens
or adds to a short) so that the position after them, valued at the execution prices, stays
within the cap of the equity at those prices. Both drivers call it: the backtest at the open of
T (equity marked at the opens), the worker at the current quotes before its guard, which then
only catches real bugs. Orders that reduce a position are never touched. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_core.portfolio import kernels
from quant_core.portfolio.ledger import Ledger
from quant_core.portfolio.policy import Binding

NAME = "max_position_weight"
LISTED = 5  # trimmed names listed in a binding's detail
FRACTIONAL_MARGIN = 1e-12  # fractional shares: stay this share inside the cap (float rounding)


def equity_at(cash: float, positions: np.ndarray, prices: np.ndarray, marks: np.ndarray) -> float:
    """Return ``cash`` + positions valued at ``prices`` (``marks`` where a price is missing).

    Summed pairwise (:func:`quant_core.portfolio.kernels.value_at`).
    """
    value = kernels.value_at(
        np.ascontiguousarray(positions, dtype=float),
        np.ascontiguousarray(prices, dtype=float),
        np.ascontiguousarray(marks, dtype=float),
    )
    return float(cash + value)


def cap_orders(
    orders: np.ndarray,
    positions: np.ndarray,
    prices: np.ndarray,
    equity: float,
    limit: float | None,
    fractional: bool,
    symbols: np.ndarray,
) -> tuple[np.ndarray, Binding | None]:
    """Return ``orders`` (signed shares) trimmed so no position ends above ``limit`` of equity.

    The cap in shares is ``limit x equity / price`` (whole shares, toward zero, unless
    ``fractional``). An order that adds to a position is cut to what reaches the cap, or to
    nothing when the position is there already; one that crosses zero keeps its reduction and
    opens the other side up to the cap. Orders without a finite positive price, and every order
    when ``limit`` is None or ``equity`` is not positive, are left as they are. The
    :class:`~quant_core.portfolio.policy.Binding` (None: nothing trimmed) names the trims.
    """
    out = np.array(orders, dtype=float)
    if limit is None or not np.isfinite(equity) or equity <= 0:
        return out, None
    # Element by element, on the orders only (the names without one are never trimmed).
    ordered = np.flatnonzero(out)
    price, held = prices[ordered], positions[ordered]
    priced = np.isfinite(price) & (price > 0)
    after = held + out[ordered]
    same_side = np.sign(after) == np.sign(held)
    base = np.where(same_side, np.abs(held), 0.0)  # what the order may always keep
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = limit * equity / np.where(priced, price, np.inf)
    cap = cap * (1.0 - FRACTIONAL_MARGIN) if fractional else np.floor(cap)
    allowed = np.maximum(np.minimum(np.abs(after), cap), base)
    trim = priced & (np.abs(after) > allowed)
    if not trim.any():
        return out, None
    index = ordered[trim]
    out[index] = np.sign(after[trim]) * allowed[trim] - held[trim]
    return out, trim_binding(
        symbols[index], orders[index], out[index], prices[index], limit, equity
    )


def trim_binding(
    symbols: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    prices: np.ndarray,
    limit: float,
    equity: float,
) -> Binding:
    """Return the record of the orders trimmed (their symbols, shares before and after, prices).

    The largest trims by notional are named first (ties in the order given), at most
    :data:`LISTED`.
    """
    cut = [-abs(float(b - a)) * float(p) for b, a, p in zip(before, after, prices, strict=True)]
    largest = sorted(range(len(cut)), key=lambda k: cut[k])
    named = "; ".join(
        f"{symbols[k]} {float(before[k]):g}->{float(after[k]):g} at {float(prices[k]):,.2f}"
        for k in largest[:LISTED]
    )
    more = "..." if len(cut) > LISTED else ""
    detail = (
        f"{len(cut)} order(s) trimmed to {limit:.2%} of equity {equity:,.2f} at the "
        f"execution price: {named}{more}"
    )
    return Binding(NAME, detail)


@dataclass(frozen=True, slots=True)
class PositionCap:
    """``risk.max_position_weight`` (None: no cap), fractional shares or not, and the symbols."""

    limit: float | None
    fractional: bool
    symbols: np.ndarray

    def trim(
        self, orders: np.ndarray, ledger: Ledger, prices: np.ndarray, marks: np.ndarray
    ) -> tuple[np.ndarray, Binding | None]:
        """Return :func:`cap_orders` of ``orders`` for ``ledger``, equity valued at ``prices``.

        ``marks`` (the T-1 closes) value a position whose symbol has no price.
        """
        equity = equity_at(ledger.cash, ledger.positions, prices, marks)
        return cap_orders(
            orders, ledger.positions, prices, equity, self.limit, self.fractional, self.symbols
        )
