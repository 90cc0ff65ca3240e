"""The dual-price backtest engine: the date loop, and nothing else.

On each rebalance session T (row t):

1. equity(T-1) = cash + positions x close(T-1) (a symbol without a T-1 bar keeps its last close);
2. the strategy sees a :class:`DataView` ending at T-1 and returns target weights, re-weighted
   by the construction method from the closes through T-1 (the first rebalance has the
   strategy's warm-up and the method's returns window before it);
3. target shares = weight x equity(T-1) x (1 - cash_buffer) / close(T-1), whole shares
   (toward zero) unless fractional (:mod:`quant_core.portfolio.sizing`);
4. the orders (target - held) execute at the open of T through the pure kernel
   (:func:`quant_core.portfolio.ledger.execute`): sells, then buys against cash, truncated by
   the shortfall rule; no open price leaves an order unfilled;
5. positions are marked at every close until the next rebalance.

Between rebalances nothing trades, so the equity of a whole stretch is one matrix product.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from quant_core.data.panels import MarketData, first_rows, forward_fill, gone_at
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.ledger import (
    EXIT_STATUS,
    Fills,
    Ledger,
    execute,
    exit_prices,
    fill_prices,
)
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.schedule import Rule, rebalance_rows, session_range
from quant_core.strategies.base import Strategy
from quant_core.strategies.decide import decision_warmup, target_orders
from quant_core.types import ProgressFn

TRADE_COLUMNS = (
    "date",
    "symbol",
    "side",
    "requested",
    "filled",
    "signal_price",
    "open_price",
    "exec_price",
    "notional",
    "commission",
    "slippage",
    "status",
)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How weights become trades: the shared ``portfolio`` and ``costs`` config."""

    initial_cash: float
    cash_buffer: float = 0.02
    fractional: bool = False
    shortfall: Literal["pro_rata", "sequential"] = "pro_rata"
    costs: CostModel = field(default_factory=CostModel)
    rebalance: Rule = 21
    exit_after_missing: int = 5
    policy: PortfolioPolicy = field(default_factory=PortfolioPolicy)


@dataclass(frozen=True, slots=True)
class EngineResult:
    """Daily equity from the session before the first rebalance, trades and positions."""

    curve: pd.DataFrame  # date index: equity, cash, long_value, short_value
    trades: pd.DataFrame  # TRADE_COLUMNS
    positions: pd.DataFrame  # date, symbol, shares, close, value (after each rebalance)
    rebalances: pd.DatetimeIndex


def run_engine(
    data: MarketData,
    strategy: Strategy[Any],
    settings: EngineSettings,
    start: dt.date | None = None,
    end: dt.date | None = None,
    progress: ProgressFn | None = None,
) -> EngineResult:
    """Replay ``data`` through ``strategy`` under the dual-price rule (module docstring)."""
    warmup = decision_warmup(strategy, settings.policy)
    first, last = session_range(data.dates, warmup, start, end)
    rows = rebalance_rows(data.dates, first, last, settings.rebalance)
    close = forward_fill(data.panels["close"])
    first_bar = first_rows(data)
    marks = np.nan_to_num(close)
    opens = data.panels["open"]
    n_rows = last - first + 2
    equity, cash_curve = np.empty(n_rows), np.empty(n_rows)
    long_value, short_value = np.zeros(n_rows), np.zeros(n_rows)
    ledger = Ledger(settings.initial_cash, np.zeros(len(data.symbols)))
    equity[0] = cash_curve[0] = settings.initial_cash
    trades = _Records()
    held = _Records()
    bounds = np.r_[rows, last + 1]
    for i, t in enumerate(rows):
        gone = gone_at(data, t, settings.exit_after_missing, first_bar)
        decision = target_orders(
            strategy,
            data,
            t,
            ledger,
            close[t - 1],
            settings.cash_buffer,
            settings.fractional,
            ended=gone,
            policy=settings.policy,
        )
        orders = decision.orders
        exits = exit_prices(gone, close[t - 1])
        prices = fill_prices(opens[t], exits, orders, ledger.positions)
        ledger, fills = execute(
            ledger,
            orders,
            prices,
            settings.costs,
            settings.shortfall,
            settings.fractional,
        )
        at_last_close = np.isfinite(exits) & ~np.isfinite(opens[t])
        trades.add(t, fills.index, fills, close[t - 1], opens[t], at_last_close[fills.index])
        holding = np.flatnonzero(ledger.positions)
        held.add_positions(t, holding, ledger.positions[holding], marks[t, holding])
        span = slice(t - first + 1, bounds[i + 1] - first + 1)
        stretch = marks[t : bounds[i + 1]]
        long_value[span] = stretch @ np.maximum(ledger.positions, 0.0)
        short_value[span] = stretch @ np.minimum(ledger.positions, 0.0)
        cash_curve[span] = ledger.cash
        equity[span] = ledger.cash + long_value[span] + short_value[span]
        if progress is not None:
            progress("backtest", i + 1, len(rows))
    index = pd.DatetimeIndex(data.dates[first - 1 : last + 1], name="date")
    curve = pd.DataFrame(
        {
            "equity": equity,
            "cash": cash_curve,
            "long_value": long_value,
            "short_value": short_value,
        },
        index=index,
    )
    return EngineResult(
        curve=curve,
        trades=trades.trade_frame(data),
        positions=held.position_frame(data),
        rebalances=pd.DatetimeIndex(data.dates[rows], name="date"),
    )


class _Records:
    # Columns as lists of arrays, turned into one frame at the end: building a DataFrame per
    # rebalance cost more than the rebalance itself.
    def __init__(self) -> None:
        self.columns: dict[str, list[np.ndarray]] = {}

    def _append(self, **arrays: np.ndarray) -> None:
        for name, values in arrays.items():
            self.columns.setdefault(name, []).append(values)

    def add(
        self,
        t: int,
        index: np.ndarray,
        fills: Fills,
        signal: np.ndarray,
        opens: np.ndarray,
        at_last_close: np.ndarray,
    ) -> None:
        open_price = opens[index]
        status = np.where(at_last_close & (fills.filled != 0), EXIT_STATUS, fills.status)
        self._append(
            row=np.full(index.size, t),
            col=index,
            requested=fills.requested,
            filled=fills.filled,
            signal_price=signal[index],
            open_price=open_price,
            exec_price=fills.price,
            commission=fills.commission,
            status=status,
        )

    def add_positions(
        self, t: int, index: np.ndarray, shares: np.ndarray, marks: np.ndarray
    ) -> None:
        self._append(row=np.full(index.size, t), col=index, shares=shares, close=marks)

    def _joined(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.columns.items()}

    def trade_frame(self, data: MarketData) -> pd.DataFrame:
        if not self.columns:
            return pd.DataFrame(columns=list(TRADE_COLUMNS))
        c = self._joined()
        filled, price = c["filled"], c["exec_price"]
        # What the fill paid beyond the price it was based on: the open, or for an exit at the
        # last close (no open), that close (the signal price, forward-filled).
        base = np.where(np.isfinite(c["open_price"]), c["open_price"], c["signal_price"])
        return pd.DataFrame(
            {
                "date": data.date_index[c["row"]],
                "symbol": data.symbols[c["col"]],
                "side": np.where(c["requested"] > 0, "buy", "sell"),
                "requested": c["requested"],
                "filled": filled,
                "signal_price": c["signal_price"],
                "open_price": c["open_price"],
                "exec_price": price,
                "notional": np.nan_to_num(np.abs(filled) * price),
                "commission": c["commission"],
                "slippage": np.nan_to_num(np.abs(filled * (price - base))),
                "status": c["status"],
            }
        )

    def position_frame(self, data: MarketData) -> pd.DataFrame:
        columns = ["date", "symbol", "shares", "close", "value"]
        if not self.columns:
            return pd.DataFrame(columns=columns)
        c = self._joined()
        return pd.DataFrame(
            {
                "date": data.date_index[c["row"]],
                "symbol": data.symbols[c["col"]],
                "shares": c["shares"],
                "close": c["close"],
                "value": c["shares"] * c["close"],
            }
        )
