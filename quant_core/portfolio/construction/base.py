"""What every construction method shares: its result, the names it left out, trailing returns.

Pinned definitions (issue 12), so that anyone can check them: the returns of a decision at T are
the simple close-to-close returns of the last ``lookback`` sessions ending at T-1, read from the
``lookback + 1`` closes of rows T-1-lookback .. T-1. A name with fewer valid returns (a missing
close in the window, or fewer than ``lookback + 1`` closes in all) is left out: weight 0, and
reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from quant_core.portfolio.construction import ConstructionSettings


class SolverError(ArithmeticError):
    """An optimiser failed (no convergence, a singular or indefinite matrix, a non-finite input).

    :func:`~quant_core.portfolio.construction.construct` catches it (with every other
    ``ArithmeticError`` and ``numpy.linalg.LinAlgError``) and falls back to ``inverse_vol``: a
    solver failure never crashes a rebalance.
    """


class Reason(StrEnum):
    """Why a construction method left a name out (weight 0)."""

    SHORT_HISTORY = "short_history"  # fewer than lookback valid returns through T-1
    ZERO_VOLATILITY = "zero_volatility"  # its returns do not move: 1/sigma is undefined
    NON_FINITE_VOLATILITY = "non_finite_volatility"  # its deviation overflows: 1/sigma is 0
    NO_SCORE = "no_score"  # no finite score at T-1: no expected return (Grinold's rule)
    OPPOSITE_SIGN = "opposite_sign"  # half_kelly would take the other side than the strategy


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A name the strategy weighted that the method left out, by symbol position."""

    index: int
    reason: Reason


@dataclass(frozen=True, slots=True)
class Construction:
    """The re-weighted book and the names left out of it.

    Attributes
    ----------
    weights
        Signed fractions of equity per symbol position, the strategy's vector re-weighted.
    left_out
        The names the strategy weighted that got weight 0 here, with the reason; the caller
        reports them (construction does no logging).
    fallback
        None, or why the configured method failed and ``inverse_vol`` gave these weights
        instead; the caller reports it.
    """

    weights: np.ndarray
    left_out: tuple[LeftOut, ...] = ()
    fallback: str | None = None


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a method may read at T: all of it known at the close of T-1.

    Attributes
    ----------
    weights
        The strategy's checked weights per symbol position (non-zero: which names, which side).
    scores
        The strategy's scores per symbol position (NaN where it has none), or None when the
        strategy gives no scores (:attr:`Strategy.gives_scores`).
    closes
        Close panel rows through T-1 only (sessions x symbols, NaN where no bar).
    settings
        The ``portfolio.construction`` settings.
    """

    weights: np.ndarray
    scores: np.ndarray | None
    closes: np.ndarray
    settings: ConstructionSettings


def trailing_returns(
    closes: np.ndarray, lookback: int, names: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the last ``lookback`` simple returns of ``names`` and which names have them all.

    Parameters
    ----------
    closes
        Close panel rows through T-1 (sessions x symbols, NaN where a symbol has no bar).
    lookback
        How many returns, the last ending at T-1.
    names
        Symbol positions (columns of ``closes``) to read.

    Returns
    -------
    returns : numpy.ndarray
        ``lookback x len(names)`` simple returns ``close[s] / close[s-1] - 1``, NaN where a
        close is missing; all NaN when ``closes`` holds fewer than ``lookback + 1`` rows.
    valid : numpy.ndarray
        Boolean per name: every one of its ``lookback`` returns is finite.
    """
    if closes.shape[0] < lookback + 1:
        return np.full((lookback, names.size), np.nan), np.zeros(names.size, dtype=bool)
    window = closes[-(lookback + 1) :, names]
    # A zero or missing close makes a return infinite or NaN: that name is left out, quietly.
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = window[1:] / window[:-1] - 1.0
    return returns, np.isfinite(returns).all(axis=0)
