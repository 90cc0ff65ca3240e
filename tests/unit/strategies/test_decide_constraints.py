"""target_orders holds the constructed weights to the constraints against the book held, logs
each binding once naming the session, and reports a construction's fallback."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from quant_core.portfolio.construction import Construction, ConstructionSettings
from quant_core.portfolio.ledger import Ledger
from quant_core.portfolio.policy import Binding, ConstraintSettings, PortfolioPolicy
from quant_core.strategies import decide
from tests.conftest import log_has
from tests.factories import Fixed, market

CLOSES = {"A": [10.0, 10.0, 10.0], "B": [20.0, 20.0, 20.0], "C": [50.0, 50.0, 50.0]}


def orders_for(
    weights: dict[str, float],
    limits: ConstraintSettings,
    shares: list[float] | None = None,
    cash: float = 10_000.0,
) -> decide.Decision:
    data = market(CLOSES)
    ledger = Ledger(cash, np.array(shares or [0.0, 0.0, 0.0]))
    return decide.target_orders(
        Fixed(weights),
        data,
        2,
        ledger,
        data.panels["close"][1],
        0.02,
        False,
        policy=PortfolioPolicy(ConstructionSettings(), limits),
    )


def test_a_third_each_is_sized_at_the_cap_and_the_binding_logged(caplog) -> None:
    caplog.set_level(logging.INFO, logger="quant_core.strategies.decide")
    third = 1 / 3

    decision = orders_for({"A": third, "B": third, "C": third}, ConstraintSettings(max_weight=0.25))

    np.testing.assert_array_equal(decision.weights, [0.25, 0.25, 0.25])
    # 0.25 x 10,000 x 0.98 = 2,450 at 10, 20 and 50.
    np.testing.assert_array_equal(decision.orders, [245, 122, 49])
    assert decision.binding == (Binding("max_weight", "3 name(s) clipped to 25.00%"),)
    day = pd.Timestamp(market(CLOSES).dates[2]).date()
    line = f"Constraint max_weight bound for {day}: 3 name(s) clipped to 25.00%"
    assert [r.getMessage() for r in caplog.records].count(line) == 1


def test_current_weights_are_of_the_investable_equity_and_a_kept_name_keeps_its_shares() -> None:
    # 5 A at 10 and 49 B at 20 with 8,970 cash: equity 10,000, investable 9,800. B weighs
    # 980 / 9,800 = 0.1; A 50 / 9,800 = 0.0051...: both within the band of their targets.
    limits = ConstraintSettings(no_trade_band=0.01)

    decision = orders_for({"A": 0.006, "B": 0.105}, limits, shares=[5, 49, 0], cash=8_970.0)

    # Kept: no order. (A's weight sized back to shares, 0.0051... x 9,800 / 10, rounds to
    # 4.999...: the shares held are kept instead of truncating one away.)
    np.testing.assert_array_equal(decision.orders, [0, 0, 0])
    np.testing.assert_allclose(decision.weights, [50 / 9_800, 0.1, 0.0], rtol=1e-15)
    assert decision.binding == (
        Binding("no_trade_band", "2 name(s) within 1.00% of their current weight not traded"),
    )


def test_a_fallback_is_reported_first_and_logged_as_a_warning(monkeypatch, caplog) -> None:
    def failing(inputs):
        return Construction(inputs.weights, (), "no convergence after 100 iterations")

    monkeypatch.setattr(decide, "construct", failing)
    caplog.set_level(logging.WARNING, logger="quant_core.strategies.decide")

    decision = orders_for({"A": 0.5, "B": 0.5}, ConstraintSettings(max_weight=0.25))

    assert [b.constraint for b in decision.binding] == ["fallback", "max_weight"]
    assert decision.binding[0].detail == "no convergence after 100 iterations"
    day = pd.Timestamp(market(CLOSES).dates[2]).date()
    assert log_has(
        caplog,
        f"Construction as_is for {day} failed and fell back to inverse_vol: no convergence",
        logging.WARNING,
    )
