"""Review of today's speed-ups: what a memo may hand back, checked against computing afresh.

The sectors of a run are coded once (``constraints._coded``, keyed on the array's identity): a
writable array changed in place since is coded again, so the sector cap reads the labels it is
given; a read-only one (``MarketData.sectors``) is still coded once.
"""

from __future__ import annotations

import numpy as np

from quant_core.data.panels import MarketData
from quant_core.portfolio.constraints import _coded, apply_constraints
from quant_core.portfolio.policy import ConstraintSettings, PortfolioPolicy

CAPPED = PortfolioPolicy(constraints=ConstraintSettings(sector_cap=0.5))


def _capped(sectors: np.ndarray) -> list[float]:
    weights, current, closes = np.full(3, 0.3), np.zeros(3), np.ones((5, 3))
    return apply_constraints(weights, current, sectors, closes, CAPPED).weights.tolist()


def test_the_sector_cap_reads_a_writable_sectors_array_as_it_is_now() -> None:
    sectors = np.array(["Tech", "Tech", "Energy"], dtype=object)
    assert _capped(sectors) == [0.25, 0.25, 0.3]  # Tech at 0.6 scaled to the cap of 0.5
    sectors[1] = "Fin"  # the same array, relabelled: no sector above the cap now
    assert _capped(sectors) == _capped(sectors.copy()) == [0.3, 0.3, 0.3]


def test_the_sectors_of_market_data_are_coded_once() -> None:
    days = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    close = np.ones((2, 3))
    sectors = np.array(["Tech", "Tech", "Energy"], dtype=object)
    data = MarketData(days, np.array(["A", "B", "C"]), {"close": close}, sectors)
    assert data.sectors is not None
    assert not data.sectors.flags.writeable
    codes, names = _coded(data.sectors)
    again, _ = _coded(data.sectors)
    assert again is codes  # the coded copy: not coded anew
    assert codes.tolist() == [1, 1, 0]
    assert names.tolist() == ["Energy", "Tech"]
    assert _capped(data.sectors) == [0.25, 0.25, 0.3]
