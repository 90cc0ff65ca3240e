"""The live book: schedules, executions by session, the saved state, restarts, halts, look-ahead.

A two-sleeve book on a small random-walk market, driven through :class:`BookPlanner` and the
simulated broker as the worker drives it (plan, place, open, journal the fills, settle at the
close), so each test checks what a worker would do, on the journal a worker would write.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from config import load_config
from quant_core.book.sleeves import AllocationRule, Book, Sleeve, SleeveRisk
from quant_core.broker import Fill, OrderRef
from quant_core.calendar import TradingCalendar
from quant_core.data.panels import MarketData
from quant_core.errors import ConfigError, DataError
from quant_core.live import book_schedule, book_state_io
from quant_core.live.book_planner import BookPlanner
from quant_core.live.book_settle import session_fills
from quant_core.live.book_status import SleeveState
from quant_core.live.journal import Journal
from quant_core.live.sim_broker import SimBroker
from quant_core.live.state import WorkerMode
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.ledger import exit_prices
from quant_core.scanners import build_scanner
from quant_core.strategies.base import build_strategy
from tests.factories import market

NY = ZoneInfo("America/New_York")
SYMBOLS = [f"S{i:02d}" for i in range(12)]


def _market(rows: int = 80, seed: int = 3) -> MarketData:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0005, 0.02, size=(rows, len(SYMBOLS)))
    closes = 20.0 * np.exp(np.cumsum(steps, axis=0))
    opens = closes * np.exp(rng.normal(0.0, 0.005, size=closes.shape))
    return market(
        {s: closes[:, i].tolist() for i, s in enumerate(SYMBOLS)},
        opens={s: opens[:, i].tolist() for i, s in enumerate(SYMBOLS)},
        start="2010-01-04",
    )


def _book(*, risk: bool = False) -> Book:
    liquid = build_scanner("liquid", {"top": 6, "window": 5, "min_price": 1, "min_history": 5})
    guard = SleeveRisk(max_drawdown=0.02, on_breach="flat") if risk else SleeveRisk()
    return Book(
        (
            Sleeve("mom", build_strategy("momentum", {"lookback": 5}), 5, scanner=liquid),
            Sleeve("rev", build_strategy("momentum", {"lookback": 10}), 3, risk=guard),
        ),
        AllocationRule(method="equal", rebalance="monthly", min_sessions=2),
        name="unit",
    )


class Desk:
    """A book planner, its simulated broker and journal, stepped session by session."""

    def __init__(self, tmp: Path, calendar: TradingCalendar, data: MarketData, book: Book) -> None:
        self.tmp, self.calendar, self.data, self.book = tmp, calendar, data, book
        self.now = dt.datetime(2010, 1, 4, 16, tzinfo=NY)
        self.cfg = load_config("live", [f"paths.data_dir={tmp}"], environ={})
        self.broker = SimBroker(
            data.symbol_index, 100_000.0, CostModel(), "pro_rata", False, lambda: self.now
        )
        self.broker.connect()
        self.journal = Journal(tmp / "journal.duckdb")
        self.journal.start_run("run-1", "sim", "sha", self.now)
        self.journal.set_account("run-1", self.broker.account_id)
        self.reports: list[str] = []
        self.planner = self.new_planner()

    def new_planner(self) -> BookPlanner:
        """Return a planner attached to the journal's book (a worker's start, or restart)."""
        planner = BookPlanner(
            self.cfg,
            self.book.sleeves[0].strategy,
            self.broker,
            self.journal,
            self.data,
            self.calendar,
            book=self.book,
            start=pd.Timestamp(self.data.dates[1]).date(),
            mode=WorkerMode.SIM,
            clock=lambda: self.now,
            report=self.reports.append,
            progress=lambda: None,
        )
        self.reports += planner.attach(self.broker.account().cash, self.now)
        return planner

    def close(self, t: int) -> None:
        """The close of row ``t``: the broker marked, the sleeves settled and marked."""
        self.broker.mark(self.data.panels["close"][t])
        self.planner.settle(t)

    def open(self, t: int, *, journal: bool = True) -> list[Fill]:
        """The open of row ``t``: the broker fills what waits; the fills journaled."""
        day = pd.Timestamp(self.data.dates[t]).date()
        self.now = dt.datetime.combine(day, dt.time(9, 30), tzinfo=NY)
        gone = exit_prices(self.planner.gone(t), self.planner.closes[t - 1])
        fills = self.broker.open_session(self.data.panels["open"][t], gone)
        if journal:
            self.journal.fills("run-1", fills)
        return fills

    def decide(self, t: int) -> None:
        """Decide and send the orders of row ``t`` when the book is due (at the close of t-1)."""
        if self.planner.replay_due(t):
            plan = self.planner.plan(t, pd.Timestamp(self.data.dates[t]).date())
            self.broker.place(plan.orders)

    def run(self, first: int, last: int) -> None:
        """Sessions ``first .. last``, as the replay steps them."""
        self.close(first - 1)
        for t in range(first, last + 1):
            self.decide(t)
            self.open(t)
            self.close(t)


@pytest.fixture
def desk(tmp_path: Path, calendar: TradingCalendar) -> Desk:
    return Desk(tmp_path, calendar, _market(), _book())


def _sleeve_trades(journal: Journal, planner: BookPlanner) -> pd.DataFrame:
    frame = journal.book_table("sleeve_fills", planner.key)
    return frame.sort_values(["session", "sleeve", "symbol"], ignore_index=True)


# ----------------------------------------------------------------------------- schedules


def test_a_schedule_is_due_at_its_anchored_sessions_and_catches_up_after_a_missed_one() -> None:
    sessions = np.array(pd.bdate_range("2024-01-01", periods=60).values, dtype="datetime64[D]")

    def day(i: int) -> dt.date:
        return dt.date.fromisoformat(str(sessions[i]))

    assert book_schedule.due(sessions, None, None, 7, 5)  # never acted: due at once
    assert not book_schedule.due(sessions, day(2), day(2), 6, 5)
    assert book_schedule.due(sessions, day(2), day(2), 7, 5)
    # Acted on 7, missed 12: due at 13 (12 lies in (7, 13]), then not again before 17.
    assert book_schedule.due(sessions, day(2), day(7), 13, 5)
    assert not book_schedule.due(sessions, day(2), day(13), 16, 5)
    assert book_schedule.due(sessions, day(2), day(13), 17, 5)
    # Monthly: a month's first session missed, its second is due; the third is not.
    feb = [i for i in range(60) if day(i).month == 2]
    assert book_schedule.due(sessions, day(0), day(feb[0] - 1), feb[1], "monthly")
    assert not book_schedule.due(sessions, day(0), day(feb[1]), feb[2], "monthly")
    # A scanner on its own schedule holds the universe of its latest session.
    assert book_schedule.source_row(sessions, day(2), 9, 5) == 7
    assert book_schedule.source_row(sessions, None, 9, 5) == 9


# ----------------------------------------------------------------------------- executions


def test_executions_are_grouped_by_the_session_their_reference_names() -> None:
    symbols = pd.Index(["A", "B"])
    sessions = np.array(["2024-01-02", "2024-01-03", "2024-01-04"], dtype="datetime64[D]")
    frame = pd.DataFrame(
        {
            "exec_id": ["e1", "e2", "e3", "e4", "e5"],
            "ref": [
                OrderRef.strategy("2024-01-03", "A"),
                OrderRef.strategy("2024-01-03", "A"),
                OrderRef.strategy("2024-01-03", "B"),
                OrderRef.flat("cmd-1"),  # no session in its reference: its execution's date
                OrderRef.strategy("2024-01-03", "ZZZ"),  # outside the universe: left out
            ],
            "symbol": ["A", "A", "B", "A", "ZZZ"],
            "side": ["BUY", "BUY", "SELL", "SELL", "BUY"],
            "quantity": [10.0, 30.0, 5.0, 40.0, 1.0],
            "price": [100.0, 104.0, 50.0, 101.0, 9.0],
            "commission": [1.0, 1.0, 0.5, 2.0, 0.1],
            "ts": pd.to_datetime(
                ["2024-01-03 14:31Z"] * 3 + ["2024-01-04 15:00Z", "2024-01-03 14:31Z"], utc=True
            ),
        }
    )
    out = session_fills(frame, symbols, sessions, "America/New_York")
    assert sorted(out) == [dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    day = out[dt.date(2024, 1, 3)].strategy
    assert day.filled.tolist() == [40.0, -5.0]
    assert day.prices[0] == pytest.approx((10 * 100 + 30 * 104) / 40)
    assert day.commissions.tolist() == [2.0, 0.5]
    assert day.cash_change == pytest.approx(-(10 * 100 + 30 * 104) - 2.0 + 5 * 50 - 0.5)
    assert set(day.execs) == {"e1", "e2", "e3", "e5"}  # ZZZ's is taken, and no sleeve's
    assert not out[dt.date(2024, 1, 3)].other.filled.any()
    flat = out[dt.date(2024, 1, 4)]  # the FLAT's: apart from the strategy's
    assert flat.other.filled.tolist() == [-40.0, 0.0]
    assert flat.other.execs == ("e4",)
    assert not flat.strategy.filled.any()


# ----------------------------------------------------------------------------- the book


def test_the_sleeves_add_up_to_the_broker_at_every_close(desk: Desk) -> None:
    desk.run(12, 60)
    accounts = desk.planner.live.desk.accounts
    broker = desk.planner.ledger()
    np.testing.assert_allclose(accounts.positions.sum(axis=0), broker.positions, atol=1e-9)
    assert accounts.account_cash() == pytest.approx(broker.cash, abs=0.01)
    assert desk.planner.mismatches() == []
    trades = _sleeve_trades(desk.journal, desk.planner)
    assert set(trades["sleeve"]) == {"mom", "rev"}
    fills = desk.journal.table("fills")
    assert len(desk.journal.book_table("book_execs", desk.planner.key)) == len(fills)
    status = desk.planner.live.status()
    assert [s.state for s in status.sleeves] == [SleeveState.ACTIVE, SleeveState.ACTIVE]
    assert sum(s.equity for s in status.sleeves) + status.reserve == pytest.approx(
        desk.broker.account().net_liquidation, abs=0.01
    )


def test_a_restart_restores_the_sleeves_and_attributes_each_execution_once(
    tmp_path: Path, calendar: TradingCalendar
) -> None:
    data, book = _market(), _book()
    straight = Desk(tmp_path / "straight", calendar, data, book)
    straight.run(12, 50)
    restarted = Desk(tmp_path / "restarted", calendar, data, book)
    restarted.run(12, 30)
    # The worker dies after the open of 31 journaled its fills, before it attributed them.
    restarted.decide(31)
    restarted.open(31)
    restarted.planner = restarted.new_planner()  # restarted: the book read from the journal
    restarted.close(31)
    restarted.planner = restarted.new_planner()  # and again: nothing attributed twice
    restarted.planner.settle(31)
    for t in range(32, 51):
        restarted.decide(t)
        restarted.open(t)
        restarted.close(t)
    pd.testing.assert_frame_equal(
        _sleeve_trades(restarted.journal, restarted.planner).drop(columns="book"),
        _sleeve_trades(straight.journal, straight.planner).drop(columns="book"),
    )
    a, b = restarted.planner.live, straight.planner.live
    np.testing.assert_array_equal(a.desk.accounts.positions, b.desk.accounts.positions)
    np.testing.assert_allclose(a.desk.accounts.cash, b.desk.accounts.cash, atol=1e-6)
    assert a.memory.last == b.memory.last
    assert a.memory.allocated == b.memory.allocated


def test_a_kill_while_saving_the_book_leaves_the_old_state_and_no_rows(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.run(12, 20)
    desk.decide(21)
    desk.open(21)
    before = desk.journal.book_state(desk.planner.key)
    trades = len(desk.journal.book_table("sleeve_fills", desk.planner.key))

    def killed(step: str) -> None:
        if step == "saving_book":
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr("quant_core.live.journal_book.crash_point_for_tests", killed)
    with pytest.raises(KeyboardInterrupt):
        desk.close(21)
    assert desk.journal.book_state(desk.planner.key) == before  # rolled back whole
    assert len(desk.journal.book_table("sleeve_fills", desk.planner.key)) == trades
    monkeypatch.undo()
    desk.planner = desk.new_planner()  # the state of before the kill; the fills still waiting
    desk.close(21)
    assert len(desk.journal.book_table("sleeve_fills", desk.planner.key)) > trades
    assert desk.planner.mismatches() == []


def test_the_saved_state_round_trips_and_refuses_another_book(desk: Desk) -> None:
    desk.run(12, 40)
    live = desk.planner.live
    state = book_state_io.dump(live)
    again = desk.new_planner().live
    assert book_state_io.dump(again) == state
    assert again.status() == live.status()
    renamed = Book(
        (live.book.sleeves[0], Sleeve("other", live.book.sleeves[1].strategy, 3)),
        live.book.allocation,
        name="unit",
    )
    other = Desk(desk.tmp / "other", desk.calendar, desk.data, renamed).planner.live
    with pytest.raises(ConfigError, match=r"sleeves were mom, rev .* are mom, other"):
        book_state_io.load(other, state)
    held = str(desk.data.symbols[np.flatnonzero(live.desk.accounts.positions.sum(axis=0))[0]])
    keep = [s for s in SYMBOLS if s != held]
    fewer = MarketData(
        desk.data.dates,
        np.array(keep),
        {f: p[:, [SYMBOLS.index(s) for s in keep]] for f, p in desk.data.panels.items()},
    )
    smaller = Desk(desk.tmp / "fewer", desk.calendar, fewer, desk.book).planner.live
    with pytest.raises(DataError, match=held):
        book_state_io.load(smaller, state)


def test_a_halted_sleeve_holds_while_the_other_trades_and_resume_lets_it_trade(
    desk: Desk,
) -> None:
    desk.run(12, 25)
    live = desk.planner.live
    live.halt("rev", "HALT cmd-7")
    held = live.desk.accounts.positions[1].copy()
    desk.run(26, 45)
    np.testing.assert_array_equal(live.desk.accounts.positions[1], held)
    status = {s.name: s for s in live.status().sleeves}
    assert status["rev"].state is SleeveState.HALTED
    assert status["rev"].reason == "HALT cmd-7"
    trades = _sleeve_trades(desk.journal, desk.planner)
    after = pd.to_datetime(trades["session"]).dt.date > pd.Timestamp(desk.data.dates[25]).date()
    assert set(trades[after]["sleeve"]) == {"mom"}
    with pytest.raises(ValueError, match="no sleeve 'nope' in book unit"):
        live.halt("nope", "x")
    live.resume("rev")
    assert not live.halted("rev")
    assert live.status().sleeves[1].reason is None
    desk.run(46, 60)
    trades = _sleeve_trades(desk.journal, desk.planner)
    later = pd.to_datetime(trades["session"]).dt.date > pd.Timestamp(desk.data.dates[46]).date()
    assert "rev" in set(trades[later]["sleeve"])


def test_a_sleeve_drawdown_halt_flattens_only_that_sleeve(
    tmp_path: Path, calendar: TradingCalendar
) -> None:
    desk = Desk(tmp_path, calendar, _market(seed=11), _book(risk=True))
    desk.run(12, 70)
    live = desk.planner.live
    assert live.halted("rev")
    assert not live.desk.accounts.positions[1].any()  # flattened at the next open
    assert live.desk.accounts.positions[0].any()  # mom trades on
    assert any("sleeve rev" in r and "drawdown" in r for r in desk.reports)


def _decision(tmp: Path, calendar: TradingCalendar, data: MarketData, t: int) -> Any:
    desk = Desk(tmp, calendar, data, _book())
    desk.close(t - 1)
    positions = desk.planner.ledger().positions
    return desk.planner.live.decide(
        t, desk.planner.marks_before(t), positions, desk.planner.gone(t)
    )


def test_a_book_decision_at_t_sees_data_through_t_minus_1_only(
    tmp_path: Path, calendar: TradingCalendar
) -> None:
    full = _market()
    t = 40
    cut = MarketData(full.dates[:t], full.symbols, {f: p[:t] for f, p in full.panels.items()})
    whole = _decision(tmp_path / "full", calendar, full, t)
    truncated = _decision(tmp_path / "cut", calendar, cut, t)  # T is past the data: live
    assert whole.orders.any()
    np.testing.assert_array_equal(whole.orders, truncated.orders)
    np.testing.assert_array_equal(whole.requests, truncated.requests)
    assert [a[:6] for a in whole.allocations] == [a[:6] for a in truncated.allocations]


def test_a_sleeve_halt_and_resume_outlive_a_restart(desk: Desk) -> None:
    desk.run(12, 20)
    desk.planner.live.halt("mom", "HALT cmd-1")
    desk.planner = desk.new_planner()
    assert desk.planner.live.halted("mom")
    assert desk.planner.live.status().sleeves[0].reason == "HALT cmd-1"
    desk.planner.live.resume("mom")
    desk.planner = desk.new_planner()
    assert not desk.planner.live.halted("mom")


def test_a_cash_gap_seen_at_two_closes_in_a_row_goes_to_the_reserve(desk: Desk) -> None:
    desk.run(12, 30)
    reserve = desk.planner.live.desk.accounts.reserve
    ledger = desk.broker.ledger
    desk.broker.ledger = type(ledger)(ledger.cash + 250.0, ledger.positions)  # a dividend
    assert any(
        line.startswith("cash: the broker's is +250.00") for line in desk.planner.mismatches()
    )
    desk.run(31, 31)  # seen once: perhaps an execution not reported yet; nothing moved
    assert desk.planner.live.desk.accounts.reserve == pytest.approx(reserve, abs=1e-6)
    desk.run(32, 32)  # still there at the next close: the account's cash is the truth
    assert desk.planner.live.desk.accounts.reserve == pytest.approx(reserve + 250.0, abs=0.01)
    assert any("moved +250.00 outside the executions" in r for r in desk.reports)
    assert not [m for m in desk.planner.mismatches() if m.startswith("cash")]
