"""The position cap at the execution price (portfolio.weight_cap), checked against the guard."""

from __future__ import annotations

import numpy as np
import pytest

from quant_core.portfolio import risk
from quant_core.portfolio.ledger import Ledger
from quant_core.portfolio.weight_cap import PositionCap, cap_orders, equity_at

SYMBOLS = np.array(["A", "B", "C", "D", "E"])


def test_adding_orders_are_trimmed_to_the_cap_and_reductions_left_alone() -> None:
    positions = np.array([0.0, 100.0, -100.0, 300.0, 100.0])
    orders = np.array([300.0, 200.0, -200.0, -50.0, -400.0])
    prices = np.full(5, 10.0)

    out, binding = cap_orders(orders, positions, prices, 10_000.0, 0.25, False, SYMBOLS)

    # Cap: 0.25 x 10,000 / 10 = 250 shares. A opens to 250; B's 300 is cut to 250; C's short
    # of 300 likewise; D is above the cap already but sells: kept; E crosses zero: its sale of
    # 100 is kept and the short it opens stops at 250.
    assert out.tolist() == [250.0, 150.0, -150.0, -50.0, -350.0]
    assert binding is not None
    assert binding.constraint == "max_position_weight"
    assert binding.detail.startswith("4 order(s) trimmed to 25.00% of equity 10,000.00")


def test_no_limit_no_price_or_nothing_above_the_cap_changes_nothing() -> None:
    orders, positions = np.array([300.0, 10.0]), np.zeros(2)
    prices = np.array([np.nan, 10.0])

    out, binding = cap_orders(orders, positions, prices, 10_000.0, 0.25, False, SYMBOLS[:2])
    assert out.tolist() == [300.0, 10.0]
    assert binding is None
    out, binding = cap_orders(orders, positions, np.full(2, 10.0), 1e4, None, False, SYMBOLS[:2])
    assert out.tolist() == [300.0, 10.0]
    assert binding is None


def test_a_gap_up_that_would_trip_the_guard_is_trimmed_so_the_guard_passes() -> None:
    # 25% of 98,000 (cash buffer 2%) at a T-1 close of 100: 245 shares; the name opens 3% up.
    ledger = Ledger(100_000.0, np.zeros(1))
    orders, quote, close = np.array([245.0]), np.array([103.0]), np.array([100.0])
    guard = [risk.MaxPositionWeight(0.25)]
    view = risk.RiskView(100_000.0, 100_000.0, 100_000.0, {})
    assert risk.check(guard, {"A": 245 * 103.0}, view) is not None  # 25.24%: it would halt

    out, binding = PositionCap(0.25, False, SYMBOLS[:1]).trim(orders, ledger, quote, close)

    assert out.tolist() == [242.0]  # floor(25,000 / 103)
    assert binding is not None
    assert risk.check(guard, {"A": float(out[0]) * 103.0}, view) is None


def test_fractional_shares_reach_the_cap_without_passing_it() -> None:
    out, _ = cap_orders(np.array([1.0e3]), np.zeros(1), np.array([7.0]), 1e4, 0.3, True, SYMBOLS)
    assert out[0] * 7.0 <= 0.3 * 1e4
    assert out[0] * 7.0 > 0.3 * 1e4 - 1e-6


def test_equity_values_missing_prices_at_the_marks() -> None:
    positions = np.array([10.0, -5.0])
    equity = equity_at(1_000.0, positions, np.array([12.0, np.nan]), np.array([11.0, 20.0]))
    assert equity == 1_000.0 + 120.0 - 100.0


def _cap_definition(
    orders: np.ndarray,
    positions: np.ndarray,
    prices: np.ndarray,
    equity: float,
    limit: float,
    fractional: bool,
) -> np.ndarray:
    # The cap over every symbol at once, as the docstring defines it.
    out = np.array(orders, dtype=float)
    priced = np.isfinite(prices) & (prices > 0)
    after = positions + out
    base = np.where(np.sign(after) == np.sign(positions), np.abs(positions), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = limit * equity / np.where(priced, prices, np.inf)
    cap = cap * (1.0 - 1e-12) if fractional else np.floor(cap)
    allowed = np.maximum(np.minimum(np.abs(after), cap), base)
    trim = priced & (out != 0) & (np.abs(after) > allowed)
    out[trim] = np.sign(after[trim]) * allowed[trim] - positions[trim]
    return out


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("fractional", [False, True])
def test_cap_orders_is_its_definition_on_random_books(seed: int, fractional: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    positions = np.round(rng.normal(0, 200, n)) * (rng.random(n) < 0.6)
    orders = np.round(rng.normal(0, 300, n)) * (rng.random(n) < 0.7)
    prices = rng.uniform(1, 300, n)
    prices[rng.random(n) < 0.1] = np.nan
    prices[rng.random(n) < 0.05] = 0.0
    if fractional:
        orders = orders + rng.random(n) * (orders != 0)
    equity, limit = float(rng.uniform(1e4, 1e6)), float(rng.uniform(0.01, 0.5))
    names = np.array([f"S{i}" for i in range(n)])
    got, binding = cap_orders(orders, positions, prices, equity, limit, fractional, names)
    expected = _cap_definition(orders, positions, prices, equity, limit, fractional)
    np.testing.assert_array_equal(got, expected)
    assert (binding is None) == bool((got == orders).all())
