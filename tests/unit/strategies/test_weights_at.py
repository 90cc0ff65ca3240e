"""``momentum``'s weights at many rows at once are its decisions one by one, and know no future.

The compiled backtest loop takes :meth:`Strategy.weights_at` in place of asking ``decide`` at
each rebalance: each row must be what ``strategy_weights`` gives there (ties, missing closes,
zero closes, rows before the warm-up), and cutting the data after T-1 must change nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from quant_core.data.panels import MarketData
from quant_core.portfolio.ledger import Ledger
from quant_core.strategies.base import build_strategy
from quant_core.strategies.decide import strategy_weights
from tests.factories import market


@pytest.fixture(scope="module")
def data() -> MarketData:
    rng = np.random.default_rng(4)
    sessions, names = 160, 40
    closes = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (sessions, names)), axis=0))
    closes[rng.random(closes.shape) < 0.05] = np.nan  # missing bars
    closes[:30, 3] = np.nan  # listed late
    closes[100:, 7] = np.nan  # gone
    closes[60, 9] = 0.0  # a zero close: no signal through it
    closes[:, 11] = closes[:, 12]  # tied signals: the first symbol wins
    return market({f"S{j:02d}": list(closes[:, j]) for j in range(names)})


@pytest.mark.parametrize(
    ("lookback", "quantile"), [(1, 0.1), (5, 0.2), (20, 0.5), (60, 1.0), (3, 0.01)]
)
def test_each_row_is_the_decision_at_that_row(
    data: MarketData, lookback: int, quantile: float
) -> None:
    strategy = build_strategy("momentum", {"lookback": lookback, "top_quantile": quantile})
    rows = np.arange(1, len(data.dates))  # rows before the warm-up included: no weights
    ledger = Ledger(1e6, np.zeros(len(data.symbols)))
    at_once = strategy.weights_at(data, rows)
    assert at_once is not None
    assert at_once.shape == (rows.size, len(data.symbols))
    for r, t in enumerate(rows):
        one, _ = strategy_weights(strategy, data, int(t), ledger, 1e6)
        assert at_once[r].tobytes() == one.tobytes(), t
    assert (at_once[rows < strategy.warmup] == 0).all()
    assert (at_once[rows >= strategy.warmup].sum(axis=1) > 0).all()


def test_a_row_reads_nothing_from_its_session_or_after(data: MarketData) -> None:
    strategy = build_strategy("momentum", {"lookback": 10, "top_quantile": 0.3})
    full = strategy.weights_at(data, np.arange(11, 150))
    assert full is not None
    for t in (11, 40, 99, 100, 149):
        cut = MarketData(
            data.dates[:t], data.symbols, {k: v[:t].copy() for k, v in data.panels.items()}
        )
        alone = strategy.weights_at(cut, np.array([t]))  # row t is one past the cut data
        assert alone is not None
        assert alone[0].tobytes() == full[t - 11].tobytes(), t
