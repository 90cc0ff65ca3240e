"""The Explorer's trades table: every order with a flag and a note, coloured by status.

Pure, without Streamlit: the page shows :func:`trades_styler` (or the plain view when the
table is too large to style) and counts the statuses with :func:`status_counts`. Besides the
ledger's fill statuses, a filled order a stop made carries ``stop_loss``, ``take_profit`` or
``trailing_stop`` and one an account limit made (``risk.on_breach: flat``) ``halt_flat``; the
figures behind each are in the run's decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from quant_core.backtest.records import TRADE_COLUMNS
from quant_core.portfolio.halts import HALT_FLAT
from quant_core.portfolio.ledger import EXIT_STATUS, FillStatus
from quant_core.portfolio.stops import StopKind

# status -> (flag shown in the table, what happened)
STATUS_NOTES: dict[str, tuple[str, str]] = {
    FillStatus.FILLED: ("", ""),
    FillStatus.TRUNCATED_CASH: (
        "TRUNCATED",
        "cash short at the open: filled {filled:,.0f} of {requested:,.0f}",
    ),
    FillStatus.REJECTED_NO_PRICE: ("UNFILLED", "no open price: nothing traded"),
    EXIT_STATUS: ("EXIT", "symbol left the data: sold at its last close"),
    StopKind.STOP_LOSS: (
        "STOP LOSS",
        "risk.stop_loss: the close before was that fraction against the average cost; "
        "closed at this open",
    ),
    StopKind.TAKE_PROFIT: (
        "TAKE PROFIT",
        "risk.take_profit: the close before was that fraction beyond the average cost; "
        "closed at this open",
    ),
    StopKind.TRAILING_STOP: (
        "TRAILING STOP",
        "risk.trailing_stop: the close before had given back that fraction from the best close "
        "since entry; closed at this open",
    ),
    HALT_FLAT: (
        "HALT FLAT",
        "an account limit tripped at the close before (risk.on_breach: flat): closed at this open",
    ),
}
STOP_STATUSES: tuple[str, ...] = (StopKind.STOP_LOSS, StopKind.TAKE_PROFIT, StopKind.TRAILING_STOP)
ROW_COLORS: dict[str, str] = {
    FillStatus.TRUNCATED_CASH: "background-color: rgba(230, 159, 0, 0.25)",
    FillStatus.REJECTED_NO_PRICE: "background-color: rgba(213, 94, 0, 0.25)",
    EXIT_STATUS: "background-color: rgba(86, 180, 233, 0.18)",
    **dict.fromkeys(STOP_STATUSES, "background-color: rgba(204, 121, 167, 0.22)"),
    HALT_FLAT: "background-color: rgba(0, 0, 0, 0.12)",
}
# The engine's columns, with the flag after the side and its note before the status.
TRADE_ORDER = [
    *TRADE_COLUMNS[:3],
    "flag",
    *TRADE_COLUMNS[3:-1],
    "note",
    TRADE_COLUMNS[-1],
]

# Column -> header: units in the header, as everywhere (the page adds its column types).
TRADE_LABELS = {
    "date": "Date",
    "symbol": "Symbol",
    "side": "Side",
    "flag": "Flag",
    "note": "Note",
    "status": "Status (engine)",
    "requested": "Requested (shares)",
    "filled": "Filled (shares)",
    "signal_price": "Signal close ($)",
    "open_price": "Open ($)",
    "exec_price": "Fill price ($)",
    "notional": "Notional ($)",
    "commission": "Commission ($)",
    "slippage": "Slippage ($)",
}


def trades_view(trades: pd.DataFrame, only_flagged: bool = False) -> pd.DataFrame:
    """Return the trades for the table, each order not plainly filled flagged.

    Parameters
    ----------
    trades
        The engine's trades frame (``status`` is filled, truncated_cash, rejected_no_price,
        exit_at_last_close, stop_loss, take_profit, trailing_stop or halt_flat).
    only_flagged
        Keep only orders that were not plainly filled.

    Returns
    -------
    pandas.DataFrame
        The trades with ``flag`` (``TRUNCATED``, ``UNFILLED``, ``EXIT``, ``STOP LOSS``, ``TAKE
        PROFIT``, ``TRAILING STOP``, ``HALT FLAT`` or empty) and ``note`` (what happened, in
        words) added.
    """
    frame = trades.copy()
    frame["date"] = pd.DatetimeIndex(frame["date"])
    flags, notes = [], []
    for status, filled, requested in zip(
        frame["status"], frame["filled"], frame["requested"], strict=True
    ):
        flag, note = STATUS_NOTES.get(status, (str(status).upper(), ""))
        flags.append(flag)
        notes.append(note.format(filled=abs(filled), requested=abs(requested)))
    frame["flag"] = pd.Series(flags, index=frame.index, dtype=object)
    frame["note"] = pd.Series(notes, index=frame.index, dtype=object)
    if only_flagged:
        frame = frame[frame["status"] != FillStatus.FILLED]
    ordered = [c for c in TRADE_ORDER if c in frame] + [c for c in frame if c not in TRADE_ORDER]
    return frame[ordered].reset_index(drop=True)


def trade_row_styles(view: pd.DataFrame) -> pd.DataFrame:
    """Return CSS per cell: flagged orders get their status colour across the row."""
    css = [ROW_COLORS.get(s, "") for s in view["status"]]
    return pd.DataFrame(
        np.repeat(np.array(css, dtype=object)[:, None], view.shape[1], axis=1),
        index=view.index,
        columns=view.columns,
    )


MONEY_COLUMNS = ("signal_price", "open_price", "exec_price", "notional", "commission", "slippage")
UNFILLED = "unfilled"  # the fill price and notional of an order that traded nothing
NO_OPEN = "no open"  # the open of a symbol that had no open price that session
FILL_COLUMNS = ("exec_price", "notional")


def _words(view: pd.DataFrame) -> dict[str, tuple[pd.Series, str]]:
    # column -> (rows that show a word instead of a number, the word)
    out: dict[str, tuple[pd.Series, str]] = {}
    if "filled" in view:
        nothing = view["filled"].fillna(0).eq(0)
        out |= {c: (nothing, UNFILLED) for c in FILL_COLUMNS if c in view}
    if "open_price" in view:
        out["open_price"] = (view["open_price"].isna(), NO_OPEN)
    return out


def _word(text: str) -> Callable[[Any], str]:
    # A cell formatter that shows ``text`` whatever the value under it.
    return lambda _: text


def trades_styler(view: pd.DataFrame) -> Styler:
    """Return the trades table styled: flagged rows coloured, $ and shares formatted.

    An order that filled nothing (``rejected_no_price``, or truncated to 0 shares) shows
    ``unfilled`` as its fill price and notional, and a session without an open price (an
    unfilled order, an exit at the last close) ``no open`` as its open: never an empty price
    the grid would draw as "None". The stored trades keep NaN there (and the CSV download,
    empty cells); only the table's cells hold a 0 under the word, so the columns still sort as
    numbers (an unfilled order with the zeros).
    """
    words = _words(view)
    shown = view.copy()
    for column, (rows, _) in words.items():
        shown[column] = shown[column].mask(rows, 0.0)
    formats: dict[str, Any] = {c: "${:,.2f}" for c in MONEY_COLUMNS if c in view}
    formats |= {c: "{:,.0f}" for c in ("requested", "filled") if c in view}
    formats["date"] = lambda d: f"{d:%Y-%m-%d}"
    styler = shown.style.apply(trade_row_styles, axis=None).format(formats, na_rep="-")
    for column, (rows, word) in words.items():
        if rows.any():
            styler = styler.format(_word(word), subset=pd.IndexSlice[shown.index[rows], [column]])
    return styler


def status_counts(trades: pd.DataFrame) -> dict[str, int]:
    """Return how many orders had each status, every known status present."""
    counts = trades["status"].value_counts() if len(trades) else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in STATUS_NOTES} | {
        str(s): int(c) for s, c in counts.items() if s not in STATUS_NOTES
    }


def status_line(trades: pd.DataFrame) -> str:
    """Return one Markdown line counting the orders by status, with their row colours.

    Every order is counted once: filled, truncated, unfilled, exits at a last close, each stop
    and halt exit, and any other status by name, so the parts add up to the total.
    """
    counts = status_counts(trades)
    stops = ", ".join(f"{counts[s]:,} {s.replace('_', ' ')}" for s in STOP_STATUSES)
    known = {*STATUS_NOTES}
    others = "".join(f", {n:,} {s}" for s, n in counts.items() if s not in known)
    return (
        f"{len(trades):,} orders: {counts[FillStatus.FILLED]:,} filled, "
        f"**{counts[FillStatus.TRUNCATED_CASH]:,} truncated** (cash short at the open, orange), "
        f"**{counts[FillStatus.REJECTED_NO_PRICE]:,} unfilled** (no open price, red), "
        f"{counts[EXIT_STATUS]:,} exits at a last close (blue), "
        f"**stop exits: {stops}** (purple), "
        f"**{counts[HALT_FLAT]:,} halt exits** (account limit, on_breach: flat; grey)"
        f"{others}. Prices and costs in $, quantities in shares."
    )


def trades_plain(view: pd.DataFrame) -> pd.DataFrame:
    """Return the trades for a table too large to style: the word columns as text.

    The columns where :func:`trades_styler` shows a word (``unfilled``, ``no open``) become
    text (``$12.34`` or the word), so no cell reads "None"; every other column keeps numbers.
    """
    shown = view.copy()
    for column, (rows, word) in _words(view).items():
        text = view[column].map(lambda v: "-" if pd.isna(v) else f"${v:,.2f}")
        shown[column] = text.mask(rows, word).astype(object)
    return shown
