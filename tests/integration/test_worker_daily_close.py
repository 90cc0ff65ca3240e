"""The worker records the account at each session's close: journal, state, restart (sim replay)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from quant_core.broker import Position
from quant_core.live.daily_close import DAILY_KEPT, DailyCloseWatch
from quant_core.live.files import load_state
from quant_core.live.journal import Journal
from quant_core.live.worker import Worker
from tests.integration.test_worker_book_risk import CLOSES, SECTORS, SESSIONS, make

pytestmark = pytest.mark.integration
SECTOR_OF = dict(zip(sorted(CLOSES), SECTORS, strict=True))


def _spied(worker: Worker) -> dict[dt.date, list[Position]]:
    """Keep the broker's positions at each recorded close (what the row must be made of)."""
    seen: dict[dt.date, list[Position]] = {}
    record = worker.daily.record

    def spy(w: Worker, session: dt.date) -> Any:
        seen[session] = list(w.broker.positions())
        return record(w, session)

    worker.daily.record = spy  # type: ignore[method-assign,assignment]
    return seen


def _expected(positions: list[Position], row: int, nav: float) -> dict[str, tuple[float, float]]:
    """Each sector's (long, short) at the close of ``row``: quantity x close / equity."""
    out: dict[str, list[float]] = {}
    for p in positions:
        value = p.quantity * CLOSES[p.symbol][row] / nav
        sums = out.setdefault(str(SECTOR_OF[p.symbol]), [0.0, 0.0])
        sums[0 if value > 0 else 1] += value
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_every_close_is_recorded_once_with_its_sectors(tmp_path: Path) -> None:
    worker = make(tmp_path)
    seen = _spied(worker)

    worker.replay(1, SESSIONS - 1)

    state = load_state(worker.live_dir)
    assert state is not None
    sessions = [pd.Timestamp(d).date() for d in worker.data.dates]
    assert [r.session for r in state.daily] == sessions  # rows 0..49, in order, once each
    equity_points = {p.at: p.value for p in state.equity}
    for row, close in enumerate(state.daily):
        assert close.equity == pytest.approx(equity_points[close.session], rel=1e-12)
        assert close.equity is not None
        expected = _expected(seen[close.session], row, close.equity)
        got = {s.sector: (s.long, s.short) for s in close.sectors}
        assert got.keys() == expected.keys()
        for sector, (long, short) in expected.items():
            assert got[sector] == pytest.approx((long, short), rel=1e-9, abs=1e-12)
        assert close.gross == pytest.approx(sum(abs(a) + abs(b) for a, b in got.values()))
    # Held from the first rebalance on: A and C in Tech (C short), B in Energy, nothing in Health.
    last = {s.sector: s for s in state.daily[-1].sectors}
    assert set(last) == {"Tech", "Energy"}
    assert last["Tech"].short < 0 < last["Tech"].long
    assert last["Tech"].net == pytest.approx(last["Tech"].long + last["Tech"].short)
    assert state.daily[0].sectors == ()  # the close before the first fills: flat

    worker.journal.close()
    journal = Journal(tmp_path / "live" / "journal.duckdb")
    closes = journal.table("daily_close")
    assert len(closes) == SESSIONS
    assert closes["session"].is_unique
    assert journal.daily_closes("sim", worker.broker.account_id, 10) == list(state.daily[-10:])
    journal.close()


def test_a_restarted_worker_shows_the_closes_so_far_and_doubles_none(tmp_path: Path) -> None:
    first = make(tmp_path)
    first.replay(1, 30)
    before = load_state(first.live_dir)
    assert before is not None
    first.journal.close()

    again = make(tmp_path)  # the same folder: the journal's rows are read back at start
    after = load_state(again.live_dir)
    assert after is not None
    assert after.daily == before.daily
    again.replay(1, 30)  # the same sessions again: replaced, not added
    replayed = load_state(again.live_dir)
    assert replayed is not None
    assert [r.session for r in replayed.daily] == [r.session for r in before.daily]
    assert len(again.journal.table("daily_close")) == 31
    sectors = again.journal.table("daily_sectors")
    assert not sectors.duplicated(["session", "sector"]).any()


class _Clocked:
    """What DailyCloseWatch.due reads of a worker: the market clock and the calendar."""

    def __init__(self, at: dt.datetime) -> None:
        from quant_core.calendar import get_calendar

        self.calendar = get_calendar("XNYS")
        self.at = at

    def clock(self) -> dt.datetime:
        return self.at


@pytest.mark.parametrize(
    ("local", "due"),
    [
        ("2026-12-03 15:59", None),  # Thursday is trading: Wednesday's close is past saving
        ("2026-12-03 16:00", dt.date(2026, 12, 3)),  # at Thursday's close
        ("2026-12-04 09:29", dt.date(2026, 12, 3)),  # Friday, before its open
        ("2026-12-04 09:30", None),  # Friday's session has opened: too late for Thursday
        ("2026-12-05 11:00", dt.date(2026, 12, 4)),  # Saturday: Friday's close
        ("2026-11-27 14:00", dt.date(2026, 11, 27)),  # Black Friday closes at 13:00
    ],
)
def test_a_close_is_due_after_it_and_before_the_next_open(local: str, due: dt.date | None) -> None:
    at = pd.Timestamp(local, tz="America/New_York").to_pydatetime()
    worker = _Clocked(at)
    watch = DailyCloseWatch()
    assert watch.due(worker) == due  # type: ignore[arg-type]


def test_a_recorded_close_is_not_due_again() -> None:
    from quant_core.live.state_risk import DailyClose

    worker = _Clocked(pd.Timestamp("2026-12-03 17:00", tz="America/New_York").to_pydatetime())
    watch = DailyCloseWatch()
    watch.rows.append(DailyClose(dt.date(2026, 12, 3), 1.0, 0.0, ()))
    assert watch.due(worker) is None  # type: ignore[arg-type]
    assert watch.rows.maxlen == DAILY_KEPT
