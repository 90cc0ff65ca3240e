"""Per-position stops: decided at the close of T-1, executed at the open of T.

The backtest engine and the live worker call the same functions: :class:`CostBasis` folds the
fills that built each position (the engine as it fills, the worker from its journal), is marked at
every close, and :func:`stop_hits` says which positions a stop closes at the next open.

Pinned definitions
------------------
Average cost
    The volume-weighted average of the execution prices (after slippage; commissions excluded)
    of the fills that built the current position. A fill that adds to the position moves the
    average; one that reduces it leaves the average alone; one that closes it resets it (a flat
    name has no cost); one that goes through zero starts the other side at its own price.
Entry session
    The session of the fill that opened the position, from flat or through zero. Adding to the
    position does not move it.
Trailing reference
    The best close since entry: a long's highest close, a short's lowest, over the closes of the
    entry session through T-1. The entry fills at the entry session's open, so that session's
    close is the first one the position sees. Closes are forward-filled: a session without a
    bar keeps the last close.
Rules
    At the close of T-1, with close ``c``, average cost ``a``, trailing reference ``m`` and side
    ``s`` (+1 long, -1 short), ``move = s (c / a - 1)`` is the position's return on its cost:

    * ``stop_loss``: ``move <= -stop_loss`` (a long's close fell, a short's rose, that far);
    * ``take_profit``: ``move >= take_profit``;
    * ``trailing_stop``: ``s (c / m - 1) <= -trailing_stop`` (a long fell that far from its
      highest close, a short rose that far from its lowest).

    When several trip, the first of stop_loss, trailing_stop, take_profit names the exit.
Execution
    The whole position, at the open of T (the dual-price rule): never at the close that tripped
    the stop. The name is barred from re-entry until the next scheduled rebalance: between
    rebalances nothing else trades, and when T is itself a rebalance the stop wins at T (the
    name's target is zero whatever the strategy says); the first rebalance after T may buy it
    again. An exit without an open price is not filled; the position stays, and the stop is
    checked again at the next close.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the rules need no config package at run time
    from config.schema import RiskConfig

FLAT_SHARES = 1e-9  # fewer shares than this are none (fractional fills that net to zero)


class StopKind(StrEnum):
    """Why a stop closed a position; also the status of its trade."""

    STOP_LOSS = "stop_loss"
    TRAILING_STOP = "trailing_stop"
    TAKE_PROFIT = "take_profit"


@dataclass(frozen=True, slots=True)
class StopRules:
    """The ``risk`` section's stops, fractions; None disables one."""

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None

    @classmethod
    def from_config(cls, risk: RiskConfig) -> StopRules:
        """Build the rules of the ``risk`` config section."""
        return cls(risk.stop_loss, risk.take_profit, risk.trailing_stop)

    @property
    def active(self) -> bool:
        """Return whether any stop is set."""
        return any(x is not None for x in (self.stop_loss, self.take_profit, self.trailing_stop))


@dataclass(frozen=True, slots=True)
class CostBasis:
    """Per symbol position: the shares the fills built, their average cost, entry and extreme.

    ``cost`` and ``extreme`` are NaN and ``entry`` is -1 where nothing is held. ``entry`` is a
    row of the data (the entry session); ``extreme`` the trailing reference (module docstring).
    """

    shares: np.ndarray
    cost: np.ndarray
    entry: np.ndarray
    extreme: np.ndarray

    @classmethod
    def empty(cls, n: int) -> CostBasis:
        """Return the basis of ``n`` symbols, none held."""
        return cls(
            np.zeros(n), np.full(n, np.nan), np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
        )

    def fill(self, row: int, index: np.ndarray, filled: np.ndarray, price: np.ndarray) -> CostBasis:
        """Return the basis after fills at the session of ``row``.

        ``index`` (symbol positions, each at most once), ``filled`` (signed shares; 0 for an
        order that did not fill) and ``price`` (the execution price) are aligned.
        """
        done = (filled != 0) & np.isfinite(price)
        index, filled, price = index[done], filled[done], price[done]
        shares, cost = self.shares.copy(), self.cost.copy()
        entry, extreme = self.entry.copy(), self.extreme.copy()
        before = shares[index]
        after = before + filled
        flat = np.abs(after) < FLAT_SHARES
        opened = ~flat & (np.sign(after) != np.sign(before))  # from flat, or through zero
        added = ~flat & ~opened & (np.sign(filled) == np.sign(before))
        size = np.where(flat, 1.0, np.abs(after))  # a flat name's average is never read
        weighted = (np.abs(before) * cost[index] + np.abs(filled) * price) / size
        cost[index] = np.where(opened, price, np.where(added, weighted, cost[index]))
        cost[index[flat]] = np.nan
        entry[index] = np.where(opened, row, np.where(flat, -1, entry[index]))
        extreme[index[flat | opened]] = np.nan
        shares[index] = np.where(flat, 0.0, after)
        return CostBasis(shares, cost, entry, extreme)

    def close(self, closes: np.ndarray) -> CostBasis:
        """Return the basis with ``closes`` (one session's, forward-filled) in each extreme."""
        long, short = self.shares > 0, self.shares < 0
        extreme = np.where(long, np.fmax(self.extreme, closes), self.extreme)
        extreme = np.where(short, np.fmin(extreme, closes), extreme)
        return CostBasis(self.shares, self.cost, self.entry, extreme)


@dataclass(frozen=True, slots=True)
class StopHit:
    """One position a stop closes at the next open, and the figures that tripped it."""

    index: int  # symbol position
    kind: StopKind
    close: float  # the close of T-1 that tripped it
    cost: float  # the average cost
    reference: float  # what the close was measured against: the cost, or the best close
    limit: float  # the configured fraction

    def describe(self, symbol: str) -> str:
        """Return e.g. ``AAPL stop_loss: close 90.00 is 10.00% below the average cost 100.00``."""
        against = (
            "the best close since entry"
            if self.kind is StopKind.TRAILING_STOP
            else ("the average cost")
        )
        change = self.close / self.reference - 1.0
        way = "above" if change >= 0 else "below"
        return (
            f"{symbol} {self.kind}: close {self.close:,.2f} is {abs(change):.2%} {way} {against} "
            f"{self.reference:,.2f} (limit {self.limit:.2%})"
        )


def stop_hits(
    rules: StopRules, basis: CostBasis, positions: np.ndarray, closes: np.ndarray
) -> tuple[StopHit, ...]:
    """Return the positions a stop closes at the next open, from the closes of T-1.

    ``positions`` are the shares held now (the engine's ledger, the broker's); a position is
    checked where ``basis`` holds it on the same side with a known cost (a position the fills
    do not explain has no cost to measure from). ``closes`` are the forward-filled closes of T-1.
    """
    side = np.sign(positions)
    known = (side != 0) & (np.sign(basis.shares) == side) & np.isfinite(basis.cost)
    known &= np.isfinite(closes) & (closes > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        move = side * (closes / basis.cost - 1.0)
        trail = side * (closes / basis.extreme - 1.0)
    kinds = (
        (StopKind.STOP_LOSS, rules.stop_loss, move, False),
        (StopKind.TRAILING_STOP, rules.trailing_stop, trail, False),
        (StopKind.TAKE_PROFIT, rules.take_profit, move, True),
    )
    hits: dict[int, StopHit] = {}
    for kind, limit, measure, gain in kinds:
        if limit is None:
            continue
        tripped = known & np.isfinite(measure)
        tripped &= (measure >= limit) if gain else (measure <= -limit)
        for i in np.flatnonzero(tripped).tolist():
            if i not in hits:
                reference = basis.extreme[i] if kind is StopKind.TRAILING_STOP else basis.cost[i]
                hits[i] = StopHit(
                    i, kind, float(closes[i]), float(basis.cost[i]), float(reference), limit
                )
    return tuple(hits[i] for i in sorted(hits))


def exit_orders(hits: tuple[StopHit, ...], positions: np.ndarray) -> np.ndarray:
    """Return the signed share orders that close every position in ``hits`` (0 elsewhere)."""
    orders = np.zeros(positions.shape, dtype=float)
    index = np.array([h.index for h in hits], dtype=np.int64)
    orders[index] = -positions[index]
    return orders
