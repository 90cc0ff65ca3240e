"""Benchmarks: buy and hold from the first rebalance, with no costs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_core.data.panels import MarketData
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError
from quant_core.portfolio.ledger import row_sums

EQUAL_WEIGHT = "equal_weight"


def check_benchmark(data: MarketData, benchmark: str | None) -> None:
    """Refuse a ``backtest.benchmark`` symbol the data does not hold, before a run starts.

    ``None`` (no benchmark) and ``equal_weight`` always pass. Raises ``ConfigError`` (exit 2).
    """
    if benchmark and benchmark != EQUAL_WEIGHT and not (data.symbols == benchmark).any():
        raise ConfigError(_missing(benchmark, f"the data ({len(data.symbols)} symbols; "))


def check_stored_benchmark(warehouse: Warehouse, dataset: str, benchmark: str | None) -> None:
    """Refuse what :func:`check_benchmark` refuses, from the warehouse: no panel read.

    A sweep's driver checks its run config so before a cluster starts (each worker's run would
    refuse it, every one with a traceback in the cluster's log). A dataset not stored passes
    (the runs say that).
    """
    if not benchmark or benchmark == EQUAL_WEIGHT or not warehouse.exists(dataset):
        return
    rows = warehouse.store.query(dataset, "count(*) AS n", [benchmark], None, None, "")
    if not rows.column("n")[0].as_py():
        raise ConfigError(_missing(benchmark, f"dataset {dataset!r} ("))


def _missing(benchmark: str, where: str) -> str:
    shown = benchmark if len(benchmark) <= 40 else f"{benchmark[:40]}... ({len(benchmark)} chars)"
    return (
        f"backtest.benchmark: no symbol {shown!r} in {where}"
        f"use {EQUAL_WEIGHT}, one of its symbols, or null)"
    )


def buy_and_hold(
    data: MarketData, first: int, last: int, initial_cash: float, benchmark: str
) -> pd.Series:
    """Return the curve of ``initial_cash`` bought at the open of row ``first`` and held.

    ``benchmark`` is ``equal_weight`` (every symbol with an open that day, equal dollars) or
    one symbol. The curve starts at the close of ``first - 1`` like the strategy's.
    """
    opens = data.panels["open"][first]
    if benchmark == EQUAL_WEIGHT:
        chosen = np.isfinite(opens) & (opens > 0)
    else:
        chosen = data.symbols == benchmark
        if not chosen.any():
            raise ConfigError(f"backtest.benchmark: no symbol {benchmark!r} in the data")
        if not np.isfinite(opens[chosen]).all():
            raise ConfigError(f"backtest.benchmark: {benchmark} has no open on the first session")
    shares = initial_cash / chosen.sum() / opens[chosen]
    # The closes forward-filled, NaN as 0 (each column on its own: those of the whole panel,
    # kept once per panel set, are the same numbers).
    every = data.marks()
    marks = every[first : last + 1] if chosen.all() else every[first : last + 1, chosen]
    values = np.r_[initial_cash, row_sums(marks, shares)]
    index = pd.DatetimeIndex(data.dates[first - 1 : last + 1], name="date")
    return pd.Series(values, index=index, name="benchmark")
