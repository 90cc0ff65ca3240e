"""The risk report of the book the worker holds, recomputed only when that book changes.

A report costs a covariance estimate, so it is not made at every heartbeat: :class:`BookRiskWatch`
recomputes it when the positions (symbols and quantities) differ from the last ones it saw, or
the bars were reloaded: at start (the first state written), after a rebalance's fills, and on
new bars. The report (:mod:`quant_core.portfolio.risk_report`, which pins every definition) reads
the book as ``market value / net liquidation`` per position (``quantity x`` the last close when
the broker has no price yet) and the closes of every session completed by the market clock, so a
replay never reads a close it has not reached. A held symbol the data do not have is left out
and named. A failure never stops the worker: it is listed in the state's errors, the state keeps
no report, and the worker goes on.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from quant_core.broker import Position
from quant_core.calendar import TradingCalendar
from quant_core.data.panels import MarketData, forward_fill
from quant_core.live.state_risk import (
    TOP_NAMES,
    BookRisk,
    RiskNameRow,
    RiskSectorRow,
    StressSessionRow,
)
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.risk_report import RiskSettings, risk_report


def completed_rows(data: MarketData, calendar: TradingCalendar, now: dt.datetime) -> int:
    """Return how many rows of ``data`` are sessions whose close is at or before ``now``."""
    last = calendar.last_completed_session(now)
    if last is None:
        return 0
    return int(np.searchsorted(data.dates, np.datetime64(last, "D"), side="right"))


def book_risk(
    positions: Sequence[Position],
    nav: float,
    data: MarketData,
    t: int,
    settings: RiskSettings,
    computed_at: dt.datetime,
) -> BookRisk:
    """Return the state's risk report of ``positions`` on ``data``'s closes before row ``t``.

    Raises
    ------
    ValueError
        ``nav`` is not a positive number while something is held.
    """
    held = [p for p in positions if p.quantity != 0]
    if held and not (math.isfinite(nav) and nav > 0):
        raise ValueError(f"the book's weights need a positive net liquidation, not {nav}")
    index = data.symbol_index.get_indexer(pd.Index([p.symbol for p in held], dtype=object))
    last_close = forward_fill(data.panels["close"][:t])[-1] if t > 0 else None
    weights = np.zeros(len(data.symbols))
    for position, i in zip(held, index, strict=True):
        if i < 0:
            continue  # not in the data: named in left_out below
        value = position.market_value
        if not math.isfinite(value) and last_close is not None:
            value = position.quantity * float(last_close[i])
        weights[i] += value / nav if math.isfinite(value) else 0.0
    report = risk_report(weights, data, t, settings)
    unknown = tuple(sorted(p.symbol for p, i in zip(held, index, strict=True) if i < 0))
    left_out = report.left_out + unknown
    return BookRisk(
        computed_at=computed_at,
        data_through=pd.Timestamp(data.dates[t - 1]).date() if t > 0 else None,
        net_liquidation=nav,
        ex_ante_vol=report.ex_ante_vol,
        var=report.var,
        es=report.es,
        var_sessions=report.var_sessions,
        names_held=len(report.names) + len(left_out),
        names=tuple(
            RiskNameRow(n.symbol, n.sector, n.weight, n.contribution)
            for n in report.names[:TOP_NAMES]
        ),
        sectors=tuple(
            RiskSectorRow(s.sector, s.long, s.short, s.gross, s.net, s.contribution)
            for s in report.sectors
        ),
        stress=tuple(
            StressSessionRow(dt.date.fromisoformat(s.session), s.universe_return, s.book_return)
            for s in report.stress
        ),
        left_out=left_out,
    )


class BookRiskWatch:
    """Keep the risk report of the worker's book, recomputed when the book changes.

    ``report`` records an error line in the state (the worker's ``report_error``).
    """

    def __init__(
        self,
        policy: PortfolioPolicy,
        calendar: TradingCalendar,
        report: Callable[[str], None],
    ) -> None:
        self.settings = RiskSettings.from_policy(policy)
        self.calendar, self.report = calendar, report
        self.current: BookRisk | None = None
        self.key: tuple[Any, ...] | None = None

    def update(
        self,
        positions: Sequence[Position],
        nav: float,
        data: MarketData,
        market_now: dt.datetime,
        wall_now: dt.datetime,
    ) -> None:
        """Recompute the report if the book or the bars changed since the last call."""
        book = tuple(sorted((p.symbol, float(p.quantity)) for p in positions if p.quantity))
        key = (book, len(data.dates), data.dates[-1] if len(data.dates) else None)
        if key == self.key:
            return
        self.key = key
        try:
            t = completed_rows(data, self.calendar, market_now)
            self.current = book_risk(positions, nav, data, t, self.settings, wall_now)
        # A report is a reading of the book, never a reason to stop trading or reporting: any
        # failure is said in the state's errors and the worker goes on (the loop's own rule).
        except Exception as exc:
            self.current = None
            self.report(f"risk report of the book not computed: {type(exc).__name__}: {exc}")
