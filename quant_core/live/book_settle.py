"""A session's executions as the book's settlement reads them: per symbol, for one session.

The journal's executions (``Journal.unattributed_fills``) are grouped by the session they were
sent for: a strategy order's reference names it (``qc:<session>:<symbol>``); any other (a FLAT's)
by the exchange date of its execution, moved to the next session when that is no session. Per
symbol of the universe: the signed shares filled (buy > 0), their average price (the cash they
moved over the shares), the commissions, and the batch's cash change to the last bit:
``sum(-signed quantity x price - commission)`` over the executions. An execution in a symbol
outside the universe is reported and left out.
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
    """One session's executions per symbol (module docstring), and their execution ids."""

    filled: np.ndarray
    prices: np.ndarray
    commissions: np.ndarray
    cash_change: float
    execs: tuple[str, ...]


def session_fills(
    fills: pd.DataFrame, symbols: pd.Index, sessions: np.ndarray, zone: str
) -> dict[dt.date, SessionFills]:
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
    where = symbols.get_indexer(pd.Index(fills["symbol"].astype(str)))
    if (outside := where < 0).any():
        logger.warning(
            "Executions in %s are outside the book's universe: no sleeve's",
            ", ".join(sorted(set(fills["symbol"][outside].astype(str)))),
        )
    sign = np.where(fills["side"].astype(str).str.upper() == "BUY", 1.0, -1.0)
    quantity = sign * fills["quantity"].to_numpy(dtype=float)
    price = fills["price"].to_numpy(dtype=float)
    commission = fills["commission"].fillna(0.0).to_numpy(dtype=float)
    execs = fills["exec_id"].astype(str).to_numpy()
    out: dict[dt.date, SessionFills] = {}
    for day in sorted(set(session)):
        rows = np.flatnonzero((session == day) & (where >= 0))
        cols = where[rows]
        filled, money, charged = np.zeros(n), np.zeros(n), np.zeros(n)
        np.add.at(filled, cols, quantity[rows])
        np.add.at(money, cols, quantity[rows] * price[rows])
        np.add.at(charged, cols, commission[rows])
        with np.errstate(divide="ignore", invalid="ignore"):
            average = np.where(filled != 0, money / filled, np.nan)
        cash = float(np.sum(-quantity[rows] * price[rows] - commission[rows]))
        all_rows = np.flatnonzero(session == day)
        out[day] = SessionFills(filled, average, charged, cash, tuple(execs[all_rows].tolist()))
    return out


__all__ = ["SessionFills", "session_fills"]
