"""A rebalance's steps from checked weights to orders, compiled: the numpy code's numbers.

The compiled backtest loop (:mod:`quant_core.backtest.compiled`) takes these steps where the
engine calls numpy code; each gives what that code gives, to the last bit (the rules of
:mod:`quant_core.portfolio.kernels`), and the tests hold them together:

* :func:`gone` is :func:`quant_core.data.panels.gone_at`;
* :func:`target_orders` is :func:`quant_core.strategies.decide.target_orders` after the
  strategy, for the ``as_is`` construction and the constraints ``max_weight``, ``max_gross``
  and ``max_net`` (:func:`quant_core.portfolio.constraints.apply_constraints` with no sector
  cap, drift band, turnover cap or volatility target);
* :func:`cap_orders` is :func:`quant_core.portfolio.weight_cap.cap_orders`;
* :func:`fill_prices` is :func:`quant_core.portfolio.ledger.fill_prices` of ``exit_prices``.
"""

from __future__ import annotations

import numpy as np

from quant_core.compiled import compiled
from quant_core.portfolio.constraints import TOLERANCE
from quant_core.portfolio.kernels import held_value, pairwise_sum, value_at
from quant_core.portfolio.weight_cap import FRACTIONAL_MARGIN


@compiled
def gone(
    close: np.ndarray, t: int, missing: int, first: np.ndarray, gappy: np.ndarray
) -> np.ndarray:
    """Return the symbols gone at row ``t``: a bar before, no close in rows ``t - missing``.."""
    t = min(t, close.shape[0])
    lo = max(t - missing, 0)
    out = np.zeros(close.shape[1], dtype=np.bool_)
    for j in gappy:
        if first[j] >= lo:
            continue
        recent = False
        for r in range(lo, t):
            if np.isfinite(close[r, j]):
                recent = True
                break
        out[j] = not recent
    return out


@compiled
def _clip(target: np.ndarray, max_weight: float) -> int:
    # Step 2 in place (NaN: no max_weight); returns the names above it.
    clipped = 0
    if np.isfinite(max_weight):
        for k in range(target.size):
            if abs(target[k]) > max_weight + TOLERANCE:
                clipped += 1
            target[k] = min(max(target[k], -max_weight), max_weight)
    return clipped


@compiled
def _cap_net(target: np.ndarray, max_net: float) -> tuple[float, float]:
    # Step 5 in place; returns the net and the scale of its side (NaN: not scaled).
    longs = pairwise_sum(target[target > 0])
    shorts = pairwise_sum(target[target < 0])
    net = longs + shorts
    if abs(net) <= max_net + TOLERANCE:
        return net, np.nan
    side = 1.0 if net > 0 else -1.0
    scale = (max_net - shorts) / longs if net > 0 else (-max_net - longs) / shorts
    for k in range(target.size):
        if target[k] * side > 0:
            target[k] = target[k] * scale
    return net, scale


@compiled
def _constrain(
    target: np.ndarray, max_weight: float, max_gross: float, max_net: float
) -> tuple[int, float, float, float]:
    # Steps 2, 4 and 5 of apply_constraints on the active names, in place. Returns the names
    # clipped, the gross scaled (NaN: not), the net and the scale of its side (NaN: not).
    clipped = _clip(target, max_weight)
    gross = pairwise_sum(np.abs(target))
    scaled_gross = np.nan
    if not gross <= max_gross + TOLERANCE:
        target *= max_gross / gross
        scaled_gross = gross
    net, scale = _cap_net(target, max_net)
    return clipped, scaled_gross, net, scale


@compiled
def target_orders(
    weights: np.ndarray,
    positions: np.ndarray,
    cash: float,
    marks: np.ndarray,
    cash_buffer: float,
    fractional: bool,
    ended: np.ndarray,
    limits: tuple[float, float, float],
) -> tuple[np.ndarray, float, int, float, float, float]:
    """Return the orders of a rebalance, the equity, and what the constraints did.

    ``marks``: the T-1 closes (forward-filled); ``limits``: ``max_weight`` (NaN: none),
    ``max_gross``, ``max_net``. Returns the orders, the equity at ``marks``, the names clipped
    to ``max_weight``, the gross scaled down (NaN: not), the net and its side's scale (NaN:
    not). An equity not above 0 closes what is held (orders ``-positions``).
    """
    n = positions.size
    equity = cash + held_value(positions, marks)
    if equity <= 0:
        return -positions, equity, 0, np.nan, 0.0, np.nan
    investable = equity * (1.0 - cash_buffer)
    current = np.zeros(n)
    for j in range(n):
        if positions[j] != 0:
            mark = 0.0 if np.isnan(marks[j]) else marks[j]
            current[j] = positions[j] * mark / investable
    active = np.flatnonzero((weights != 0) | (current != 0))
    target = np.empty(active.size)
    for k in range(active.size):
        target[k] = 0.0 if ended[active[k]] else weights[active[k]]
    clipped, gross, net, scale = _constrain(target, limits[0], limits[1], limits[2])
    final = np.zeros(n)
    final[active] = target
    kept = 1.0 - cash_buffer
    orders = np.empty(n)
    for j in range(n):
        price = marks[j]
        amount = 0.0
        if np.isfinite(price) and price > 0 and final[j] != 0:
            amount = final[j] * equity * kept / price
            if not fractional:
                amount = np.trunc(amount)
        if final[j] == current[j] and positions[j] != 0:
            amount = positions[j]  # a kept weight keeps its shares exactly
        if ended[j]:
            amount = 0.0
        order = amount - positions[j]
        orders[j] = order if fractional else np.trunc(order)
    return orders, equity, clipped, gross, net, scale


@compiled
def cap_orders(
    orders: np.ndarray,
    positions: np.ndarray,
    cash: float,
    prices: np.ndarray,
    marks: np.ndarray,
    limit: float,
    fractional: bool,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Return ``orders`` trimmed to ``limit`` of the equity at ``prices``, the equity, the trims.

    The equity is ``cash`` plus the positions at ``prices`` (``marks`` where none); the trims
    are the positions of the orders trimmed.
    """
    out = orders.copy()
    equity = cash + value_at(positions, prices, marks)
    if not np.isfinite(equity) or equity <= 0:
        return out, equity, np.empty(0, dtype=np.int64)
    ordered = np.flatnonzero(out)
    trimmed = np.zeros(ordered.size, dtype=np.bool_)
    for k in range(ordered.size):
        i = ordered[k]
        price, held = prices[i], positions[i]
        priced = np.isfinite(price) and price > 0
        after = held + out[i]
        base = abs(held) if np.sign(after) == np.sign(held) else 0.0
        cap = limit * equity / (price if priced else np.inf)
        cap = cap * (1.0 - FRACTIONAL_MARGIN) if fractional else np.floor(cap)
        allowed = max(min(abs(after), cap), base)
        if priced and abs(after) > allowed:
            out[i] = np.sign(after) * allowed - held
            trimmed[k] = True
    return out, equity, ordered[trimmed]


@compiled
def fill_prices(
    opens: np.ndarray,
    last_close: np.ndarray,
    ended: np.ndarray,
    orders: np.ndarray,
    positions: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return each order's price and whether a symbol fills at its last close (none at T).

    The open; a gone symbol's order that only reduces its position, without an open, at its
    last close (``last_close``: the T-1 closes, forward-filled).
    """
    n = opens.size
    prices = opens.copy()
    at_last_close = np.zeros(n, dtype=np.bool_)
    for j in range(n):
        if ended[j] and np.isfinite(last_close[j]) and not np.isfinite(opens[j]):
            at_last_close[j] = True
            order, held = orders[j], positions[j]
            if order * held < 0 and abs(order) <= abs(held):
                prices[j] = last_close[j]
    return prices, at_last_close
