"""``top_k_positions`` against its definition: a lexicographic sort, value down, position up."""

from __future__ import annotations

import numpy as np
import pytest

from quant_core.strategies.builtin.cross_sectional import top_k_positions


def _definition(values: np.ndarray, quantile: float) -> np.ndarray:
    valid = np.flatnonzero(np.isfinite(values))
    if valid.size == 0:
        return valid
    k = max(1, int(np.floor(quantile * valid.size)))
    return np.asarray(valid[np.lexsort((valid, -values[valid]))][:k])


@pytest.mark.parametrize("seed", range(20))
def test_ties_go_to_the_lower_position_as_the_definition_says(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(size=rng.integers(1, 300)), 1)  # many ties
    values[rng.random(values.size) < 0.1] = np.nan
    values[rng.random(values.size) < 0.05] = np.inf
    values[rng.random(values.size) < 0.05] = -0.0
    values[rng.random(values.size) < 0.05] = 0.0
    for quantile in (0.01, 0.1, 0.2, 0.5, 0.99, 1.0):
        np.testing.assert_array_equal(
            top_k_positions(values, quantile), _definition(values, quantile)
        )


def test_nothing_valid_picks_nothing() -> None:
    assert top_k_positions(np.array([np.nan, np.inf, -np.inf]), 0.5).size == 0
