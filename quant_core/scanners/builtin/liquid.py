"""``liquid``: the most traded symbols by median dollar volume, above a price and a listing age."""

from __future__ import annotations

import numpy as np
from pydantic import Field, FiniteFloat, StrictInt
from typing_extensions import override

from quant_core.data.panels import MarketData
from quant_core.scanners.base import Scanner, ScannerParams, check_rows, register_scanner
from quant_core.scanners.features import (
    before,
    dollar_volume,
    history_ok,
    min_bars,
    top_by,
    trailing_median,
)


class LiquidParams(ScannerParams):
    """Parameters of ``liquid``."""

    top: StrictInt = Field(default=200, gt=0, description="Symbols kept, the most liquid first")
    window: StrictInt = Field(default=63, gt=0, description="Sessions of the median, through T-1")
    min_price: FiniteFloat = Field(
        default=5.0, ge=0, description="Least close of T-1, currency units"
    )
    min_history: StrictInt = Field(
        default=252, ge=0, description="Least sessions since the first bar, through T-1"
    )


@register_scanner("liquid")
class Liquid(Scanner[LiquidParams]):
    """Keep the ``top`` symbols with the largest median dollar volume before T.

    For session T (row ``t``), a symbol is eligible when

    * it has a close at T-1 and that close is at least ``min_price``;
    * its first bar is at least ``min_history`` sessions before T (``t - first >= min_history``,
      the sessions ``first .. T-1``);
    * at least ``max(1, window // 2)`` of the ``window`` sessions ``T-window .. T-1`` have both
      a close and a volume.

    Eligible symbols are ranked by the median of ``close x volume`` (currency units per session)
    over those sessions, missing bars ignored, and the ``top`` largest are kept; equal medians
    go to the alphabetically first symbol.
    """

    Params = LiquidParams

    @property
    @override
    def warmup(self) -> int:
        p = self.params
        return max(p.min_history, min_bars(p.window), 1)

    @override
    def scan(self, data: MarketData, rows: np.ndarray) -> np.ndarray:
        p = self.params
        rows = check_rows(data, rows)
        self.check(data)
        close = before(data.panels["close"], rows)
        eligible = (close >= p.min_price) & history_ok(data, rows, p.min_history)  # NaN: False
        median, count = trailing_median(dollar_volume(data), rows, p.window, eligible)
        eligible &= (count >= min_bars(p.window)) & np.isfinite(median)
        return top_by(median, eligible, p.top, data.symbols)
