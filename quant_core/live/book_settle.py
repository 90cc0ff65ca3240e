"""A session's executions as the book's settlement reads them: per symbol, for one session.

The journal's executions (``Journal.unattributed_fills``) are grouped by the session they were
sent for: a strategy order's reference names it (``qc:<session>:<symbol>``); any other (a FLAT's)
by the exchange date of its execution, moved to the next session when that is no session. The
strategy orders' executions and the others are kept apart (:class:`SessionBatch`): the book
attributes the first on the sleeves' requests, the others to the sleeves holding the name. Per
symbol of the universe: the signed shares filled (buy > 0), their average price (the cash they
moved over the shares), the commissions and the cash moved, ``sum(-signed quantity x price -
commission)`` over the executions. An execution in a symbol outside the universe is reported and
left out (its cash reaches the reserve with the book's cash check, ``live/book_planner.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.broker import OrderRef

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionFills:
    """Executions per symbol (module docstring), and their execution ids.

    ``cash`` per symbol: ``sum(-signed quantity x price - commission)`` of its executions.
    """

    filled: np.ndarray
    prices: np.ndarray
    commissions: np.ndarray
    cash: np.ndarray
    execs: tuple[str, ...]

    @property
    def cash_change(self) -> float:
        """Return the batch's cash change."""
        return float(self.cash.sum())

    def only(self, columns: np.ndarray) -> SessionFills:
        """Return the batch restricted to the symbols of bool mask ``columns``."""
        keep = np.asarray(columns, dtype=bool)
        return SessionFills(
            np.where(keep, self.filled, 0.0),
            np.where(keep, self.prices, np.nan),
            np.where(keep, self.commissions, 0.0),
            np.where(keep, self.cash, 0.0),
            self.execs,
        )


@dataclass(frozen=True, slots=True)
class SessionBatch:
    """A session's executions: the strategy orders' (``qc:`` references), and all others."""

    strategy: SessionFills
    other: SessionFills

    @property
    def execs(self) -> tuple[str, ...]:
        """Return every execution id of the session."""
        return self.strategy.execs + self.other.execs


def _per_symbol(
    n: int, cols: np.ndarray, quantity: np.ndarray, price: np.ndarray, fee: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    filled, money, charged = np.zeros(n), np.zeros(n), np.zeros(n)
    np.add.at(filled, cols, quantity)
    np.add.at(money, cols, quantity * price)
    np.add.at(charged, cols, fee)
    with np.errstate(divide="ignore", invalid="ignore"):
        average = np.where(filled != 0, money / filled, np.nan)
    return filled, average, charged, -money - charged


def session_fills(
    fills: pd.DataFrame, symbols: pd.Index, sessions: np.ndarray, zone: str
) -> dict[dt.date, SessionBatch]:
    """Return ``fills`` grouped by session (module docstring); ``sessions`` ascending days."""
    if fills.empty:
        return {}
    n = len(symbols)
    days = pd.to_datetime(fills["ts"], utc=True).dt.tz_convert(zone).dt.date
    named = [OrderRef.session_of(str(ref)) for ref in fills["ref"]]
    on = [s if s is not None else d for s, d in zip(named, days, strict=True)]
    at = np.searchsorted(sessions, np.array(on, dtype="datetime64[D]"))
    at = np.minimum(at, len(sessions) - 1)
    session = pd.DatetimeIndex(sessions[at]).date
    strategy = np.array([s is not None for s in named])
    where = symbols.get_indexer(pd.Index(fills["symbol"].astype(str)))
    if (outside := where < 0).any():
        logger.warning(
            "Executions in %s are outside the book's universe: no sleeve's",
            ", ".join(sorted(set(fills["symbol"][outside].astype(str)))),
        )
    sign = np.where(fills["side"].astype(str).str.upper() == "BUY", 1.0, -1.0)
    quantity = sign * fills["quantity"].to_numpy(dtype=float)
    price = fills["price"].to_numpy(dtype=float)
    fee = fills["commission"].fillna(0.0).to_numpy(dtype=float)
    execs = fills["exec_id"].astype(str).to_numpy()
    out: dict[dt.date, SessionBatch] = {}
    for day in sorted(set(session)):
        parts = []
        for kind in (True, False):
            mine = (session == day) & (strategy == kind)
            rows = np.flatnonzero(mine & (where >= 0))
            figures = _per_symbol(n, where[rows], quantity[rows], price[rows], fee[rows])
            parts.append(SessionFills(*figures, tuple(execs[mine].tolist())))
        out[day] = SessionBatch(parts[0], parts[1])
    return out


__all__ = ["SessionBatch", "SessionFills", "session_fills"]
