"""The account's book from its fills, as TWS's portfolio window keeps it: the average-cost method.

Each symbol's fills, in the order they happened, move a signed position ``q`` and a signed cost
basis ``B`` (dollars; a short's is negative), commissions included as TWS includes them:

* a fill of ``x`` shares (signed) at price ``p`` with commission ``c`` that opens or adds:
  ``B += x p + c``, ``q += x`` (so the average cost ``B / q`` of a long is ``p + c / x``, of a
  short ``p - c / |x|``);
* one that reduces closes ``k = min(|x|, |q|)`` shares at the average cost ``A = B / q``:
  realised ``k sign(q) (p - A) - c k / |x|``, and ``B -= A k sign(q)``;
* one that crosses zero opens the other side with the rest: ``B = (|x| - k) sign(x) p +
  c (|x| - k) / |x|`` (the commission split by shares, as the round trips split it).

So realised plus unrealised (``q m - B`` at a mark ``m``) is always the cash of the fills plus
the position at the mark: ``sum(-x p - c) + q m``. :func:`position_rows` gives each symbol's
session: start and end quantity and value, its realised P&L that session and in all, the
unrealised P&L at the close and the session's P&L ``end value - start value + sum(-x p - c)``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from quant_core.analytics.average_cost import SHARE_EPSILON, average_cost
from quant_core.broker import Position

POSITION_COLUMNS = (
    "symbol",
    "quantity",
    "avg_cost",
    "market_price",
    "market_value",
    "unrealized_pnl",
    "realized_pnl",
)
SESSION_COLUMNS = (
    "symbol",
    "start_quantity",
    "start_price",
    "start_value",
    "end_quantity",
    "bought",
    "sold",
    *POSITION_COLUMNS[2:],
    "session_realized",
    "pnl",
    "explained",
)


def position_rows(
    fills: pd.DataFrame,
    session: dt.date,
    held: list[Position],
    start_prices: pd.Series,
    close_prices: pd.Series,
) -> pd.DataFrame:
    """Return each symbol's session (:data:`SESSION_COLUMNS`), held or traded, by symbol.

    ``fills``: the account's fills in the order they happened (``session`` dates, ``symbol``,
    signed ``quantity``, ``price``, ``commission``); those after ``session`` are
    left out. ``held``: the broker's positions at the close (the end quantity and its market
    price, the truth). ``start_prices``: the closes of T-1 by symbol; ``close_prices``: the
    session's closes, for a price the broker does not give.

    The start quantity is the end quantity less the session's fills. A position the fills do not
    explain (held before the journal, or traded elsewhere) is ``explained`` False: its average
    cost is the broker's, its realised P&L unknown (NaN).
    """
    sessions = fills["session"].to_numpy(dtype=object)
    upto = sessions <= session
    symbols = fills["symbol"].to_numpy(dtype=object)[upto].astype(str)
    x = fills["quantity"].to_numpy(dtype=float)[upto]
    price = fills["price"].to_numpy(dtype=float)[upto]
    commission = fills["commission"].to_numpy(dtype=float)[upto]
    folded = average_cost(symbols, x, price, commission)
    today = sessions[upto] == session
    broker = {p.symbol: p for p in held}
    names = sorted(set(broker) | set(symbols[today].tolist()))
    m = len(names)
    # Each fill's row: -1 for a symbol neither held nor traded in the session.
    at = pd.Index(names, dtype=object).get_indexer(pd.Index(symbols, dtype=object))
    mine = at >= 0
    last = np.full(m, -1)
    np.maximum.at(last, at[mine], np.flatnonzero(mine))  # each symbol's last fill

    def per_symbol(mask: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.bincount(at[mask], weights=weights[mask], minlength=m)

    now = mine & today
    end = np.array([broker[n].quantity if n in broker else 0.0 for n in names], dtype=float)
    broker_cost = np.array([broker[n].avg_cost if n in broker else np.nan for n in names])
    mark = np.array([broker[n].market_price if n in broker else np.nan for n in names])
    mark = np.where(np.isfinite(mark), mark, _prices(close_prices, names))
    start = end - per_symbol(now, x)
    start_price = _prices(start_prices, names)
    fold_position, basis = _last(folded.position, last), _last(folded.basis, last)
    explained = np.abs(fold_position - end) <= SHARE_EPSILON * np.maximum(1.0, np.abs(end))
    held_now = np.abs(end) > SHARE_EPSILON
    with np.errstate(divide="ignore", invalid="ignore"):
        fold_cost = np.where(held_now, basis / end, np.nan)
    market_value = _value(end, mark)
    start_value = _value(start, start_price)
    cash = per_symbol(now, -(x * price + commission))
    unexplained = np.where(explained, 1.0, np.nan)  # realised P&L unknown where unexplained
    return pd.DataFrame(
        {
            "symbol": pd.Series(names, dtype=object),
            "start_quantity": start,
            "start_price": start_price,
            "start_value": start_value,
            "end_quantity": end,
            "bought": per_symbol(now, np.clip(x, 0.0, None)),
            "sold": np.abs(per_symbol(now, np.clip(x, None, 0.0))),
            "avg_cost": np.where(explained, fold_cost, broker_cost),
            "market_price": mark,
            "market_value": market_value,
            "unrealized_pnl": market_value
            - np.where(explained, basis, end * np.nan_to_num(broker_cost)),
            "realized_pnl": per_symbol(mine, folded.realized) * unexplained,
            "session_realized": per_symbol(now, folded.realized) * unexplained,
            "pnl": market_value - start_value + cash,
            "explained": explained,
        },
        columns=list(SESSION_COLUMNS),
    )


def _last(values: np.ndarray, last: np.ndarray) -> np.ndarray:
    # Each symbol's value after its last fill; 0 for one without a fill.
    if not values.size:
        return np.zeros(len(last))
    return np.where(last >= 0, values[np.maximum(last, 0)], 0.0)


def _prices(prices: pd.Series, names: list[str]) -> np.ndarray:
    return prices.reindex(pd.Index(names, dtype=object)).to_numpy(dtype=float)


def _value(quantity: np.ndarray, price: np.ndarray) -> np.ndarray:
    # A flat position is worth 0 whatever its price (even none).
    flat = np.abs(quantity) <= SHARE_EPSILON
    return np.where(flat, 0.0, quantity * np.where(flat, 0.0, price))


def tws_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the portfolio window's rows (:data:`POSITION_COLUMNS`) of :func:`position_rows`.

    Every position held at the close, and every one closed during the session (quantity 0,
    with its realised P&L), as TWS shows them until the next day.
    """
    out = rows.rename(columns={"end_quantity": "quantity"})[list(POSITION_COLUMNS)]
    return out.reset_index(drop=True)
