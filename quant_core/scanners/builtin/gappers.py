"""``gappers``: the symbols whose session T-1 opened furthest from the close before it."""

from __future__ import annotations

import numpy as np
from pydantic import Field, FiniteFloat, StrictInt
from typing_extensions import override

from quant_core.data.panels import MarketData
from quant_core.scanners.base import Scanner, ScannerParams, check_rows, register_scanner
from quant_core.scanners.features import before, dollar_volume, min_bars, top_by, trailing_median


class GappersParams(ScannerParams):
    """Parameters of ``gappers``."""

    min_gap: FiniteFloat = Field(
        default=0.03, ge=0, description="Least |gap|, a fraction (0.03: 3%)"
    )
    top: StrictInt = Field(default=50, gt=0, description="Symbols kept, the largest |gap| first")
    min_price: FiniteFloat = Field(
        default=5.0, ge=0, description="Least close of T-1, currency units"
    )
    window: StrictInt = Field(default=20, gt=0, description="Sessions of the median dollar volume")
    min_dollar_volume: FiniteFloat = Field(
        default=1e6, ge=0, description="Least median close x volume, currency units per session"
    )


@register_scanner("gappers")
class Gappers(Scanner[GappersParams]):
    """Keep the ``top`` symbols with the largest opening gap at T-1, up or down.

    The gap of session T-1 is ``open(T-1) / close(T-2) - 1`` (T-2 is the session before T-1:
    a symbol without a bar there has no gap). For session T a symbol is eligible when

    * ``|gap| >= min_gap``;
    * it has a close at T-1, of at least ``min_price``;
    * the median of ``close x volume`` over sessions ``T-window .. T-1`` (missing bars ignored,
      at least ``max(1, window // 2)`` of them present) is at least ``min_dollar_volume``.

    The ``top`` eligible symbols with the largest ``|gap|`` are kept; equal gaps go to the
    alphabetically first symbol. Gaps are known at the close of T-1, so a sleeve trading them
    at T's open trades the day after the gap (a continuation or a fade), never the gap itself.
    """

    Params = GappersParams

    @property
    @override
    def warmup(self) -> int:
        return max(2, min_bars(self.params.window))

    @override
    def scan(self, data: MarketData, rows: np.ndarray) -> np.ndarray:
        p = self.params
        rows = check_rows(data, rows)
        self.check(data)
        prior = before(data.panels["close"], rows, lag=2)
        opened = before(data.panels["open"], rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.abs(np.where(prior > 0, opened / prior - 1.0, np.nan))
        close = before(data.panels["close"], rows)
        eligible = (gap >= p.min_gap) & (close >= p.min_price)  # NaN compares False
        median, count = trailing_median(dollar_volume(data), rows, p.window, eligible)
        eligible &= (count >= min_bars(p.window)) & (median >= p.min_dollar_volume)
        return top_by(gap, eligible, p.top, data.symbols)
