"""The Live Dashboard's Sleeves section in AppTest: shown for a book only, HALT and RESUME per
sleeve queued with the sleeve, FLAT and STOP still account-wide."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from quant_core.live.files import queued, write_state
from tests.cockpit.test_live import _state

Opener = Callable[[str], AppTest]

BOOK: dict[str, Any] = {
    "name": "core",
    "reserve": 1_250.5,
    "allocated": "2026-03-02",
    "sleeves": [
        {
            "name": "mom",
            "state": "active",
            "reason": None,
            "equity": 600_000.0,
            "cash": 440_000.0,
            "pnl": 12_500.0,
            "drawdown": 0.031,
            "weight": 0.6,
            "last_rebalance": "2026-03-02",
            "positions": [
                {"symbol": "XOM", "shares": -200.0, "value": -15_000.0},
                {"symbol": "AAPL", "shares": 1000.0, "value": 160_000.0},
            ],
        },
        {
            "name": "rev",
            "state": "halted",
            "reason": "HALT 3f2a",
            "equity": 398_749.5,
            "cash": 398_749.5,
            "pnl": None,  # not computed: shown empty, never as zero
            "drawdown": 0.0,
            "weight": 0.4,
            "last_rebalance": None,
            "positions": [],
        },
    ],
}


def _open(data_dir: Path, open_page: Opener, book: dict[str, Any] | None) -> AppTest:
    state = _state()
    if book is not None:
        state["book"] = book
    write_state(data_dir / "live", state)
    at = open_page("live")
    assert not at.exception, at.exception
    return at


def _table(at: AppTest, *columns: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert len(found) == 1
    frame: pd.DataFrame = found[0]
    return frame


def _subheaders(at: AppTest) -> list[str]:
    return [h.value for h in at.subheader]


def _keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


def test_the_sleeves_of_a_book_show(data_dir: Path, open_page: Opener) -> None:
    at = _open(data_dir, open_page, BOOK)

    assert "Sleeves" in _subheaders(at)
    sleeves = _table(at, "Sleeve", "State", "Drawdown (%)")
    assert list(sleeves["Sleeve"]) == ["mom", "rev"]
    assert list(sleeves["State"]) == ["active", "halted"]
    assert list(sleeves["Equity"]) == [600_000.0, 398_749.5]
    assert sleeves["P&L"][0] == 12_500.0
    assert pd.isna(sleeves["P&L"][1])
    assert list(sleeves["Drawdown (%)"]) == pytest.approx([3.1, 0.0])
    assert list(sleeves["Weight (%)"]) == pytest.approx([60.0, 40.0])
    assert list(sleeves["Last rebalance"]) == ["2026-03-02", "-"]
    assert list(sleeves["Positions"]) == [2, 0]
    positions = _table(at, "Sleeve", "Symbol", "Value")
    assert list(positions["Symbol"]) == ["AAPL", "XOM"]  # the largest value first
    assert list(positions["Sleeve"]) == ["mom", "mom"]
    assert list(positions["Shares"]) == [1000.0, -200.0]
    captions = "\n".join(c.value for c in at.caption)
    assert "Book core: 2 sleeve(s), 1 halted" in captions
    assert "last allocation 2026-03-02" in captions
    # HALT while a sleeve trades, RESUME once halted; the account's buttons stay.
    assert at.button(key="sleeve_halt_mom").label == "HALT mom"
    assert at.button(key="sleeve_resume_rev").label == "RESUME rev"
    assert {"sleeve_resume_mom", "sleeve_halt_rev"}.isdisjoint(_keys(at))
    assert {"btn_cancel", "btn_flat", "btn_stop"} <= _keys(at)


def test_no_sleeves_section_without_a_book(data_dir: Path, open_page: Opener) -> None:
    at = _open(data_dir, open_page, None)

    assert "Sleeves" not in _subheaders(at)
    assert not [d for d in at.dataframe if "Sleeve" in d.value.columns]
    assert not [k for k in _keys(at) if k.startswith("sleeve_")]
    assert {"btn_cancel", "btn_flat", "btn_stop"} <= _keys(at)


def test_halt_queues_the_command_with_its_sleeve(data_dir: Path, open_page: Opener) -> None:
    at = _open(data_dir, open_page, BOOK)

    at.button(key="sleeve_halt_mom").click().run()

    assert not at.exception, at.exception
    [command] = queued(data_dir / "live")
    assert (command["command"], command["sleeve"], command["source"]) == ("HALT", "mom", "cockpit")
    warnings = "\n".join(w.value for w in at.warning)
    assert f"Sent HALT (sleeve mom) id={command['id']}: pending" in warnings


def test_resume_queues_the_command_with_its_sleeve(data_dir: Path, open_page: Opener) -> None:
    at = _open(data_dir, open_page, BOOK)

    at.button(key="sleeve_resume_rev").click().run()

    [command] = queued(data_dir / "live")
    assert (command["command"], command["sleeve"]) == ("RESUME", "rev")


def test_the_buttons_follow_a_sleeves_new_state(data_dir: Path, open_page: Opener) -> None:
    at = _open(data_dir, open_page, BOOK)
    halted = {**BOOK["sleeves"][0], "state": "halted", "reason": "HALT 9c1d"}
    write_state(data_dir / "live", {**_state(), "book": {**BOOK, "sleeves": [halted]}})

    at.run()  # one refresh tick

    assert not at.exception, at.exception
    assert at.button(key="sleeve_resume_mom").label == "RESUME mom"
    assert "sleeve_halt_mom" not in _keys(at)
    assert "sleeve_resume_rev" not in _keys(at)


def test_the_section_goes_when_the_book_goes(data_dir: Path, open_page: Opener) -> None:
    at = _open(data_dir, open_page, BOOK)
    write_state(data_dir / "live", _state())  # a plain strategy's worker now

    at.run()

    assert "Sleeves" not in _subheaders(at)
    assert not [k for k in _keys(at) if k.startswith("sleeve_")]
