"""The pure stop rules: average cost, entry, trailing reference, and which stop trips (by hand)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.schema import RiskConfig
from quant_core.portfolio.stops import CostBasis, StopKind, StopRules, exit_orders, stop_hits

ONE = np.array([0])


def held(
    shares: float, price: float, closes: tuple[float, ...] | list[float] = (), row: int = 0
) -> CostBasis:
    """One symbol bought (or sold short) at ``price`` at ``row``, then marked at ``closes``."""
    basis = CostBasis.empty(1).fill(row, ONE, np.array([shares]), np.array([price]))
    for close in closes:
        basis = basis.close(np.array([close]))
    return basis


def hits(rules: StopRules, basis: CostBasis, close: float, positions: float | None = None):
    position = basis.shares if positions is None else np.array([positions])
    return stop_hits(rules, basis, position, np.array([close]))


def test_a_long_down_10_percent_trips_an_8_percent_stop_loss() -> None:
    basis = held(100, 100.0, [100.0, 95.0, 90.0])

    (hit,) = hits(StopRules(stop_loss=0.08), basis, 90.0)

    assert hit.kind is StopKind.STOP_LOSS
    assert (hit.index, hit.close, hit.cost, hit.reference, hit.limit) == (
        0,
        90.0,
        100.0,
        100.0,
        0.08,
    )
    assert hit.describe("AAPL") == (
        "AAPL stop_loss: close 90.00 is 10.00% below the average cost 100.00 (limit 8.00%)"
    )
    assert hits(StopRules(stop_loss=0.08), basis, 93.0) == ()  # down 7%: held on


def test_take_profit_at_the_gain_over_the_average_cost() -> None:
    basis = held(100, 50.0, [55.0, 61.0])

    (hit,) = hits(StopRules(take_profit=0.2), basis, 61.0)  # +22%

    assert hit.kind is StopKind.TAKE_PROFIT
    assert "22.00% above the average cost 50.00" in hit.describe("X")
    assert hits(StopRules(take_profit=0.2), basis, 59.0) == ()  # +18%


def test_the_trailing_stop_measures_from_the_best_close_since_entry() -> None:
    # Entry at 100; closes 100, 120, 110: the best is 120, and 110 is 8.33% below it, though
    # still 10% above the cost: a trailing stop of 8% trips, a stop loss never would.
    basis = held(100, 100.0, [100.0, 120.0, 110.0])
    assert basis.extreme[0] == 120.0

    (hit,) = hits(StopRules(stop_loss=0.08, trailing_stop=0.08), basis, 110.0)

    assert hit.kind is StopKind.TRAILING_STOP
    assert hit.reference == 120.0
    assert "8.33% below the best close since entry 120.00" in hit.describe("X")
    assert hits(StopRules(trailing_stop=0.08), held(100, 100.0, [120.0, 111.0]), 111.0) == ()


@pytest.mark.parametrize(
    ("rules", "closes", "kind"),
    [
        (StopRules(stop_loss=0.1), [52.0, 56.0], StopKind.STOP_LOSS),  # a short: the close rose 12%
        (StopRules(take_profit=0.15), [45.0, 40.0], StopKind.TAKE_PROFIT),  # fell 20%: a gain
        (StopRules(trailing_stop=0.1), [45.0, 40.0, 45.0], StopKind.TRAILING_STOP),  # 12.5% off 40
    ],
)
def test_shorts_are_stopped_the_other_way(rules, closes, kind) -> None:
    basis = held(-100, 50.0, closes)

    (hit,) = hits(rules, basis, closes[-1])

    assert hit.kind is kind
    assert exit_orders((hit,), basis.shares).tolist() == [100.0]  # bought back


def test_shorts_are_not_stopped_by_a_fall() -> None:
    basis = held(-100, 50.0, [45.0])

    assert hits(StopRules(stop_loss=0.05, trailing_stop=0.05), basis, 45.0) == ()
    assert basis.extreme[0] == 45.0  # a short's reference is its lowest close


def test_stop_loss_wins_over_trailing_and_trailing_over_take_profit() -> None:
    both = held(100, 100.0, [100.0, 80.0])  # -20% on cost and on the best close
    assert hits(StopRules(0.1, None, 0.1), both, 80.0)[0].kind is StopKind.STOP_LOSS
    spike = held(100, 100.0, [200.0, 150.0])  # +50% on cost, -25% from the best close
    assert hits(StopRules(None, 0.3, 0.2), spike, 150.0)[0].kind is StopKind.TRAILING_STOP


def test_average_cost_is_the_vwap_of_the_fills_that_built_the_position() -> None:
    basis = CostBasis.empty(1)
    basis = basis.fill(1, ONE, np.array([100.0]), np.array([10.0]))
    basis = basis.fill(2, ONE, np.array([300.0]), np.array([12.0]))
    assert basis.cost[0] == (100 * 10 + 300 * 12) / 400 == 11.5
    assert basis.entry[0] == 1  # adding does not move the entry
    basis = basis.fill(3, ONE, np.array([-200.0]), np.array([13.0]))
    assert (basis.shares[0], basis.cost[0], basis.entry[0]) == (200.0, 11.5, 1)  # reduced
    basis = basis.fill(4, ONE, np.array([-200.0]), np.array([9.0]))
    assert (basis.shares[0], basis.entry[0]) == (0.0, -1)  # flat: reset
    assert np.isnan(basis.cost[0])
    assert np.isnan(basis.extreme[0])
    basis = basis.fill(5, ONE, np.array([50.0]), np.array([9.5]))
    assert (basis.cost[0], basis.entry[0]) == (9.5, 5)  # a new position, a new cost


def test_a_fill_through_zero_starts_the_other_side_at_its_price() -> None:
    basis = held(100, 10.0, [12.0])

    flipped = basis.fill(3, ONE, np.array([-150.0]), np.array([11.0]))

    assert (flipped.shares[0], flipped.cost[0], flipped.entry[0]) == (-50.0, 11.0, 3)
    assert np.isnan(flipped.extreme[0])  # the long's best close is forgotten
    assert flipped.close(np.array([10.5])).extreme[0] == 10.5


def test_unfilled_orders_and_missing_closes_change_nothing() -> None:
    basis = held(100, 10.0, [12.0])

    same = basis.fill(4, ONE, np.array([0.0]), np.array([np.nan])).close(np.array([np.nan]))

    assert (same.shares[0], same.cost[0], same.entry[0], same.extreme[0]) == (100.0, 10.0, 0, 12.0)


def test_a_position_the_fills_do_not_explain_is_not_checked() -> None:
    basis = held(100, 100.0, [50.0])
    rules = StopRules(stop_loss=0.1)

    assert hits(rules, basis, 50.0, positions=-100.0) == ()  # held on the other side
    assert hits(rules, CostBasis.empty(1), 50.0, positions=100.0) == ()  # no fills at all
    assert len(hits(rules, basis, 50.0, positions=40.0)) == 1  # same side: its cost applies


def test_exit_orders_close_the_whole_position_and_nothing_else() -> None:
    basis = CostBasis.empty(3).fill(
        0, np.arange(3), np.array([10.0, -20.0, 30.0]), np.array([10.0, 10.0, 10.0])
    )
    closes = np.array([8.0, 12.0, 10.0])

    found = stop_hits(StopRules(stop_loss=0.15), basis, basis.shares, closes)

    assert [h.index for h in found] == [0, 1]
    assert exit_orders(found, basis.shares).tolist() == [-10.0, 20.0, 0.0]


def test_rules_from_the_risk_config() -> None:
    rules = StopRules.from_config(RiskConfig(stop_loss=0.08, take_profit=0.2))

    assert (rules.stop_loss, rules.take_profit, rules.trailing_stop) == (0.08, 0.2, None)
    assert rules.active
    assert not StopRules.from_config(RiskConfig()).active


@given(
    st.lists(
        st.tuples(st.integers(1, 1_000), st.floats(1.0, 1_000.0, allow_nan=False)),
        min_size=1,
        max_size=20,
    )
)
def test_buys_only_average_to_numpys_weighted_mean(fills: list[tuple[int, float]]) -> None:
    basis = CostBasis.empty(1)
    for row, (shares, price) in enumerate(fills):
        basis = basis.fill(row, ONE, np.array([float(shares)]), np.array([price]))

    quantities, prices = np.array(fills).T
    assert basis.cost[0] == pytest.approx(np.average(prices, weights=quantities), rel=1e-12)
    assert basis.entry[0] == 0
    assert basis.shares[0] == quantities.sum()
