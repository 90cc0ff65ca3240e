"""Round trips from fills: per symbol, from a flat position to flat again (pure: no I/O, no clock).

One module for the backtest (its trades, through :func:`backtest_fills`) and the live journal
(its fills). A trip starts with the fill that leaves a flat position and ends with the fill that
brings it back to zero; the fills between add to it or trim it. A fill that crosses zero (long
100, sell 150) closes the trip with the shares that reach zero (100) and opens a trip on the
other side with the rest (short 50); its commission and slippage are split by shares.

Per trip, with ``q`` the signed shares of a fill (buy > 0), ``p`` its price (slippage included)
and ``c`` its commission, all in account currency:

* ``pnl = sum(-q x p - c)`` over the trip's fills, plus ``held x mark`` for a trip still open;
  so the pnl of every trip sums to the cash the fills moved plus the open positions' value, i.e.
  the equity change of an account whose cash moves only by its fills;
* ``entry_value = sum(|q| x p)`` over the fills that grew ``|position|``; ``entry_price`` and
  ``exit_price`` are the share-weighted prices of the fills that grew it and shrank it;
* ``pnl_pct = pnl / entry_value``; ``r_multiple = pnl / (stop_loss x entry_value)``: the pnl in
  units of the risk a stop at ``stop_loss`` (a fraction of the entry price) put on the trip;
* ``costs = commission + slippage``; ``gross_pnl = pnl + costs`` (slippage is already inside
  the prices: gross is the pnl at prices without it and without commissions).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from quant_core.errors import DataError

logger = logging.getLogger(__name__)

FILL_COLUMNS = ("date", "symbol", "quantity", "price", "commission", "slippage", "reason")
EXIT_REASONS = (
    "signal",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "flat",
    "delisting",
    "halt",
    "open",
)
ROUND_TRIP_COLUMNS = (
    "symbol",
    "side",
    "entry_date",
    "exit_date",
    "entry_price",
    "exit_price",
    "shares",
    "sessions",
    "entry_value",
    "pnl",
    "pnl_pct",
    "commission",
    "slippage",
    "costs",
    "gross_pnl",
    "r_multiple",
    "exit_reason",
    "is_open",
)
# A backtest trade status -> the fill's reason ("" for a strategy trade; EXIT_REASONS otherwise).
BACKTEST_REASONS = {
    "filled": "",
    "truncated_cash": "",
    "exit_at_last_close": "delisting",  # portfolio.ledger.EXIT_STATUS
    "halt_flat": "halt",  # portfolio.halts.HALT_FLAT: an account limit closed the book
    "stop_loss": "stop_loss",
    "take_profit": "take_profit",
    "trailing_stop": "trailing_stop",
}
# A position this close to zero (relative to the shares around it) is flat: fractional shares
# summed in floating point may leave a residue where the ledger holds none.
FLAT_TOLERANCE = 1e-9
_DTYPES: dict[str, Any] = {
    "symbol": object,
    "side": object,
    "entry_date": "datetime64[ns]",
    "exit_date": "datetime64[ns]",
    "exit_reason": object,
    "is_open": bool,
    "sessions": np.int64,
}


def empty_round_trips() -> pd.DataFrame:
    """Return an empty frame with :data:`ROUND_TRIP_COLUMNS` (numbers float64)."""
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, float)) for c in ROUND_TRIP_COLUMNS})


def empty_fills() -> pd.DataFrame:
    """Return an empty frame with :data:`FILL_COLUMNS`."""
    dtypes: dict[str, Any] = {"date": "datetime64[ns]", "symbol": object, "reason": object}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, float)) for c in FILL_COLUMNS})


def backtest_fills(trades: pd.DataFrame) -> pd.DataFrame:
    """Return the backtest's trades (``backtest.records.TRADE_COLUMNS``) as :data:`FILL_COLUMNS`.

    Rows with ``filled == 0`` (unfilled, truncated to nothing) are dropped; ``quantity`` is
    ``filled``, ``price`` is ``exec_price``; the reason is the status mapped by
    :data:`BACKTEST_REASONS` (a status not listed is kept as its own reason). Order kept.
    """
    if trades.empty:
        return empty_fills()
    filled = pd.to_numeric(trades["filled"]).fillna(0.0).to_numpy(float)
    kept = trades.loc[filled != 0]
    status = kept["status"].astype(str)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(kept["date"]).astype("datetime64[ns]"),
            "symbol": kept["symbol"].astype(object),
            "quantity": kept["filled"].astype(float),
            "price": kept["exec_price"].astype(float),
            "commission": kept["commission"].astype(float),
            "slippage": kept["slippage"].astype(float),
            "reason": status.map(lambda s: BACKTEST_REASONS.get(s, s)).astype(object),
        }
    ).reset_index(drop=True)


def _positions(codes: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # The position of each fill's symbol before and after it (fills grouped by symbol, in
    # order), a position within FLAT_TOLERANCE of zero snapped to it.
    after = pd.Series(q).groupby(codes, sort=False).cumsum().to_numpy(float)
    before = np.empty_like(after)
    before[0] = 0.0
    before[1:] = after[:-1]
    starts = np.r_[True, codes[1:] != codes[:-1]]
    before[starts] = 0.0
    scale = np.maximum(np.maximum(np.abs(before), np.abs(q)), 1.0)
    after = np.where(np.abs(after) <= FLAT_TOLERANCE * scale, 0.0, after)
    before[1:] = np.where(starts[1:], 0.0, after[:-1])
    return before, after


class _Pieces:
    """The fills, grouped by symbol, with a fill that crosses zero split in two."""

    def __init__(self, fills: pd.DataFrame) -> None:
        codes, uniques = pd.factorize(fills["symbol"], sort=False)
        order = np.argsort(codes, kind="stable")
        codes = codes[order]
        q = fills["quantity"].to_numpy(float)[order]
        before, after = _positions(codes, q)
        crosses = before * after < 0
        n = np.where(crosses, 2, 1)
        rows = np.repeat(np.arange(q.size), n)
        second = np.r_[False, rows[1:] == rows[:-1]]  # the opening half of a split fill
        first = np.repeat(crosses, n) & ~second  # the closing half
        q_close = -before[rows]
        whole = q[rows]
        share = np.ones(rows.size)
        share[first] = q_close[first] / whole[first]
        share[second] = 1.0 - share[first]
        self.symbols = np.asarray(uniques, dtype=object)[codes[rows]]
        self.dates = pd.to_datetime(fills["date"]).to_numpy("datetime64[ns]")[order][rows]
        self.q = np.where(first, q_close, np.where(second, whole - q_close, whole))
        self.price = fills["price"].to_numpy(float)[order][rows]
        self.commission = fills["commission"].to_numpy(float)[order][rows] * share
        self.slippage = fills["slippage"].to_numpy(float)[order][rows] * share
        self.reason = fills["reason"].astype(str).to_numpy(object)[order][rows]
        self.before = np.where(second, 0.0, before[rows])
        self.after = np.where(first, 0.0, after[rows])
        starts = self.before == 0.0  # every trip starts flat, each symbol's first fill too
        self.starts = np.flatnonzero(starts)
        self.ends = np.r_[self.starts[1:], self.q.size] - 1

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Return ``values`` summed per trip."""
        return np.add.reduceat(values, self.starts)


def _check(fills: pd.DataFrame) -> None:
    # Refuse fills that cannot make trips, naming the field and the first bad row.
    missing = [c for c in FILL_COLUMNS if c not in fills.columns]
    if missing:
        raise DataError(f"fills lack the columns {missing} (FILL_COLUMNS: {list(FILL_COLUMNS)})")
    q, price = fills["quantity"].to_numpy(float), fills["price"].to_numpy(float)
    bad = {
        "quantity 0 (drop unfilled orders first)": q == 0,
        "quantity not finite": ~np.isfinite(q),
        "price not finite or <= 0": ~(np.isfinite(price) & (price > 0)),
        "symbol missing": fills["symbol"].isna().to_numpy(),
        "date missing": fills["date"].isna().to_numpy(),
    }
    for what, rows in bad.items():
        if rows.any():
            row = fills.iloc[int(np.flatnonzero(rows)[0])]
            raise DataError(
                f"fills: {int(rows.sum())} row(s) with {what}, e.g. {row['symbol']} on "
                f"{row['date']}: quantity {row['quantity']}, price {row['price']}"
            )


def round_trips(
    fills: pd.DataFrame,
    *,
    marks: pd.Series | None = None,
    mark_date: pd.Timestamp | None = None,
    sessions: pd.DatetimeIndex | None = None,
    stop_loss: float | None = None,
) -> pd.DataFrame:
    """Return the round trips of ``fills`` (:data:`ROUND_TRIP_COLUMNS`; module docstring).

    Parameters
    ----------
    fills
        :data:`FILL_COLUMNS`, in the order they executed (per symbol; symbols may interleave).
    marks
        Symbol -> price of the positions still held at the end (the last close). An open trip
        without a mark has NaN pnl (and exit price), and a warning names it.
    mark_date
        The exit date of an open trip: the date of the marks (default: the last of ``sessions``,
        else the last fill's date).
    sessions
        The trading sessions: ``sessions`` counts the sessions between entry and exit in it
        (calendar days when None).
    stop_loss
        The stop's distance as a fraction of the entry price; None (or 0): ``r_multiple`` NaN.

    Returns
    -------
    pandas.DataFrame
        One row per trip, by entry date then symbol; empty (the columns) without fills.

    Raises
    ------
    DataError
        A column is missing, or a fill has a quantity of 0, a price that is not a positive
        number, no symbol or no date.
    """
    _check(fills)
    if fills.empty:
        return empty_round_trips()
    p = _Pieces(fills)
    starts, ends = p.starts, p.ends
    grow = np.abs(p.after) > np.abs(p.before)
    value = np.abs(p.q) * p.price
    entry_value = p.sums(np.where(grow, value, 0.0))
    entry_shares = p.sums(np.where(grow, np.abs(p.q), 0.0))
    exit_value = p.sums(np.where(grow, 0.0, value))
    exit_shares = p.sums(np.where(grow, 0.0, np.abs(p.q)))
    commission, slippage = p.sums(p.commission), p.sums(p.slippage)
    cash = p.sums(-p.q * p.price - p.commission)
    held = p.after[ends]
    is_open = held != 0.0
    symbols = p.symbols[starts]
    mark = np.full(starts.size, np.nan)
    if marks is not None and is_open.any():
        mark[is_open] = pd.Series(marks, dtype=float).reindex(symbols[is_open]).to_numpy(float)
    unmarked = is_open & ~np.isfinite(mark)
    if unmarked.any():
        logger.warning(
            "Open round trips without a mark (pnl NaN): %s", ", ".join(symbols[unmarked])
        )
    pnl = cash + np.where(is_open, held * mark, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exit_price = np.where(is_open, mark, exit_value / exit_shares)
        entry_price = entry_value / entry_shares
        pnl_pct = pnl / entry_value
        r = pnl / (stop_loss * entry_value) if stop_loss else np.full(pnl.size, np.nan)
    entry_date = p.dates[starts]
    if mark_date is None:
        mark_date = sessions[-1] if sessions is not None and len(sessions) else p.dates.max()
    exit_date = np.where(is_open, np.datetime64(pd.Timestamp(mark_date), "ns"), p.dates[ends])
    reason = np.where(p.reason[ends] == "", "signal", p.reason[ends])
    peak = np.maximum.reduceat(np.abs(p.after), starts)
    costs = commission + slippage
    trips = pd.DataFrame(
        {
            "symbol": symbols,
            "side": np.where(p.q[starts] > 0, "long", "short").astype(object),
            "entry_date": pd.DatetimeIndex(entry_date),
            "exit_date": pd.DatetimeIndex(exit_date),
            "entry_price": entry_price,
            "exit_price": exit_price,
            "shares": peak,
            "sessions": _held(entry_date, exit_date, sessions),
            "entry_value": entry_value,
            "pnl": pnl,
            "pnl_pct": pnl_pct,
            "commission": commission,
            "slippage": slippage,
            "costs": costs,
            "gross_pnl": pnl + costs,
            "r_multiple": r,
            "exit_reason": np.where(is_open, "open", reason).astype(object),
            "is_open": is_open,
        }
    )
    order = np.lexsort((np.arange(len(trips)), trips["symbol"].astype(str), entry_date))
    return trips.iloc[order].reset_index(drop=True)


def _held(entry: np.ndarray, exit_: np.ndarray, sessions: pd.DatetimeIndex | None) -> np.ndarray:
    # Sessions between entry and exit (positions in `sessions`), else calendar days.
    if sessions is None:
        return np.asarray((exit_ - entry) // np.timedelta64(1, "D"), dtype=np.int64)
    index = pd.DatetimeIndex(sessions).as_unit("ns").to_numpy("datetime64[ns]")
    held = np.searchsorted(index, exit_) - np.searchsorted(index, entry)
    return np.asarray(held, dtype=np.int64)
