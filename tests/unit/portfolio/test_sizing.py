"""target_shares at its edges: prices below $1, unusable prices, a full weight, integer weights."""

from __future__ import annotations

import numpy as np
import pytest

from quant_core.portfolio.sizing import target_shares


def test_a_price_below_one_dollar_is_sized() -> None:
    # 0.5 x $1,000 x (1 - 0.02) / $0.50 = $490 / $0.50 = 980 shares.
    shares = target_shares(np.array([0.5]), 1_000.0, np.array([0.5]), 0.02)
    assert shares.tolist() == [980.0]


@pytest.mark.parametrize("price", [0.0, -1.0, np.nan, np.inf, -np.inf])
def test_an_unusable_price_gives_no_target_and_no_warning(price: float) -> None:
    # Only the second symbol is sizable: 0.5 x $1,000 x 1.0 / $20 = 25 shares; the first,
    # at a price of 0, below 0 or not finite, gets 0 (no division by zero, no negative size).
    shares = target_shares(np.array([0.5, 0.5]), 1_000.0, np.array([price, 20.0]), 0.0)
    assert shares.tolist() == [0.0, 25.0]


def test_a_full_weight_is_sized() -> None:
    # 1.0 x $1,000 x 1.0 / $40 = 25 shares: a weight of exactly 1 is a weight like any other.
    assert target_shares(np.array([1.0]), 1_000.0, np.array([40.0]), 0.0).tolist() == [25.0]


def test_integer_weights_give_fractional_shares_when_asked() -> None:
    # Weights given as integers (1 and 0): 1 x $1,000 x 1.0 / $3 = 333.33... shares, kept as
    # a float, not cut to an integer by the weights' dtype.
    shares = target_shares(np.array([1, 0]), 1_000.0, np.array([3.0, 5.0]), 0.0, fractional=True)
    assert shares.dtype == np.float64
    assert shares.tolist() == pytest.approx([1_000 / 3, 0.0], rel=1e-12)
