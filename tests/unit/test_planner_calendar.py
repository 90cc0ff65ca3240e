"""The planner on the calendar's hard days (XNYS 2026): early closes, a long weekend, stale data.

2026-11-27 closes at 13:00 (the day after Thanksgiving, 2026-11-26); Monday 2026-09-07 is Labor
Day: the session after Friday 2026-09-04 is Tuesday 2026-09-08.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config import load_config
from quant_core.calendar import TradingCalendar
from quant_core.live.journal import Journal
from quant_core.live.planner import Planner
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerMode
from quant_core.portfolio.costs import CostModel
from tests.factories import Fixed, market

NY = ZoneInfo("America/New_York")
D = dt.date.fromisoformat
EARLY = D("2026-11-27")
REFUSED = (
    "rebalance for 2026-11-27 refused: live.rebalance_time 14:00 is at or after the session's "
    "early close 13:00 America/New_York; the schedule takes it at the next session"
)


def _ny(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=NY)


class Bench:
    """A planner on bars ending at a chosen session, with its journal and reported errors."""

    def __init__(self, tmp: Path, calendar: TradingCalendar) -> None:
        self.tmp, self.calendar = tmp, calendar
        self.journal = Journal(tmp / "journal.duckdb")
        self.reports: list[str] = []

    def planner(self, data_end: str, *overrides: str) -> Planner:
        cfg = load_config("live", [f"paths.data_dir={self.tmp}", *overrides], environ={})
        start = self.calendar.last_sessions(5, D(data_end))[0]
        data = market({"A": [10.0] * 5, "B": [20.0] * 5}, start=str(start))
        assert data.dates[-1] == D(data_end)
        clock = lambda: _ny(data_end, "16:00")  # noqa: E731 - only order_type reads it
        broker = SimBroker(data.symbol_index, 1e5, CostModel(), "pro_rata", False, clock)
        return Planner(
            cfg,
            Fixed({"A": 0.5, "B": 0.5}),
            broker,
            self.journal,
            data,
            self.calendar,
            mode=WorkerMode.SIM,
            clock=clock,
            report=self.reports.append,
            progress=lambda: None,
        )

    def decided(self, session: str) -> None:
        """Record a rebalance decided for ``session`` (nothing to trade)."""
        self.journal.decision("run-1", D(session), _ny(session, "10:00"), "nothing to trade", 0)


@pytest.fixture
def bench(tmp_path: Path, calendar: TradingCalendar) -> Iterator[Bench]:
    out = Bench(tmp_path, calendar)
    yield out
    out.journal.close()


def test_a_rebalance_time_after_an_early_close_is_refused_and_reported_once(
    bench: Bench,
) -> None:
    planner = bench.planner("2026-11-25", "live.rebalance_time=14:00")
    assert planner.due(_ny("2026-11-27", "09:00")) is None  # before the open: nothing said yet
    assert bench.reports == []
    assert planner.due(_ny("2026-11-27", "10:00")) is None  # from the open on: refused
    assert planner.due(_ny("2026-11-27", "14:00")) is None
    assert planner.due(_ny("2026-11-27", "14:05")) is None
    assert bench.reports == [REFUSED]  # once for the day, however often asked
    assert planner.stale_refusal is None  # not a stale-data refusal (no STALE_DATA alert)
    # The stops, asked through the same gate the same day, add no second report.
    assert planner.trading_now(_ny("2026-11-27", "14:10")) is None
    assert bench.reports == [REFUSED]
    # The schedule takes it at the next session, once the data reaches the early close.
    planner.reload(bench.planner("2026-11-27", "live.rebalance_time=14:00").data)
    assert planner.due(_ny("2026-11-30", "14:05")) == D("2026-11-30")
    assert bench.reports == [REFUSED]


def test_a_morning_rebalance_on_an_early_close_day_is_due(bench: Bench) -> None:
    planner = bench.planner("2026-11-25")  # live.rebalance_time 09:35
    assert planner.due(_ny("2026-11-27", "09:34")) is None
    assert planner.due(_ny("2026-11-27", "09:35")) == EARLY
    assert planner.due(_ny("2026-11-27", "12:59")) == EARLY
    assert planner.due(_ny("2026-11-27", "13:00")) is None  # closed at 13:00
    assert bench.reports == []


def test_no_refusal_is_reported_when_the_schedule_does_not_rebalance_that_day(
    bench: Bench,
) -> None:
    bench.decided("2026-11-25")  # the last rebalance; the rule is every 21 sessions
    planner = bench.planner("2026-11-25", "live.rebalance_time=14:00")
    assert planner.due(_ny("2026-11-27", "14:05")) is None
    assert bench.reports == []
    # Every session: the refusal is reported (a second planner: a restarted worker).
    daily = bench.planner("2026-11-25", "live.rebalance_time=14:00", "strategy.rebalance=1")
    assert daily.due(_ny("2026-11-27", "14:05")) is None
    assert bench.reports == [REFUSED]


def test_a_refused_day_already_rebalanced_is_not_reported(bench: Bench) -> None:
    bench.decided("2026-11-27")  # forced earlier in the day
    planner = bench.planner("2026-11-25", "live.rebalance_time=14:00", "strategy.rebalance=1")
    assert planner.due(_ny("2026-11-27", "14:05")) is None
    assert bench.reports == []


def test_the_first_session_after_a_long_weekend_is_due_on_fridays_data(bench: Bench) -> None:
    planner = bench.planner("2026-09-04")  # Friday before Labor Day
    assert planner.due(_ny("2026-09-05", "10:00")) is None  # Saturday
    assert planner.due(_ny("2026-09-07", "10:00")) is None  # Labor Day
    assert bench.reports == []  # nothing refused on days without a session
    assert planner.due(_ny("2026-09-08", "09:40")) == D("2026-09-08")
    assert planner.stale_refusal is None


@pytest.mark.parametrize(
    ("overrides", "suffix"),
    [
        ((), "; run run_data_sync.py"),
        (("live.refresh=none",), "; run run_data_sync.py"),
        (
            ("live.broker=ib", "live.refresh=broker"),
            "; waiting for the worker's data refresh (live.refresh: broker)",
        ),
    ],
)
def test_the_stale_refusal_says_what_brings_the_data(
    bench: Bench, overrides: tuple[str, ...], suffix: str
) -> None:
    planner = bench.planner("2026-09-03", *overrides)  # Thursday: Friday's bars are missing
    assert planner.due(_ny("2026-09-08", "09:40")) is None
    expected = (
        "rebalance for 2026-09-08 refused: the data ends 2026-09-03, not the previous session "
        f"2026-09-04{suffix}"
    )
    assert planner.stale_refusal == expected
    assert bench.reports == [expected]
