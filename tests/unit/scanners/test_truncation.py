"""Scanners see data through T-1 only: garbage in rows >= t changes no universe up to t."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from quant_core.scanners import build_scanner
from tests.unit.scanners.helpers import random_market, with_garbage_from

SCANNERS: list[tuple[str, dict[str, Any]]] = [
    ("liquid", {"top": 8, "window": 15, "min_price": 5.0, "min_history": 10}),
    ("liquid", {"top": 30, "window": 4, "min_price": 0.0, "min_history": 0}),
    (
        "gappers",
        {"min_gap": 0.02, "top": 5, "min_price": 1.0, "window": 10, "min_dollar_volume": 1e5},
    ),
    (
        "gappers",
        {"min_gap": 0.0, "top": 50, "min_price": 0.0, "window": 3, "min_dollar_volume": 0.0},
    ),
    ("sector", {"include": ["Tech", "Health"]}),
    ("static", {"symbols": ["S00", "S05", "T02"]}),
]


@pytest.mark.parametrize(("name", "params"), SCANNERS, ids=[s[0] for s in SCANNERS])
@pytest.mark.parametrize("seed", range(4))
def test_rows_at_or_after_t_do_not_change_the_universe_at_t(
    name: str, params: dict[str, Any], seed: int
) -> None:
    data = random_market(seed)
    scanner = build_scanner(name, params)
    full = scanner.scan(data, np.arange(len(data.dates) + 1))
    rng = np.random.default_rng(seed)
    for t in rng.choice(np.arange(1, len(data.dates)), size=6, replace=False):
        garbage = with_garbage_from(data, int(t), seed)
        alone = scanner.scan(garbage, np.array([t]))
        np.testing.assert_array_equal(alone[0], full[t], err_msg=f"{name} alone at {t}")
        # Every row up to t in one call: the rolling paths over the whole span see garbage
        # after t, and must not carry it back.
        batch = scanner.scan(garbage, np.arange(t + 1))
        np.testing.assert_array_equal(batch, full[: t + 1], err_msg=f"{name} batch to {t}")
    assert full.any()


def test_garbage_does_change_the_universe_after_t() -> None:
    # Guard: the test above would pass if the scanner ignored the data altogether.
    data = random_market(0)
    scanner = build_scanner("liquid", {"top": 5, "window": 5, "min_price": 0, "min_history": 0})
    t = 60
    garbage = with_garbage_from(data, t, 0)
    rows = np.arange(t + 1, len(data.dates))
    assert not np.array_equal(scanner.scan(garbage, rows), scanner.scan(data, rows))
