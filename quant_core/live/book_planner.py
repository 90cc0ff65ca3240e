"""The worker's decisions for a book: the planner's, with the sleeves deciding through the desk.

:class:`BookPlanner` is the :class:`~quant_core.live.planner.Planner` (when a session is due,
the stale-data and early-close refusals, the orders already sent, the current prices, the
position cap, the cash check, the references) with three steps its own:

- **when**: a session is due when a sleeve's schedule is (each its own, from the journal's book
  state: :mod:`quant_core.live.book_schedule`), or every session when a sleeve has its own
  stops or drawdown limit (their exits act at the next open, as in the backtest);
- **what**: :meth:`~quant_core.live.book_live.LiveBook.decide`: the allocation when due, each
  due sleeve's targets on its own sub-account and universe, its own exits, netted into one order
  per symbol; the requests are journaled before the orders (:meth:`BookPlanner.plan`);
- **settle**: at each close the data holds, the executions attributed back to the sleeves and
  the sleeves marked (:meth:`BookPlanner.settle`), from the journal: a restarted worker
  attributes what it had not, each execution once.

The book's state is saved in the journal with what changed it (``live/journal_book.py``);
:meth:`BookPlanner.attach` restores it when the worker connects, and reports the names where the
sleeves' shares and the broker's positions differ.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
import pandas as pd

from quant_core.book.sleeves import Book
from quant_core.data.panels import MarketData
from quant_core.live import book_state_io
from quant_core.live.book_live import BookDecision, LiveBook
from quant_core.live.journal_book import AllocationRow, RequestRow
from quant_core.live.journal_decisions import FALLBACK
from quant_core.live.plan_orders import Plan, session_plan
from quant_core.live.planner import Planner
from quant_core.live.state import BindingRow, LastDecision

logger = logging.getLogger(__name__)

CENT = 0.01  # a cash difference smaller than this is rounding


class BookPlanner(Planner):
    """The planner of a worker running a book (module docstring).

    ``start``: a replay's first day (the sleeves' warm-ups count from it, as the backtest's).
    """

    def __init__(self, *args: Any, book: Book, start: dt.date | None = None, **kwargs: Any) -> None:
        cfg, data, calendar = args[0], args[4], args[5]
        self.live = LiveBook(
            book,
            data,
            calendar.sessions,
            initial_cash=0.0,  # the account's cash, at attach()
            cash_buffer=cfg.portfolio.cash_buffer,
            fractional=cfg.portfolio.fractional_shares,
            gone=lambda t: self.gone(t),
            closes=lambda: self.closes,
            start=start,
        )
        self.key = ""
        self.fills_seen = -1  # the journal's executions when last settled
        super().__init__(*args, **kwargs)  # the strategy: the first sleeve's (unused)

    def reload(self, data: MarketData) -> None:
        """Decide, settle and mark from ``data`` from now on."""
        super().reload(data)
        if hasattr(self, "live"):
            self.live.reload(data)

    # ---------------------------------------------------------------------------- the state

    def attach(self, cash: float, at: dt.datetime) -> list[str]:
        """Restore the book's state for this account, or start it on ``cash``; return mismatches.

        A book that never ran here starts with every dollar of ``cash`` in its reserve and
        leaves the account's earlier executions to nobody.
        """
        account = self.broker.account_id
        self.key = f"{self.mode}:{account}:{self.live.book.name}"
        self.live.changed = lambda: self.save(self.clock())  # a HALT or RESUME of a sleeve
        saved = self.journal.book_state(self.key)
        if saved is not None:
            book_state_io.load(self.live, saved)
            logger.info("Book %s restored from the journal (%s)", self.live.book.name, self.key)
            return self.mismatches()
        self.live.desk.accounts.reserve = float(cash)
        past = self.journal.unattributed_fills(self.key, self.mode, account)
        self.save(at, execs=past["exec_id"].astype(str).tolist())
        logger.info("Book %s starts on %.2f of cash (%s)", self.live.book.name, cash, self.key)
        return []

    def mismatches(self) -> list[str]:
        """Return a line per symbol where the sleeves' shares are not the broker's position.

        And one for the cash when the sleeves' and the reserve's is not the broker's (after the
        executions the book has yet to attribute).
        """
        ledger = self.ledger()
        sleeves = self.live.desk.accounts.positions.sum(axis=0)
        differ = np.flatnonzero(~np.isclose(ledger.positions, sleeves, rtol=0.0, atol=1e-9))
        lines = [
            f"{self.data.symbols[j]}: the sleeves hold {sleeves[j]:g}, "
            f"the broker {ledger.positions[j]:g}"
            for j in differ
        ]
        if abs(gap := self.cash_gap()) >= CENT:
            lines.append(f"cash: the broker's is {gap:+,.2f} from the sleeves' and the reserve's")
        return lines

    def _absorb(self, gap: float) -> float:
        # A cash gap seen at two closes in a row goes to the reserve (the account's cash is the
        # truth); seen once, it may be an execution the broker has yet to report. Return it.
        memory = self.live.memory  # saved with the book: a restart between closes keeps it
        seen, memory.gap_seen = memory.gap_seen, None
        if abs(gap) < CENT:
            return 0.0
        if seen is None or abs(gap - seen) >= CENT:
            logger.warning("Book %s: cash gap %+.2f with the broker", self.live.book.name, gap)
            memory.gap_seen = gap
            return 0.0
        self.live.desk.accounts.reserve += gap
        return gap

    def journal_complete(self) -> bool:
        """Return whether every execution the broker reports is in the journal already."""
        reported = [f.exec_id for f in self.broker.fills() if f.exec_id]
        return len(self.journal.journaled(reported)) == len(set(reported))

    def cash_gap(self, waiting: pd.DataFrame | None = None) -> float:
        """Return the broker's cash less the book's, the executions not attributed counted.

        Not zero when cash moved outside the executions: a dividend, interest, a fee, a deposit
        or withdrawal, an execution outside the universe.
        """
        if waiting is None:
            waiting = self.journal.unattributed_fills(self.key, self.mode, self.broker.account_id)
        sign = np.where(waiting["side"].astype(str).str.upper() == "BUY", 1.0, -1.0)
        moved = -sign * waiting["quantity"].to_numpy(float) * waiting["price"].to_numpy(float)
        moved -= waiting["commission"].fillna(0.0).to_numpy(float)
        book = self.live.desk.accounts.account_cash() + float(moved.sum())
        return float(self.broker.account().cash - book)

    def save(
        self,
        at: dt.datetime,
        *,
        requests: list[RequestRow] | None = None,
        allocations: list[AllocationRow] | None = None,
        **rows: Any,
    ) -> None:
        """Save the book's state with the rows that changed it (one journal transaction)."""
        state = book_state_io.dump(self.live)
        self.journal.save_book(
            self.key, at, state, requests=requests, allocations=allocations, **rows
        )

    def settle(self, upto: int | None = None) -> None:
        """Attribute new executions and mark the closes through row ``upto`` (the data's last)."""
        upto = len(self.data.dates) - 1 if upto is None else upto
        count = self.journal.fill_count()
        marked = self.live.memory.marked
        through = pd.Timestamp(self.data.dates[upto]).date()
        if count == self.fills_seen and (marked is None or marked >= through):
            return
        fills = self.journal.unattributed_fills(self.key, self.mode, self.broker.account_id)
        rows, execs, events = self.live.catch_up(fills, self.closes, upto, self.calendar.tz)
        self.fills_seen = count
        gap = 0.0
        if self.live.memory.marked != marked and self.journal_complete():  # at a new close
            gap = self._absorb(self.cash_gap(fills[~fills["exec_id"].astype(str).isin(execs)]))
            if gap:
                events.append(
                    f"book {self.live.book.name}: the broker's cash moved {gap:+,.2f} outside "
                    "the executions (a dividend, interest, a fee, a transfer) at two closes in "
                    "a row: added to the reserve"
                )
        if rows or execs or self.live.memory.marked != marked or abs(gap) >= CENT:
            self.save(self.clock(), fills=rows, execs=execs)
        for line in events:
            self.report(line)

    # -------------------------------------------------------------------------------- when

    def scheduled(self, today: dt.date) -> bool:
        """Return whether the book decides on session ``today`` (module docstring).

        Not when the journal has a decision for it (sent, or not traded: a HALTED worker's).
        """
        self.settle()
        last = self.journal.last_rebalance()
        if last is not None and last >= today:
            return False
        try:
            t = self.live.row(today)
        except ValueError:
            return False
        return self.live.needs(t)

    def next_due(self, today: dt.date) -> dt.date | None:
        """Return the next session a sleeve rebalances on, from today on."""
        return self.live.next_due(today)

    def replay_due(self, t: int) -> bool:
        """Return whether a replay decides at row ``t`` (at the close of row ``t - 1``).

        The replay asks at every session: the sleeves' schedules run from their own first
        sessions (restored from the journal when a replay continues an account), not from the
        replay's first row.
        """
        return self.live.needs(t)

    # -------------------------------------------------------------------------------- what

    def plan(self, t: int, session: dt.date, halted: bool = False) -> Plan:
        """Return the book's orders for the session at row ``t`` (from data through t-1).

        ``halted``: the account is halted; the sleeves' own stops and flats only
        (:meth:`BookLive.decide`). A plan that fails (the broker drops while quoting) leaves
        the book as it was: the allocation, the sleeves' exits and schedules are taken when the
        retry decides.
        """
        self.settle(t - 1)  # what is settled stays settled, whatever becomes of the plan
        # The state before the plan, to restore; _plan's save() serialises the state after it
        # (the requests committed): two states, so two dumps.
        saved = book_state_io.dump(self.live)
        try:
            return self._plan(t, session, halted)
        except BaseException:
            book_state_io.load(self.live, saved)
            raise

    def _plan(self, t: int, session: dt.date, halted: bool = False) -> Plan:
        resting, sent = self.already_sent(session)
        ledger = self.ledger()
        marks = self.marks_before(t)
        # Halted: a decision saved before the halt is not sent (it holds strategy orders).
        decision = None if halted else self.live.replan(session, ledger.positions)
        if decision is None:  # not scheduled (a forced rebalance): every sleeve decides
            force = not halted and not self.live.needs(t)
            decision = self.live.decide(
                t, marks, ledger.positions, self.gone(t), force=force, halted=halted
            )
        vector = decision.orders.copy()
        skipped = np.isin(self.data.symbols, sorted(sent)) & (vector != 0)
        vector[skipped] = 0.0
        waiting = self._remaining(resting)
        prices = self.current_prices(vector + waiting, t)
        vector, trim = self.cap.trim(vector, ledger, prices, marks)
        self.shape = self._shape(decision, trim)
        vector = self.affordable(vector, ledger, prices, t, session, waiting)
        requests = self.live.commit(decision, vector, skipped)
        self.save(self.clock(), requests=requests, allocations=decision.allocations)
        order_type = self.order_type(session)
        return session_plan(
            session, self.data.symbols, vector, order_type, prices, marks, self.shape
        )

    def _shape(self, decision: BookDecision, trim: Any) -> LastDecision:
        # What shaped the sleeves' weights, each named by its sleeve.
        bindings: list[BindingRow] = []
        left_out: list[str] = []
        fallback = None
        for k, one in decision.decisions:
            name = self.live.names[k]
            for b in one.binding:
                if b.constraint == FALLBACK:
                    fallback = fallback or f"sleeve {name}: {b.detail}"
                else:
                    bindings.append(
                        BindingRow(constraint=b.constraint, detail=f"sleeve {name}: {b.detail}")
                    )
            left_out += [str(self.data.symbols[lo.index]) for lo in one.left_out]
        if trim is not None:
            logger.warning("Rebalance for %s: %s", decision.session, trim.detail)
            bindings.append(BindingRow(constraint=trim.constraint, detail=trim.detail))
        names = tuple(sorted(set(left_out)))
        return LastDecision(
            session=decision.session,
            bindings=tuple(bindings),
            left_out=len(names),
            left_out_names=names,
            fallback=fallback,
        )


__all__ = ["BookPlanner"]
