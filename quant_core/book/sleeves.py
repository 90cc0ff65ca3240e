"""A book's sleeves, and the virtual sub-accounts they trade in.

A **book** runs several sleeves in one account. A :class:`Sleeve` is a strategy with its own
schedule, its own universe (a scanner, :mod:`quant_core.scanners`; None: every symbol) and its
own construction and constraints (a :class:`~quant_core.portfolio.policy.PortfolioPolicy`).
A plain strategy run is a book of one sleeve with all of the capital.

Each sleeve k trades in a virtual sub-account, :class:`SubAccounts`: cash ``c_k`` and shares
``s_k`` per symbol, the account holding ``sum_k s_k`` and ``sum_k c_k + reserve``, the
``reserve`` being the cash no sleeve has (before the first allocation, and what a scaling by
performance leaves unallocated). A sleeve's equity is ``c_k + s_k . marks``.

The allocation (:mod:`quant_core.book.allocation`, :mod:`quant_core.book.scaling`) gives each
active sleeve a share ``w_k`` of the book's equity at the close of T-1 on the allocation's
schedule (:meth:`quant_core.book.desk.BookDesk.allocate`): :meth:`SubAccounts.allocate` moves
cash between the sleeves and the reserve so that each sleeve's equity is its capital; positions
never move. A sleeve whose capital moved rebalances at that session, so that its targets follow
its capital (its cash may be negative only between the transfer and that session's fills).
Fills are attributed back to the sleeves (:func:`quant_core.book.netting.attribute`) and applied
with :meth:`SubAccounts.apply`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from quant_core.book.netting import Attribution
from quant_core.portfolio.ledger import Ledger, row_sums
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.schedule import Rule
from quant_core.portfolio.stops import StopRules
from quant_core.strategies.base import Strategy
from quant_core.strategies.decide import decision_warmup

if TYPE_CHECKING:
    from quant_core.scanners.base import Scanner

AllocationMethod = Literal["fixed", "equal", "risk_budget", "hrp"]


@dataclass(frozen=True, slots=True)
class SleeveRisk:
    """A sleeve's own stops and drawdown halt (``book.sleeves[].risk``); None disables one.

    The stops close one of the sleeve's positions at the next open; a fall of the sleeve's
    equity ``max_drawdown`` below its peak halts the sleeve (no orders of its own until the end
    of the run) and, with ``on_breach: flat``, closes its positions at the next open.
    """

    stops: StopRules = field(default_factory=StopRules)
    max_drawdown: float | None = None
    on_breach: Literal["halt", "flat"] = "halt"

    @property
    def active(self) -> bool:
        """Return whether any of the sleeve's limits is set."""
        return self.stops.active or self.max_drawdown is not None


@dataclass(frozen=True, slots=True)
class Sleeve:
    """One strategy of a book: its schedule, universe and policy; ``weight`` for ``fixed``."""

    name: str
    strategy: Strategy[Any]
    rebalance: Rule
    policy: PortfolioPolicy = field(default_factory=PortfolioPolicy)
    scanner: Scanner[Any] | None = None
    weight: float | None = None
    risk: SleeveRisk = field(default_factory=SleeveRisk)

    @property
    def warmup(self) -> int:
        """Return the sessions of history a decision needs: strategy, policy and scanner."""
        scan = 0 if self.scanner is None else self.scanner.warmup
        return max(decision_warmup(self.strategy, self.policy), scan)


@dataclass(frozen=True, slots=True)
class AllocationRule:
    """How the book's capital is split between its sleeves, and when (``book.allocation``).

    ``method`` and ``budget`` as :func:`quant_core.book.allocation.allocate`; ``scaling``
    (``none`` or ``sharpe``) with ``lower`` and ``upper`` as :func:`quant_core.book.scaling.scale`;
    each over the sleeves' daily returns of the last ``lookback`` sessions through T-1.
    """

    method: AllocationMethod = "equal"
    lookback: int = 126
    rebalance: Rule = "monthly"
    budget: Literal["inverse_vol", "erc"] = "inverse_vol"
    min_sessions: int = 20
    scaling: Literal["none", "sharpe"] = "none"
    scaling_lookback: int = 126
    lower: float = 0.5
    upper: float = 1.5


@dataclass(frozen=True, slots=True)
class Book:
    """Sleeves and their allocation."""

    sleeves: tuple[Sleeve, ...]
    allocation: AllocationRule = field(default_factory=AllocationRule)
    name: str = "book"

    def __post_init__(self) -> None:
        if not self.sleeves:
            raise ValueError("a book needs at least one sleeve")
        names = [s.name for s in self.sleeves]
        if len(set(names)) != len(names):
            raise ValueError(f"sleeve names repeat: {names}")

    @property
    def names(self) -> list[str]:
        """Return the sleeves' names, in order."""
        return [s.name for s in self.sleeves]

    @property
    def warmup(self) -> int:
        """Return the history the first sleeve able to decide needs (the book starts there)."""
        return min(s.warmup for s in self.sleeves)

    def fixed_weights(self) -> np.ndarray | None:
        """Return the sleeves' ``weight`` with ``fixed`` allocation (None otherwise)."""
        if self.allocation.method != "fixed":
            return None
        return np.array([s.weight if s.weight is not None else np.nan for s in self.sleeves])


@dataclass(slots=True)
class SubAccounts:
    """The sleeves' virtual cash ``(K,)`` and shares ``(K, n)``, and the book's reserve."""

    cash: np.ndarray
    positions: np.ndarray
    reserve: float

    @classmethod
    def start(cls, sleeves: int, symbols: int, initial_cash: float) -> SubAccounts:
        """Return empty sleeves, every dollar in the reserve until the first allocation."""
        return cls(np.zeros(sleeves), np.zeros((sleeves, symbols)), float(initial_cash))

    def equity(self, marks: np.ndarray) -> np.ndarray:
        """Return each sleeve's cash plus its shares at ``marks`` (NaN marks count for nothing)."""
        return np.asarray(self.cash + row_sums(self.positions, np.nan_to_num(marks)))

    def ledger(self, k: int) -> Ledger:
        """Return sleeve ``k``'s sub-account as a ledger (its decisions are sized on it)."""
        return Ledger(float(self.cash[k]), self.positions[k].copy())

    def allocate(self, capital: np.ndarray, marks: np.ndarray) -> np.ndarray:
        """Move cash so that each sleeve's equity at ``marks`` is ``capital``; return the flows.

        The flows (into each sleeve, negative out) come from the reserve, which takes the rest:
        the account's cash is unchanged.
        """
        flows: np.ndarray = np.asarray(capital, dtype=float) - self.equity(marks)
        self.cash = self.cash + flows
        self.reserve -= float(flows.sum())
        return flows

    def apply(self, attribution: Attribution) -> None:
        """Add the fills attributed to each sleeve: its shares and its cash."""
        self.positions = self.positions + attribution.shares
        self.cash = self.cash + attribution.cash

    def account_cash(self) -> float:
        """Return the account's cash: the sleeves' and the reserve's."""
        return float(self.cash.sum() + self.reserve)


__all__ = ["AllocationRule", "Book", "Sleeve", "SleeveRisk", "SubAccounts"]
