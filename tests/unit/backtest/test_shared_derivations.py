"""What a sweep's thousand runs on one panel set share, and the lean paths they take.

Each is checked against the way it was computed before (or a plain reference): the speed-ups
change no figure, to the last bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from typing_extensions import override

from config import load_config
from quant_core.backtest.engine import EngineSettings, run_engine
from quant_core.backtest.run import run_backtest
from quant_core.calendar import get_calendar
from quant_core.data.panels import MarketData, first_rows, forward_fill
from quant_core.errors import StrategyError
from quant_core.portfolio.constraints import UNKNOWN_SECTOR, Sectors
from quant_core.portfolio.ledger import Ledger, nan_to_zero
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.strategies.base import DataView, Picks, StrategyContext
from quant_core.strategies.builtin.cross_sectional import (
    Momentum,
    MomentumParams,
    equal_weight,
    top_k_positions,
)
from quant_core.strategies.decide import strategy_weights


def _panel(symbols: int = 40, sessions: int = 400, seed: int = 7) -> MarketData:
    """A random walk with missing bars, a late listing and a delisting, with sectors."""
    rng = np.random.default_rng(seed)
    days = get_calendar("XNYS").sessions[-sessions:]
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (sessions, symbols)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.01, close.shape))
    holes = rng.random(close.shape) < 0.03
    close[holes], open_[holes] = np.nan, np.nan
    close[:120, 3], open_[:120, 3] = np.nan, np.nan  # listed late
    close[250:, 5], open_[250:, 5] = np.nan, np.nan  # delisted
    panels = {"open": open_, "high": close * 1.01, "low": close * 0.99, "close": close}
    panels["volume"] = np.full(close.shape, 1e6)
    names = np.array([f"S{i:03d}" for i in range(symbols)])
    sectors = np.array(["Tech", "Energy", None, "", "Fin"], dtype=object)[np.arange(symbols) % 5]
    return MarketData(np.asarray(days, dtype="datetime64[D]"), names, panels, sectors)


class SeriesMomentum(Momentum):
    """Momentum as it was written before the positional picks: a window and pandas Series."""

    @override
    def decide(self, context: StrategyContext) -> Picks:
        close = context.view.array("close", self.warmup)
        if len(close) < self.warmup:
            return Picks(pd.Series(dtype=float))
        signal = close[-1] / close[0] - 1
        picked = top_k_positions(signal, self.params.top_quantile)
        scores = pd.Series(signal, index=context.view.symbols, name="momentum")
        return Picks(equal_weight(context.view.symbols[picked]), scores)


@pytest.mark.parametrize(("lookback", "quantile"), [(5, 0.1), (20, 0.3), (60, 1.0)])
def test_positional_momentum_trades_exactly_as_the_series_one(
    lookback: int, quantile: float
) -> None:
    data = _panel()
    params = MomentumParams(lookback=lookback, top_quantile=quantile)
    settings = EngineSettings(1_000_000.0, rebalance=5, policy=PortfolioPolicy())
    new = run_engine(data, Momentum(params), settings)
    old = run_engine(data, SeriesMomentum(params), settings)
    pd.testing.assert_frame_equal(new.curve, old.curve, check_exact=True)
    pd.testing.assert_frame_equal(new.trades, old.trades, check_exact=True)
    assert len(new.trades) > 50  # it traded, gone names included


def test_target_weights_of_positional_picks_are_by_symbol() -> None:
    data = _panel()
    strategy = Momentum(MomentumParams(lookback=20, top_quantile=0.25))
    ledger = Ledger(1e6, np.zeros(len(data.symbols)))
    view = DataView(data, 200)
    snapshot_context = StrategyContext(view, _snapshot(data, ledger), pd.Timestamp(data.dates[200]))
    weights = strategy.target_weights(snapshot_context)
    assert isinstance(weights, pd.Series)
    assert set(weights.index) <= set(data.symbols)
    assert weights.sum() == pytest.approx(1.0)
    assert (weights > 0).all()
    positional, _ = strategy_weights(strategy, data, 200, ledger, 1e6)
    assert positional[data.symbol_index.get_indexer(weights.index)].tolist() == weights.tolist()


def _snapshot(data: MarketData, ledger: Ledger) -> Any:
    from quant_core.strategies.base import PortfolioSnapshot

    return PortfolioSnapshot(ledger.cash, ledger.positions, data.symbol_index, ledger.cash)


class Positional(Momentum):
    """Gives what it is told, by position."""

    given: tuple[np.ndarray, np.ndarray | None] = (np.zeros(0), None)

    @override
    def decide(self, context: StrategyContext) -> Picks:
        return Picks.by_position(context.view.symbols, *self.given)


def test_positional_picks_of_the_wrong_length_are_refused_by_name() -> None:
    data = _panel(symbols=10)
    strategy = Positional(MomentumParams())
    ledger = Ledger(1e6, np.zeros(10))
    strategy.given = (np.full(9, 0.1), None)
    with pytest.raises(StrategyError, match=r"momentum gave weights of shape \(9,\).*10 symbols"):
        strategy_weights(strategy, data, 200, ledger, 1e6)
    strategy.given = (np.full(10, 0.1), np.zeros(3))
    with pytest.raises(StrategyError, match="gave scores of shape"):
        strategy_weights(strategy, data, 200, ledger, 1e6)
    strategy.given = (np.full(10, 0.2), None)  # 2.0 long: the same checks as by symbol
    with pytest.raises(StrategyError, match="long side may not exceed 1"):
        strategy_weights(strategy, data, 200, ledger, 1e6)
    given = np.full(10, 0.1)
    strategy.given = (given, np.r_[np.nan, np.arange(9.0)])
    weights, scores = strategy_weights(strategy, data, 200, ledger, 1e6)
    assert weights is not given
    assert weights.tolist() == given.tolist()
    assert scores is not None
    assert np.isnan(scores[0])
    assert scores[1:].tolist() == list(range(9))


def test_view_row_is_the_window_first_row_and_never_reaches_t() -> None:
    data = _panel()
    universe = np.arange(len(data.symbols)) % 3 != 0
    for t in (1, 2, 37, 399):
        view = DataView(data, t, universe)
        for back in {1, min(t, 5), t}:
            expected = view.array("close", back)[0]
            np.testing.assert_array_equal(view.row("close", back), expected)
        with pytest.raises(StrategyError, match="outside the view"):
            view.row("close", 0)  # row T itself
        with pytest.raises(StrategyError, match="outside the view"):
            view.row("close", t + 1)
    row = DataView(data, 10).row("close")
    row[:] = -1.0  # a copy: the panel is untouched
    assert (data.panels["close"][9][np.isfinite(data.panels["close"][9])] > 0).all()


def test_derived_values_are_built_once_and_read_only() -> None:
    data = _panel()
    calls: list[int] = []

    def build() -> np.ndarray:
        calls.append(1)
        return np.arange(3.0)

    assert data.derived("k", build) is data.derived("k", build)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="read-only"):
        data.derived("k", build)[0] = 1.0
    np.testing.assert_array_equal(data.filled_close(), forward_fill(data.panels["close"]))
    np.testing.assert_array_equal(data.first_bar(), first_rows(data))
    assert data.filled_close() is data.filled_close()
    with pytest.raises(ValueError, match="read-only"):
        data.filled_close()[0, 0] = 1.0
    other = _panel(seed=8)  # another panel set keeps its own
    assert not np.array_equal(other.filled_close(), data.filled_close())


def test_sectors_coded_once_give_what_factorizing_each_subset_gives() -> None:
    rng = np.random.default_rng(3)
    labels = np.array(["Tech", "Energy", None, "", np.nan, "Util", "Fin"], dtype=object)
    for _ in range(300):
        sectors = labels[rng.integers(0, labels.size, size=int(rng.integers(1, 40)))]
        for _ in range(3):  # the same array again: the coded copy
            index = np.sort(rng.choice(sectors.size, int(rng.integers(0, sectors.size + 1)), False))
            got = Sectors.of(sectors, index)
            names = [s if isinstance(s, str) and s else UNKNOWN_SECTOR for s in sectors[index]]
            codes, uniques = pd.factorize(pd.Series(names, dtype=object), sort=True)
            assert got.codes.tolist() == codes.tolist()
            assert got.names.tolist() == list(uniques)
            assert got.known


def test_nan_to_zero_is_nan_to_num() -> None:
    rng = np.random.default_rng(4)
    for _ in range(500):
        values = rng.normal(size=int(rng.integers(0, 30)))
        draw = rng.random(values.size)
        values[draw < 0.2] = np.nan
        if rng.random() < 0.3:
            values[draw > 0.95] = np.inf
            values[(draw > 0.9) & (draw <= 0.95)] = -np.inf
        out = nan_to_zero(values)
        assert out is not values
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, np.nan_to_num(values))


def test_a_run_without_round_trips_has_the_same_metrics(tmp_path: Any) -> None:
    data = _panel(symbols=30, sessions=300)
    cfg = load_config(
        "backtest",
        [f"paths.data_dir={tmp_path}", "strategy.params.lookback=20", "strategy.rebalance=5"],
        environ={},
    )
    full = run_backtest(cfg, data=data, store=False)
    lean = run_backtest(cfg, data=data, store=False, trips=False)
    assert lean.metrics == full.metrics
    assert lean.round_trips.empty
    assert lean.trade_stats == {}
    assert not full.round_trips.empty
    assert full.trade_stats
    assert full.benchmark is not None
    assert lean.benchmark is not None
    lean.benchmark.iloc[:] = 0.0  # each run has its own copy of the shared benchmark
    again = run_backtest(cfg, data=data, store=False, trips=False)
    assert again.metrics == full.metrics
    stored = run_backtest(cfg, data=data, store=True, trips=False)  # stored: always has them
    assert (stored.path / "round_trips.parquet").exists()
    assert stored.trade_stats


def test_an_empty_decision_log_is_a_fresh_copy_of_the_frame_built_once() -> None:
    from quant_core.backtest.records import DecisionLog
    from tests.factories import market

    data = market({"A": [1.0, 2.0, 3.0], "B": [2.0, 3.0, 4.0]})
    first = DecisionLog().frame(data)
    pd.testing.assert_frame_equal(first, DecisionLog()._frame(data), check_exact=True)
    first.loc[0, "kind"] = "stop"  # a caller's own copy
    second = DecisionLog().frame(data)
    assert second.empty
    assert second is not first
    log = DecisionLog()
    log.add(1, "constraint", "max_weight", "2 name(s) clipped to 10.00%")
    assert log.frame(data)["kind"].tolist() == ["constraint"]
