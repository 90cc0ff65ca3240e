"""At every rebalance of a random-panel backtest, the constraints hold: on the decision's target
weights, and on the positions the engine then holds (whole shares, at the T-1 closes)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typing_extensions import override

from quant_core.backtest.engine import EngineResult, EngineSettings, run_engine
from quant_core.data.panels import MarketData
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.policy import ConstraintSettings, PortfolioPolicy
from quant_core.strategies import decide
from quant_core.strategies.base import Strategy, StrategyContext, StrategyParams
from tests.factories import market

TOL = 1e-9
SECTORS = ("Tech", "Energy", None)


class Replay(Strategy[StrategyParams]):
    """A fixed list of weight vectors, one per decision, each side's sum within 1."""

    name = "replay"

    def __init__(self, rows: list[list[float]], symbols: list[str]) -> None:
        super().__init__(StrategyParams())
        self.rows, self.symbols, self.calls = rows, symbols, 0

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
def cases(draw: st.DrawFn) -> tuple[MarketData, list[list[float]]]:
    n_sym = draw(st.integers(1, 5))
    n_days = draw(st.integers(8, 16))
    symbols = [f"S{i}" for i in range(n_sym)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.floats(0.005, 0.05))
    walk = 20.0 * np.cumprod(1.0 + rng.normal(0.0, scale, (n_days, n_sym)), axis=0)
    missing = rng.random((n_days, n_sym)) < draw(st.sampled_from([0.0, 0.05]))
    walk[missing & (np.arange(n_days) > 0)[:, None]] = np.nan
    closes = {s: walk[:, i].tolist() for i, s in enumerate(symbols)}
    gap = 1.0 + rng.normal(0.0, scale, walk.shape)
    opens = {s: (walk[:, i] * gap[:, i]).tolist() for i, s in enumerate(symbols)}
    sectors = np.array([draw(st.sampled_from(SECTORS)) for _ in symbols], dtype=object)
    data = dataclasses.replace(market(closes, opens), sectors=sectors)
    weights = draw(
        st.lists(
            st.lists(st.floats(-1.0, 1.0), min_size=n_sym, max_size=n_sym), min_size=1, max_size=4
        )
    )
    return data, weights


limits_st = st.builds(
    ConstraintSettings,
    max_weight=st.one_of(st.none(), st.floats(0.1, 1.0)),
    sector_cap=st.one_of(st.none(), st.floats(0.1, 1.0)),
    max_gross=st.floats(0.2, 2.0),
    max_net=st.floats(0.1, 1.0),
    no_trade_band=st.sampled_from([0.0, 0.02, 0.1]),
    vol_target=st.one_of(st.none(), st.floats(0.05, 0.5)),
)


def decided(
    data: MarketData, strategy: Strategy[Any], config: EngineSettings
) -> tuple[EngineResult, list[dict[str, Any]]]:
    """Run the engine and keep every call of ``target_orders``: its arguments and decision."""
    calls: list[dict[str, Any]] = []
    signature = inspect.signature(decide.target_orders)

    def spy(*args: Any, **kwargs: Any) -> decide.Decision:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        result = decide.target_orders(*args, **kwargs)
        calls.append({**bound.arguments, "decision": result})
        return result

    with mock.patch("quant_core.backtest.engine.target_orders", spy):
        result = run_engine(data, strategy, config)
    return result, calls


def labels_of(data: MarketData) -> np.ndarray:
    assert data.sectors is not None
    return np.array([s if s else "Unknown" for s in data.sectors], dtype=object)


def check_caps(weights: np.ndarray, labels: np.ndarray, limits: ConstraintSettings) -> None:
    if limits.max_weight is not None:
        assert np.abs(weights).max() <= limits.max_weight + TOL
    if limits.sector_cap is not None:
        for sector in set(labels):
            assert np.abs(weights[labels == sector]).sum() <= limits.sector_cap + TOL
    assert np.abs(weights).sum() <= limits.max_gross + TOL
    assert abs(weights.sum()) <= limits.max_net + TOL


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=cases(),
    limits=limits_st,
    fractional=st.booleans(),
    every=st.integers(1, 3),
    lookback=st.integers(2, 4),
)
def test_every_rebalance_keeps_every_limit(case, limits, fractional, every, lookback) -> None:
    data, rows = case
    policy = PortfolioPolicy(ConstructionSettings("as_is", lookback, "sample"), limits)
    config = EngineSettings(100_000.0, 0.02, fractional, rebalance=every, policy=policy)

    result, calls = decided(data, Replay(rows, list(data.symbols)), config)

    labels = labels_of(data)
    assert len(calls) == len(result.rebalances)
    for call in calls:
        decision, t = call["decision"], call["t"]
        ledger, marks = call["ledger"], call["marks"]
        equity = ledger.equity(marks)
        if equity <= 0:
            continue  # a blown account is closed out, not constrained
        check_caps(decision.weights, labels, limits)
        assert (decision.weights[call["ended"]] == 0).all()
        # The shares held after T's open, at the T-1 closes: within the target weight of the
        # investable equity (whole shares truncate toward zero; a cash shortfall only cuts buys),
        # except where an order found no open and the old position stayed.
        date = data.date_index[t]
        trades = result.trades[result.trades["date"] == date].set_index("symbol")
        held = result.positions[result.positions["date"] == date].set_index("symbol")["shares"]
        investable = equity * (1 - config.cash_buffer)
        for symbol, shares in held.items():
            i = data.symbol_index.get_loc(symbol)
            if symbol in trades.index and trades.loc[symbol, "status"] == "rejected_no_price":
                continue
            value = abs(shares * marks[i])
            assert value <= abs(decision.weights[i]) * investable * (1 + TOL) + 1e-6, symbol


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), cap=st.floats(0.02, 0.5), band=st.sampled_from([0.0, 0.05]))
def test_every_rebalance_keeps_the_turnover_cap(case, cap, band) -> None:
    data, rows = case
    limits = ConstraintSettings(max_turnover=cap, no_trade_band=band, max_weight=0.6)
    config = EngineSettings(
        100_000.0, 0.02, rebalance=1, policy=PortfolioPolicy(constraints=limits)
    )

    _, calls = decided(data, Replay(rows, list(data.symbols)), config)

    for call in calls:
        ledger, marks, decision = call["ledger"], call["marks"], call["decision"]
        equity = ledger.equity(marks)
        if equity <= 0:
            continue
        current = ledger.positions * np.nan_to_num(marks) / (equity * (1 - config.cash_buffer))
        exits = call["ended"]
        exit_turnover = np.abs(current[exits]).sum() / 2
        traded = np.abs(decision.weights - current).sum() / 2
        assert traded <= max(cap, exit_turnover) + TOL
        assert (decision.weights[exits] == 0).all()  # sold in full, whatever the cap
