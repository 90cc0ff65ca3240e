"""A live book's settlement: executions attributed to the sleeves, the sleeves marked at a close.

The part of :class:`~quant_core.live.book_live.LiveBook` that runs at each close the data holds
(:meth:`BookSettlement.catch_up`): the session's executions (``live/book_settle.py``) attributed
to the sleeves on their requests through the desk (:meth:`quant_core.book.desk.BookDesk.settle`),
the requests that crossed between sleeves filled at the session's open, executions nobody asked
for (FLAT, an account stop) to the sleeves holding the name, late ones on what was asked and not
got; then each sleeve marked at the close and its own limits checked.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from quant_core.book.desk import BookDesk
from quant_core.data.panels import MarketData
from quant_core.live.book_memory import BookMemory
from quant_core.live.book_settle import SessionBatch, SessionFills, session_fills
from quant_core.live.journal_book import FillRow

logger = logging.getLogger("quant_core.live.book_live")


class BookSettlement:
    """Settle and mark a live book (mixed into ``LiveBook``, whose state it reads)."""

    KEEP_SESSIONS = 10  # settled sessions whose requests are kept for late executions
    desk: BookDesk
    memory: BookMemory
    data: MarketData
    names: list[str]
    sessions: np.ndarray
    fractional: bool
    gone: Callable[[int], np.ndarray]

    def row(self, session: dt.date) -> int:
        """Return the row of ``session`` (``LiveBook.row``)."""
        raise NotImplementedError

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


__all__ = ["BookSettlement"]
