"""Each built-in scanner against a plain per-date pandas reference, on random panels with holes."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from quant_core.errors import ConfigError
from quant_core.scanners import build_scanner
from tests.unit.scanners.helpers import (
    SECTORS,
    members,
    random_market,
    ref_gappers,
    ref_liquid,
    ref_sector,
)

SEEDS = range(6)


@pytest.mark.parametrize("seed", SEEDS)
def test_liquid_matches_the_reference_at_every_row(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    data = random_market(seed)
    params = {
        "top": int(rng.integers(1, 15)),
        "window": int(rng.integers(1, 30)),
        "min_price": float(rng.choice([0.0, 5.0, 15.0])),
        "min_history": int(rng.integers(0, 40)),
    }
    scanner = build_scanner("liquid", params)
    rows = np.arange(len(data.dates) + 1)  # the last one: the session after the data

    masks = scanner.scan(data, rows)

    assert masks.shape == (len(rows), len(data.symbols))
    assert masks.dtype == bool
    for i, t in enumerate(rows):
        expected = ref_liquid(data, int(t), *params.values())  # type: ignore[arg-type]
        assert members(data, masks[i]) == expected, (t, params)
    assert masks.sum(axis=1).max() <= params["top"]
    assert masks.any()  # the test would pass vacuously on empty universes


@pytest.mark.parametrize("seed", SEEDS)
def test_gappers_matches_the_reference_at_every_row(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    data = random_market(seed)
    params = {
        "min_gap": float(rng.choice([0.0, 0.01, 0.03, 0.06])),
        "top": int(rng.integers(1, 10)),
        "min_price": float(rng.choice([0.0, 5.0])),
        "window": int(rng.integers(1, 25)),
        "min_dollar_volume": float(rng.choice([0.0, 2e5, 1e6])),
    }
    scanner = build_scanner("gappers", params)
    rows = rng.permutation(len(data.dates) + 1)  # any order

    masks = scanner.scan(data, rows)

    for i, t in enumerate(rows):
        expected = ref_gappers(data, int(t), *params.values())  # type: ignore[arg-type]
        assert members(data, masks[i]) == expected, (t, params)
    assert masks.any()


def test_liquid_breaks_ties_by_symbol_name() -> None:
    # T00 copies S00's bars: equal medians, and only one place left at the top.
    data = random_market(3, symbols=8)
    scanner = build_scanner("liquid", {"top": 1, "window": 5, "min_price": 0, "min_history": 0})
    dv = data.panels["close"] * data.panels["volume"]
    rows = np.arange(10, len(data.dates))
    masks = scanner.scan(data, rows)
    s00, t00 = list(data.symbols).index("S00"), list(data.symbols).index("T00")
    assert np.isnan(dv[:, s00]).sum() == np.isnan(dv[:, t00]).sum()
    assert not masks[:, t00].any()
    assert masks[:, s00].any()


@pytest.mark.parametrize("seed", SEEDS)
def test_sector_matches_the_reference(seed: int) -> None:
    data = random_market(seed)
    rows = np.arange(len(data.dates) + 1)
    for params in ({"include": ["tech", "ENERGY"]}, {"exclude": ["Utilities"]}):
        masks = build_scanner("sector", params).scan(data, rows)
        for i, t in enumerate(rows):
            expected = ref_sector(
                data, int(t), params.get("include", []), params.get("exclude", [])
            )
            assert members(data, masks[i]) == expected


def test_sector_refuses_data_without_sectors_and_unknown_sector_names() -> None:
    data = random_market(0)
    bare = type(data)(data.dates, data.symbols, dict(data.panels))
    scanner = build_scanner("sector", {"include": ["Tech"]})
    with pytest.raises(ConfigError, match="needs the symbols' sectors"):
        scanner.scan(bare, np.array([5]))
    typo = build_scanner("sector", {"exclude": ["Tech", "Finanse"]})
    with pytest.raises(
        ConfigError, match=r"exclude names sector\(s\) no symbol has: \['Finanse'\]"
    ):
        typo.check(data)
    assert set(SECTORS) <= {str(s) for s in data.sectors}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "params",
    [{}, {"include": [], "exclude": []}, {"include": ["Tech"], "exclude": ["Energy"]}],
)
def test_sector_needs_exactly_one_list(params: dict[str, list[str]]) -> None:
    with pytest.raises(ConfigError, match="exactly one of include and exclude"):
        build_scanner("sector", params)


def test_static_keeps_its_symbols_when_they_have_a_close_at_t_minus_1() -> None:
    data = random_market(1)
    wanted = ["S03", "S07", "T01"]
    rows = np.arange(len(data.dates) + 1)

    masks = build_scanner("static", {"symbols": wanted}).scan(data, rows)

    close = data.panels["close"]
    for i, t in enumerate(rows):
        expected = {
            s for s in wanted if t > 0 and np.isfinite(close[t - 1, list(data.symbols).index(s)])
        }
        assert members(data, masks[i]) == expected
    assert masks.any()
    assert not masks[0].any()


def test_static_names_the_symbols_the_data_lacks() -> None:
    data = random_market(1)
    scanner = build_scanner("static", {"symbols": ["S01", "ZZZ", "aapl"]})
    with pytest.raises(ConfigError, match=r"not in the data: \['ZZZ', 'aapl'\]"):
        scanner.scan(data, np.array([3]))
    with pytest.raises(ConfigError, match="symbols: missing"):
        build_scanner("static", {})
    with pytest.raises(ConfigError, match="symbols"):
        build_scanner("static", {"symbols": []})


def test_warmup_is_the_first_row_a_symbol_can_be_in() -> None:
    data = random_market(2)
    rows = np.arange(len(data.dates) + 1)
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("liquid", {"window": 10, "min_history": 30, "min_price": 0}, 30),
        ("liquid", {"window": 40, "min_history": 0, "min_price": 0}, 20),
        ("gappers", {"window": 3, "min_gap": 0, "min_price": 0, "min_dollar_volume": 0}, 2),
        ("static", {"symbols": ["S01", "S02", "S04"]}, 1),
        ("sector", {"exclude": ["Energy"]}, 1),
    ]
    for name, params, warmup in cases:
        scanner = build_scanner(name, params)
        masks = scanner.scan(data, rows)
        assert scanner.warmup == warmup
        assert not masks[: scanner.warmup].any(), name
        assert masks[scanner.warmup :].any(), name


def test_empty_rows_give_an_empty_matrix() -> None:
    data = random_market(0)
    for name, params in [("liquid", {}), ("gappers", {}), ("static", {"symbols": ["S01"]})]:
        masks = build_scanner(name, params).scan(data, np.array([], dtype=int))
        assert masks.shape == (0, len(data.symbols))


@pytest.mark.parametrize(
    ("name", "params", "named"),
    [
        ("liquid", {"top": True}, "top = True"),  # YAML's true is no count
        ("liquid", {"window": 5.0}, "window = 5.0"),
        ("liquid", {"min_history": "10"}, "min_history = '10'"),
        ("gappers", {"top": False}, "top = False"),
        ("gappers", {"min_gap": float("inf")}, "min_gap = inf"),
        ("gappers", {"min_dollar_volume": float("inf")}, "min_dollar_volume = inf"),
        ("liquid", {"min_price": float("inf")}, "min_price = inf"),
    ],
)
def test_counts_are_strict_integers_and_thresholds_finite(
    name: str, params: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        build_scanner(name, params)


def test_static_refuses_a_symbol_listed_twice() -> None:
    with pytest.raises(ConfigError, match=r"symbols = .*'AAPL' listed more than once"):
        build_scanner("static", {"symbols": ["AAPL", "MSFT", "AAPL"]})
