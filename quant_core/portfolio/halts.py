"""Account halts in a backtest: daily loss and drawdown measured at every close.

The limits are measured by the function the live worker's heartbeat uses
(:func:`quant_core.portfolio.risk.account_usage`): at the close of T, the equity against the
previous close (daily loss; the worker: against the session's opening figure, which is the
previous session's last) and against the peak of every close so far, this one included
(drawdown). A breach at the close of T halts the account from the open of T+1:

* no new buys: a rebalance's orders are cut to what reduces a position toward zero, never
  through it (:func:`reductions_only`: a long's sale, a short's cover); whatever opens or adds to a
  position, long or short, is dropped. Stops still fire;
* with ``risk.on_breach: flat`` every position is also closed at the open of T+1;
* the halt lasts ``risk.halt_sessions`` sessions, T+1 through T+halt_sessions, a stand-in for the
  person who presses RESUME. A breach while halted does not lengthen it. At the close of its last
  session the limits are measured again, as a worker given RESUME does at its next heartbeat: a
  limit still tripped halts again (and flattens again with ``on_breach: flat``). A drawdown beyond
  its limit does not recover in a flat book, which then stays halted to the end of the run, as a
  worker whose peak is never reset would.

The live worker keeps its own mechanism (``live/risk_watch.py``): a breach holds it HALTED, every
strategy order with it, until a person sends RESUME. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

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
        """Return whether the session at row ``t`` is halted (no new buys)."""
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


def reductions_only(orders: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Return the part of ``orders`` that reduces ``positions`` toward zero, never through it.

    A long's sale and a short's cover are kept up to the shares held; every order that opens or
    adds to a position, long or short, becomes 0.
    """
    reduces = orders * positions < 0
    kept = np.sign(orders) * np.minimum(np.abs(orders), np.abs(positions))
    return np.where(reduces, kept, 0.0)
