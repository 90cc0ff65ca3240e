"""``sector``: the symbols of some sectors, or all but some, from the reference data."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator
from typing_extensions import override

from quant_core.data.panels import MarketData
from quant_core.errors import ConfigError
from quant_core.scanners.base import Scanner, ScannerParams, check_rows, register_scanner
from quant_core.scanners.features import before


class SectorParams(ScannerParams):
    """Parameters of ``sector``: exactly one of ``include`` and ``exclude``."""

    include: tuple[str, ...] = Field(default=(), description="Sectors kept (case-insensitive)")
    exclude: tuple[str, ...] = Field(default=(), description="Sectors left out (the rest kept)")

    @model_validator(mode="after")
    def _one_list(self) -> SectorParams:
        if bool(self.include) == bool(self.exclude):
            raise ValueError("give exactly one of include and exclude, a non-empty list")
        return self


@register_scanner("sector")
class Sector(Scanner[SectorParams]):
    """Keep the symbols whose sector is in ``include`` (or not in ``exclude``).

    Sectors come from the reference data (``MarketData.sectors``) and match case-insensitively.
    A symbol also needs a close at T-1 to be in at T. A listed sector that no symbol of the
    data has is refused (:meth:`check`): a typo would otherwise keep nothing, or drop nothing.
    """

    Params = SectorParams

    @property
    @override
    def warmup(self) -> int:
        return 1

    @override
    def check(self, data: MarketData) -> None:
        self._members(data)

    def _members(self, data: MarketData) -> np.ndarray:
        p = self.params
        if data.sectors is None:
            raise ConfigError(
                f"scanner sector ({'include' if p.include else 'exclude'}: "
                f"{list(p.include or p.exclude)}) needs the symbols' sectors, but the data has "
                "none: load the panels with the reference data"
            )
        names = np.array([str(s).casefold() for s in data.sectors], dtype=object)
        listed = p.include or p.exclude
        unknown = [s for s in listed if s.casefold() not in set(names)]
        if unknown:
            known = sorted({str(s) for s in data.sectors})
            field = "include" if p.include else "exclude"
            raise ConfigError(
                f"scanner sector: {field} names sector(s) no symbol has: {unknown}; "
                f"sectors in the data: {known}"
            )
        chosen = np.isin(names, [s.casefold() for s in listed])
        return np.asarray(chosen if p.include else ~chosen)

    @override
    def scan(self, data: MarketData, rows: np.ndarray) -> np.ndarray:
        rows = check_rows(data, rows)
        members = self._members(data)
        return np.asarray(np.isfinite(before(data.panels["close"], rows)) & members[None, :])
