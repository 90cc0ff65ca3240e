"""Today's fills from the state take their session from the exchange's clock, as the reports do:
a live worker's state carries no session (only a replay sets one), and a fill at 00:30 UTC is
still the evening before in New York (20:30 UTC the same day)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from quant_core.cockpit.models import dashboard as board
from quant_core.cockpit.models import live_reports as history
from tests.cockpit import live_reports as reports

NY = ZoneInfo("America/New_York")
MONDAY = dt.date(2010, 5, 10)


def test_a_live_workers_fills_take_the_exchanges_date(tmp_path: Path) -> None:
    late = reports.fill(
        MONDAY + dt.timedelta(days=1), "00:30:00", "AAPL", 10, 250.0, "7", None, None
    )
    day = reports.fill(MONDAY, "20:30:00", "MSFT", -5, 30.0, "8", None, None)
    document = reports.state(MONDAY, [day, late], [])
    document["worker"]["session"] = None  # a live worker's (live/state_doc.py)
    reports.write(tmp_path, document)
    state, problem = board.read(tmp_path)
    assert problem is None
    assert state is not None

    fills = history.state_fills(state, NY)

    assert [t.date() for t in fills["session"]] == [MONDAY, MONDAY]
    assert fills["quantity"].tolist() == [-5.0, 10.0]
