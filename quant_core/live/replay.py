"""The replay: history stepped through the worker on the simulated broker, session by session.

At each session's open the simulated broker fills what is waiting (symbols gone by the
backtest's rule at their last close); at its close the broker is marked, the equity recorded, the
stops checked for the next session (their exits sent) and, on a rebalance day of the backtest's
schedule, the next session's orders decided. The market
clock (:class:`ReplayClock`) is stepped with it, so fills and journal rows carry the session's
time while heartbeats and command expiry keep the wall clock.

The simulated broker has no prices of its own: :func:`price_feed` is how the data's closes
reach it, outside a replay too (the live loop and ``--once`` on the simulated broker).

Each close's daily report is journaled at once; at full speed (``speed_s`` 0) its files
(``<live_dir>/reports/``) are written once, when the replay ends or stops.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from quant_core.book_setup import book_start
from quant_core.broker import Broker
from quant_core.errors import ConfigError
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import EquityPoint, WorkerState
from quant_core.portfolio.ledger import exit_prices
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.schedule import rebalance_rows, session_range
from quant_core.research.attach import first_session
from quant_core.strategies.decide import decision_warmup

if TYPE_CHECKING:
    from config.schema import AppConfig
    from quant_core.book.sleeves import Book
    from quant_core.data.panels import MarketData
    from quant_core.live.worker import Worker
    from quant_core.strategies.base import Strategy


class ReplayClock:
    """A simulated market clock that the replay steps from open to close, session by session.

    Fills and journal rows carry its time; heartbeats and command expiry use the wall clock.
    """

    OPEN = dt.time(9, 30)
    CLOSE = dt.time(16, 0)

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self.current = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        self.ready = False  # set once the replay has put it on a session (at)

    def at(self, day: dt.date, moment: dt.time) -> None:
        """Set the clock to ``moment`` of ``day``, exchange time."""
        self.current = dt.datetime.combine(day, moment, tzinfo=self.zone)
        self.ready = True

    def resume(self, moment: dt.datetime) -> None:
        """Set the clock to ``moment`` (aware): where a continued account was last changed.

        A continued replay starts there, so the worker's start sees the executions of that day
        (a replay killed after its open's fills: journalled now, as recovered).
        """
        local = moment.astimezone(self.zone)
        self.at(local.date(), local.time())

    def __call__(self) -> dt.datetime:
        """Return the simulated time."""
        return self.current


def replay_span(
    cfg: AppConfig,
    span: tuple[dt.date, dt.date],
    data: MarketData,
    book: Book | None,
    strategy: Strategy[Any],
) -> tuple[int, int]:
    """Return the replay's first and last rows: the backtest's, moved alike.

    Its first rebalance is the backtest's: after the strategy's warm-up and construction's
    window (a book: the first sleeve able to decide; a stored model: its first day).
    """
    if book is not None:
        warmup, start = book.warmup, book_start(book, *span)
    else:
        warmup = decision_warmup(strategy, PortfolioPolicy.from_config(cfg))
        start = first_session(strategy, *span)
    return session_range(data.dates, warmup, start, span[1])


def price_feed(broker: Broker) -> Callable[[np.ndarray], None] | None:
    """Return what gives ``broker`` each new close of every symbol; None if it has prices (IB).

    The simulated broker is marked at the closes (its ``mark``); IB quotes its own.
    """
    return broker.mark if isinstance(broker, SimBroker) else None


def run(worker: Worker, first: int, last: int) -> None:
    """Step through sessions ``first..last``: open (fills), heartbeats, close (marks)."""
    broker = worker.broker
    if not isinstance(broker, SimBroker):
        raise ConfigError("replay runs on the simulated broker only (live.broker: sim)")
    if worker.books is not None:  # a book: asked at every session (BookPlanner.replay_due)
        decided = np.arange(first, last + 1)
    else:
        decided = rebalance_rows(worker.data.dates, first, last, worker.cfg.strategy.rebalance)
    rows = set(decided.tolist())
    if worker.options.speed_s <= 0:  # at full speed, the reports' files once, at the end
        worker.daily.defer()
    try:
        _sessions(worker, broker, first, last, rows)
    finally:
        worker.daily.flush(worker)
    if not worker.stop_requested:
        _finished(worker, pd.Timestamp(worker.data.dates[last]).date())
    worker.finish()


def _sessions(worker: Worker, broker: SimBroker, first: int, last: int, rows: set[int]) -> None:
    clock = worker.clock if isinstance(worker.clock, ReplayClock) else None
    if clock is not None:
        clock.at(pd.Timestamp(worker.data.dates[first - 1]).date(), ReplayClock.CLOSE)
    _close(worker, broker, first - 1, rows, last, first=True)
    for t in range(first, last + 1):
        if worker.stop_requested:
            break
        worker.session = pd.Timestamp(worker.data.dates[t])
        if clock is not None:
            clock.at(worker.session.date(), ReplayClock.OPEN)
        worker.track_equity(worker.session.date())
        exits = exit_prices(worker.planner.gone(t), worker.planner.closes[t - 1])
        opens = worker.data.panels["open"][t]
        worker.journal.fills(worker.run_id, broker.open_session(opens, exits))
        worker.heartbeat()
        if worker.stop_requested:
            break
        if clock is not None:
            clock.at(worker.session.date(), ReplayClock.CLOSE)
        _close(worker, broker, t, rows, last)
        worker.heartbeat()
        worker.sleep(worker.options.speed_s)


def _finished(worker: Worker, end: dt.date) -> None:
    # The state says the replay finished (worker.replay_finished), not that the worker exited
    # mid-way.
    if worker.finished:
        return
    worker.replay_finished = end
    running = worker.state is WorkerState.RUNNING
    note = "" if running else f"; it ended {worker.state}: {worker.reason}"
    worker.transition(WorkerState.STOPPED, f"replay finished on {end}{note}")


def _close(
    worker: Worker, broker: SimBroker, t: int, rows: set[int], last: int, first: bool = False
) -> None:
    # ``first``: the close before the replay's first session, which a continued replay's first
    # part may have recorded already (its equity row: once).
    broker.mark(worker.data.panels["close"][t])
    if worker.books is not None:  # the sleeves: this session's fills attributed, then marked
        worker.books.settle(t)
    account = worker.broker.account()
    session = pd.Timestamp(worker.data.dates[t]).date()
    worker.track_equity(session, account.net_liquidation)
    worker.daily.record(worker, session)  # the account at this close (live.daily_close)
    worker.equity_points.append(EquityPoint(session, account.net_liquidation))
    if not (first and worker.journal.equity_recorded(worker.clock())):
        worker.journal.equity(worker.run_id, worker.clock(), account.net_liquidation, account.cash)
    upcoming = sorted(r for r in rows if r > t)
    worker.next_rebalance = (
        pd.Timestamp(worker.data.dates[upcoming[0]]).date() if upcoming else None
    )
    if worker.books is not None and worker.next_rebalance is not None:  # the sleeves' next
        worker.next_rebalance = worker.books.next_due(worker.next_rebalance)
    if t + 1 <= last:  # every session's stops, from this close, before its rebalance
        worker.stops(t + 1)
    if t + 1 in rows and (worker.books is None or worker.books.replay_due(t + 1)):
        worker.rebalance(t + 1)
