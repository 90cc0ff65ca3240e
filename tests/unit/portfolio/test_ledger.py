from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.ledger import FillStatus, Ledger, execute
from quant_core.portfolio.sizing import target_shares

FREE = CostModel()
IB = CostModel(per_share_usd=0.005, min_per_order_usd=1.0, max_frac_of_value=0.01)


def _ledger(cash: float, *positions: float) -> Ledger:
    return Ledger(cash, np.array(positions, dtype=float))


def test_buys_and_sells_without_costs() -> None:
    new, fills = execute(
        _ledger(1000.0, 10, 0), np.array([-10.0, 5.0]), np.array([20.0, 50.0]), FREE
    )
    assert new.cash == 1000 + 200 - 250
    assert new.positions.tolist() == [0, 5]
    assert fills.status.tolist() == ["filled", "filled"]
    assert fills.cash_flow == -50


def test_commission_is_paid_from_cash_and_slippage_against_the_trader() -> None:
    costs = CostModel(per_share_usd=0.01, min_per_order_usd=1.0, slippage_bps=10)
    new, fills = execute(
        _ledger(10_000.0, 0, 100), np.array([50.0, -100.0]), np.array([100.0, 10.0]), costs
    )
    buy_px, sell_px = 100 * 1.001, 10 * 0.999
    assert fills.price.tolist() == pytest.approx([buy_px, sell_px])
    assert fills.commission.tolist() == pytest.approx([1.0, 1.0])  # the $1 minimum, both sides
    assert new.cash == pytest.approx(10_000 - 50 * buy_px - 1 + 100 * sell_px - 1)


def test_ib_commission_cap_and_minimum() -> None:
    shares = np.array([100.0, 1000.0, 10.0])
    price = np.array([50.0, 50.0, 0.5])
    assert IB.commission(shares, price).tolist() == pytest.approx([1.0, 5.0, 0.05])


def test_missing_open_is_not_filled_and_recorded() -> None:
    new, fills = execute(
        _ledger(1000.0, 0, 0), np.array([5.0, 5.0]), np.array([np.nan, 10.0]), FREE
    )
    assert fills.status.tolist() == [FillStatus.REJECTED_NO_PRICE, FillStatus.FILLED]
    assert fills.filled.tolist() == [0, 5]
    assert new.positions.tolist() == [0, 5]
    assert new.cash == 950


def test_pro_rata_scales_every_buy_by_one_factor() -> None:
    # Wanted 60 x $10 + 40 x $20 = $1,400 with $700: half of each.
    new, fills = execute(
        _ledger(700.0, 0, 0), np.array([60.0, 40.0]), np.array([10.0, 20.0]), FREE, "pro_rata"
    )
    assert fills.filled.tolist() == [30, 20]
    assert fills.status.tolist() == ["truncated_cash", "truncated_cash"]
    assert new.cash == 0


def test_pro_rata_floors_whole_shares_and_pays_fees() -> None:
    costs = CostModel(min_per_order_usd=1.0, per_share_usd=0.0)
    new, fills = execute(
        _ledger(100.0, 0, 0), np.array([10.0, 10.0]), np.array([7.0, 3.0]), costs, "pro_rata"
    )
    # Scale f: floor(10f) x 7 + floor(10f) x 3 + 2 <= 100 -> 9 shares each = 92.
    assert fills.filled.tolist() == [9, 9]
    assert new.cash == pytest.approx(8.0)


def test_sequential_fills_smallest_first_then_truncates_then_nothing() -> None:
    costs = CostModel(commission_bps=10)
    wanted = np.array([10.0, 30.0, 2.0])  # values $1,000, $3,000, $200 at $100
    new, fills = execute(_ledger(2_000.0, 0, 0, 0), wanted, np.full(3, 100.0), costs, "sequential")
    # $200 (+0.2 fee) fills, then $1,000 (+1.0) fills, then 3,000 is cut to what remains.
    remaining = 2_000 - 200.2 - 1_001.0
    partial = np.floor(remaining / (100 * 1.001))
    assert fills.filled.tolist() == [10, partial, 2]
    assert fills.status.tolist() == ["filled", "truncated_cash", "filled"]
    assert new.cash >= 0


def test_sequential_later_buys_get_nothing() -> None:
    new, fills = execute(
        _ledger(150.0, 0, 0, 0),
        np.array([1.0, 2.0, 3.0]),
        np.array([100.0, 100.0, 100.0]),
        FREE,
        "sequential",
    )
    assert fills.filled.tolist() == [1, 0, 0]
    assert fills.status.tolist() == ["filled", "truncated_cash", "truncated_cash"]
    assert new.cash == 50


def test_sells_fund_buys_in_the_same_batch() -> None:
    new, fills = execute(_ledger(0.0, 10, 0), np.array([-10.0, 4.0]), np.array([10.0, 25.0]), FREE)
    assert fills.status.tolist() == ["filled", "filled"]
    assert new.cash == 0


def test_sizing_uses_the_buffer_and_truncates() -> None:
    shares = target_shares(
        np.array([0.5, 0.5, 0.0]), 10_000.0, np.array([33.0, np.nan, 10.0]), 0.02
    )
    assert shares.tolist() == [148, 0, 0]  # 0.5 x 10,000 x 0.98 / 33 = 148.48
    fractional = target_shares(np.array([0.5]), 10_000.0, np.array([33.0]), 0.02, fractional=True)
    assert fractional[0] == pytest.approx(4900 / 33)


@pytest.mark.parametrize("price", [0.0, -1.0, np.inf])
def test_an_unusable_price_rejects_buys_and_sells_alike(price: float) -> None:
    # Sell 10 held and buy 5, both at a price of 0, -1 or inf: nothing fills, nothing moves.
    new, fills = execute(_ledger(1_000.0, 10, 0), np.array([-10.0, 5.0]), np.full(2, price), IB)
    assert fills.status.tolist() == ["rejected_no_price", "rejected_no_price"]
    assert fills.filled.tolist() == [0.0, 0.0]
    assert np.isnan(fills.price).all()
    assert fills.commission.tolist() == [0.0, 0.0]
    assert new.cash == 1_000.0
    assert new.positions.tolist() == [10.0, 0.0]


def test_the_default_shortfall_rule_is_pro_rata() -> None:
    # Wanted 60 x $10 + 40 x $20 = $1,400 with $700. pro_rata: half of each, 30 and 20.
    # (sequential would fill the $600 order whole, then 100 / 20 = 5 of the other.)
    new, fills = execute(_ledger(700.0, 0, 0), np.array([60.0, 40.0]), np.array([10.0, 20.0]), FREE)
    assert fills.filled.tolist() == [30.0, 20.0]
    assert new.cash == 0.0


def test_sequential_orders_by_value_not_by_shares_with_unequal_prices() -> None:
    # A: 10 x $100 = $1,000; B: 50 x $10 = $500; $600 of cash. Ascending value: B first,
    # whole ($500), then A gets the $100 left: 100 / 100 = exactly 1 share (an exact fit).
    new, fills = execute(
        _ledger(600.0, 0, 0), np.array([10.0, 50.0]), np.array([100.0, 10.0]), FREE, "sequential"
    )
    assert fills.filled.tolist() == [1.0, 50.0]
    assert fills.status.tolist() == ["truncated_cash", "filled"]
    assert new.cash == 0.0  # 600 - 500 - 100
    assert new.positions.tolist() == [1.0, 50.0]


def test_sequential_cuts_a_huge_order_to_the_one_share_cash_pays() -> None:
    # 1,000,000 x $100 wanted, $100 of cash: exactly 1 share (whole shares are searched, so
    # the exact fit is found however large the order is).
    new, fills = execute(
        _ledger(100.0, 0), np.array([1_000_000.0]), np.array([100.0]), FREE, "sequential"
    )
    assert fills.filled.tolist() == [1.0]
    assert fills.status.tolist() == ["truncated_cash"]
    assert new.cash == 0.0


def test_sequential_fractional_truncation_is_exact() -> None:
    # A: 1 x $50 = $50 fills first; B: 5 x $100 = $500 gets the $250 left: 250 / 100 = 2.5.
    new, fills = execute(
        _ledger(300.0, 0, 0),
        np.array([1.0, 5.0]),
        np.array([50.0, 100.0]),
        FREE,
        "sequential",
        fractional=True,
    )
    assert fills.filled.tolist() == [1.0, 2.5]
    assert fills.status.tolist() == ["filled", "truncated_cash"]
    assert new.cash == 0.0  # 300 - 50 - 250


def test_pro_rata_fractional_truncation_is_exact() -> None:
    # Wanted 10 x $8 + 5 x $4 = $100 with $25: the factor is 25 / 100 = 0.25 (exact in binary),
    # so 2.5 and 1.25 shares, costing 20 + 5 = $25: nothing is floored, nothing left.
    new, fills = execute(
        _ledger(25.0, 0, 0), np.array([10.0, 5.0]), np.array([8.0, 4.0]), FREE, fractional=True
    )
    assert fills.filled.tolist() == [2.5, 1.25]
    assert fills.status.tolist() == ["truncated_cash", "truncated_cash"]
    assert new.cash == 0.0
    assert new.positions.tolist() == [2.5, 1.25]


def test_a_fractional_buy_below_one_share_is_a_buy() -> None:
    # Buy 0.5 share at $10: cash 100 - 5 = 95, paid once (it is not a sale because it is < 1).
    new, fills = execute(
        _ledger(100.0, 0), np.array([0.5]), np.array([10.0]), FREE, fractional=True
    )
    assert fills.filled.tolist() == [0.5]
    assert new.cash == 95.0
    assert new.positions.tolist() == [0.5]


def test_equity_marks_one_share_positions_and_ignores_nan_prices() -> None:
    # Cash 1,000 + 1 x $50 + 2 x $30 - 1 x $20 (a short) = 1,090; the 1 share priced NaN and
    # the empty position priced NaN count for nothing.
    ledger = _ledger(1_000.0, 1, 0, 2, 1, -1)
    prices = np.array([50.0, np.nan, 30.0, np.nan, 20.0])
    assert ledger.equity(prices) == 1_090.0
    assert _ledger(1_000.0, 0, 0).equity(np.array([np.nan, 5.0])) == 1_000.0


prices = st.floats(0.5, 500.0)


@settings(max_examples=300, deadline=None)
@given(
    cash=st.floats(0.0, 1e6),
    held=st.lists(st.integers(0, 1000), min_size=4, max_size=4),
    orders=st.lists(st.integers(-1000, 3000), min_size=4, max_size=4),
    opens=st.lists(st.one_of(prices, st.just(float("nan"))), min_size=4, max_size=4),
    shortfall=st.sampled_from(["pro_rata", "sequential"]),
    fractional=st.booleans(),
    costs=st.sampled_from([FREE, IB, CostModel(commission_bps=10, slippage_bps=5)]),
)
def test_kernel_properties(cash, held, orders, opens, shortfall, fractional, costs) -> None:
    ledger = _ledger(cash, *held)
    order = np.array(orders, dtype=float)
    order = np.maximum(order, -np.array(held, dtype=float))  # long-only: sell at most what is held

    new, fills = execute(ledger, order, np.array(opens), costs, shortfall, fractional)

    assert new.cash >= 0
    # Every cash movement is accounted for: the cash change is the fills' net flow.
    assert new.cash - cash == pytest.approx(fills.cash_flow, abs=1e-6)
    # Positions are the old ones plus the filled quantities, symbol by symbol.
    replay = ledger.positions.copy()
    np.add.at(replay, fills.index, fills.filled)
    assert new.positions.tolist() == replay.tolist()
    # Fills never exceed or reverse an order; sells always fill when priced.
    assert np.all(np.abs(fills.filled) <= np.abs(fills.requested))
    assert np.all(fills.filled * fills.requested >= 0)
    sold = (fills.requested < 0) & np.isfinite(np.array(opens)[fills.index])
    assert np.all(fills.filled[sold] == fills.requested[sold])
    assert np.all(fills.commission >= 0)
    if not fractional:
        assert np.all(fills.filled == np.floor(fills.filled))
