"""The fill/cash kernel: execute one batch of market orders at one price each, purely.

``execute(ledger, orders, prices, costs, shortfall, fractional) -> (new_ledger, fills)``

* Sells fill first, at ``price x (1 - slippage)``; their proceeds less commission join the cash.
* Buys cost ``shares x price x (1 + slippage)`` plus commission, paid from cash. If the cash
  (after the sells) cannot pay every buy, they are truncated by the shortfall rule:

  ``pro_rata``
      every buy is scaled by the same factor, the largest for which the total cost fits the
      cash (shares floored unless fractional);
  ``sequential``
      buys fill in ascending order value (ties by symbol position); the one that runs out of
      cash gets the most shares that the remaining cash pays, fee included; later buys get
      nothing.

* An order without a usable price (halt, missing bar) is not filled: ``REJECTED_NO_PRICE``.
* Cash never goes below zero: the total cost of the buys is checked as one number against the
  cash, and ``cash - total >= 0`` holds exactly in floating point whenever ``total <= cash``.

Rejections and truncations are data (``Fills.status``), never exceptions. No I/O, no clock: the
backtest engine and the live worker's simulated broker both call this function, and both price
the orders by the same rules first (:func:`exit_prices`, :func:`fill_prices`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

import numpy as np

from quant_core.portfolio import kernels
from quant_core.portfolio.costs import CostModel

BISECTION_STEPS = kernels.BISECTION_STEPS  # a truncation's bisection on its scale or shares
EXIT_STATUS = "exit_at_last_close"  # a trade's status when it filled at its exit price


class FillStatus(StrEnum):
    """What happened to one order."""

    FILLED = "filled"
    TRUNCATED_CASH = "truncated_cash"
    REJECTED_NO_PRICE = "rejected_no_price"


# The kernel's status codes (kernels.FILLED, ...) as the texts, in code order.
STATUS_TEXT = np.array(
    [FillStatus.FILLED.value, FillStatus.TRUNCATED_CASH.value, FillStatus.REJECTED_NO_PRICE.value]
)


def nan_to_zero(values: np.ndarray) -> np.ndarray:
    """Return a float copy of ``values`` with NaN as 0: ``np.nan_to_num``, in fewer steps.

    Identical to ``np.nan_to_num`` for every input (an infinity, which prices never hold, takes
    ``np.nan_to_num`` itself); it runs at every decision of every run, so it is kept lean.
    """
    out = np.array(values, dtype=float)
    if np.isinf(out).any():
        return np.asarray(np.nan_to_num(out))
    np.copyto(out, 0.0, where=np.isnan(out))
    return out


def row_sums(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Return ``matrix @ vector``, each row's sum the same whatever the threads and the shape.

    A threaded BLAS product splits the rows between threads and sums a few of them in another
    order than one thread does (measured: 3 rows of 4,900 x 500 and 4 of 252 x 2,000 differ in
    their last bits), so ``run_backtest.py`` in a shell and a sweep's single-threaded Dask worker
    marked the same run to other bits; ``einsum`` sums a row in another order as the rows around
    it change (a truncated run's last stretch). Here each row is multiplied by ``vector`` and
    summed by numpy's pairwise sum of that row alone (compiled,
    :func:`quant_core.portfolio.kernels.row_sums`): the bits of a row depend on its values
    only, and no more than one row's products are held at once. A 2-D ``vector`` (``n x k``)
    gives ``rows x k``, column by column.
    """
    if matrix.ndim != 2 or vector.ndim not in (1, 2) or matrix.shape[1] != vector.shape[0]:
        raise ValueError(f"row_sums: shapes {matrix.shape} and {vector.shape} do not align")
    if vector.ndim == 2:
        columns = [row_sums(matrix, vector[:, k]) for k in range(vector.shape[1])]
        return np.stack(columns, axis=1) if columns else np.zeros((matrix.shape[0], 0))
    out: np.ndarray = kernels.row_sums(
        np.asarray(matrix, dtype=float), np.ascontiguousarray(vector, dtype=float)
    )
    return out


@dataclass(frozen=True, slots=True)
class Ledger:
    """Cash (account currency) and positions (shares per symbol position)."""

    cash: float
    positions: np.ndarray

    def equity(self, prices: np.ndarray) -> float:
        """Return cash plus positions marked at ``prices`` (NaN prices count for nothing).

        The held names' values summed pairwise (:func:`quant_core.portfolio.kernels.held_value`).
        """
        value = kernels.held_value(
            np.ascontiguousarray(self.positions, dtype=float),
            np.ascontiguousarray(prices, dtype=float),
        )
        return float(self.cash + value)


@dataclass(frozen=True, slots=True)
class Fills:
    """Per-order results of one batch, aligned on ``index`` (symbol positions).

    ``requested`` and ``filled`` are signed shares (buy > 0); ``price`` is the execution
    price after slippage (NaN when nothing filled); ``commission`` in account currency.
    """

    index: np.ndarray
    requested: np.ndarray
    filled: np.ndarray
    price: np.ndarray
    commission: np.ndarray
    status: np.ndarray

    @property
    def cash_flow(self) -> float:
        """Return the batch's net cash flow: sale proceeds less purchases and commissions."""
        notional = np.nan_to_num(self.filled * self.price)
        return float(-notional.sum() - self.commission.sum())


def exit_prices(gone: np.ndarray, last_closes: np.ndarray) -> np.ndarray:
    """Return the last close through T-1 of every symbol in ``gone`` (NaN otherwise).

    ``last_closes`` are the forward-filled closes of T-1. A symbol that left the data (index
    exit, delisting) has no more opens; the data holds no delisting proceeds, so a position in
    it can be closed at its last close instead of being locked for the rest of the run.
    """
    return np.where(gone, last_closes, np.nan)


def fill_prices(
    opens: np.ndarray, exits: np.ndarray, orders: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """Return the price each order executes at.

    The open of T; or, for an order that only reduces a position in a gone symbol with no
    open at T, that symbol's last close (a gone symbol that trades again at T sells at T's
    open).
    """
    reduces = (orders * positions < 0) & (np.abs(orders) <= np.abs(positions))
    return np.where(np.isfinite(exits) & reduces & ~np.isfinite(opens), exits, opens)


def execute(
    ledger: Ledger,
    orders: np.ndarray,
    prices: np.ndarray,
    costs: CostModel,
    shortfall: Literal["pro_rata", "sequential"] = "pro_rata",
    fractional: bool = False,
) -> tuple[Ledger, Fills]:
    """Execute ``orders`` (signed shares per symbol position; 0 = none) at ``prices``.

    The module's rules, compiled (:func:`quant_core.portfolio.kernels.execute`).

    Returns
    -------
    tuple[Ledger, Fills]
        The new ledger and what happened to every non-zero order.
    """
    cash, positions, index, requested, filled, price, commission, codes = kernels.execute(
        float(ledger.cash),
        np.ascontiguousarray(ledger.positions, dtype=float),
        np.ascontiguousarray(orders, dtype=float),
        np.ascontiguousarray(prices, dtype=float),
        float(costs.slippage_bps),
        costs.rates,
        shortfall == "sequential",
        fractional,
    )
    fills = Fills(index, requested, filled, price, commission, STATUS_TEXT[codes])
    return replace(ledger, cash=float(cash), positions=positions), fills
