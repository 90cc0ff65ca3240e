"""The dual-price backtest engine: the date loop, and nothing else.

On each rebalance session T (row t):

1. equity(T-1) = cash + positions x close(T-1) (a symbol without a T-1 bar keeps its last close);
2. the strategy sees a :class:`DataView` ending at T-1 and returns target weights, re-weighted
   by the construction method from the closes through T-1 (the first rebalance has the
   strategy's warm-up and the method's returns window before it);
3. target shares = weight x equity(T-1) x (1 - cash_buffer) / close(T-1), whole shares
   (toward zero) unless fractional (:mod:`quant_core.portfolio.sizing`);
4. the orders (target - held) that add to a position are trimmed so that none ends above
   ``risk.max_position_weight`` of the equity at the opens of T, as the worker trims its orders
   at the current quotes before its pre-trade guard (:mod:`quant_core.portfolio.weight_cap`);
5. the orders execute at the open of T through the pure kernel
   (:func:`quant_core.portfolio.ledger.execute`): sells, then buys against cash, truncated by
   the shortfall rule; no open price leaves an order unfilled;
6. positions are marked at every close until the next rebalance.

Without stops or account limits nothing trades between rebalances, so the equity of a whole
stretch is one matrix product. With them (``risk.stop_loss``, ``take_profit``,
``trailing_stop``, ``max_daily_loss_frac``, ``max_drawdown_frac``) every session is checked at
its close and acts at the next open (:mod:`quant_core.backtest.daily`).

Every rebalance's names left out by construction and binding constraints, and every stop and
halt, are in :attr:`EngineResult.decisions` (:mod:`quant_core.backtest.records`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from quant_core.backtest import daily
from quant_core.backtest.compiled_run import run_compiled
from quant_core.backtest.frames import Frames, TradeTotals
from quant_core.backtest.records import TRADE_COLUMNS as TRADE_COLUMNS
from quant_core.backtest.records import DecisionLog, Records
from quant_core.data.panels import MarketData, gone_at
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.halts import HaltRules
from quant_core.portfolio.ledger import (
    Fills,
    Ledger,
    execute,
    exit_prices,
    fill_prices,
    row_sums,
)
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.schedule import Rule, rebalance_rows, session_range
from quant_core.portfolio.stops import StopRules
from quant_core.portfolio.weight_cap import PositionCap
from quant_core.strategies.base import Strategy
from quant_core.strategies.decide import decision_warmup, target_orders
from quant_core.types import ProgressFn


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How weights become trades: the shared ``portfolio``, ``costs`` and ``risk`` config.

    ``stops`` and ``halts`` (the ``risk`` section's stops and account limits; none by default)
    make the engine check every session (module docstring). ``max_position_weight`` (the
    ``risk`` section's; None by default) trims the orders at the opens (module docstring).
    """

    initial_cash: float
    cash_buffer: float = 0.02
    fractional: bool = False
    shortfall: Literal["pro_rata", "sequential"] = "pro_rata"
    costs: CostModel = field(default_factory=CostModel)
    rebalance: Rule = 21
    exit_after_missing: int = 5
    policy: PortfolioPolicy = field(default_factory=PortfolioPolicy)
    stops: StopRules = field(default_factory=StopRules)
    halts: HaltRules = field(default_factory=HaltRules)
    max_position_weight: float | None = None

    def __post_init__(self) -> None:
        # The config refuses these; settings built in code are held to the same.
        if isinstance(self.rebalance, int) and self.rebalance < 1:
            raise ValueError(f"rebalance must be at least 1 session, not {self.rebalance}")
        if self.exit_after_missing < 1:
            raise ValueError(
                f"exit_after_missing must be at least 1 session, not {self.exit_after_missing}"
            )

    @property
    def every_session(self) -> bool:
        """Return whether a stop or an account limit is set: every close is checked."""
        return self.stops.active or self.halts.active


@dataclass(frozen=True, slots=True)
class EngineResult:
    """Daily equity from the session before the first rebalance, trades, positions, decisions.

    The trades and positions frames are built when first read (:class:`Frames`); the metrics
    read the trades' :attr:`totals` only.
    """

    curve: pd.DataFrame  # date index: equity, cash, long_value, short_value
    frames: Frames  # trades and positions
    rebalances: pd.DatetimeIndex
    decisions: pd.DataFrame  # records.DECISION_COLUMNS: date, kind, name, detail

    @property
    def trades(self) -> pd.DataFrame:
        """Return the trades: TRADE_COLUMNS; status also stop_loss, ..., halt_flat."""
        return self.frames.trades()

    @property
    def positions(self) -> pd.DataFrame:
        """Return date, symbol, shares, close, value (after each session that traded)."""
        return self.frames.positions()

    @property
    def totals(self) -> TradeTotals:
        """Return what the metrics read of the trades."""
        return self.frames.totals()


def run_engine(
    data: MarketData,
    strategy: Strategy[Any],
    settings: EngineSettings,
    start: dt.date | None = None,
    end: dt.date | None = None,
    progress: ProgressFn | None = None,
    compiled: bool = True,
) -> EngineResult:
    """Replay ``data`` through ``strategy`` under the dual-price rule (module docstring).

    ``compiled``: through the compiled loop when the run allows it
    (:mod:`quant_core.backtest.compiled_run`; the same result to the last bit), else this
    module's loop.
    """
    warmup = decision_warmup(strategy, settings.policy)
    first, last = session_range(data.dates, warmup, start, end)
    rows = rebalance_rows(data.dates, first, last, settings.rebalance)
    done = run_compiled(data, strategy, settings, first, last, rows) if compiled else None
    if done is not None:
        if progress is not None:
            progress("backtest", len(rows), len(rows))
        return done
    run = Replay(data, strategy, settings, first, last)
    drive(run, rows, progress)
    return run.result(rows)


def drive(run: Replay, rows: np.ndarray, progress: ProgressFn | None = None) -> None:
    """Trade ``run`` through its rebalance ``rows``.

    Session by session with stops or limits (:mod:`quant_core.backtest.daily`), else one
    stretch per rebalance.
    """
    if run.every_session:
        daily.run(run, rows, progress)
        return
    bounds = np.r_[rows, run.last + 1]
    for i, t in enumerate(rows):
        orders, gone = run.decide(t)
        run.trade(t, orders, gone)
        run.revalue(t, int(bounds[i + 1]))
        if progress is not None:
            progress("backtest", i + 1, len(rows))


def _side_value(marks: np.ndarray, side: np.ndarray) -> np.ndarray | float:
    """Return one side's value at each close of ``marks``: 0.0 with no position on it.

    A side with no position is not summed (a long-only run would sum a product of zeros).
    """
    return row_sums(marks, side) if side.any() else 0.0


class Replay:
    """One run's market panels, ledger and records, and the steps both loops take.

    The loop without stops (:func:`run_engine`) and the one with them
    (:func:`quant_core.backtest.daily.run`) decide, trade and mark through these methods.
    """

    def __init__(
        self,
        data: MarketData,
        strategy: Strategy[Any],
        settings: EngineSettings,
        first: int,
        last: int,
    ) -> None:
        self.data, self.strategy, self.settings = data, strategy, settings
        self.first, self.last = first, last
        self.close = data.filled_close()
        self.first_bar = data.first_bar()
        self.marks = data.marks()
        self.opens = data.panels["open"]
        n_rows = last - first + 2
        self.equity, self.cash = np.empty(n_rows), np.empty(n_rows)
        self.long_value, self.short_value = np.zeros(n_rows), np.zeros(n_rows)
        self.ledger = Ledger(settings.initial_cash, np.zeros(len(data.symbols)))
        self.equity[0] = self.cash[0] = settings.initial_cash
        self.trades, self.held, self.log = Records(), Records(), DecisionLog()

    @property
    def every_session(self) -> bool:
        """Return whether every close is checked (stops or account limits set)."""
        return self.settings.every_session

    def gone(self, t: int) -> np.ndarray:
        """Return the symbols gone at row ``t`` (``gone_at``: no bar for the configured span)."""
        return gone_at(self.data, t, self.settings.exit_after_missing, self.first_bar)

    def decide(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the rebalance orders of row ``t`` and the gone symbols; record the decision."""
        settings = self.settings
        gone = self.gone(t)
        decision = target_orders(
            self.strategy,
            self.data,
            t,
            self.ledger,
            self.close[t - 1],
            settings.cash_buffer,
            settings.fractional,
            ended=gone,
            policy=settings.policy,
        )
        self.log.rebalance(t, decision, self.data)
        if settings.max_position_weight is None:
            return decision.orders, gone
        cap = PositionCap(settings.max_position_weight, settings.fractional, self.data.symbols)
        orders, trimmed = cap.trim(decision.orders, self.ledger, self.opens[t], self.close[t - 1])
        if trimmed is not None:
            self.log.add(t, "constraint", trimmed.constraint, trimmed.detail)
        return orders, gone

    def session_orders(self, t: int, rebalance: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the orders of row ``t`` before stops: the rebalance's, or none (daily loop)."""
        if rebalance:
            return self.decide(t)
        return np.zeros(len(self.data.symbols)), None

    def after_close(self, t: int) -> None:
        """Check what a subclass checks at the close of row ``t`` (a book: its sleeves)."""

    def trade(
        self, t: int, orders: np.ndarray, gone: np.ndarray, reasons: np.ndarray | None = None
    ) -> Fills:
        """Execute ``orders`` at the open of row ``t``; record the trades and the positions.

        A gone symbol's sale fills at its last close when it has no open (``fill_prices``).
        ``reasons``: a trade status per symbol position for the orders a stop or a breach made.
        """
        settings, opens = self.settings, self.opens[t]
        exits = exit_prices(gone, self.close[t - 1])
        prices = fill_prices(opens, exits, orders, self.ledger.positions)
        self.ledger, fills = execute(
            self.ledger, orders, prices, settings.costs, settings.shortfall, settings.fractional
        )
        at_last_close = np.isfinite(exits) & ~np.isfinite(opens)
        self.trades.add(t, fills, self.close[t - 1], opens, at_last_close, reasons)
        holding = np.flatnonzero(self.ledger.positions)
        positions = self.ledger.positions[holding]
        self.held.add_positions(t, holding, positions, self.marks[t, holding])
        return fills

    def revalue(self, start: int, stop: int) -> None:
        """Mark the positions held now at the closes of rows ``start .. stop - 1``."""
        span = slice(start - self.first + 1, stop - self.first + 1)
        stretch = self.marks[start:stop]
        positions = self.ledger.positions
        self.long_value[span] = _side_value(stretch, np.maximum(positions, 0.0))
        self.short_value[span] = _side_value(stretch, np.minimum(positions, 0.0))
        self.cash[span] = self.ledger.cash
        self.equity[span] = self.ledger.cash + self.long_value[span] + self.short_value[span]

    def equity_at(self, t: int) -> float:
        """Return the equity marked at the close of row ``t``."""
        return float(self.equity[t - self.first + 1])

    def result(self, rows: np.ndarray) -> EngineResult:
        """Return the run's curve, trades, positions, rebalances and decisions."""
        data = self.data
        index = pd.DatetimeIndex(data.dates[self.first - 1 : self.last + 1], name="date")
        curve = pd.DataFrame(
            {
                "equity": self.equity,
                "cash": self.cash,
                "long_value": self.long_value,
                "short_value": self.short_value,
            },
            index=index,
        )
        return EngineResult(
            curve=curve,
            frames=Frames(data, self.trades, self.held),
            rebalances=pd.DatetimeIndex(data.dates[rows], name="date"),
            decisions=self.log.frame(data),
        )
