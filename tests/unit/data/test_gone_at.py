"""``gone_at`` looks only at the symbols with a missing close, and answers as if it looked at all.

The definition (a bar before the window, no close in the ``missing`` sessions before ``t``) is
computed here over every symbol, the way it read before the symbols with a close in every row
were left out, and compared on panels with gaps, late listings and delistings, at every row.
"""

from __future__ import annotations

import numpy as np
import pytest

from quant_core.data.panels import MarketData, first_rows, gone_at


def _definition(close: np.ndarray, t: int, missing: int, first: np.ndarray) -> np.ndarray:
    t = min(t, close.shape[0])
    lo = max(t - missing, 0)
    return np.asarray((first < lo) & ~np.isfinite(close[lo:t]).any(axis=0))


def _panel(seed: int, rows: int, symbols: int) -> MarketData:
    rng = np.random.default_rng(seed)
    close = rng.uniform(10, 20, size=(rows, symbols))
    close[rng.random((rows, symbols)) < 0.15] = np.nan  # gaps
    close[: rng.integers(0, rows), 1] = np.nan  # listed late
    close[rng.integers(0, rows) :, 2] = np.nan  # delisted
    close[:, 3] = np.nan  # never traded
    close[:, 4] = rng.uniform(10, 20, size=rows)  # complete
    dates = np.datetime64("2020-01-01") + np.arange(rows)
    symbols_ = np.array([f"S{i:02d}" for i in range(symbols)])
    return MarketData(dates, symbols_, {"open": close.copy(), "close": close})


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("missing", [1, 3, 5])
def test_gone_at_is_the_definition_at_every_row(seed: int, missing: int) -> None:
    data = _panel(seed, 40, 9)
    first = first_rows(data)
    close = data.panels["close"]
    for t in range(close.shape[0] + 2):  # one past the data: a live decision
        expected = _definition(close, t, missing, first)
        np.testing.assert_array_equal(gone_at(data, t, missing, first), expected)


def test_a_complete_panel_has_nothing_gone() -> None:
    rng = np.random.default_rng(1)
    close = rng.uniform(10, 20, size=(30, 6))
    dates = np.datetime64("2020-01-01") + np.arange(30)
    data = MarketData(dates, np.array(list("ABCDEF")), {"open": close, "close": close})
    first = first_rows(data)
    for t in range(32):
        assert not gone_at(data, t, 5, first).any()
        np.testing.assert_array_equal(gone_at(data, t, 5, first), _definition(close, t, 5, first))
