"""The book's capital step: each sleeve's share of the account, from its returns through T-1.

On each allocation session T (the allocation's own schedule, ``book.allocation.rebalance``):

1. each sleeve's daily returns through the close of T-1 (:func:`sleeve_returns`: the change of
   its equity net of the cash the allocation moved in or out, so a transfer is not a return);
2. the weights of ``book.allocation.method`` over the last ``lookback`` of them
   (:func:`quant_core.book.allocation.allocate`);
3. the multipliers of ``scaling`` over the last ``scaling_lookback``
   (:func:`quant_core.book.scaling.scale`), the weights tilted by them and never above 1 in sum
   (:func:`quant_core.book.scaling.scaled_weights`); the rest stays in the book's reserve.

A sleeve's capital is its weight times the book's equity at the close of T-1 (the sleeves' and
the reserve's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from quant_core.book.allocation import allocate
from quant_core.book.scaling import scale, scaled_weights
from quant_core.book.sleeves import Book


@dataclass(frozen=True, slots=True)
class CapitalStep:
    """One allocation: the weights before scaling, after it, and a fallback's reason."""

    allocated: np.ndarray
    weights: np.ndarray
    fallback: str | None


def sleeve_returns(equity: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """Return the sleeves' daily returns ``(L - 1) x K`` from their closes ``L x K``.

    ``r_t = E_t / (E_{t-1} + F_t) - 1``, ``F_t`` the cash the allocation moved into the sleeve
    at the open of session t (``flows``, ``L x K``, row t). NaN where the base is not positive
    (a sleeve with no capital yet) or a value is missing.
    """
    if len(equity) < 2:
        return np.empty((0, equity.shape[1] if equity.ndim == 2 else 0))
    base = equity[:-1] + flows[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(base > 0, equity[1:] / base - 1.0, np.nan)
    return np.asarray(out, dtype=float)


def capital_step(book: Book, returns: np.ndarray, active: np.ndarray | None = None) -> CapitalStep:
    """Return the sleeves' weights for an allocation at T from ``returns`` through T-1.

    ``active`` (a bool per sleeve; None: all): only those share the capital, from their own
    returns; the others (halted, or not trading yet) get a weight of 0.
    """
    rule = book.allocation
    k = len(book.sleeves)
    live = np.ones(k, dtype=bool) if active is None else np.asarray(active, dtype=bool)
    allocated, weights = np.zeros(k), np.zeros(k)
    if not live.any():
        return CapitalStep(allocated, weights, None)
    fixed = book.fixed_weights()
    window = returns[:, live]
    chosen = allocate(
        rule.method,
        window[-rule.lookback :],
        fixed=None if fixed is None else fixed[live],
        budget=rule.budget,
        min_sessions=rule.min_sessions,
    )
    multipliers = scale(
        rule.scaling,
        window[-rule.scaling_lookback :],
        lower=rule.lower,
        upper=rule.upper,
        min_sessions=rule.min_sessions,
    )
    allocated[live] = chosen.weights
    weights[live] = scaled_weights(chosen.weights, multipliers)
    fallback = chosen.fallback
    if fallback is not None and not live.all():
        # The allocator numbers the sleeves it was given: name them by the book's numbers.
        numbers = np.flatnonzero(live)
        fallback = re.sub(r"sleeve (\d+)", lambda m: f"sleeve {numbers[int(m.group(1))]}", fallback)
    return CapitalStep(allocated, weights, fallback)


__all__ = ["CapitalStep", "capital_step", "sleeve_returns"]
