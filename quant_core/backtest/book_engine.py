"""The dual-price engine for a book: several sleeves, one account, one order per symbol.

A :class:`BookReplay` is the engine's :class:`~quant_core.backtest.engine.Replay` with its
decision and its trade replaced; the date loops (:func:`run_book`, and
:mod:`quant_core.backtest.daily` with stops and account limits) are the plain run's. On each
session T where at least one sleeve rebalances (row t, the union of the sleeves' schedules):

1. the allocation, when one of its sessions (``book.allocation.rebalance``) has come since the
   last: each sleeve's capital from the sleeves' returns through T-1
   (:mod:`quant_core.book.capital`), cash moved between the sleeves' sub-accounts
   (:meth:`~quant_core.book.sleeves.SubAccounts.allocate`);
2. each sleeve due at T decides on its own sub-account, universe and policy
   (:func:`~quant_core.strategies.decide.target_orders`, data through T-1): its requests are its
   target shares less its shares;
3. the requests are netted into one order per symbol
   (:func:`~quant_core.book.netting.net_orders`), capped at ``risk.max_position_weight`` of the
   account, and executed at the open of T over the whole account (sells first, the cash buffer,
   the shortfall rule), exactly as a plain run's orders;
4. each fill is attributed back to the sleeves (:func:`~quant_core.book.netting.attribute`): the
   sleeves' shares and cash add up to the account's. A stop or a breach's order (a plain run's
   rule, over the account) is attributed to the sleeves holding the name, by their shares.

A book of one sleeve with a fixed weight of 1 gives exactly the plain run's trades and curve
(the golden test): its sub-account is the account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.backtest.engine import EngineResult, EngineSettings, Replay, drive
from quant_core.backtest.records import Records
from quant_core.book.capital import sleeve_returns
from quant_core.book.desk import BookDesk
from quant_core.book.sleeves import Book
from quant_core.data.panels import MarketData
from quant_core.errors import ConfigError, DataError
from quant_core.portfolio.ledger import Fills, exit_prices, fill_prices, row_sums
from quant_core.portfolio.schedule import rebalance_rows, session_range
from quant_core.portfolio.weight_cap import PositionCap
from quant_core.scanners.stats import universe_stats
from quant_core.strategies.decide import Decision
from quant_core.types import ProgressFn

SLEEVE_TRADE_COLUMNS = ("sleeve", "date", "symbol", "shares", "price", "commission", "cash")
ALLOCATION_COLUMNS = ("date", "sleeve", "allocated", "weight", "capital", "fallback")


@dataclass(frozen=True, slots=True)
class BookResult:
    """The account's result, and the book's: sleeves' curves, trades, allocations, universes."""

    account: EngineResult
    sleeves: pd.DataFrame  # date index, one column per sleeve: its equity at each close
    reserve: pd.Series  # date index: the cash no sleeve holds
    sleeve_trades: pd.DataFrame  # SLEEVE_TRADE_COLUMNS: each sleeve's part of each fill
    allocations: pd.DataFrame  # ALLOCATION_COLUMNS: one row per sleeve and allocation
    universes: dict[str, pd.DataFrame]  # sleeve -> date index: size, turnover (scanner sleeves)


def run_book(
    data: MarketData,
    book: Book,
    settings: EngineSettings,
    start: dt.date | None = None,
    end: dt.date | None = None,
    progress: ProgressFn | None = None,
) -> BookResult:
    """Replay ``data`` through ``book`` under the dual-price rule (module docstring)."""
    first, last = session_range(data.dates, book.warmup, start, end)
    run = BookReplay(data, book, settings, first, last, start, end)
    rows = run.rows
    drive(run, rows, progress)
    return run.book_result(rows)


class BookReplay(Replay):
    """A book's desk and records over the plain run's panels, ledger and loops."""

    def __init__(
        self,
        data: MarketData,
        book: Book,
        settings: EngineSettings,
        first: int,
        last: int,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> None:
        super().__init__(data, book.sleeves[0].strategy, settings, first, last)
        self.book = book
        self.desk = BookDesk(book, data.symbols, settings.initial_cash)
        self.accounts, self.guard = self.desk.accounts, self.desk.guard
        self.due: list[set[int]] = []
        self.universe: list[dict[int, np.ndarray]] = []
        self.starts = np.empty(len(book.sleeves), dtype=int)  # each sleeve's first session
        for k, sleeve in enumerate(book.sleeves):
            try:
                own_first = max(first, session_range(data.dates, sleeve.warmup, start, end)[0])
            except DataError as exc:
                raise DataError(f"sleeve {sleeve.name} can never trade: {exc}") from exc
            self.starts[k] = own_first
            rows = rebalance_rows(data.dates, own_first, last, sleeve.rebalance)
            self.due.append(set(rows.tolist()))
        self.rows = np.array(sorted(set().union(*self.due)), dtype=int)
        for k in range(len(book.sleeves)):  # an allocation can make it rebalance on any row
            self.universe.append(self._scan(data, k, self.rows[self.rows >= self.starts[k]]))
        self.allocation_rows = rebalance_rows(data.dates, first, last, book.allocation.rebalance)
        self.allocated_through = first - 1  # the last allocation session applied
        k = len(book.sleeves)
        self.sleeve_equity = np.zeros((last - first + 2, k))
        self.flows = np.zeros((last - first + 2, k))
        self.reserve = np.zeros(last - first + 2)
        self.reserve[0] = settings.initial_cash
        self.requests: dict[int, np.ndarray] = {}
        self.exit_reasons: dict[int, np.ndarray] = {}
        self.sleeve_fills = Records()  # each sleeve's part of each fill (or of its commission)
        self.allocation_log: list[tuple[int, int, float, float, float, str | None]] = []

    @property
    def every_session(self) -> bool:
        """Return whether every close is checked: the account's limits or a sleeve's."""
        return self.settings.every_session or self.guard.active

    def session_orders(self, t: int, rebalance: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Return row ``t``'s net orders: the sleeves' rebalances and their own exits."""
        exits, reasons = self.guard.exits(self.accounts.positions)
        self.exit_reasons[t] = reasons
        if rebalance:
            return self.decide(t, exits)
        self.requests[t] = exits
        return self._net(t, exits), None

    def after_close(self, t: int) -> None:
        """Check each sleeve's own stops and drawdown at the close of row ``t``."""
        if not self.guard.active:
            return
        row = t - self.first + 1
        events = self.guard.close(
            t, self.close[t], self.accounts.positions, self.sleeve_equity[row], self.flows[row]
        )
        for event in events:
            name = self.book.sleeves[event.sleeve].name
            self.log.add(t + 1, event.kind, event.name, f"sleeve {name}: {event.detail}")

    def decide(self, t: int, exits: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return the book's net orders at row ``t`` and the gone symbols (module docstring).

        ``exits``: the sleeves' own stops and flats due at this open (``K x n``); each replaces
        that sleeve's rebalance request in that name.
        """
        settings, marks = self.settings, self.close[t - 1]
        gone = self.gone(t)
        due = [t in rows for rows in self.due]
        if ((self.allocation_rows > self.allocated_through) & (self.allocation_rows <= t)).any():
            moved = self.allocate(t, marks)
            due = [d or bool(m) for d, m in zip(due, moved, strict=True)]
        requests, decisions = self.desk.requests(
            self.data,
            t,
            due,
            marks,
            cash_buffer=settings.cash_buffer,
            fractional=settings.fractional,
            gone=gone,
            universes=[masks.get(t) for masks in self.universe],  # no scanner: None, every symbol
            exits=exits,
        )
        for k, decision in decisions:
            self._log_decision(t, self.book.sleeves[k].name, decision)
        self.requests[t] = requests
        return self._net(t, requests), gone

    def _net(self, t: int, requests: np.ndarray) -> np.ndarray:
        # One order per symbol, capped at risk.max_position_weight of the account.
        settings = self.settings
        orders = self.desk.net(requests, self.ledger.positions)
        if settings.max_position_weight is None:
            return orders
        cap = PositionCap(settings.max_position_weight, settings.fractional, self.data.symbols)
        trimmed_orders, trimmed = cap.trim(orders, self.ledger, self.opens[t], self.close[t - 1])
        if trimmed is not None:
            self.log.add(t, "constraint", trimmed.constraint, trimmed.detail)
        return trimmed_orders

    def allocate(self, t: int, marks: np.ndarray) -> np.ndarray:
        """Give each sleeve its capital at row ``t`` from the sleeves' returns through T-1.

        Return the sleeves whose capital moved: they rebalance at ``t`` (``BookDesk.allocate``).
        """
        upto = t - self.first + 1  # curve rows 0 .. upto - 1: the closes through T-1
        returns = sleeve_returns(self.sleeve_equity[:upto], self.flows[:upto])
        done = self.desk.allocate(returns, marks, self.starts <= t)
        self.flows[upto] += done.flows
        self.allocated_through = t
        step = done.step
        for k in range(len(self.book.sleeves)):
            allocated, weight = float(step.allocated[k]), float(step.weights[k])
            capital = float(done.capital[k])
            self.allocation_log.append((t, k, allocated, weight, capital, step.fallback))
        return self.desk.moved(done)

    def _scan(self, data: MarketData, k: int, rows: np.ndarray) -> dict[int, np.ndarray]:
        # The sleeve's universes at ``rows``: the book's rebalance sessions from its first on
        # (an allocation can make it rebalance off its own schedule).
        scanner = self.book.sleeves[k].scanner
        if scanner is None:
            return {}
        try:
            masks = scanner.scan(data, rows)
        except ConfigError as exc:
            raise ConfigError(f"sleeve {self.book.sleeves[k].name}: {exc}") from exc
        return dict(zip(rows.tolist(), masks, strict=True))

    def trade(
        self, t: int, orders: np.ndarray, gone: np.ndarray, reasons: np.ndarray | None = None
    ) -> Fills:
        """Execute the account's orders at the open of row ``t``; attribute the fills."""
        requests = self.requests.pop(t, None)
        if requests is None:
            requests = np.zeros_like(self.accounts.positions)
        exits = exit_prices(gone, self.close[t - 1])
        raw = fill_prices(self.opens[t], exits, orders, self.ledger.positions)
        # Sleeves' requests that cancel out cross at the open, or a gone name's last close.
        raw = np.where(orders == 0, np.where(np.isfinite(self.opens[t]), self.opens[t], exits), raw)
        before = self.ledger.cash
        own = self.exit_reasons.pop(t, None)  # the sleeves' own stops and flats
        shown = (
            reasons
            if own is None
            else own
            if reasons is None
            else np.where(reasons != "", reasons, own)
        )
        fills = super().trade(t, orders, gone, shown)
        n = len(orders)
        filled, commission = np.zeros(n), np.zeros(n)
        filled[fills.index], commission[fills.index] = fills.filled, fills.commission
        prices = np.where(np.isfinite(raw) & (raw > 0), raw, np.nan)
        done = fills.filled != 0
        prices[fills.index[done]] = fills.price[done]
        account_orders = np.zeros(n, dtype=bool) if reasons is None else reasons != ""
        share = self.desk.settle(
            t,
            requests,
            orders,
            account_orders,
            filled,
            prices,
            commission,
            self.ledger.cash - before,
            fractional=self.settings.fractional,
        )
        # A sleeve may bear part of a commission and get no share (whole shares, truncated).
        k, j = np.nonzero((share.shares != 0) | (share.commissions != 0))
        shares, charged = share.shares[k, j], share.commissions[k, j]
        self.sleeve_fills.append(
            sleeve=k,
            row=np.full(k.size, t),
            col=j,
            shares=shares,
            price=prices[j],
            commission=charged,
            cash=-np.where(shares != 0, shares * prices[j], 0.0) - charged,
        )
        return fills

    def revalue(self, start: int, stop: int) -> None:
        """Mark the account and every sleeve at the closes of rows ``start .. stop - 1``."""
        super().revalue(start, stop)
        span = slice(start - self.first + 1, stop - self.first + 1)
        stretch = self.marks[start:stop]
        self.sleeve_equity[span] = self.accounts.cash + row_sums(stretch, self.accounts.positions.T)
        self.reserve[span] = self.accounts.reserve

    def _log_decision(self, t: int, sleeve: str, decision: Decision) -> None:
        if len(self.book.sleeves) == 1:
            self.log.rebalance(t, decision, self.data)
            return
        before = len(self.log.rows)
        self.log.rebalance(t, decision, self.data)
        for i in range(before, len(self.log.rows)):
            row, kind, name, detail = self.log.rows[i]
            self.log.rows[i] = (row, kind, name, f"sleeve {sleeve}: {detail}")

    def book_result(self, rows: np.ndarray) -> BookResult:
        """Return the account's result and the book's frames."""
        account = self.result(rows)
        index = account.curve.index
        names = self.book.names
        sleeves = pd.DataFrame(self.sleeve_equity, index=index, columns=names)
        data = self.data
        trades = self._sleeve_trades()
        log = self.allocation_log
        allocations = pd.DataFrame(
            {
                "date": data.date_index[[a[0] for a in log]],
                "sleeve": [names[a[1]] for a in log],
                "allocated": [a[2] for a in log],
                "weight": [a[3] for a in log],
                "capital": [a[4] for a in log],
                "fallback": [a[5] for a in log],
            },
            columns=list(ALLOCATION_COLUMNS),
        )
        universes = {}
        for k, sleeve in enumerate(self.book.sleeves):
            if sleeve.scanner is not None and self.universe[k]:
                own = {t: m for t, m in self.universe[k].items() if t in self.due[k]}
                universes[sleeve.name] = _universe_stats(data, own)
        reserve = pd.Series(self.reserve, index=index, name="reserve")
        return BookResult(account, sleeves, reserve, trades, allocations, universes)

    def _sleeve_trades(self) -> pd.DataFrame:
        # SLEEVE_TRADE_COLUMNS from the batches recorded.
        if not self.sleeve_fills.columns:
            return pd.DataFrame(columns=list(SLEEVE_TRADE_COLUMNS))
        c = {name: np.concatenate(v) for name, v in self.sleeve_fills.columns.items()}
        names = np.array(self.book.names, dtype=object)
        return pd.DataFrame(
            {
                "sleeve": names[c["sleeve"]],
                "date": self.data.date_index[c["row"]],
                "symbol": self.data.symbols[c["col"]],
                "shares": c["shares"],
                "price": c["price"],
                "commission": c["commission"],
                "cash": c["cash"],
            },
            columns=list(SLEEVE_TRADE_COLUMNS),
        )


def _universe_stats(data: MarketData, masks: dict[int, np.ndarray]) -> pd.DataFrame:
    rows = sorted(masks)
    dates = pd.DatetimeIndex(data.date_index[rows], name="date")
    return universe_stats(dates, np.array([masks[r] for r in rows]))
