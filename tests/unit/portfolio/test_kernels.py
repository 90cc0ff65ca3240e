"""The compiled money kernels give numpy's numbers to the last bit.

``pairwise_sum`` against ``ndarray.sum`` at every size around numpy's block boundaries; the
compiled :func:`quant_core.portfolio.ledger.execute` against the numpy expressions it replaced
(``ledger_reference.py``) on random books: longs and shorts, whole and fractional orders, NaN
and zero prices, both cost models, both shortfall rules, cash from ample to nearly none (so
that most batches are truncated by one rule or the other).
"""

from __future__ import annotations

import numpy as np
import pytest

from quant_core.portfolio import kernels
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.ledger import Fills, Ledger, execute
from tests.unit.portfolio import ledger_reference

COSTS = (
    CostModel(per_share_usd=0.005, min_per_order_usd=1.0, max_frac_of_value=0.01, slippage_bps=5),
    CostModel(commission_bps=2.0, slippage_bps=7.0),
    CostModel(per_share_usd=0.0035, min_per_order_usd=0.35),  # no cap on the fee
    CostModel(),
)
FILL_FIELDS = ("index", "requested", "filled", "price", "commission", "status")


@pytest.mark.parametrize("size", [*range(40), 127, 128, 129, 135, 255, 256, 257, 1000, 8193])
def test_pairwise_sum_is_numpys_sum(size: int) -> None:
    rng = np.random.default_rng(size)
    for _ in range(5):
        values = rng.standard_normal(size) * 10.0 ** rng.integers(-4, 7, size)
        assert kernels.pairwise_sum(values) == values.sum()
    assert kernels.pairwise_sum(np.full(size, 0.1)) == np.full(size, 0.1).sum()


def test_pairwise_sum_of_a_long_array_follows_numpys_halves() -> None:
    values = np.random.default_rng(3).standard_normal(1 << 18) * 1e6
    assert kernels.pairwise_sum(values) == values.sum()
    assert kernels.pairwise_sum(values) != float(np.cumsum(values)[-1])  # the order shows


def _book(rng: np.random.Generator) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    n = int(rng.integers(1, 300))
    positions = np.where(rng.random(n) < 0.5, np.floor(rng.random(n) * 500), 0.0)
    if rng.random() < 0.3:
        positions -= np.floor(rng.random(n) * 200)  # shorts too
    orders = np.where(rng.random(n) < 0.7, np.round(rng.standard_normal(n) * 300), 0.0)
    if rng.random() < 0.3:
        orders += np.where(orders != 0, rng.random(n), 0.0)  # fractions of a share
    prices = rng.random(n) * 300 + 0.5
    prices[rng.random(n) < 0.05] = np.nan  # no open
    prices[rng.random(n) < 0.02] = 0.0
    cash = float(rng.random() * 10.0 ** rng.integers(1, 7))
    return cash, positions, orders, prices


def _same(a: tuple[Ledger, Fills], b: tuple[Ledger, Fills]) -> bool:
    (ledger_a, fills_a), (ledger_b, fills_b) = a, b
    if ledger_a.cash != ledger_b.cash or not np.array_equal(ledger_a.positions, ledger_b.positions):
        return False
    for name in FILL_FIELDS:
        x, y = getattr(fills_a, name), getattr(fills_b, name)
        if x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            return False
    return True


@pytest.mark.parametrize("shortfall", ["pro_rata", "sequential"])
@pytest.mark.parametrize("fractional", [False, True])
def test_execute_is_the_numpy_kernel_to_the_last_bit(shortfall: str, fractional: bool) -> None:
    rng = np.random.default_rng(7 + 2 * fractional + (shortfall == "sequential"))
    truncated = 0
    for case in range(400):
        cash, positions, orders, prices = _book(rng)
        costs = COSTS[case % len(COSTS)]
        args = (orders, prices, costs, shortfall, fractional)
        expected = ledger_reference.execute(Ledger(cash, positions), *args)  # type: ignore[arg-type]
        got = execute(Ledger(cash, positions), *args)  # type: ignore[arg-type]
        assert _same(got, expected), (case, cash, costs)
        assert got[0].cash >= 0 or cash < 0
        truncated += bool((got[1].status == "truncated_cash").any())
    assert truncated > 100  # the shortfall rules were exercised, not only ample cash


def test_execute_edge_batches() -> None:
    positions = np.array([10.0, -5.0, 0.0])
    costs = COSTS[0]
    for orders, prices, cash in [
        (np.zeros(3), np.ones(3), 100.0),  # nothing to do
        (np.array([-10.0, 5.0, 0.0]), np.array([20.0, 30.0, 1.0]), 0.0),  # closes only
        (np.array([1.0, 1.0, 1.0]), np.full(3, np.nan), 50.0),  # nothing priced
        (np.array([0.0, 0.0, 3.0]), np.array([1.0, 1.0, 10.0]), 31.015),  # cash fits exactly
        (np.array([0.0, 0.0, 3.0]), np.array([1.0, 1.0, 10.0]), 0.5),  # nothing affordable
    ]:
        for shortfall in ("pro_rata", "sequential"):
            args = (orders, prices, costs, shortfall, False)
            expected = ledger_reference.execute(Ledger(cash, positions), *args)  # type: ignore[arg-type]
            assert _same(execute(Ledger(cash, positions), *args), expected)  # type: ignore[arg-type]
