"""``static``: a fixed list of symbols."""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator
from typing_extensions import override

from quant_core.data.panels import MarketData
from quant_core.errors import ConfigError
from quant_core.scanners.base import Scanner, ScannerParams, check_rows, register_scanner
from quant_core.scanners.features import before


class StaticParams(ScannerParams):
    """Parameters of ``static``."""

    symbols: tuple[str, ...] = Field(min_length=1, description="The symbols, as the data spells")

    @field_validator("symbols")
    @classmethod
    def _once_each(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({s for s in symbols if symbols.count(s) > 1})
        if twice:
            raise ValueError(
                f"each symbol once: {', '.join(map(repr, twice))} listed more than once"
            )
        return symbols


@register_scanner("static")
class Static(Scanner[StaticParams]):
    """Keep the listed symbols, each at every session T it has a close at T-1.

    Symbols match the data's exactly (case-sensitive); one the data does not hold is refused
    (:meth:`check`), naming it.
    """

    Params = StaticParams

    @property
    @override
    def warmup(self) -> int:
        return 1

    @override
    def check(self, data: MarketData) -> None:
        held = set(data.symbols.tolist())
        missing = [s for s in self.params.symbols if s not in held]
        if missing:
            raise ConfigError(f"scanner static: symbol(s) not in the data: {missing}")

    @override
    def scan(self, data: MarketData, rows: np.ndarray) -> np.ndarray:
        rows = check_rows(data, rows)
        self.check(data)
        members = np.isin(data.symbols, list(self.params.symbols))
        return np.asarray(np.isfinite(before(data.panels["close"], rows)) & members[None, :])
