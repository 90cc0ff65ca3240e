"""The fill kernel as numpy expressions: the oracle the compiled kernel is held to.

This is :func:`quant_core.portfolio.ledger.execute` as it was written in numpy before it was
compiled (``quant_core/portfolio/kernels.py``); ``test_kernels.py`` requires the two to agree
to the last bit on random books, orders, prices, costs and shortfall rules.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.ledger import BISECTION_STEPS, Fills, FillStatus, Ledger


def execute(
    ledger: Ledger,
    orders: np.ndarray,
    prices: np.ndarray,
    costs: CostModel,
    shortfall: Literal["pro_rata", "sequential"] = "pro_rata",
    fractional: bool = False,
) -> tuple[Ledger, Fills]:
    """Execute ``orders`` (signed shares per symbol position; 0 = none) at ``prices``.

    Returns
    -------
    tuple[Ledger, Fills]
        The new ledger and what happened to every non-zero order.
    """
    index = np.flatnonzero(orders)
    requested = orders[index].astype(float)
    raw = prices[index]
    priced = np.isfinite(raw) & (raw > 0)
    side = np.sign(requested)
    price = costs.execution_price(np.where(priced, raw, 0.0), side)
    filled = np.where(priced, requested, 0.0)
    status = np.where(priced, FillStatus.FILLED.value, FillStatus.REJECTED_NO_PRICE.value)
    commission = costs.commission(filled, price)  # zero where nothing is filled

    sells = filled < 0
    cash = ledger.cash + float(-(filled[sells] * price[sells]).sum() - commission[sells].sum())
    buys = np.flatnonzero(filled > 0)
    if buys.size:
        # The same expression checks and pays, so a total that fits leaves cash >= 0 exactly.
        total = float((filled[buys] * price[buys] + commission[buys]).sum())
        if total > cash:
            wanted = filled[buys]
            affordable = (_pro_rata if shortfall == "pro_rata" else _sequential)(
                wanted, price[buys], cash, costs, fractional
            )
            status[buys[affordable < wanted]] = FillStatus.TRUNCATED_CASH.value
            filled[buys] = affordable
            commission[buys] = costs.commission(affordable, price[buys])
            total = float(_cost(affordable, price[buys], costs).sum())
        cash = cash - total

    positions = ledger.positions.copy()
    positions[index] += filled
    price = np.where(filled != 0, price, np.nan)
    fills = Fills(index, requested, filled, price, commission, status)
    return Ledger(cash, positions), fills


def _cost(shares: np.ndarray, price: np.ndarray, costs: CostModel) -> np.ndarray:
    return np.asarray(shares * price + costs.commission(shares, price))


def _shares(amount: np.ndarray, fractional: bool) -> np.ndarray:
    return amount if fractional else np.floor(amount)


def _pro_rata(
    wanted: np.ndarray, price: np.ndarray, cash: float, costs: CostModel, fractional: bool
) -> np.ndarray:
    # The total cost is non-decreasing in the common scale f, so bisect on f; `lo` stays
    # affordable at every step, hence so is the answer.
    lo, hi = 0.0, 1.0
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        if _cost(_shares(wanted * mid, fractional), price, costs).sum() <= cash:
            lo = mid
        else:
            hi = mid
    return _shares(wanted * lo, fractional)


def _sequential(
    wanted: np.ndarray, price: np.ndarray, cash: float, costs: CostModel, fractional: bool
) -> np.ndarray:
    # Every check sums the whole vector exactly as `execute` does afterwards, so what is
    # affordable here is affordable there, to the last bit.
    def fits(candidate: np.ndarray) -> bool:
        return bool(_cost(candidate, price, costs).sum() <= cash)

    out = np.zeros_like(wanted)
    order = np.lexsort((np.arange(wanted.size), wanted * price))  # ascending value, then position
    for i in order:
        out[i] = wanted[i]
        if fits(out):
            continue
        lo, hi = 0.0, float(wanted[i])
        for _ in range(BISECTION_STEPS):
            mid = (lo + hi) / 2
            out[i] = mid if fractional else np.floor(mid)
            lo, hi = (mid, hi) if fits(out) else (lo, mid)
        out[i] = lo if fractional else np.floor(lo)
        break  # this buy ran out of cash; later ones get nothing
    return out
