"""multi_factor's numpy steps give exactly what its pandas steps gave (the runs stay bit-identical).

``zscore`` against ``(s - s.mean()) / s.std()`` and ``quantile_weights`` against
``quantile_book`` by symbol, on random arrays with NaN, constant and near-empty ones among them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.strategies.builtin.cross_sectional import (
    quantile_book,
    quantile_weights,
    zscore,
)


def _arrays(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = [np.array([]), np.array([np.nan]), np.array([3.0]), np.array([2.0, 2.0, 2.0])]
    for _ in range(count):
        n = int(rng.integers(2, 80))
        values = rng.normal(size=n) * 10 ** rng.uniform(-6, 6)
        values[rng.random(n) < rng.uniform(0.0, 0.9)] = np.nan
        out.append(values)
    return out


def test_zscore_is_pandas_series_z_score_bit_for_bit() -> None:
    for values in _arrays(2_000):
        series = pd.Series(values, dtype=float)
        want = ((series - series.mean()) / series.std()).to_numpy()
        got = zscore(values)
        assert got.shape == want.shape
        assert np.array_equal(np.isnan(got), np.isnan(want))
        finite = ~np.isnan(want)
        assert got[finite].tobytes() == want[finite].tobytes()


@pytest.mark.parametrize("quantile", [0.05, 0.2, 0.37, 0.5, 1.0])
@pytest.mark.parametrize("long_short", [False, True])
def test_quantile_weights_are_the_quantile_book_by_position(
    quantile: float, long_short: bool
) -> None:
    for values in _arrays(300):
        symbols = pd.Index([f"S{i:03d}" for i in range(values.size)])  # sorted, as the data's
        book = quantile_book(pd.Series(values, index=symbols), quantile, long_short)
        want = np.zeros(values.size)
        want[symbols.get_indexer(book.index)] = book.to_numpy(dtype=float)
        assert quantile_weights(values, quantile, long_short).tobytes() == want.tobytes()
