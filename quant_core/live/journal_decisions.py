"""The journal's decisions: one row per rebalance or batch of stop exits, and their settling.

A mixin of :class:`~quant_core.live.journal.Journal` (its connection): a decision that trades is
written with its orders (``Journal.intend``), one that does not by :meth:`Decisions.decision`.
At start, :meth:`Decisions.settle_decisions` makes each agree with what reached the broker, by
batch; :meth:`Decisions.last_rebalance` and :meth:`Decisions.last_decision` read them back.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from quant_core.broker import OrderRef
from quant_core.live.state import BindingRow, LastDecision

if TYPE_CHECKING:
    import numpy as np

    from quant_core.strategies.decide import Decision

UNSENT = "unsent"  # an intent the broker never got: the worker stopped before sending it
NOT_SENT = "not sent"  # how a decision whose orders were all unsent begins
CUT_SHORT = "cut short"  # how a decision whose orders were partly unsent begins
STOPS = "stops"  # how a batch of stop exits' decision begins: not a rebalance
FALLBACK = "fallback"  # the binding a construction method's failure gives (policy.Binding)
DECISION_COLUMNS = "run_id, session, ts, outcome, orders, batch, bindings, left_out, fallback"


class Decisions:
    """The decisions table of a journal (mixed into ``Journal``)."""

    con: Any  # the journal's DuckDB connection (only live.journal imports duckdb)
    # last_decision's answer until a decision is inserted (None: not read yet). Every state
    # written asked the journal again; this process is the journal's one writer.
    _last: tuple[LastDecision | None] | None = None

    def _insert_decision(
        self,
        run_id: str,
        session: dt.date,
        at: dt.datetime,
        outcome: str,
        orders: int,
        batch: str | None,
        shape: LastDecision | None,
    ) -> None:
        self._last = None  # read again at the next ask (a rolled-back insert changes nothing)
        shaped: list[str | None] = [None, None, None]
        if shape is not None:
            bindings = [[b.constraint, b.detail] for b in shape.bindings]
            shaped = [json.dumps(bindings), ",".join(shape.left_out_names), shape.fallback]
        self.con.execute(
            f"INSERT INTO decisions ({DECISION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - constant
            [run_id, session, at, outcome, orders, batch, *shaped],
        )

    def decision(
        self,
        run_id: str,
        session: dt.date,
        at: dt.datetime,
        outcome: str,
        orders: int,
        shape: LastDecision | None = None,
    ) -> None:
        """Record one rebalance decision: nothing to trade, or skipped and why.

        A decision that trades is recorded with its orders, by :meth:`intend`; ``shape`` is
        what shaped the weights of one that was made.
        """
        self._insert_decision(run_id, session, at, outcome, orders, None, shape)

    def last_decision(self) -> LastDecision | None:
        """Return what shaped the last rebalance decided (None: no rebalance on record yet).

        Read once, then kept until this journal inserts a decision.
        """
        if self._last is None:
            self._last = (self._read_last_decision(),)
        return self._last[0]

    def _read_last_decision(self) -> LastDecision | None:
        rows = self.con.execute(
            "SELECT session, bindings, left_out, fallback FROM decisions "
            "WHERE bindings IS NOT NULL ORDER BY session DESC, ts DESC, rowid DESC LIMIT 1"
        ).fetchall()
        if not rows:
            return None
        session, bindings, left_out, fallback = rows[0]
        names = tuple(n for n in str(left_out or "").split(",") if n)
        return LastDecision(
            session=session,
            bindings=tuple(BindingRow(str(c), str(d)) for c, d in json.loads(bindings)),
            left_out=len(names),
            left_out_names=names,
            fallback=fallback,
        )

    def settle_decisions(self) -> int:
        """Make every decision agree with what reached the broker; return how many changed.

        A batch whose intents were all ``unsent`` did not trade; one partly sent was cut short.
        Neither counts as this session's rebalance (:meth:`last_rebalance`): the next decision
        sends what is missing. A batch of stop exits is settled alike (its outcome then begins
        ``stops not sent`` or ``stops cut short`` and names its stops still). Orders are counted
        by their batch's decision (journals written before batches had ids: by session).
        """
        rows = self.con.execute(
            "UPDATE decisions SET orders = c.sent, outcome = CASE "  # noqa: S608 - constants
            f"WHEN decisions.outcome = 'traded' THEN '' ELSE '{STOPS} ' END || CASE "
            f"WHEN c.sent = 0 THEN '{NOT_SENT}: the worker stopped before sending its ' || "
            "c.total || ' order(s) (reconciled at the next start)' "
            f"ELSE '{CUT_SHORT}: ' || c.sent || ' of ' || c.total || "
            "' order(s) sent before the worker stopped (reconciled at the next start)' END || "
            f"CASE WHEN decisions.outcome = 'traded' THEN '' "
            f"ELSE substr(decisions.outcome, {len(STOPS) + 1}) END "
            "FROM (SELECT run_id, session, coalesce(batch, '') AS batch, count(*) AS total, "
            f"count(*) FILTER (WHERE status <> '{UNSENT}') AS sent FROM orders "
            f"WHERE ref LIKE '{OrderRef.STRATEGY}%' GROUP BY run_id, session, batch "
            f"HAVING count(*) FILTER (WHERE status = '{UNSENT}') > 0) c "
            "WHERE decisions.run_id = c.run_id AND decisions.session = c.session "
            "AND coalesce(decisions.batch, '') = c.batch "
            f"AND (decisions.outcome = 'traded' OR decisions.outcome LIKE '{STOPS}:%')"
        ).fetchall()
        return int(rows[0][0]) if rows else 0

    def last_rebalance(self) -> dt.date | None:
        """Return the last session a rebalance was decided for (any run, traded or not).

        A batch a stop kept from the broker, in full or in part, is not a decision made; nor is
        a batch of stop exits (:data:`STOPS`).
        """
        # fetchall: DuckDB 2 keeps a half-read result open and refuses the next statement
        rows = self.con.execute(
            "SELECT max(session) FROM decisions "  # noqa: S608 - constants
            f"WHERE outcome NOT LIKE '{NOT_SENT}%' AND outcome NOT LIKE '{CUT_SHORT}%' "
            f"AND outcome NOT LIKE '{STOPS}%'"
        ).fetchall()
        last = rows[0][0] if rows else None
        return last if isinstance(last, dt.date) else None


def decision_shape(decision: Decision, symbols: np.ndarray, session: dt.date) -> LastDecision:
    """Return what shaped ``decision``'s weights for ``session`` (``symbols``: the universe's).

    Its bindings (the construction fallback apart), every name construction left out, and the
    fallback's reason when the construction method failed.
    """
    bindings = tuple(
        BindingRow(b.constraint, b.detail) for b in decision.binding if b.constraint != FALLBACK
    )
    fallback = next((b.detail for b in decision.binding if b.constraint == FALLBACK), None)
    names = tuple(str(symbols[lo.index]) for lo in decision.left_out)
    return LastDecision(
        session=session,
        bindings=bindings,
        left_out=len(names),
        left_out_names=names,
        fallback=fallback,
    )
