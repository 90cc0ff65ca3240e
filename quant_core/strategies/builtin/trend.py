"""Per-symbol trend strategies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from typing_extensions import override

from quant_core.factors.base import MIN_COVERAGE
from quant_core.strategies.base import (
    Strategy,
    StrategyContext,
    StrategyParams,
    register_strategy,
)
from quant_core.strategies.builtin.cross_sectional import equal_weight


class SmaCrossParams(StrategyParams):
    """Parameters of ``sma_cross``."""

    fast: int = Field(default=50, ge=1, description="Fast moving average, sessions, default 50")
    slow: int = Field(default=200, ge=2, description="Slow moving average, sessions, default 200")

    @model_validator(mode="after")
    def _ordered(self) -> SmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


@register_strategy("sma_cross")
class SmaCross(Strategy[SmaCrossParams]):
    """Hold, in equal weight, every symbol whose fast average close is above its slow one.

    Both averages are of the closes through T-1, skipping missing bars; a symbol needs its T-1
    close and 80% of each window present (the factors' coverage rule).
    """

    Params = SmaCrossParams

    @property
    @override
    def warmup(self) -> int:
        return int(self.params.slow)

    @override
    def target_weights(self, context: StrategyContext) -> pd.Series:
        p = self.params
        close = context.view.array("close", self.warmup)
        if len(close) < self.warmup:
            return pd.Series(dtype=float)
        fast, fast_ok = _covered_mean(close[-p.fast :])
        slow, slow_ok = _covered_mean(close)
        up = fast_ok & slow_ok & np.isfinite(close[-1]) & (fast > slow)
        return equal_weight(context.view.symbols[up])


def _covered_mean(window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    present = np.isfinite(window)
    count = present.sum(axis=0)
    mean = np.where(present, window, 0.0).sum(axis=0) / np.maximum(count, 1)
    return mean, count >= math.ceil(MIN_COVERAGE * len(window))
