"""Universe size and turnover."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.scanners import universe_stats


def test_size_and_turnover_by_hand() -> None:
    dates = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"])
    masks = np.array(
        [
            [1, 1, 0, 0],  # A B
            [1, 0, 1, 0],  # A C: one in, one out of 2 -> 2 / 4
            [1, 0, 1, 1],  # A C D: one in of 2 -> 1 / 4
            [0, 0, 0, 0],  # empty: three out of 3 -> 3 / 6
            [0, 1, 0, 0],  # from empty: undefined
        ],
        dtype=bool,
    )

    stats = universe_stats(dates, masks)

    assert stats.index.name == "date"
    assert stats.index.equals(dates.rename("date"))
    assert stats["size"].tolist() == [2, 2, 3, 0, 1]
    np.testing.assert_allclose(stats["turnover"], [np.nan, 0.5, 0.25, 0.5, np.nan])


def test_turnover_of_an_unchanged_and_a_replaced_universe() -> None:
    dates = pd.date_range("2024-01-01", periods=3)
    masks = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)
    assert universe_stats(dates, masks)["turnover"].tolist()[1:] == [0.0, 1.0]


def test_stats_refuse_masks_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="one per date"):
        universe_stats(pd.date_range("2024-01-01", periods=2), np.ones((3, 2), dtype=bool))
    with pytest.raises(ValueError, match="bool"):
        universe_stats(pd.date_range("2024-01-01", periods=2), np.ones((2, 2)))
