"""The state document's fields (live.state_fields): non-finite numbers written as null."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quant_core.live.files import STATE_FILE, load_state, write_state
from quant_core.live.state import AccountSummary, DashboardState, EquityPoint, WorkerState
from quant_core.live.state_fields import encode, parse_date

AT = "2026-03-02T15:00:00+00:00"


def _state() -> DashboardState:
    return DashboardState.from_json(
        {
            "schema_version": 1,
            "worker": {"pid": 1, "state": "RUNNING", "reason": "", "mode": "ib-paper"}
            | {"account": "DU1", "run_id": "r", "started_at": AT, "heartbeat_at": AT}
            | {"session": None, "strategy": "momentum"},
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
        }
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_a_number_that_is_not_finite_is_written_as_null(value: float) -> None:
    assert encode(value) is None
    assert encode((1.0, value)) == [1.0, None]
    assert encode([value, [value]]) == [None, [None]]  # a list is written like a tuple
    assert encode({"x": value}) == {"x": None}


def test_finite_values_are_written_as_they_are() -> None:
    assert encode(1.5) == 1.5
    assert encode(np.float64(2.5)) == 2.5
    assert encode([dt.date(2026, 3, 2), WorkerState.RUNNING]) == ["2026-03-02", "RUNNING"]


def test_a_nan_net_liquidation_is_written_as_null(tmp_path: Path) -> None:
    # IB reports NaN for net liquidation before it has sent the account's figures.
    nan = math.nan
    state = dataclasses.replace(
        _state(),
        account=AccountSummary(nan, nan, 1.0, None, nan, nan),
        equity=(EquityPoint(dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC), nan),),
    )
    write_state(tmp_path, state)

    text = (tmp_path / STATE_FILE).read_text(encoding="utf-8")
    assert "NaN" not in text
    doc: dict[str, Any] = json.loads(text)
    assert doc["schema_version"] == 1
    assert doc["account"]["net_liquidation"] is None
    assert doc["account"]["buying_power"] == 1.0
    assert doc["equity"] == [[AT, None]]
    loaded = load_state(tmp_path)
    assert loaded is not None
    assert loaded.account.net_liquidation is None


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-03-02", dt.date(2026, 3, 2)),
        ("2026-13-02", None),
        (AT, None),  # a time is not a date
        ("", None),
        (None, None),
        (20260302, None),
    ],
)
def test_parse_date(text: object, day: dt.date | None) -> None:
    assert parse_date(text) == day


def test_an_equity_point_tells_a_date_from_a_time() -> None:
    assert EquityPoint.from_json(["2026-03-02", 1.0]).at == dt.date(2026, 3, 2)
    at = EquityPoint.from_json(["20260302", 1.0]).at  # compact: read as a time, as before
    assert at == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert EquityPoint.from_json([AT, None]).at == dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)


def test_a_daily_row_is_encoded_once_and_as_any_row() -> None:
    # The document's daily rows (up to a year of them, written at every heartbeat) keep their
    # JSON: the same object each time, equal to the generic encoding; NaN still null.
    from quant_core.live.state_fields import Row
    from quant_core.live.state_risk import ENCODED_KEPT, DailyClose, SectorExposureRow

    sector = SectorExposureRow("Energy", 0.25, -0.05, 0.3, 0.2)
    row = DailyClose(dt.date(2026, 3, 2), math.nan, 0.3, (sector,))
    first = row.to_json()
    assert row.to_json() is first
    assert first == Row.to_json(row)
    assert first["equity"] is None
    assert first["sectors"][0]["short"] == -0.05
    twin = DailyClose(dt.date(2026, 3, 2), 1.0, 0.3, (sector,))
    assert twin.to_json()["equity"] == 1.0  # another row: its own JSON
    for k in range(ENCODED_KEPT + 5):  # bounded: the oldest are dropped
        DailyClose(dt.date(2026, 3, 2), float(k), 0.0, ()).to_json()
    again = row.to_json()
    assert again == first
    assert again is not first
