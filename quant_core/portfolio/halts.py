"""Account halts in a backtest: daily loss and drawdown measured at every close.

Shared with the live worker: the measurement (:func:`quant_core.portfolio.risk.account_usage`,
the function its heartbeat calls) and what a halt blocks: every strategy order. A halted
session's rebalance sends nothing, sales and covers included; the stops still fire, and with
``risk.on_breach: flat`` every position is closed at the next open.

What differs: the backtest measures at the close of every session (daily loss against the
previous close, drawdown against the peak of every close so far, this one included); the worker
at every heartbeat (against the session's opening figure and its recorded peak). A breach at the
close of T halts the backtest from the open of T+1 for ``risk.halt_sessions`` sessions, T+1
through T+halt_sessions, a stand-in for the person who presses RESUME; a breach while halted does
not lengthen it. At the close of its last session the limits are measured again: a limit still
tripped halts again (and flattens again with ``on_breach: flat``). A drawdown beyond its limit
does not recover in a flat book, which then stays halted to the end of the run. The worker
(``live/risk_watch.py``) stays HALTED until a person sends RESUME. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from quant_core.portfolio.risk import LimitUsage, account_usage

if TYPE_CHECKING:  # the rules need no config package at run time
    from config.schema import RiskConfig

HALT_FLAT = "halt_flat"  # the status of a trade that closed a position because of a breach


@dataclass(frozen=True, slots=True)
class HaltRules:
    """The ``risk`` section's account limits (fractions, None disables one) and what they do."""

    max_daily_loss_frac: float | None = None
    max_drawdown_frac: float | None = None
    flattens: bool = False
    halt_sessions: int = 5

    @classmethod
    def from_config(cls, risk: RiskConfig) -> HaltRules:
        """Build the rules of the ``risk`` config section."""
        return cls(
            risk.max_daily_loss_frac, risk.max_drawdown_frac, risk.flattens, risk.halt_sessions
        )

    @property
    def active(self) -> bool:
        """Return whether any account limit is set."""
        return self.max_daily_loss_frac is not None or self.max_drawdown_frac is not None


@dataclass(frozen=True, slots=True)
class HaltEvent:
    """What the close of T starts at the open of T+1: a halt (``tripped``), or its end."""

    tripped: tuple[LimitUsage, ...]  # empty: the halt ran out within the limits
    flatten: bool  # close every position at the next open
    renewed: bool  # tripped again when the previous halt ran out

    @property
    def name(self) -> str:
        """Return the first tripped limit's name, or ``resume``."""
        return self.tripped[0].name if self.tripped else "resume"


@dataclass(frozen=True, slots=True)
class AccountHalt:
    """The account's figures as of one close, and the last row a halt covers (-1: none yet)."""

    peak: float
    previous: float  # the equity at the previous close
    until: int = -1

    @classmethod
    def start(cls, equity: float) -> AccountHalt:
        """Return the state before the first close: ``equity`` is the starting cash."""
        return cls(equity, equity)

    def halted(self, t: int) -> bool:
        """Return whether the session at row ``t`` is halted (no strategy orders)."""
        return t <= self.until

    def close(
        self, rules: HaltRules, t: int, equity: float
    ) -> tuple[AccountHalt, HaltEvent | None]:
        """Measure the limits at the close of row ``t``; return the new state and its event.

        The event, if any, acts from the open of row ``t + 1`` (module docstring).
        """
        peak = max(self.peak, equity)
        tripped = tuple(u for u in account_usage(rules, equity, self.previous, peak) if u.tripped)
        if t < self.until or (not tripped and t != self.until):
            return AccountHalt(peak, equity, self.until), None
        if not tripped:  # the halt's last session closed within the limits: trading again
            return AccountHalt(peak, equity, self.until), HaltEvent((), False, False)
        event = HaltEvent(tripped, rules.flattens, renewed=t == self.until)
        return AccountHalt(peak, equity, t + rules.halt_sessions), event
