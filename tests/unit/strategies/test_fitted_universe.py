"""A fitted sleeve whose universe is too small for its model says so, not "data missing"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from quant_core.research.attach import attach_model
from quant_core.research.model import ModelNotReady
from quant_core.strategies import build_strategy
from quant_core.strategies.base import DataView, PortfolioSnapshot, StrategyContext
from tests.factories import market
from tests.model_factories import refit, store_model


def test_a_small_universe_is_named_as_the_reason(tmp_path: Path) -> None:
    names = [f"S{i:02d}" for i in range(30)]
    data = market({s: [10.0 + i * (1 + k / 50) for i in range(30)] for k, s in enumerate(names)})
    model_id = store_model(tmp_path, ("momentum_5",), [refit(dt.date(2009, 12, 1), (1.0,))])
    strategy = build_strategy("fitted", {"model": model_id})
    assert attach_model(strategy, tmp_path) is None
    portfolio = PortfolioSnapshot(1.0, np.zeros(30), data.symbol_index, 1.0)
    small = np.zeros(30, dtype=bool)
    small[:5] = True

    view = DataView(data, 20, small)
    assert view.universe_size == 5
    with pytest.raises(ModelNotReady, match="the sleeve's universe holds 5 name"):
        strategy.decide(StrategyContext(view, portfolio, data.date_index[20]))

    whole = DataView(data, 20)  # every symbol: no universe, and the model has its 20 names
    assert whole.universe_size is None
    picks = strategy.decide(StrategyContext(whole, portfolio, data.date_index[20]))
    assert (picks.weights > 0).any()
