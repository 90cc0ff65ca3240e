"""The two average-cost folds agree: the worker's (``live.report_book``, writing
positions.parquet) and the cockpit's (``live_portfolio.roll``, laying today's fills on it);
and implementation shortfall's sign for a short opened and covered."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from quant_core.analytics.average_cost import average_cost
from quant_core.cockpit.models.live_portfolio import roll
from quant_core.data.panels import forward_fill
from quant_core.live.daily_report import report_fills, shortfall
from tests.factories import market


@pytest.mark.parametrize("seed", range(20))
def test_the_worker_and_the_cockpit_fold_fills_alike(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    quantities = rng.choice([-150.0, -60.0, -25.0, 25.0, 60.0, 150.0], n)
    prices = np.round(rng.uniform(9.0, 11.0, n), 2)
    commissions = np.round(rng.uniform(0.0, 2.0, n), 2)
    folded = average_cost(np.array(["X"] * n, dtype=object), quantities, prices, commissions)
    # Split anywhere: the file's row after the first k fills, the cockpit rolling the rest.
    k = int(rng.integers(1, n))
    q0 = folded.position[k - 1]
    avg0 = folded.basis[k - 1] / q0 if abs(q0) > 1e-9 else 0.0
    rest = zip(quantities[k:], prices[k:], commissions[k:], strict=True)
    q, avg, realised = roll(q0, avg0, rest)
    assert q == pytest.approx(folded.position[-1])
    assert realised == pytest.approx(folded.realized[k:].sum(), abs=1e-9)
    if abs(q) > 1e-9:
        assert avg == pytest.approx(folded.basis[-1] / folded.position[-1])


def test_a_short_sold_above_its_decision_and_covered_below_costs_nothing() -> None:
    data = market({"A": [10.0, 11.0, 12.0]}, opens={"A": [10.0, 10.5, 11.8]})
    at = pd.to_datetime(["2010-01-05 14:30", "2010-01-06 14:30"], utc=True)
    raw = pd.DataFrame(
        {
            "ts": at,
            "symbol": ["A", "A"],
            "side": ["SELL", "BUY"],  # sell short 100, then cover
            "quantity": [100.0, 100.0],
            "price": [10.20, 11.50],
            "commission": [1.0, 1.0],
            "order_id": ["1", "2"],
            "ref": ["qc:2010-01-05:A", "qc:2010-01-06:A"],
            "exec_id": ["e1", "e2"],
            "arrival_price": [10.5, 11.8],
            "decision_price": [10.0, 11.0],
            "purpose": ["", ""],
        }
    )
    fills = report_fills(
        raw, ZoneInfo("America/New_York"), data, forward_fill(data.panels["close"])
    )
    # Sold 100 at 10.20 against 10.00: -100 x 0.20 = -20 (a gain); against the open 10.50, +30.
    # Covered 100 at 11.50 against 11.00: +50 (a cost); against the open 11.80, -30.
    assert fills["slippage_decision"].tolist() == pytest.approx([-20.0, 50.0])
    assert fills["slippage_arrival"].tolist() == pytest.approx([30.0, -30.0])
    totals = shortfall(fills)
    assert totals["decision"] == pytest.approx(30.0)
    assert totals["decision_bps"] == pytest.approx(30.0 / (100 * 10.0 + 100 * 11.0) * 1e4)
