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
from quant_core.live.book_settle import SessionBatch, SessionFills, session_fills
from quant_core.live.book_status import BookStatus
from quant_core.live.book_view import book_status
from quant_core.live.journal_book import AllocationRow, FillRow, RequestRow

logger = logging.getLogger(__name__)


class LiveBook:
    """A book's sleeves in the worker (module docstring).

    ``data``: the bars decided from; ``calendar_sessions``: the exchange's sessions (the
    decision for the session after the data's last close needs it); ``start``: a replay's first
    day (each sleeve starts at its warm-up after it, as in the backtest); ``gone``: the symbols
    treated as gone at a row (the planner's rule, ``data.panels.gone_at``).
    """

    KEEP_SESSIONS = 10  # settled sessions whose requests are kept for late executions

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
        start: dt.date | None = None,
    ) -> None:
        self.book, self.names = book, book.names
        self.cash_buffer, self.fractional, self.gone = cash_buffer, fractional, gone
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
    ) -> BookDecision:
        """Return the book's orders for the session at row ``t`` (data through t-1).

        ``marks`` the closes of T-1 (forward-filled); ``positions`` the account's shares;
        ``gone`` the symbols treated as gone at ``t``; ``force``: every sleeve past its warm-up
        decides (a forced rebalance). Mutates the sleeves' schedules, the allocation and the
        limits' pending exits: :meth:`commit` saves them with the requests.
        """
        m, desk, k_all = self.memory, self.desk, range(len(self.names))
        session = pd.Timestamp(self.sessions[t]).date()
        if m.history.shape[0] == 0:  # the first decision: the close before it, no capital yet
            m.history, m.flows = np.zeros((1, len(self.names))), np.zeros((1, len(self.names)))
            m.marked = pd.Timestamp(self.sessions[t - 1]).date()
        exits, _ = desk.guard.exits(desk.accounts.positions)
        due = [self.sleeve_due(k, t) or (force and t >= self.starts[k]) for k in k_all]
        allocations: list[AllocationRow] = []
        if any(due) and book_schedule.due(
            self.sessions, m.alloc_anchor, m.allocated, t, self.book.allocation.rebalance
        ):
            allocations, moved = self._allocate(t, session, marks)
            due = [d or bool(mv) for d, mv in zip(due, moved, strict=True)]
        if any(due):
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

    # --------------------------------------------------------------------------- settle

    def catch_up(
        self, fills: pd.DataFrame, closes: np.ndarray, upto: int, zone: str
    ) -> tuple[list[FillRow], list[str], list[str]]:
        """Attribute ``fills`` and mark every close through row ``upto`` not marked yet.

        ``fills``: the account's executions not attributed yet (``Journal.unattributed_fills``);
        ``closes`` forward-filled. Return the sleeves' fill rows, the executions attributed and
        what the sleeves' limits tripped (for the log). Executions of a session after ``upto``
        wait for its close.
        """
        m = self.memory
        by_session = session_fills(fills, self.data.symbol_index, self.sessions, zone)
        rows: list[FillRow] = []
        execs: list[str] = []
        events: list[str] = []
        if m.marked is None:  # not started: nothing of the account's past is the book's
            return rows, fills["exec_id"].astype(str).tolist(), events
        last_marked = self.row(m.marked)
        for session in sorted(by_session):  # late executions of sessions already settled
            if self.row(session) <= last_marked:
                rows += self._settle(session, by_session.pop(session), closes)
        for t in range(last_marked + 1, min(upto, len(self.data.dates) - 1) + 1):
            session = pd.Timestamp(self.sessions[t]).date()
            rows += self._settle(session, by_session.pop(session, None), closes)
            events += self._mark(t, closes)
        execs = [e for e in fills["exec_id"].astype(str) if e not in self._waiting(by_session)]
        self._forget()
        return rows, execs, events

    @staticmethod
    def _waiting(by_session: dict[dt.date, SessionBatch]) -> set[str]:
        return {e for batch in by_session.values() for e in batch.execs}

    def _settle(
        self, session: dt.date, batch: SessionBatch | None, closes: np.ndarray
    ) -> list[FillRow]:
        # The session's executions: first the book's orders' (on the sleeves' requests, with
        # the crossings at its open), then the account's stops in names the book did not
        # order, then the others (FLAT): those two to the sleeves holding the name.
        n, t = len(self.data.symbols), self.row(session)
        pending = self.memory.pending.get(session)
        if pending is None and batch is None:
            return []
        none = np.zeros(n)
        empty = SessionFills(none, np.full(n, np.nan), none, none, ())
        ours = empty if batch is None else batch.strategy
        prices = self._session_prices(t, closes)
        rows: list[FillRow] = []
        booked = np.zeros(n, dtype=bool)
        if pending is not None:
            requests, orders = pending.requests, pending.orders
            booked = orders != 0
            if pending.settled:  # late: what filled now, within what was asked and not got
                net = requests.sum(axis=0)
                booked &= (ours.filled * net > 0) & (np.abs(ours.filled) <= np.abs(net) + 1e-9)
                requests = np.where(booked, requests, 0.0)
                orders = np.where(booked, orders, 0.0)
            got, share = self._attribute(t, session, requests, orders, ours.only(booked), prices)
            rows += got
            pending.requests = pending.requests - share
            pending.settled = True
        for fills in (ours.only(~booked), empty if batch is None else batch.other):
            if fills.filled.any() or fills.cash.any():
                zero = np.zeros((len(self.names), n))
                rows += self._attribute(t, session, zero, fills.filled, fills, prices)[0]
        return rows

    def _session_prices(self, t: int, closes: np.ndarray) -> np.ndarray:
        # The open of row t, or a gone symbol's last close: where the sleeves' requests cross.
        n = len(self.data.symbols)
        opens = self.data.panels["open"][t] if t < len(self.data.dates) else np.full(n, np.nan)
        exit_at = np.where(self.gone(t), closes[t - 1], np.nan)
        prices = np.where(np.isfinite(opens), opens, exit_at)
        return np.where(np.isfinite(prices) & (prices > 0), prices, np.nan)

    def _attribute(
        self,
        t: int,
        session: dt.date,
        requests: np.ndarray,
        orders: np.ndarray,
        fills: SessionFills,
        prices: np.ndarray,
    ) -> tuple[list[FillRow], np.ndarray]:
        # One batch through the desk; ``orders`` all-requests-zero: the account's own.
        idle = (fills.filled == 0) & (fills.cash != 0)  # bought and sold back: no shares left
        self.desk.accounts.reserve += float(fills.cash[idle].sum())
        px = np.where(fills.filled != 0, fills.prices, prices)
        share = self.desk.settle(
            t,
            requests,
            orders,
            (fills.filled != 0) & ~requests.any(axis=0),
            fills.filled,
            px,
            np.where(idle, 0.0, fills.commissions),
            float(fills.cash[~idle].sum()),
            fractional=self.fractional,
        )
        k, j = np.nonzero((share.shares != 0) | (share.commissions != 0))
        symbols, shares = self.data.symbols, share.shares
        rows = [
            (
                session,
                self.names[a],
                str(symbols[b]),
                float(shares[a, b]),
                float(px[b]),
                float(share.commissions[a, b]),
                float(-(shares[a, b] * px[b] if shares[a, b] else 0.0) - share.commissions[a, b]),
            )
            for a, b in zip(k.tolist(), j.tolist(), strict=True)
        ]
        return rows, share.shares

    def _mark(self, t: int, closes: np.ndarray) -> list[str]:
        m, accounts = self.memory, self.desk.accounts
        equity = accounts.equity(closes[t])
        flow, m.next_flow = m.next_flow, np.zeros(len(self.names))
        m.history = np.vstack([m.history, equity])
        m.flows = np.vstack([m.flows, flow])
        m.marked = pd.Timestamp(self.sessions[t]).date()
        if not self.desk.guard.active:
            return []
        events = self.desk.guard.close(t, closes[t], accounts.positions, equity, flow)
        lines = []
        for event in events:
            name = self.names[event.sleeve]
            line = f"sleeve {name} at the close of {m.marked}: {event.detail}"
            logger.warning("%s", line)
            if event.kind == "halt":  # reported (the state's errors, an alert); stops logged
                m.reasons[event.sleeve] = line
                lines.append(line)
        return lines

    def _forget(self) -> None:
        # Requests of settled sessions older than KEEP_SESSIONS: no late execution expected.
        settled = sorted(s for s, p in self.memory.pending.items() if p.settled)
        for session in settled[: max(len(settled) - self.KEEP_SESSIONS, 0)]:
            del self.memory.pending[session]

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
            guard.peak[k] = guard.nav[k]
        self.memory.reasons[k] = ""
        self.changed()

    def status(self, marks: np.ndarray | None = None) -> BookStatus:
        """Return each sleeve's state, capital, P&L, drawdown and positions (``book_view``)."""
        return book_status(self, marks)


__all__ = ["BookDecision", "BookMemory", "LiveBook", "Pending"]
