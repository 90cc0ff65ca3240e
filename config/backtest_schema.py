"""Config model of the ``backtest`` section (``config/backtest.yaml``).

One run's cash, period and benchmark. Re-exported by :mod:`config.schema`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, PositiveFloat, ValidationInfo, field_validator

from config.section import Section

# The largest backtest.initial_cash, USD: float64 holds whole cents exactly up to 2**53 cents
# (about 9e13 USD); a larger account would be accounted in coarser steps than a cent.
MAX_INITIAL_CASH_USD = 1e13


class BacktestConfig(Section):
    """Backtest run settings."""

    initial_cash: PositiveFloat = Field(
        default=1_000_000.0,
        le=MAX_INITIAL_CASH_USD,
        description="Starting cash, USD (at most 1e13: float64 keeps cents exact below about "
        "9e13). Default: 1,000,000",
    )
    start: dt.date | None = Field(default=None, description="First session; None: data start")
    end: dt.date | None = Field(default=None, description="Last session; None: data end")
    benchmark: str | None = Field(
        default="equal_weight",
        description="equal_weight (buy and hold of the universe), one symbol, or None",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _calendar_date(cls, value: Any) -> Any:
        # pydantic reads a number (0, "86400") as seconds since 1970: never a date meant here.
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number or (isinstance(value, str) and value.strip().lstrip("+-").isdigit()):
            raise ValueError("write the date as YYYY-MM-DD (a number is not a date)")
        return value

    @field_validator("benchmark")
    @classmethod
    def _named_benchmark(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("empty benchmark: name equal_weight or a symbol, or null for none")
        return value

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("start")
        if value is not None and start is not None and start > value:
            raise ValueError(f"backtest.start {start} is after backtest.end {value}; swap them")
        return value
