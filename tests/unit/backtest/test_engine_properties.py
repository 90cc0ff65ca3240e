from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typing_extensions import override

from quant_core.backtest.engine import EngineSettings, run_engine
from quant_core.data.panels import MarketData
from quant_core.portfolio.costs import CostModel
from quant_core.strategies.base import Strategy, StrategyContext, StrategyParams
from tests.factories import market


class RandomWeights(Strategy[StrategyParams]):
    """Replays a fixed list of weight vectors, one per rebalance."""

    name = "random"

    def __init__(self, rows: list[list[float]], symbols: list[str]) -> None:
        super().__init__(StrategyParams())
        self.rows = rows
        self.symbols = symbols
        self.calls = 0

    @property
    @override
    def warmup(self) -> int:
        return 1

    @override
    def target_weights(self, context: StrategyContext) -> pd.Series:
        raw = np.array(self.rows[self.calls % len(self.rows)])
        self.calls += 1
        longs, shorts = raw[raw > 0].sum(), -raw[raw < 0].sum()
        raw = np.where(raw > 0, raw / max(longs, 1.0), raw / max(shorts, 1.0))
        return pd.Series(raw, index=self.symbols)


@st.composite
def panels(draw: st.DrawFn) -> tuple[MarketData, list[list[float]]]:
    n_sym = draw(st.integers(1, 4))
    n_days = draw(st.integers(3, 12))
    symbols = [f"S{i}" for i in range(n_sym)]
    price = st.floats(1.0, 200.0)
    maybe = st.one_of(price, price, price, st.just(float("nan")))
    closes = {s: [draw(price)] + [draw(maybe) for _ in range(n_days - 1)] for s in symbols}
    opens = {s: [draw(maybe) for _ in range(n_days)] for s in symbols}
    weights = draw(
        st.lists(
            st.lists(st.floats(-1.0, 1.0), min_size=n_sym, max_size=n_sym), min_size=1, max_size=4
        )
    )
    return market(closes, opens), weights


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=panels(),
    cash=st.floats(100.0, 1e6),
    buffer=st.floats(0.0, 0.1),
    rule=st.sampled_from(["pro_rata", "sequential"]),
    fractional=st.booleans(),
    costs=st.sampled_from(
        [
            CostModel(),
            CostModel(per_share_usd=0.005, min_per_order_usd=1.0, max_frac_of_value=0.01),
            CostModel(commission_bps=10, slippage_bps=20),
        ]
    ),
    every=st.integers(1, 3),
)
def test_engine_invariants(case, cash, buffer, rule, fractional, costs, every) -> None:
    data, weights = case
    config = EngineSettings(cash, buffer, fractional, rule, costs, every)

    result = run_engine(data, RandomWeights(weights, list(data.symbols)), config)

    curve = result.curve
    assert (curve["cash"] >= 0).all()
    # Positions x close + cash = equity at every close, rebuilt from the position records.
    close = (
        pd.DataFrame(data.panels["close"], index=pd.DatetimeIndex(data.dates), columns=data.symbols)
        .ffill()
        .fillna(0.0)
    )
    held = pd.DataFrame(0.0, index=curve.index, columns=data.symbols)
    for date in result.rebalances:
        rows = result.positions[result.positions["date"] == date]
        held.loc[date:, :] = 0.0
        for symbol, shares in zip(rows["symbol"], rows["shares"], strict=True):
            held.loc[date:, symbol] = shares
    marked = (held * close.loc[curve.index]).sum(axis=1) + curve["cash"]
    np.testing.assert_allclose(marked.to_numpy(), curve["equity"].to_numpy(), rtol=1e-9, atol=1e-6)
    # Every cash movement is a trade: the cash change is the trades' flows less commissions.
    trades = result.trades
    flows = (
        -(trades["filled"] * trades["exec_price"].fillna(0.0)).sum() - trades["commission"].sum()
    )
    # To float64 resolution of the largest amount on the way: with shorts the cash can pass
    # 1e10 and come back to a few dollars, and each step rounds at eps x that magnitude (one
    # hypothesis case: 232 -> 7.3e9 -> 34, off by 1.2e-6). Relative to the flows is not enough.
    notional = (trades["filled"] * trades["exec_price"].fillna(0.0)).abs()
    amounts = [cash, float(curve["cash"].abs().max()), *notional.tolist()]
    largest = max(amounts)
    resolution = 4 * np.finfo(float).eps * largest * max(len(trades), 1)
    assert curve["cash"].iloc[-1] - cash == pytest.approx(flows, rel=1e-12, abs=1e-6 + resolution)
    assert (trades["commission"] >= 0).all()
    unfilled = trades["status"] == "rejected_no_price"
    assert (trades.loc[unfilled, "filled"] == 0).all()
    assert trades.loc[unfilled, "open_price"].isna().all()
