"""One rebalance decision, shared by the backtest engine and the live worker.

Both drivers call the same functions, so a backtest and a replay through the worker make the
same orders by construction: the schedule (which sessions rebalance), the strategy call on a
view through T-1 with its weights checked, and the sizing of target shares.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Literal

import numpy as np
import pandas as pd

from quant_core.errors import ConfigError, DataError
from quant_core.portfolio.ledger import Ledger
from quant_core.portfolio.sizing import target_shares
from quant_core.strategies.base import (
    DataView,
    MarketData,
    PortfolioSnapshot,
    Strategy,
    StrategyContext,
)

WEIGHT_TOLERANCE = 1e-9
EXIT_STATUS = "exit_at_last_close"
logger = logging.getLogger(__name__)


def first_rows(data: MarketData) -> np.ndarray:
    """Return, per symbol, the row of its first close in the data (the row count if none).

    Knowing a symbol's first bar is no look-ahead: it is only ever compared with rows before T.
    """
    present = np.isfinite(data.panels["close"])
    return np.asarray(np.where(present.any(axis=0), np.argmax(present, axis=0), present.shape[0]))


def gone_at(data: MarketData, t: int, missing: int, first: np.ndarray) -> np.ndarray:
    """Return which symbols are treated as gone (delisted, left the index) at row ``t``.

    A symbol is gone when it has a bar before, but no close in the ``missing`` sessions
    ``t - missing .. t - 1``: what was knowable at the close of T-1, whatever the bars after it
    say (a halt that ends later looks the same at T). ``t`` may be one past the data (a live
    decision for the session after the last close). ``first`` is :func:`first_rows` of ``data``,
    computed once by a caller that decides many times.
    """
    if missing < 1:
        raise ValueError(f"missing must be at least 1 session, not {missing}")
    close = data.panels["close"]
    t = min(t, close.shape[0])
    lo = max(t - missing, 0)
    recent = np.isfinite(close[lo:t]).any(axis=0)
    return np.asarray((first < lo) & ~recent)


def exit_prices(gone: np.ndarray, last_closes: np.ndarray) -> np.ndarray:
    """Return the last close through T-1 of every symbol in ``gone`` (NaN otherwise).

    ``last_closes`` are the forward-filled closes of T-1. A symbol that left the data (index
    exit, delisting) has no more opens; the data holds no delisting proceeds, so a position in
    it can be closed at its last close instead of being locked for the rest of the run.
    """
    return np.where(gone, last_closes, np.nan)


def fill_prices(
    opens: np.ndarray, exits: np.ndarray, orders: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """Return the price each order executes at.

    The open of T; or, for an order that only reduces a position in a gone symbol with no
    open at T, that symbol's last close (a gone symbol that trades again at T sells at T's
    open).
    """
    reduces = (orders * positions < 0) & (np.abs(orders) <= np.abs(positions))
    return np.where(np.isfinite(exits) & reduces & ~np.isfinite(opens), exits, opens)


def forward_fill(panel: np.ndarray) -> np.ndarray:
    """Return ``panel`` with each NaN replaced by the last value above it in its column."""
    if not np.isnan(panel).any():
        return panel  # nothing to fill
    rows = np.where(np.isnan(panel), 0, np.arange(panel.shape[0])[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    return np.asarray(panel[rows, np.arange(panel.shape[1])])


def rebalance_rows(
    dates: np.ndarray, first: int, last: int, rule: int | Literal["weekly", "monthly"]
) -> np.ndarray:
    """Return the row indices of the rebalance sessions from ``first`` to ``last``.

    ``first`` is always one; then every ``rule`` sessions, or the first session of each later
    ISO week / calendar month.
    """
    if first > last:
        return np.array([], dtype=int)
    if isinstance(rule, int):
        return np.arange(first, last + 1, rule)
    stamps = pd.DatetimeIndex(dates[first : last + 1])
    if rule == "weekly":
        iso = stamps.isocalendar()
        key = iso["year"].to_numpy() * 100 + iso["week"].to_numpy()
    else:
        key = stamps.year.to_numpy() * 100 + stamps.month.to_numpy()
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return np.unique(np.r_[0, starts]) + first


def session_range(
    dates: np.ndarray, warmup: int, start: dt.date | None, end: dt.date | None
) -> tuple[int, int]:
    """Return the rows of the first rebalance and of the last session.

    ``start`` and ``end`` may be any calendar date (weekends and holidays included); the
    first rebalance is the first session on or after ``start`` with ``warmup`` sessions
    before it.
    """
    lo = 0 if start is None else int(np.searchsorted(dates, np.datetime64(start, "D"), "left"))
    hi = len(dates) - 1
    if end is not None:
        hi = int(np.searchsorted(dates, np.datetime64(end, "D"), "right")) - 1
    if start is not None and end is not None and start > end:
        raise ConfigError(f"the start {start} is after the end {end}")
    first = max(lo, warmup, 1)
    span = f"{pd.Timestamp(dates[0]).date()}..{pd.Timestamp(dates[-1]).date()}"
    if hi < lo:
        raise DataError(
            f"no session from {start or 'the start'} to {end or 'the end'}: the data spans {span}"
        )
    if first > hi:
        raise DataError(
            f"no session to trade from {start or 'the start'} to {end or 'the end'}: the data "
            f"spans {span} and the strategy needs {warmup} sessions of history first"
        )
    return first, hi


def strategy_weights(
    strategy: Strategy[Any],
    data: MarketData,
    t: int,
    ledger: Ledger,
    equity: float,
    session: pd.Timestamp | None = None,
) -> np.ndarray:
    """Ask ``strategy`` for its weights at row ``t``; return them per symbol position, checked."""
    snapshot = PortfolioSnapshot(ledger.cash, ledger.positions, data.symbol_index, equity)
    # Row t may be one past the data: a live decision for the session after the last close.
    session = pd.Timestamp(data.dates[t]) if session is None else session
    raw = strategy.target_weights(StrategyContext(DataView(data, t), snapshot, session))
    where = data.symbol_index.get_indexer(raw.index)
    if (where < 0).any():
        unknown = list(raw.index[where < 0][:5])
        raise ConfigError(f"strategy {strategy.name} weighted unknown symbols {unknown}")
    weights = np.zeros(len(data.symbols))
    weights[where] = raw.to_numpy(dtype=float)
    if not np.isfinite(weights).all():
        raise ConfigError(
            f"strategy {strategy.name} returned non-finite weights on {session.date()}"
        )
    if weights[weights < 0].sum() < -1 - WEIGHT_TOLERANCE:
        raise ConfigError(
            f"strategy {strategy.name} asked for {weights[weights < 0].sum():.4f} of equity short "
            f"on {session.date()}; the short side may not exceed -1"
        )
    if not raw.index.is_unique:
        raise ConfigError(f"strategy {strategy.name} weighted a symbol twice on {session.date()}")
    if weights[weights > 0].sum() > 1 + WEIGHT_TOLERANCE:
        raise ConfigError(
            f"strategy {strategy.name} asked for {weights[weights > 0].sum():.4f} of equity long "
            f"on {session.date()}; the long side may not exceed 1"
        )
    return weights


def target_orders(
    strategy: Strategy[Any],
    data: MarketData,
    t: int,
    ledger: Ledger,
    marks: np.ndarray,
    cash_buffer: float,
    fractional: bool,
    session: pd.Timestamp | None = None,
    ended: np.ndarray | None = None,
) -> np.ndarray:
    """Return the signed share orders for session ``t``: strategy, checks, sizing, difference.

    A symbol in ``ended`` (gone by :func:`gone_at`) cannot be held on: its target is zero,
    whatever the strategy says, and its sale fills at its last close (:func:`fill_prices`).

    ``marks`` are the T-1 closes, a symbol without a T-1 bar keeping its last close.
    """
    equity = ledger.equity(marks)
    if equity <= 0:
        logger.warning("Equity is %.2f: no new positions; closing what is held", equity)
        return np.asarray(-ledger.positions)
    weights = strategy_weights(strategy, data, t, ledger, equity, session)
    target = target_shares(weights, equity, marks, cash_buffer, fractional)
    if ended is not None:
        target[ended] = 0.0
    return np.asarray(target - ledger.positions)
