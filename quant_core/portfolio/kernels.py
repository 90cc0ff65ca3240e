"""The money path's inner loops, compiled: numpy's arithmetic, bit for bit, at C speed.

A sweep runs the fill kernel and the marking of positions hundreds of times per
configuration; as numpy calls on arrays of a few hundred names, each step cost more in
calls than in arithmetic. Here they are loops compiled by numba, made to give exactly what
the numpy expressions they replace give:

* every sum is numpy's pairwise sum (:func:`pairwise_sum`: blocks of 128 summed by eight
  accumulators, larger ones halved on a multiple of 8), so a total is the same to the last
  bit as ``array.sum()``;
* every element-wise step is written in the order numpy evaluates it (``p * (1 + s * b * k)``
  is ``p * (1 + ((s * b) * k))`` in both), and numba follows IEEE 754 without fast-math;
* ``error_model="numpy"``: a division by zero gives inf or NaN as in numpy, never an error.

Compiled once per machine and version of the code, and cached (:mod:`quant_core.compiled`): a
new process, a Dask worker, loads the machine code instead of compiling it again.

Pure functions of arrays and floats, no I/O: the backtest engine and the simulated broker
call them through :func:`quant_core.portfolio.ledger.execute` and
:func:`quant_core.portfolio.ledger.row_sums`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from quant_core.compiled import compiled
from quant_core.portfolio.costs import BPS

BLOCK = 128  # numpy's PW_BLOCKSIZE: below it, eight accumulators; above it, halves
BISECTION_STEPS = 64  # quant_core.portfolio.ledger.BISECTION_STEPS
FILLED, TRUNCATED_CASH, REJECTED_NO_PRICE = 0, 1, 2  # a fill's status code (ledger.FillStatus)


@compiled
def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    # numpy's pairwise_sum of at most BLOCK values: one by one below 8, else 8 accumulators.
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    whole = n - n % 8
    while i < whole:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return float(res)


@compiled
def _deep(a: np.ndarray, lo: int, n: int) -> float:
    # numpy's pairwise_sum (numpy/_core/src/umath/loops_utils.h.src): above BLOCK values, the
    # sum of the first half (rounded down to a multiple of 8) plus the sum of the rest. The
    # recursion walked with a stack of its own (numba's cache cannot hold a recursive function).
    if n <= BLOCK:
        return _block_sum(a, lo, n)
    starts = np.empty(64, dtype=np.int64)
    sizes = np.empty(64, dtype=np.int64)
    lefts = np.empty(64)
    stage = np.zeros(64, dtype=np.int64)  # 0: its left half next, 1: its right half next
    depth = 0
    starts[0], sizes[0] = lo, n
    while True:
        size = sizes[depth]
        half = size // 2
        half -= half % 8
        if stage[depth] == 0:
            child, count = starts[depth], half
        else:
            child, count = starts[depth] + half, size - half
        stage[depth] += 1
        if count > BLOCK:
            depth += 1
            starts[depth], sizes[depth], stage[depth] = child, count, 0
            continue
        value = _block_sum(a, child, count)
        while stage[depth] == 2:  # both halves summed: hand the total to the parent
            value = lefts[depth] + value
            depth -= 1
            if depth < 0:
                return float(value)
        lefts[depth] = value  # a left half: its right half next


def _halves(deeper: Callable[[np.ndarray, int, int], float]) -> Any:
    # One level of numpy's recursion, the next level given: the first levels as plain calls,
    # with no stack to allocate (a sum of up to 128 x 2**4 values), the deeper ones by _deep.
    def level(a: np.ndarray, lo: int, n: int) -> float:
        if n <= BLOCK:
            return _block_sum(a, lo, n)
        half = n // 2
        half -= half % 8
        return deeper(a, lo, half) + deeper(a, lo + half, n - half)

    return compiled(level)


_pairwise = _halves(_halves(_halves(_halves(_deep))))


@compiled
def pairwise_sum(a: np.ndarray) -> float:
    """Return ``a.sum()`` of a 1-D float array, the same to the last bit (module docstring)."""
    return float(0.0 + _pairwise(a, 0, a.size))


@compiled
def row_sums(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Return each row's ``(row * vector).sum()``: :func:`quant_core.portfolio.ledger.row_sums`."""
    rows, cols = matrix.shape
    out = np.empty(rows)
    product = np.empty(cols)
    for r in range(rows):
        for c in range(cols):
            product[c] = matrix[r, c] * vector[c]
        out[r] = pairwise_sum(product)
    return out


@compiled
def held_value(positions: np.ndarray, prices: np.ndarray) -> float:
    """Return the positions held (non-zero) valued at ``prices``, a NaN price counting 0.

    The products of the held names in symbol order, summed pairwise: the bits depend on the
    held names only (a threaded BLAS dot product sums in an order of its own).
    """
    held = np.flatnonzero(positions)
    products = np.empty(held.size)
    for k in range(held.size):
        price = prices[held[k]]
        products[k] = positions[held[k]] * (0.0 if np.isnan(price) else price)
    return pairwise_sum(products)


@compiled
def value_at(positions: np.ndarray, prices: np.ndarray, marks: np.ndarray) -> float:
    """Return every position valued at ``prices``, at ``marks`` where a price is missing.

    A price is missing when not finite or not positive; a NaN mark counts 0. All the
    symbols' products, summed pairwise (:func:`held_value`).
    """
    products = np.empty(positions.size)
    for i in range(positions.size):
        price = prices[i]
        if not (np.isfinite(price) and price > 0):
            price = 0.0 if np.isnan(marks[i]) else marks[i]
        products[i] = positions[i] * price
    return pairwise_sum(products)


@compiled
def _maximum(a: float, b: float) -> float:
    # np.maximum: NaN if either is NaN.
    if a != a or b != b:
        return np.nan
    return a if a >= b else b


@compiled
def _minimum(a: float, b: float) -> float:
    if a != a or b != b:
        return np.nan
    return a if a <= b else b


@compiled
def commission(
    shares: np.ndarray,
    price: np.ndarray,
    per_share: float,
    min_order: float,
    max_frac: float,
    bps_rate: float,
) -> np.ndarray:
    """Return :meth:`quant_core.portfolio.costs.CostModel.commission` of each order.

    ``bps_rate`` is ``commission_bps * BPS`` (one product, as the cost model's); ``max_frac``
    not finite: no cap on the fee.
    """
    capped = np.isfinite(max_frac)
    out = np.empty(shares.size)
    for i in range(shares.size):
        size = abs(shares[i])
        notional = size * price[i]
        fee = _maximum(size * per_share, min_order)
        if capped:
            fee = _minimum(fee, max_frac * notional)
        fee = fee + notional * bps_rate
        out[i] = fee if size > 0 else 0.0
    return out


@compiled
def _total_cost(
    shares: np.ndarray, price: np.ndarray, costs: tuple[float, float, float, float]
) -> float:
    # ledger._cost(...).sum(): shares x price + commission, summed pairwise.
    fees = commission(shares, price, costs[0], costs[1], costs[2], costs[3])
    cost = np.empty(shares.size)
    for i in range(shares.size):
        cost[i] = shares[i] * price[i] + fees[i]
    return pairwise_sum(cost)


@compiled
def _shares(amount: np.ndarray, fractional: bool) -> np.ndarray:
    return amount.copy() if fractional else np.floor(amount)


@compiled
def _pro_rata(
    wanted: np.ndarray,
    price: np.ndarray,
    cash: float,
    costs: tuple[float, float, float, float],
    fractional: bool,
) -> np.ndarray:
    lo, hi = 0.0, 1.0
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        if _total_cost(_shares(wanted * mid, fractional), price, costs) <= cash:
            lo = mid
        else:
            hi = mid
    return _shares(wanted * lo, fractional)


@compiled
def _sequential(
    wanted: np.ndarray,
    price: np.ndarray,
    cash: float,
    costs: tuple[float, float, float, float],
    fractional: bool,
) -> np.ndarray:
    out = np.zeros(wanted.size)
    order = np.argsort(wanted * price, kind="mergesort")  # ascending value, ties by position
    for i in order:
        out[i] = wanted[i]
        if _total_cost(out, price, costs) <= cash:
            continue
        lo, hi = 0.0, wanted[i]
        for _ in range(BISECTION_STEPS):
            mid = (lo + hi) / 2
            out[i] = mid if fractional else np.floor(mid)
            if _total_cost(out, price, costs) <= cash:
                lo = mid
            else:
                hi = mid
        out[i] = lo if fractional else np.floor(lo)
        break  # this buy ran out of cash; later ones get nothing
    return out


@compiled
def _pay_buys(
    cash: float,
    filled: np.ndarray,
    price: np.ndarray,
    fees: np.ndarray,
    status: np.ndarray,
    costs: tuple[float, float, float, float],
    sequential: bool,
    fractional: bool,
) -> float:
    # The buys against the cash after the sells, truncated by the shortfall rule when they
    # cost more; ``filled``, ``fees`` and ``status`` are updated in place. Returns the cash.
    buys = np.flatnonzero(filled > 0)
    if not buys.size:
        return cash
    wanted = filled[buys]
    paid = price[buys]
    bill = np.empty(buys.size)
    for k in range(buys.size):
        bill[k] = wanted[k] * paid[k] + fees[buys[k]]
    total = pairwise_sum(bill)  # the same expression checks and pays: cash >= 0 exactly
    if total > cash:
        if sequential:
            affordable = _sequential(wanted, paid, cash, costs, fractional)
        else:
            affordable = _pro_rata(wanted, paid, cash, costs, fractional)
        new_fees = commission(affordable, paid, costs[0], costs[1], costs[2], costs[3])
        for k in range(buys.size):
            if affordable[k] < wanted[k]:
                status[buys[k]] = TRUNCATED_CASH
            filled[buys[k]] = affordable[k]
            fees[buys[k]] = new_fees[k]
        total = _total_cost(affordable, paid, costs)
    return cash - total


@compiled
def execute(
    cash: float,
    positions: np.ndarray,
    orders: np.ndarray,
    prices: np.ndarray,
    slippage_bps: float,
    costs: tuple[float, float, float, float],
    sequential: bool,
    fractional: bool,
) -> tuple[
    float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]:
    """Return :func:`quant_core.portfolio.ledger.execute`'s ledger and fills, as arrays.

    ``costs``: per-share fee, minimum per order, maximum fraction of value, commission rate
    (:func:`commission`). Returns cash, positions, then the fills' index, requested, filled,
    price, commission and status code (:data:`FILLED`, ...).
    """
    index = np.flatnonzero(orders)
    m = index.size
    requested = np.empty(m)
    price = np.empty(m)
    filled = np.empty(m)
    status = np.empty(m, dtype=np.int8)
    for k in range(m):
        asked = float(orders[index[k]])
        raw = prices[index[k]]
        priced = np.isfinite(raw) and raw > 0
        requested[k] = asked
        price[k] = (raw if priced else 0.0) * (1.0 + np.sign(asked) * slippage_bps * BPS)
        filled[k] = asked if priced else 0.0
        status[k] = FILLED if priced else REJECTED_NO_PRICE
    fees = commission(filled, price, costs[0], costs[1], costs[2], costs[3])

    sells = np.flatnonzero(filled < 0)
    proceeds = np.empty(sells.size)
    for k in range(sells.size):
        proceeds[k] = filled[sells[k]] * price[sells[k]]
    cash = cash + (-pairwise_sum(proceeds) - pairwise_sum(fees[sells]))
    cash = _pay_buys(cash, filled, price, fees, status, costs, sequential, fractional)

    held = positions.copy()
    for k in range(m):
        held[index[k]] += filled[k]
        if filled[k] == 0:
            price[k] = np.nan
    return cash, held, index, requested, filled, price, fees, status
