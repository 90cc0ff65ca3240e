"""The Live Dashboard's Sleeves section (called by ``views/live.py``, under the commands).

Shown only when the worker runs a book (the state's ``book``): a fragment of its own, refreshed
with the page (``run_every``), draws the sleeves' table (state, equity, P&L, drawdown, weight,
last rebalance, positions) and their positions; under it, outside any fragment like the page's
other buttons, one button per sleeve: HALT while it trades or waits, RESUME once halted. A
button queues its command with the sleeve through the page's own sender (the emergency buttons'
one: an atomic file of its own in ``inbox/``). When a sleeve's state changes (or a book appears
or goes), the fragment asks for one full rerun so the buttons follow. Every word and table comes
from :mod:`quant_core.cockpit.tables.live_sleeve_tables`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from quant_core.cockpit import format as fmt
from quant_core.cockpit.models import dashboard as board
from quant_core.cockpit.tables import live_sleeve_tables as words
from quant_core.live.state import BookStatus

SIGNATURE = "_live_sleeves_signature"
BUTTONS_PER_ROW = 4

Send = Callable[..., None]  # the page's sender: send(kind, sleeve)


def render(live_dir: Path, every: float | None, send: Send, note: str) -> None:
    """Draw the section when the state has a book; it refreshes every ``every`` s (None: not).

    ``send(kind, sleeve)`` queues a command (the page's sender); ``note`` says what HALT does
    now (``models.dashboard_commands.button_notes``: a worker may be down).
    """
    state, _ = board.read(live_dir)
    book = state.book if state is not None else None
    st.session_state[SIGNATURE] = words.signature(book)
    st.fragment(_panel, run_every=every)(live_dir)
    if book is not None:
        _buttons(book, send, note)


def _formats(formats: dict[str, str]) -> dict[str, Any]:
    return {name: st.column_config.NumberColumn(format=spec) for name, spec in formats.items()}


def _panel(live_dir: Path) -> None:
    state, _ = board.read(live_dir)  # a missing or unreadable state is said by the status
    book = state.book if state is not None else None
    if words.signature(book) != st.session_state.get(SIGNATURE):
        st.session_state[SIGNATURE] = words.signature(book)
        st.rerun()  # the buttons (outside this fragment) follow the sleeves' states
    if book is None:
        return
    st.subheader("Sleeves", anchor=False)
    st.caption(fmt.md(words.book_caption(book)))
    st.dataframe(
        words.sleeves_table(book),
        key="sleeves",
        hide_index=True,
        width="stretch",
        column_config=_formats(words.SLEEVE_FORMATS),
    )
    positions = words.positions_table(book)
    st.markdown("**Positions by sleeve**")
    st.caption(f"{len(positions)} position(s) attributed to the sleeves")
    st.dataframe(
        positions,
        key="sleeve_positions",
        hide_index=True,
        width="stretch",
        column_config=_formats(words.POSITION_FORMATS),
    )


def _buttons(book: BookStatus, send: Send, note: str) -> None:
    st.caption(fmt.md(note))
    shown = words.buttons(book)
    for start in range(0, len(shown), BUTTONS_PER_ROW):
        row = shown[start : start + BUTTONS_PER_ROW]
        for column, button in zip(st.columns(BUTTONS_PER_ROW), row, strict=False):
            column.button(
                button.label,
                key=button.key,
                on_click=send,
                args=(button.kind, button.sleeve),
                help=fmt.md(button.note),
                width="stretch",
            )
