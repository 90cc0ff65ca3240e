"""Each sleeve's own stops and drawdown halt, checked at every close, acting at the next open.

A sleeve's limits (:class:`~quant_core.book.sleeves.SleeveRisk`) act on its own sub-account
only, never on another sleeve's positions in the same names:

- **stops** (``stop_loss``, ``take_profit``): the rules of the ``risk`` section
  (:func:`quant_core.portfolio.stops.stop_hits`) on the sleeve's own cost basis, built from the
  fills attributed to it; a hit at the close of T-1 closes the sleeve's position at the open of
  T (status ``stop_loss`` / ``take_profit``), whatever its rebalance of T would have done;
- **drawdown**: the sleeve's net asset value, its equity compounded by its daily returns net of
  the allocation's transfers (``r_t = E_t / (E_{t-1} + F_t) - 1``, so taking capital away is not
  a loss; the first session's base is the capital moved in), falling ``max_drawdown`` below its
  peak halts the sleeve for the rest of the run: no order of its own (it holds what it has, but
  sells a name that left the data), no capital moved in or out, and with ``on_breach: flat`` its
  positions are closed from the next open on (status ``halt_flat``; retried at every open until
  none is left). The other sleeves trade on.

Pure: the backtest's book engine and the worker drive it with the same calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_core.book.sleeves import Book
from quant_core.portfolio.halts import HALT_FLAT
from quant_core.portfolio.stops import CostBasis, stop_hits


@dataclass(frozen=True, slots=True)
class SleeveEvent:
    """What a close tripped for one sleeve: a stop on a name, or its drawdown halt."""

    sleeve: int
    kind: str  # "stop" or "halt"
    name: str  # the symbol stopped, or "max_drawdown"
    detail: str


class SleeveGuard:
    """The sleeves' cost bases, net asset values and halts (module docstring)."""

    def __init__(self, book: Book, symbols: np.ndarray) -> None:
        self.book, self.symbols = book, symbols
        k, n = len(book.sleeves), len(symbols)
        self.bases = [CostBasis.empty(n) for _ in range(k)]
        self.nav, self.peak = np.ones(k), np.ones(k)
        self.halted = np.zeros(k, dtype=bool)
        # Halted by its drawdown with on_breach flat: closed at every open until none is left (a
        # sleeve halted by hand, the HALT command, holds its positions).
        self.flattening = np.zeros(k, dtype=bool)
        self.last_equity = np.zeros(k)  # no capital before the first allocation
        self.pending: list[tuple[int, int, str]] = []  # (sleeve, symbol position, status)

    @property
    def active(self) -> bool:
        """Return whether any sleeve has a limit (the engine then checks every close)."""
        return any(s.risk.active for s in self.book.sleeves)

    def fill(self, t: int, shares: np.ndarray, prices: np.ndarray) -> None:
        """Fold the fills attributed at row ``t`` (``K x n`` shares) into each sleeve's basis."""
        for k, row in enumerate(shares):
            index = np.flatnonzero(row)
            if index.size:
                self.bases[k] = self.bases[k].fill(t, index, row[index], prices[index])

    def close(
        self,
        t: int,
        closes: np.ndarray,
        positions: np.ndarray,
        equity: np.ndarray,
        flows: np.ndarray,
    ) -> list[SleeveEvent]:
        """Check every sleeve at the close of row ``t``; return what tripped, for the log.

        ``positions`` ``K x n``; ``equity`` each sleeve's at this close; ``flows`` the cash
        the allocation moved into each at this session's open. The exits are kept for the next
        open (:meth:`exits`).
        """
        self.bases = [b.close(closes) for b in self.bases]
        base = self.last_equity + flows  # the first session's base: the capital moved in
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = np.where(base > 0, np.maximum(equity, 0.0) / base, 1.0)
        self.nav = self.nav * growth
        self.peak = np.maximum(self.peak, self.nav)
        self.last_equity = equity.copy()
        events: list[SleeveEvent] = []
        for k, sleeve in enumerate(self.book.sleeves):
            rules = sleeve.risk
            if rules.stops.active:
                for hit in stop_hits(rules.stops, self.bases[k], positions[k], closes):
                    symbol = str(self.symbols[hit.index])
                    self.pending.append((k, hit.index, hit.kind.value))
                    events.append(SleeveEvent(k, "stop", symbol, hit.describe(symbol)))
            limit = rules.max_drawdown
            if limit is None or self.halted[k]:
                continue
            drawdown = 1.0 - self.nav[k] / self.peak[k]
            if drawdown >= limit:
                self.halted[k] = True
                what = f"drawdown {drawdown:.2%} of {limit:.2%}: halted for the rest of the run"
                if rules.on_breach == "flat":  # from the next open on (exits), until none
                    self.flattening[k] = True
                    what += "; its positions closed at the next open"
                events.append(SleeveEvent(k, "halt", "max_drawdown", what))
        return events

    def exits(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the exits due at this open: ``K x n`` requests and a status per symbol.

        Each closes the sleeve's whole position in the name (nothing if it holds none now).
        """
        requests = np.zeros_like(positions)
        reasons = np.full(positions.shape[1], "", dtype=object)
        for k in range(len(self.book.sleeves)):  # a flat not filled (no open) is retried
            if self.halted[k] and self.flattening[k]:
                self.pending.extend((k, int(j), HALT_FLAT) for j in np.flatnonzero(positions[k]))
        for k, j, status in self.pending:
            requests[k, j] = -positions[k, j]
            if requests[k, j] != 0:
                reasons[j] = status
        self.pending = []
        return requests, reasons


__all__ = ["SleeveEvent", "SleeveGuard"]
