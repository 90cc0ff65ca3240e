"""The registry, building with bad parameters, the rows contract and the shared features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import ConfigError
from quant_core.scanners import (
    SCANNERS,
    Scanner,
    ScannerParams,
    build_scanner,
    features,
    scanner_names,
)
from quant_core.scanners.base import register_scanner
from quant_core.scanners.features import top_by, trailing_median
from tests.unit.scanners.helpers import random_market


def test_the_builtins_are_registered() -> None:
    assert scanner_names() == ["gappers", "liquid", "sector", "static"]
    assert build_scanner("liquid", None).name == "liquid"
    assert build_scanner("liquid", {}).params == build_scanner("liquid").params


def test_an_unknown_scanner_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown scanner 'liqid'; valid: gappers, liquid"):
        build_scanner("liqid", {})


@pytest.mark.parametrize(
    ("name", "params", "bad"),
    [
        ("liquid", {"top": 0}, "top = 0"),
        ("liquid", {"window": -3}, "window = -3"),
        ("liquid", {"min_price": -1}, "min_price = -1"),
        ("liquid", {"min_history": -1}, "min_history = -1"),
        ("liquid", {"topp": 5}, "topp = 5: Extra inputs are not permitted"),
        ("gappers", {"min_gap": -0.1}, "min_gap = -0.1"),
        ("gappers", {"min_dollar_volume": "lots"}, "min_dollar_volume = 'lots'"),
    ],
)
def test_a_bad_parameter_is_named_with_the_valid_ones(
    name: str, params: dict[str, object], bad: str
) -> None:
    with pytest.raises(ConfigError, match=f"scanner {name}: invalid parameter") as info:
        build_scanner(name, params)
    assert bad in str(info.value)
    assert "Parameters: " in str(info.value)
    assert "window (default" in str(info.value)


def test_params_are_frozen() -> None:
    scanner = build_scanner("liquid", {"top": 3})
    with pytest.raises(ValueError, match="frozen"):
        scanner.params.top = 4


def test_a_name_registers_once() -> None:
    class AgainParams(ScannerParams):
        pass

    with pytest.raises(ValueError, match="already registered"):

        @register_scanner("liquid")
        class Again(Scanner[AgainParams]):
            Params = AgainParams

    assert "liquid" in SCANNERS.items


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.array([0, 121]), r"rows must lie in 0\.\.120"),
        (np.array([-1]), "rows must lie in"),
        (np.array([[1, 2]]), "1-D integer array"),
        (np.array([1.0]), "1-D integer array"),
    ],
)
def test_rows_outside_the_data_are_refused(rows: np.ndarray, message: str) -> None:
    data = random_market(0)
    with pytest.raises(ValueError, match=message):
        build_scanner("liquid").scan(data, rows)


@pytest.mark.parametrize("window", [1, 2, 7, 30])
def test_trailing_median_matches_pandas_on_both_paths(window: int) -> None:
    rng = np.random.default_rng(window)
    panel = np.round(rng.lognormal(0, 1, (90, 11)), 1)  # rounded: ties
    panel[rng.random(panel.shape) < 0.2] = np.nan
    rows = rng.permutation(91)
    sparse = rng.random((91, 11)) < 0.02

    dense_median, count = trailing_median(panel, rows, window)
    sparse_median, sparse_count = trailing_median(panel, rows, window, sparse)

    frame = pd.DataFrame(panel)
    for i, t in enumerate(rows):
        past = frame.iloc[max(0, t - window) : t]
        np.testing.assert_array_equal(count[i], past.count().to_numpy())
        np.testing.assert_array_equal(dense_median[i], past.median().to_numpy())
        expected = np.where(sparse[i], past.median().to_numpy(), np.nan)
        np.testing.assert_array_equal(sparse_median[i], expected)
    np.testing.assert_array_equal(sparse_count, count)
    assert sparse.sum() < features.DENSE_SHARE * 90 * 11  # the sparse path was taken


def test_top_by_breaks_ties_by_name_whatever_the_column_order() -> None:
    symbols = np.array(["D", "B", "A", "C", "E"])
    score = np.array([[3.0, 5.0, 3.0, 3.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    eligible = np.array([[True, True, True, True, True], [True, False, True, False, True]])

    picked = top_by(score, eligible, 3, symbols)

    # Row 0: B (5), then of A, C, D at 3: A and C. Row 1: all equal, B and C ineligible.
    assert set(symbols[picked[0]]) == {"B", "A", "C"}
    assert set(symbols[picked[1]]) == {"A", "D", "E"}
    assert picked[1].sum() == 3
    assert top_by(score, eligible, 10, symbols).tolist() == eligible.tolist()


def test_the_rolling_median_split_over_threads_equals_one_pass() -> None:
    rng = np.random.default_rng(5)
    panel = rng.lognormal(size=(600, 401))  # above PARALLEL_CELLS, an odd column count
    panel[rng.random(panel.shape) < 0.05] = np.nan
    assert panel.size >= features.PARALLEL_CELLS
    one = pd.DataFrame(panel).rolling(21, min_periods=1).median().to_numpy()
    np.testing.assert_array_equal(features._rolling_median(panel, 21), one)
