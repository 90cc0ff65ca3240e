"""The state document's ``book``: a book's sleeves written and read back as a BookStatus."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest

from quant_core.live.book_status import BookStatus, SleevePosition, SleeveState, SleeveStatus
from quant_core.live.files import STATE_FILE, load_state, write_state
from quant_core.live.state import AccountSummary, DashboardState
from quant_core.live.state_fields import StateSchemaError

AT = "2026-03-02T15:00:00+00:00"

BOOK = BookStatus(
    name="core",
    reserve=1_250.5,
    allocated=dt.date(2026, 3, 2),
    sleeves=(
        SleeveStatus(
            name="mom",
            state=SleeveState.HALTED,
            reason="HALT 3f2a",
            equity=60_100.25,
            cash=1_000.0,
            pnl=100.25,
            drawdown=0.031,
            weight=0.6,
            last_rebalance=dt.date(2026, 2, 27),
            positions=(SleevePosition("AAPL", 300.0, 48_000.0), SleevePosition("XOM", -20.0, -1.5)),
        ),
        SleeveStatus(
            name="rev",
            state=SleeveState.WAITING,
            reason=None,
            equity=40_000.0,
            cash=40_000.0,
            pnl=0.0,
            drawdown=0.0,
            weight=None,
            last_rebalance=None,
            positions=(),
        ),
    ),
)


def _doc(**extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "worker": {"pid": 1, "state": "RUNNING", "reason": "", "mode": "sim"}
        | {"account": "SIM", "run_id": "r", "started_at": AT, "heartbeat_at": AT}
        | {"session": None, "strategy": "core"},
        "account": dict.fromkeys(AccountSummary.__slots__),
        "positions": [],
        "open_orders": [],
        "fills_today": [],
        "equity": [],
        "risk": {"status": "ok", "limit": None, "reason": None},
        "rebalance": {"last": None, "next": None},
        "reconciled": {},
        "commands": [],
        "errors": [],
        **extra,
    }


def _with_book(book: BookStatus | None) -> DashboardState:
    return dataclasses.replace(DashboardState.from_json(_doc()), book=book)


def test_the_book_round_trips_through_the_state_file(tmp_path: Path) -> None:
    write_state(tmp_path, _with_book(BOOK))

    state = load_state(tmp_path)

    assert state is not None
    assert state.book == BOOK


def test_the_book_key_is_written_in_its_json_shape(tmp_path: Path) -> None:
    write_state(tmp_path, _with_book(BOOK))

    written = json.loads((tmp_path / STATE_FILE).read_text())["book"]

    assert written["name"] == "core"
    assert written["reserve"] == 1_250.5
    assert written["allocated"] == "2026-03-02"
    mom, rev = written["sleeves"]
    assert mom == {
        "name": "mom",
        "state": "halted",
        "reason": "HALT 3f2a",
        "equity": 60_100.25,
        "cash": 1_000.0,
        "pnl": 100.25,
        "drawdown": 0.031,
        "weight": 0.6,
        "last_rebalance": "2026-02-27",
        "positions": [
            {"symbol": "AAPL", "shares": 300.0, "value": 48_000.0},
            {"symbol": "XOM", "shares": -20.0, "value": -1.5},
        ],
    }
    assert (rev["state"], rev["weight"], rev["last_rebalance"], rev["positions"]) == (
        "waiting",
        None,
        None,
        [],
    )


def test_a_plain_strategy_writes_null_and_an_older_file_has_no_key(tmp_path: Path) -> None:
    write_state(tmp_path, _with_book(None))

    assert json.loads((tmp_path / STATE_FILE).read_text())["book"] is None
    assert DashboardState.from_json(_doc()).book is None  # no key: an older worker's file
    assert DashboardState.from_json(_doc(book=None)).book is None


def test_a_figure_the_book_could_not_compute_reads_back_as_nan(tmp_path: Path) -> None:
    sleeve = dataclasses.replace(BOOK.sleeves[1], equity=math.nan, drawdown=math.inf)
    write_state(tmp_path, _with_book(dataclasses.replace(BOOK, sleeves=(sleeve,))))

    written = json.loads((tmp_path / STATE_FILE).read_text())["book"]["sleeves"][0]
    state = load_state(tmp_path)

    assert written["equity"] is None  # strict JSON: no NaN in the file
    assert written["drawdown"] is None
    assert state is not None
    assert state.book is not None
    assert math.isnan(state.book.sleeves[0].equity)
    assert math.isnan(state.book.sleeves[0].drawdown)
    assert state.book.sleeves[0].cash == 40_000.0


@pytest.mark.parametrize(
    ("sleeve", "field"),
    [
        ({"state": "sleeping"}, "book.sleeves[0].state"),
        ({"equity": "lots"}, "book.sleeves[0].equity"),
        ({"positions": [{"symbol": "AAPL", "shares": 1.0}]}, "book.sleeves[0].positions[0].value"),
        ({"last_rebalance": "yesterday"}, "book.sleeves[0].last_rebalance"),
    ],
)
def test_a_malformed_sleeve_names_its_field(sleeve: dict[str, Any], field: str) -> None:
    body = json.loads(json.dumps(DashboardState.to_json(_with_book(BOOK))))
    body["book"]["sleeves"][0].update(sleeve)

    with pytest.raises(StateSchemaError) as raised:
        DashboardState.from_json(body)

    assert raised.value.field == field
