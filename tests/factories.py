"""Builders for test objects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from typing_extensions import override

from quant_core.calendar import TradingCalendar
from quant_core.data.warehouse import DatasetMeta
from quant_core.strategies.base import Strategy, StrategyContext, StrategyParams

META = DatasetMeta(label="test bars", source="test")


def bars(
    calendar: TradingCalendar,
    symbols: tuple[str, ...] = ("AAA", "BBB"),
    start: str = "2010-01-04",
    sessions: int = 5,
    price: float = 10.0,
) -> pd.DataFrame:
    """Return clean, validated-shape bars: one row per symbol and session."""
    days = calendar.sessions[calendar.sessions >= np.datetime64(start)][:sessions]
    rows = []
    for k, symbol in enumerate(symbols):
        for i, day in enumerate(days):
            close = price + k + i * 0.1
            rows.append(
                {
                    "date": pd.Timestamp(day),
                    "symbol": symbol,
                    "open": close - 0.05,
                    "high": close + 0.2,
                    "low": close - 0.2,
                    "close": close,
                    "volume": 1000.0 + i,
                    "adj_factor": 1.0,
                    "flags": 0,
                }
            )
    return pd.DataFrame(rows)


def raw_rows(**overrides: object) -> dict[str, object]:
    """Return one raw input row (strings, like a CSV) with ``overrides`` applied."""
    row: dict[str, object] = {
        "date": "2010-01-04",
        "symbol": "AAA",
        "open": "10",
        "high": "11",
        "low": "9",
        "close": "10.5",
        "volume": "1000",
        "_source": "test.csv",
        "_line": 2,
    }
    row.update(overrides)
    return row


def market(
    closes: dict[str, list[Any]],
    opens: dict[str, list[Any]] | None = None,
    start: str = "2010-01-04",
    calendar: TradingCalendar | None = None,
):
    """Return MarketData from per-symbol closes (and opens; default = closes) on sessions."""
    from quant_core.calendar import get_calendar
    from quant_core.data.panels import MarketData

    cal = calendar or get_calendar("XNYS")
    n = len(next(iter(closes.values())))
    days = cal.sessions[cal.sessions >= np.datetime64(start)][:n]
    symbols = sorted(closes)
    close = np.array([closes[s] for s in symbols], dtype=float).T
    open_ = np.array([(opens or closes)[s] for s in symbols], dtype=float).T
    panels = {
        "open": open_,
        "high": np.fmax(open_, close) * 1.01,
        "low": np.fmin(open_, close) * 0.99,
        "close": close,
        "volume": np.full_like(close, 1e6),
    }
    return MarketData(days, np.array(symbols), panels)


class Fixed(Strategy[StrategyParams]):
    """The same target weights at every decision."""

    name = "fixed"

    def __init__(self, weights: dict[str, float]) -> None:
        super().__init__(StrategyParams())
        self.weights = pd.Series(weights, dtype=float)

    @property
    @override
    def warmup(self) -> int:
        return 1

    @override
    def target_weights(self, context: StrategyContext) -> pd.Series:
        return self.weights
