"""A live book's sleeves as the state file shows them (``live.book_status.BookStatus``).

Each sleeve's equity is its cash plus its shares at the closes of the last session marked
(forward-filled: a symbol without a bar that day keeps its last close); its P&L is that equity
less the capital the allocation moved in; its drawdown ``1 - nav / peak`` of the net asset
value its limits follow (:class:`~quant_core.book.sleeve_risk.SleeveGuard`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from quant_core.live.book_status import BookStatus, SleevePosition, SleeveState, SleeveStatus

if TYPE_CHECKING:
    from quant_core.live.book_live import LiveBook


def book_status(live: LiveBook, marks: np.ndarray | None = None) -> BookStatus:
    """Return each sleeve's state, capital, P&L, drawdown and positions at ``marks``.

    ``marks`` None: the closes of the last close marked (none marked yet: at no value).
    """
    m, accounts, guard = live.memory, live.desk.accounts, live.desk.guard
    if marks is None:
        marks = _marks_at(live, None if m.marked is None else live.row(m.marked))
    equity = accounts.equity(marks)
    values = accounts.positions * np.nan_to_num(marks)
    sleeves = []
    for k, name in enumerate(live.names):
        held = np.flatnonzero(accounts.positions[k])
        state = (
            SleeveState.HALTED
            if guard.halted[k]
            else SleeveState.WAITING
            if m.anchors[k] is None
            else SleeveState.ACTIVE
        )
        sleeves.append(
            SleeveStatus(
                name=name,
                state=state,
                reason=m.reasons[k] or None,
                equity=float(equity[k]),
                cash=float(accounts.cash[k]),
                pnl=float(equity[k] - m.capital_in[k]),
                drawdown=float(1.0 - guard.nav[k] / guard.peak[k]),
                weight=None if m.weights is None else float(m.weights[k]),
                last_rebalance=m.last[k],
                positions=tuple(
                    SleevePosition(
                        str(live.data.symbols[j]),
                        float(accounts.positions[k, j]),
                        float(values[k, j]),
                    )
                    for j in held
                ),
            )
        )
    return BookStatus(live.book.name, float(accounts.reserve), m.allocated, tuple(sleeves))


def _marks_at(live: LiveBook, row: int | None) -> np.ndarray:
    # The closes of ``row``, forward-filled (the planner's): each symbol's last close through it.
    closes = live.closes()
    if row is None or row >= len(closes):
        return np.zeros(closes.shape[1])
    return np.asarray(closes[row])


__all__ = ["book_status"]
