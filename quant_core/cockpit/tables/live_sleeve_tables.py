"""The Live Dashboard's sleeves: a book's sleeves, their positions, and their buttons' words.

From the state's ``book`` (a :class:`~quant_core.live.book_status.BookStatus`, None for a worker
running a plain strategy). Units: dollars; ``drawdown`` is a fraction below the sleeve's peak
net asset value and ``weight`` the last allocation's fraction of the book, both shown in percent
(``100 x fraction``). A figure the worker could not compute (written as null, read as NaN) is
shown as a blank (Streamlit draws a grey "None"), never as zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from quant_core.cockpit.format import money
from quant_core.live.files import CommandKind
from quant_core.live.state import BookStatus, SleeveState, SleeveStatus
from quant_core.live.state_fields import finite

SLEEVE_FORMATS = {
    "Equity": "dollar",
    "P&L": "dollar",
    "Drawdown (%)": "%.2f%%",
    "Weight (%)": "%.2f%%",
}
SLEEVE_COLUMNS = ["Sleeve", "State", *SLEEVE_FORMATS, "Last rebalance", "Positions", "Reason"]
POSITION_FORMATS = {"Shares": "localized", "Value": "dollar"}
POSITION_COLUMNS = ["Sleeve", "Symbol", *POSITION_FORMATS]


@dataclass(frozen=True, slots=True)
class SleeveButton:
    """One sleeve's button: HALT while it is not halted, RESUME once it is."""

    sleeve: str
    kind: CommandKind
    label: str
    key: str
    note: str


def _percent(fraction: float | None) -> float | None:
    value = finite(fraction)
    return None if value is None else 100.0 * value


def sleeves_table(book: BookStatus | None) -> pd.DataFrame:
    """Return one row per sleeve, in the book's order.

    Columns: sleeve, state, equity, P&L, drawdown (%), weight (%), last rebalance, positions
    (how many the sleeve holds), and why it is halted or waiting.
    """
    rows = [
        {
            "Sleeve": s.name,
            "State": s.state.value,
            "Equity": finite(s.equity),
            "P&L": finite(s.pnl),
            "Drawdown (%)": _percent(s.drawdown),
            "Weight (%)": _percent(s.weight),
            "Last rebalance": s.last_rebalance.isoformat() if s.last_rebalance else "-",
            "Positions": len(s.positions),
            "Reason": s.reason or "",
        }
        for s in (book.sleeves if book is not None else ())
    ]
    return pd.DataFrame(rows, columns=SLEEVE_COLUMNS)


def positions_table(book: BookStatus | None) -> pd.DataFrame:
    """Return every sleeve's positions: sleeve (book order), then the largest value first."""
    rows = []
    for s in book.sleeves if book is not None else ():
        held = sorted(s.positions, key=lambda p: -abs(finite(p.value) or 0.0))
        rows += [
            {
                "Sleeve": s.name,
                "Symbol": p.symbol,
                "Shares": finite(p.shares),
                "Value": finite(p.value),
            }
            for p in held
        ]
    return pd.DataFrame(rows, columns=POSITION_COLUMNS)


def book_caption(book: BookStatus) -> str:
    """Return one line: the book's name, its sleeves, the reserve, and the last allocation."""
    halted = sum(s.state is SleeveState.HALTED for s in book.sleeves)
    allocated = book.allocated.isoformat() if book.allocated else "none yet"
    return (
        f"Book {book.name}: {len(book.sleeves)} sleeve(s), {halted} halted · reserve "
        f"{money(finite(book.reserve))} (cash no sleeve holds) · last allocation {allocated}"
    )


def buttons(book: BookStatus | None) -> list[SleeveButton]:
    """Return each sleeve's button, in the book's order: RESUME when halted, else HALT."""
    sleeves = book.sleeves if book is not None else ()
    return [_resume(s) if s.state is SleeveState.HALTED else _halt(s) for s in sleeves]


def _halt(s: SleeveStatus) -> SleeveButton:
    note = (
        f"Stops {s.name} deciding: it holds its positions and places no order; the other "
        "sleeves trade on. FLAT and STOP stay account-wide."
    )
    return SleeveButton(s.name, CommandKind.HALT, f"HALT {s.name}", f"sleeve_halt_{s.name}", note)


def _resume(s: SleeveStatus) -> SleeveButton:
    why = f" (halted: {s.reason})" if s.reason else ""
    note = f"Lets {s.name} decide again from its next rebalance{why}. The worker's state stays."
    key = f"sleeve_resume_{s.name}"
    return SleeveButton(s.name, CommandKind.RESUME, f"RESUME {s.name}", key, note)


def signature(book: BookStatus | None) -> str:
    """Return what the sleeves' buttons depend on (a change redraws them): names and states."""
    if book is None:
        return "no book"
    return "|".join(f"{s.name}={s.state.value}" for s in book.sleeves)
