"""A live book's state as bytes for the journal (``book_state``), and back.

One ``.npz`` archive (numpy arrays only, no pickle): the sleeves' sub-accounts (cash, shares,
reserve), their limits (cost bases, net asset values, peaks, halts, exits pending), the
schedules and the allocation (dates; ``NaT`` for none), the sleeves' equity history and the
requests of recent sessions. Shares are saved with their symbols' names: a worker restarted on
a dataset whose universe changed gets them back by name, and a held symbol the data no longer
has is an error that names it (a position no sleeve could price or sell). The sleeves' names
must be the book's: a book whose sleeves changed is a new book (another name).
"""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd

from quant_core.errors import ConfigError, DataError
from quant_core.live.book_live import LiveBook, Pending
from quant_core.portfolio.stops import CostBasis

BASIS_FIELDS = ("shares", "cost", "entry", "extreme")
BASIS_EMPTY = {"shares": 0.0, "cost": np.nan, "entry": -1, "extreme": np.nan}  # none held


def _days(values: list[dt.date | None]) -> np.ndarray:
    return np.array([np.datetime64(v, "D") if v else np.datetime64("NaT") for v in values])


def _day(value: np.datetime64) -> dt.date | None:
    return None if np.isnat(value) else pd.Timestamp(value).date()


def dump(live: LiveBook) -> bytes:
    """Return ``live``'s state as the bytes saved in the journal."""
    m, accounts, guard = live.memory, live.desk.accounts, live.desk.guard
    pending = sorted(m.pending)
    k, n = accounts.positions.shape
    arrays: dict[str, np.ndarray] = {
        "names": np.array(live.names),
        "symbols": np.asarray(live.data.symbols, dtype=str),
        "cash": accounts.cash,
        "positions": accounts.positions,
        "reserve": np.array([accounts.reserve]),
        "nav": guard.nav,
        "peak": guard.peak,
        "halted": guard.halted,
        "flattening": guard.flattening,
        "last_equity": guard.last_equity,
        "exits": np.array([p[:2] for p in guard.pending], dtype=np.int64).reshape(-1, 2),
        "exit_status": np.array([p[2] for p in guard.pending], dtype=str),
        "anchors": _days(m.anchors),
        "last": _days(m.last),
        "reasons": np.array(m.reasons, dtype=str),
        "dates": _days([m.alloc_anchor, m.allocated, m.decided, m.marked]),
        "weights": np.full(k, np.nan) if m.weights is None else m.weights,
        "history": m.history,
        "flows": m.flows,
        "next_flow": m.next_flow,
        "capital_in": m.capital_in,
        "gap_seen": np.array([np.nan if m.gap_seen is None else m.gap_seen]),
        "pending_sessions": _days(list(pending)),
        "pending_requests": np.array([m.pending[s].requests for s in pending]).reshape(-1, k, n),
        "pending_orders": np.array([m.pending[s].orders for s in pending]).reshape(-1, n),
        "pending_settled": np.array([m.pending[s].settled for s in pending], dtype=bool),
    }
    for name in BASIS_FIELDS:
        arrays[f"basis_{name}"] = np.array([getattr(b, name) for b in guard.bases]).reshape(k, n)
    out = io.BytesIO()
    np.savez(out, allow_pickle=False, **arrays)
    return out.getvalue()


def load(live: LiveBook, state: bytes) -> None:
    """Restore ``live`` (built from the config) to ``state``.

    Raises
    ------
    ConfigError
        The saved book's sleeves are not the config's.
    DataError
        A symbol a sleeve holds is not in the data any more.
    """
    with np.load(io.BytesIO(state), allow_pickle=False) as saved:
        a = {key: saved[key] for key in saved.files}
    names = a["names"].tolist()
    if names != live.names:
        raise ConfigError(
            f"book {live.book.name}: its sleeves were {', '.join(names)} on this account and are "
            f"{', '.join(live.names)} in the config; a book whose sleeves change is a new book: "
            "give it another name (book.name)"
        )
    where = live.data.symbol_index.get_indexer(pd.Index(a["symbols"]))
    held = (np.abs(a["positions"]).sum(axis=0) != 0) | (
        np.abs(a["pending_requests"]).sum(axis=(0, 1)) != 0
    )
    if (lost := held & (where < 0)).any():
        raise DataError(
            f"book {live.book.name}: its sleeves hold {', '.join(a['symbols'][lost].tolist())}, "
            "which the dataset no longer has; restore the data, or close the position by hand"
        )
    keep, cols = where >= 0, where[where >= 0]
    n = len(live.data.symbols)

    def spread(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((*values.shape[:-1], n), fill, dtype=values.dtype)
        out[..., cols] = values[..., keep]
        return out

    accounts, guard, m = live.desk.accounts, live.desk.guard, live.memory
    accounts.cash, accounts.reserve = a["cash"].copy(), float(a["reserve"][0])
    accounts.positions = spread(a["positions"], 0.0)
    guard.nav, guard.peak = a["nav"].copy(), a["peak"].copy()
    guard.halted, guard.last_equity = a["halted"].copy(), a["last_equity"].copy()
    # Saved before a manual halt was told from a breach: a halted flat sleeve was flattening.
    flat = np.array([s.risk.on_breach == "flat" for s in live.book.sleeves])
    guard.flattening = a["flattening"].copy() if "flattening" in a else guard.halted & flat
    guard.pending = [
        (int(k), int(where[j]), str(status))
        for (k, j), status in zip(a["exits"].tolist(), a["exit_status"].tolist(), strict=True)
        if where[j] >= 0
    ]
    guard.bases = [
        CostBasis(*(spread(a[f"basis_{f}"][k], BASIS_EMPTY[f]) for f in BASIS_FIELDS))
        for k in range(len(names))
    ]
    m.anchors = [_day(v) for v in a["anchors"]]
    m.last = [_day(v) for v in a["last"]]
    m.reasons = a["reasons"].tolist()
    m.alloc_anchor, m.allocated, m.decided, m.marked = (_day(v) for v in a["dates"])
    m.weights = None if m.allocated is None else a["weights"].copy()
    m.history, m.flows = a["history"].copy(), a["flows"].copy()
    m.next_flow, m.capital_in = a["next_flow"].copy(), a["capital_in"].copy()
    gap = float(a["gap_seen"][0]) if "gap_seen" in a else np.nan  # none saved before
    m.gap_seen = None if np.isnan(gap) else gap
    m.pending = {
        _day(s) or dt.date.min: Pending(spread(r, 0.0), spread(o, 0.0), bool(done))
        for s, r, o, done in zip(
            a["pending_sessions"],
            a["pending_requests"],
            a["pending_orders"],
            a["pending_settled"],
            strict=True,
        )
    }


__all__ = ["dump", "load"]
