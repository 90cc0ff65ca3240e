"""Factor values computed once per panel set and session, shared by every run on the panels."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quant_core.backtest.engine import EngineSettings, run_engine
from quant_core.data.panels import MarketData
from quant_core.factors.base import Factor, forget_named_factor, register_named_factor
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.strategies import build_strategy
from quant_core.strategies.base import DataView
from quant_core.strategies.factor_memo import FactorMemo, factor_memo
from tests.unit.backtest.test_shared_derivations import _panel

FACTORS = {"momentum_20": 1.0, "volatility_20": -0.5}


def _fresh(data: MarketData) -> MarketData:
    """The same bars in a new panel set: nothing derived, nothing memoised."""
    panels = {k: np.array(v) for k, v in data.panels.items()}
    sectors = None if data.sectors is None else np.array(data.sectors)
    return MarketData(data.dates.copy(), data.symbols.copy(), panels, sectors)


def _run(data: MarketData, quantile: float) -> Any:
    params = {"factors": FACTORS, "top_quantile": quantile, "long_short": True}
    strategy = build_strategy("multi_factor", params)
    return run_engine(data, strategy, EngineSettings(1e6, rebalance=5, policy=PortfolioPolicy()))


def test_runs_sharing_the_factors_trade_exactly_as_runs_computing_their_own() -> None:
    shared = _panel()
    first = _run(shared, 0.2)
    computed = factor_memo(shared).computed
    assert computed == 2 * len(first.rebalances)  # two factors, each session once
    second = _run(shared, 0.4)  # another configuration: every factor value is shared
    assert factor_memo(shared).computed == computed
    for quantile, run in ((0.2, first), (0.4, second)):
        alone = _run(_fresh(shared), quantile)
        pd.testing.assert_frame_equal(run.curve, alone.curve, check_exact=True)
        pd.testing.assert_frame_equal(run.trades, alone.trades, check_exact=True)
    assert len(second.trades) > 20


def test_a_value_is_the_computation_and_a_copy() -> None:
    data = _panel()
    view = DataView(data, 200)
    got = view.factor("momentum_20")
    assert got.equals(view._factor("momentum_20"))
    got.iloc[:] = 99.0  # the caller's copy: the next reader gets the factor
    assert view.factor("momentum_20").equals(view._factor("momentum_20"))
    assert not DataView(data, 201).factor("momentum_20").equals(got)  # keyed by session


def test_a_view_with_a_universe_computes_its_own() -> None:
    data = _panel()
    universe = np.arange(len(data.symbols)) % 2 == 0
    plain = DataView(data, 200).factor("momentum_20")
    masked = DataView(data, 200, universe).factor("momentum_20")
    assert masked[~universe].isna().all()
    assert plain[~universe].notna().any()  # not the shared value
    assert factor_memo(data).computed == 1


def _constant(value: int, size: int) -> pd.Series:
    return pd.Series(np.full(size, float(value)))


def test_the_memo_keeps_its_newest_values_within_its_bound() -> None:
    memo = FactorMemo(symbols=10**9)  # so large a universe that only the fewest are kept
    assert memo.limit == 64
    for k in range(100):
        memo.get(k, partial(_constant, k, 1))
    assert memo.computed == 100
    memo.get(99, lambda: pd.Series([-1.0]))  # kept
    memo.get(0, lambda: pd.Series([-1.0]))  # dropped: computed again
    assert memo.computed == 101


def test_threads_reading_one_value_get_equal_copies() -> None:
    memo = FactorMemo(symbols=500)
    seen: list[pd.Series] = []

    def read() -> None:
        seen.extend(memo.get(k % 7, partial(_constant, k % 7, 500)) for k in range(50))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 200
    assert all(s.nunique() == 1 for s in seen)
    assert memo.computed >= 7


@pytest.mark.parametrize("name", ["momentum_20", "volatility_20"])
def test_the_memo_never_reaches_row_t(name: str) -> None:
    data = _panel()
    cut = MarketData(
        data.dates[:150], data.symbols, {k: v[:150] for k, v in data.panels.items()}, data.sectors
    )
    full = DataView(data, 150).factor(name)  # the memo of the full panels
    assert full.equals(DataView(cut, 150).factor(name))  # the truncated data's own value


class _Constant(Factor):
    """A named factor of one value everywhere (a stand-in for a stored model's)."""

    kind = "constant"
    params = ()

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    @property
    def name(self) -> str:
        return "model_constant-memo-test"

    @property
    def window(self) -> int:
        return 2

    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        return data["close"] * 0.0 + self.value


def test_a_name_registered_anew_is_never_answered_from_the_old_factor() -> None:
    data = _panel()
    name = _Constant(0).name
    try:
        register_named_factor(name, _Constant(1.0))
        assert (DataView(data, 200).factor(name).dropna() == 1.0).all()
        register_named_factor(name, _Constant(2.0))  # the same name, another factor
        assert (DataView(data, 200).factor(name).dropna() == 2.0).all()
    finally:
        forget_named_factor(name)
