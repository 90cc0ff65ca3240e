"""The tail of one book: historical VaR and expected shortfall, and the stress sessions.

Pinned definitions (issue 12, Must have 5), so that anyone can check them. ``closes`` are the
close panel rows through T-1 (sessions x symbols, NaN where a symbol has no bar); ``weights``
are today's book, signed fractions of equity per symbol position.

* **Session returns**: the simple return of session ``s`` is ``close[s] / close[s-1] - 1``;
  a name without both closes (or with a zero close) has no return that session.
* **Book P&L of a past session**: ``sum_i w_i r_(s,i)``, today's book applied to that session's
  returns, a fraction of equity; a name without a return that session counts 0.
* **VaR and ES** (``level`` 0.95): over the last ``sessions`` session returns through T-1 (252 by
  default; all there are when fewer), ``q`` is numpy's ``quantile(pnl, 1 - level,
  method="lower")`` (an observed P&L: the ``floor((1 - level) x (n - 1))``-th smallest, from
  0); ``VaR = -q`` and ``ES = -mean(pnl[pnl <= q])``, both fractions of equity, positive for a
  loss. With fewer than ``ceil(1 / (1 - level))`` sessions (20 at 95%) the tail holds no
  observation of its own: VaR and ES are None.
* **Stress sessions**: every session of the data through T-1 gets the equal-weight universe
  return, the mean of the returns of every symbol that has one that session (a session where
  none has is skipped); the ``k`` sessions with the lowest universe return (5 by default; ties to
  the earlier session), worst first, each with today's book's P&L on it.

Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

VAR_LEVEL = 0.95  # confidence of VaR and ES
VAR_SESSIONS = 252  # session returns through T-1 that VaR and ES read (about a year)
STRESS_SESSIONS = 5  # worst sessions of the data replayed on today's book
# numpy's quantile rule: an observed P&L, never an interpolation.
QUANTILE_METHOD: Literal["lower"] = "lower"


@dataclass(frozen=True, slots=True)
class Tail:
    """Historical VaR and expected shortfall of a book, fractions of equity (a loss > 0).

    ``var`` and ``es`` are None when the window holds too few sessions (module docstring);
    ``sessions`` is how many session returns the window held.
    """

    var: float | None
    es: float | None
    sessions: int


@dataclass(frozen=True, slots=True)
class Stress:
    """One past session replayed on today's book: its row in ``closes`` and both returns."""

    row: int
    universe_return: float
    book_return: float


def session_returns(closes: np.ndarray) -> np.ndarray:
    """Return the simple returns of every session after the first (NaN where a close is missing).

    Row ``s - 1`` of the result is session ``s`` of ``closes``: ``close[s] / close[s-1] - 1``.
    A zero close makes the return non-finite; it is NaN here, as a missing one.
    """
    if closes.shape[0] < 2:
        return np.empty((0, closes.shape[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = closes[1:] / closes[:-1] - 1.0
    return np.where(np.isfinite(returns), returns, np.nan)


def book_pnl(weights: np.ndarray, returns: np.ndarray) -> np.ndarray:
    """Return ``sum_i w_i r_(s,i)`` per session: a name without a return counts 0."""
    held = np.flatnonzero(weights)
    return np.asarray(np.nan_to_num(returns[:, held]) @ weights[held])


def min_sessions(level: float = VAR_LEVEL) -> int:
    """Return the fewest sessions VaR and ES need at ``level``: ``ceil(1 / (1 - level))``."""
    return math.ceil(round(1.0 / (1.0 - level), 9))


def var_es(pnl: np.ndarray, level: float = VAR_LEVEL) -> tuple[float, float]:
    """Return ``(VaR, ES)`` of the P&L sample ``pnl`` at ``level`` (module docstring).

    Raises
    ------
    ValueError
        ``pnl`` is empty.
    """
    if pnl.size == 0:
        raise ValueError("VaR of an empty P&L sample")
    q = float(np.quantile(pnl, 1.0 - level, method=QUANTILE_METHOD))
    tail = pnl[pnl <= q]
    # + 0.0: a book that never loses reports 0, not -0.
    return -q + 0.0, -float(tail.mean()) + 0.0


def historical_tail(
    weights: np.ndarray,
    closes: np.ndarray,
    sessions: int = VAR_SESSIONS,
    level: float = VAR_LEVEL,
) -> Tail:
    """Return the historical VaR and ES of today's book over the last ``sessions`` sessions."""
    returns = session_returns(closes[-(sessions + 1) :])
    pnl = book_pnl(weights, returns)
    if pnl.size < min_sessions(level):
        return Tail(None, None, int(pnl.size))
    var, es = var_es(pnl, level)
    return Tail(var, es, int(pnl.size))


def universe_returns(closes: np.ndarray) -> np.ndarray:
    """Return the equal-weight universe return of each session after the first (NaN: none)."""
    return _universe(session_returns(closes))


def _universe(returns: np.ndarray) -> np.ndarray:
    counts = np.isfinite(returns).sum(axis=1)
    sums = np.nansum(returns, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def stress_sessions(
    weights: np.ndarray, closes: np.ndarray, k: int = STRESS_SESSIONS
) -> tuple[Stress, ...]:
    """Return the ``k`` worst sessions of ``closes`` by universe return, worst first, replayed."""
    returns = session_returns(closes)
    universe = _universe(returns)
    rows = np.flatnonzero(np.isfinite(universe))
    worst = rows[np.argsort(universe[rows], kind="stable")[:k]]
    book = book_pnl(weights, returns[worst]) if worst.size else np.empty(0)
    return tuple(
        Stress(int(s) + 1, float(universe[s]), float(b)) for s, b in zip(worst, book, strict=True)
    )
