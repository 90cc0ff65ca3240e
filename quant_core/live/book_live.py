"""A book in the live worker: the sleeves' sub-accounts, decided and settled as the backtest does.

``run_live_strategy.py --book config/books/<name>.yaml`` runs a book (:mod:`quant_core.book`):
several sleeves in one account. :class:`LiveBook` takes the backtest's steps
(:class:`~quant_core.book.desk.BookDesk`, the same calls as
:mod:`quant_core.backtest.book_engine`) one session at a time, and keeps what they change in the
journal (:mod:`quant_core.live.journal_book`), so a restarted worker restores every sleeve:

- :meth:`LiveBook.decide` at session T (data through T-1): the sleeves due by their own
  schedules (:mod:`quant_core.live.book_schedule`), the allocation when its schedule is due,
  the sleeves' own exits (stops, a flat after a drawdown halt), their requests netted into one
  order per symbol; :meth:`LiveBook.commit` journals the requests before the orders are sent;
- :meth:`LiveBook.catch_up` at each close whose bar the data holds: the session's executions
  (from the journal, each attributed once: ``book_execs``) attributed back to the sleeves in
  proportion to their requests, the requests that crossed between sleeves filled at the open,
  then each sleeve marked at the close and its own limits checked
  (:class:`~quant_core.book.sleeve_risk.SleeveGuard`). An execution the book did not ask for
  (FLAT, an account stop) goes to the sleeves holding the name, by their shares. Executions
  reported after their session was settled (late) are attributed when they come, on what the
  sleeves asked for and did not get yet.

A sleeve halts on its own drawdown limit or by a HALT command (:meth:`LiveBook.halt`): it stops
deciding and holds its positions (``on_breach: flat`` closes them); RESUME (:meth:`resume`)
lets it trade again, its drawdown measured from then on. The book starts on cash: the account's
cash at its first start is the reserve the first allocation hands out; positions the account held
before are no sleeve's (the reconciliation at start reports them).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from quant_core.book.build import ScheduledScanner
from quant_core.book.capital import sleeve_returns
from quant_core.book.desk import BookDesk
from quant_core.book.sleeves import Book
from quant_core.data.panels import MarketData
from quant_core.errors import ConfigError
from quant_core.live import book_schedule
from quant_core.live.book_memory import BookDecision, BookMemory, Pending
from quant_core.live.book_settlement import BookSettlement
from quant_core.live.book_status import BookStatus
from quant_core.live.book_view import book_status
from quant_core.live.journal_book import AllocationRow, RequestRow

logger = logging.getLogger(__name__)


class LiveBook(BookSettlement):
    """A book's sleeves in the worker (module docstring).

    ``data``: the bars decided from; ``calendar_sessions``: the exchange's sessions (the
    decision for the session after the data's last close needs it); ``start``: a replay's first
    day (each sleeve starts at its warm-up after it, as in the backtest); ``gone``: the symbols
    treated as gone at a row (the planner's rule, ``data.panels.gone_at``); ``closes``: the data's
    closes forward-filled (the planner's).
    """

    def __init__(
        self,
        book: Book,
        data: MarketData,
        calendar_sessions: np.ndarray,
        *,
        initial_cash: float,
        cash_buffer: float,
        fractional: bool,
        gone: Callable[[int], np.ndarray],
        closes: Callable[[], np.ndarray],
        start: dt.date | None = None,
    ) -> None:
        self.book, self.names = book, book.names
        self.cash_buffer, self.fractional, self.gone = cash_buffer, fractional, gone
        self.closes = closes  # the data's closes forward-filled (the planner's, filled once)
        self.calendar_sessions = calendar_sessions
        self.desk = BookDesk(book, data.symbols, initial_cash)
        self.memory = BookMemory.start(len(book.sleeves))
        self.changed: Callable[[], None] = lambda: None  # saves the state (the planner's)
        lo = 0 if start is None else int(np.searchsorted(data.dates, np.datetime64(start, "D")))
        self.starts = np.array([max(lo, s.warmup, 1) for s in book.sleeves])
        self.reload(data)

    def reload(self, data: MarketData) -> None:
        """Decide and mark from ``data`` from now on (newly synced bars; the same symbols)."""
        self.data = data
        self.sessions = book_schedule.session_rows(data.dates, self.calendar_sessions)

    # ----------------------------------------------------------------------------- schedule

    def row(self, session: dt.date) -> int:
        """Return the row of ``session`` (a data row, or past the data's last)."""
        return book_schedule.row_of(self.sessions, session)

    def sleeve_due(self, k: int, t: int) -> bool:
        """Return whether sleeve ``k`` rebalances by its own schedule at row ``t``."""
        m = self.memory
        if t < self.starts[k]:
            return False
        rule = self.book.sleeves[k].rebalance
        return book_schedule.due(self.sessions, m.anchors[k], m.last[k], t, rule)

    def needs(self, t: int) -> bool:
        """Return whether the book decides at row ``t``.

        A sleeve is due, its limits act, or the book's decision for that session was saved
        and its orders not sent (:meth:`replan`).
        """
        session = pd.Timestamp(self.sessions[t]).date()
        if self.unsent(session):
            return True
        return self.desk.guard.active or any(self.sleeve_due(k, t) for k in range(len(self.names)))

    def unsent(self, session: dt.date) -> bool:
        """Return whether the book decided ``session`` and nothing of it is settled yet."""
        pending = self.memory.pending.get(session)
        return self.memory.decided == session and pending is not None and not pending.settled

    def replan(self, session: dt.date, positions: np.ndarray) -> BookDecision | None:
        """Return the decision already made for ``session``, netted again; None if none.

        A worker stopped between saving a decision and sending its orders (or asked again the
        same session) sends that decision, not a new one: the allocation and the sleeves' exits
        it took are not taken twice.
        """
        if not self.unsent(session):
            return None
        requests = self.memory.pending[session].requests.copy()
        return BookDecision(session, self.desk.net(requests, positions), requests, [])

    def next_due(self, today: dt.date, horizon: int = 70) -> dt.date | None:
        """Return the first session on or after ``today`` a sleeve rebalances on."""
        first = int(np.searchsorted(self.sessions, np.datetime64(today, "D")))
        for t in range(first, min(first + horizon, len(self.sessions))):
            if any(self.sleeve_due(k, t) for k in range(len(self.names))):
                return pd.Timestamp(self.sessions[t]).date()
        return None

    # ----------------------------------------------------------------------------- decide

    def decide(
        self,
        t: int,
        marks: np.ndarray,
        positions: np.ndarray,
        gone: np.ndarray,
        *,
        force: bool = False,
        halted: bool = False,
    ) -> BookDecision:
        """Return the book's orders for the session at row ``t`` (data through t-1).

        ``marks`` the closes of T-1 (forward-filled); ``positions`` the account's shares;
        ``gone`` the symbols treated as gone at ``t``; ``force``: every sleeve past its warm-up
        decides (a forced rebalance); ``halted``: the account is halted (a risk limit): the
        sleeves' own stops and flats only, no sleeve's decision and no allocation, as the
        backtest's halted book (its schedules run on). Mutates the sleeves' schedules, the
        allocation and the limits' pending exits: :meth:`commit` saves them with the requests.
        """
        m, desk, k_all = self.memory, self.desk, range(len(self.names))
        session = pd.Timestamp(self.sessions[t]).date()
        if m.history.shape[0] == 0:  # the first decision: the close before it, no capital yet
            m.history, m.flows = np.zeros((1, len(self.names))), np.zeros((1, len(self.names)))
            m.marked = pd.Timestamp(self.sessions[t - 1]).date()
        exits, _ = desk.guard.exits(desk.accounts.positions)
        due = [self.sleeve_due(k, t) or (force and t >= self.starts[k]) for k in k_all]
        allocations: list[AllocationRow] = []
        if (
            not halted
            and any(due)
            and book_schedule.due(
                self.sessions, m.alloc_anchor, m.allocated, t, self.book.allocation.rebalance
            )
        ):
            allocations, moved = self._allocate(t, session, marks)
            due = [d or bool(mv) for d, mv in zip(due, moved, strict=True)]
        if any(due) and not halted:
            requests, decisions = desk.requests(
                self.data,
                t,
                due,
                marks,
                cash_buffer=self.cash_buffer,
                fractional=self.fractional,
                gone=gone,
                universes=[self.universe(k, t) if due[k] else None for k in k_all],
                exits=exits,
                session=pd.Timestamp(session),
            )
        else:
            requests, decisions = exits, []
        for k in k_all:  # a halted sleeve's schedule runs on (the backtest's fixed sessions)
            if due[k]:
                m.last[k] = session
                m.anchors[k] = m.anchors[k] or session
        m.decided = session
        orders = desk.net(requests, positions)
        return BookDecision(session, orders, requests, decisions, allocations)

    def _allocate(
        self, t: int, session: dt.date, marks: np.ndarray
    ) -> tuple[list[AllocationRow], np.ndarray]:
        m = self.memory
        returns = sleeve_returns(m.history, m.flows)
        done = self.desk.allocate(returns, marks, self.starts <= t)
        m.next_flow = m.next_flow + done.flows
        m.capital_in = m.capital_in + done.flows
        m.alloc_anchor, m.allocated = m.alloc_anchor or session, session
        m.weights = done.step.weights.copy()
        rows: list[AllocationRow] = []
        for k, name in enumerate(self.names):
            rows.append(
                (
                    session,
                    name,
                    float(done.step.allocated[k]),
                    float(done.step.weights[k]),
                    float(done.capital[k]),
                    float(done.flows[k]),
                    done.step.fallback,
                )
            )
        return rows, self.desk.moved(done)

    def universe(self, k: int, t: int) -> np.ndarray | None:
        """Return sleeve ``k``'s universe at row ``t`` (None: every symbol; no scanner)."""
        sleeve = self.book.sleeves[k]
        scanner = sleeve.scanner
        if scanner is None:
            return None
        row = t
        if isinstance(scanner, ScheduledScanner):  # its own schedule, from the sleeve's first
            anchor = self.memory.anchors[k] or pd.Timestamp(self.sessions[t]).date()
            row = book_schedule.source_row(self.sessions, anchor, t, scanner.rule)
            scanner = scanner.inner
        try:
            mask: np.ndarray = scanner.scan(self.data, np.array([row]))[0]
        except ConfigError as exc:
            raise ConfigError(f"sleeve {sleeve.name}: {exc}") from exc
        return mask

    def commit(
        self, decision: BookDecision, sent: np.ndarray, skipped: np.ndarray
    ) -> list[RequestRow]:
        """Keep the session's requests and the net orders ``sent``; return the request rows.

        ``skipped``: the symbols whose order was not sent because one was already sent this
        session (a stop's exit): the sleeves' requests there are dropped, and what fills goes
        to the sleeves holding the name.
        """
        requests = decision.requests.copy()
        sent = np.asarray(sent, dtype=float)
        before = self.memory.pending.get(decision.session)
        if before is not None:  # asked again: what the first plan ordered stays its own
            skipped = skipped & (before.orders == 0)
            sent = np.where(before.orders != 0, before.orders, sent)
        requests[:, skipped] = 0.0
        self.memory.pending[decision.session] = Pending(requests, sent)
        symbols = self.data.symbols
        k, j = np.nonzero(requests)
        return [
            (decision.session, self.names[a], str(symbols[b]), float(requests[a, b]))
            for a, b in zip(k.tolist(), j.tolist(), strict=True)
        ]

    # ---------------------------------------------------------------------------- control

    def index(self, name: str) -> int:
        """Return the position of sleeve ``name`` (ValueError naming the sleeves if unknown)."""
        if name not in self.names:
            raise ValueError(
                f"no sleeve {name!r} in book {self.book.name} ({', '.join(self.names)})"
            )
        return self.names.index(name)

    def halted(self, name: str) -> bool:
        """Return whether sleeve ``name`` is halted."""
        return bool(self.desk.guard.halted[self.index(name)])

    def halt(self, name: str, reason: str) -> None:
        """Halt sleeve ``name``: no decision of its own; it holds its positions."""
        k = self.index(name)
        self.desk.guard.halted[k] = True
        self.memory.reasons[k] = reason
        self.changed()  # saved: a restarted worker finds the sleeve halted

    def resume(self, name: str) -> None:
        """Let sleeve ``name`` trade again; its drawdown is measured from now on."""
        k = self.index(name)
        guard = self.desk.guard
        if guard.halted[k]:
            guard.halted[k] = False
            guard.flattening[k] = False
            guard.peak[k] = guard.nav[k]
        self.memory.reasons[k] = ""
        self.changed()

    def status(self, marks: np.ndarray | None = None) -> BookStatus:
        """Return each sleeve's state, capital, P&L, drawdown and positions (``book_view``)."""
        return book_status(self, marks)


__all__ = ["BookDecision", "BookMemory", "LiveBook", "Pending"]
