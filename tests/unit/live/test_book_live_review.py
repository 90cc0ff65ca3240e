"""Adversarial tests of the live book: money, restarts, re-decisions, account orders, live path.

Each test drives :class:`BookPlanner` on the simulated broker as the worker does (the ``Desk``
of ``test_book_live``) and compares with what must hold: the sleeves add up to the broker, a
restarted or retried worker ends where an uninterrupted one does, and orders the book did not ask
for (FLAT, executions in names no sleeve holds) never break the attribution.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_core.book.sleeves import Book
from quant_core.broker import Order, OrderRef, OrderType, Side
from quant_core.calendar import TradingCalendar
from quant_core.data.panels import MarketData
from quant_core.errors import TemporaryBrokerError
from quant_core.live.book_planner import BookPlanner
from quant_core.live.journal import Journal
from quant_core.portfolio.ledger import Ledger
from tests.unit.live.test_book_live import NY, Desk, _book, _market

FIRST = 12


def _trades(journal: Journal, planner: BookPlanner) -> pd.DataFrame:
    frame = journal.book_table("sleeve_fills", planner.key).drop(columns="book")
    return frame.sort_values(["session", "sleeve", "symbol"], ignore_index=True)


def _same_book(a: Desk, b: Desk) -> None:
    """Assert two desks' sleeves traded and hold alike (to the cent)."""
    pd.testing.assert_frame_equal(
        _trades(a.journal, a.planner), _trades(b.journal, b.planner), check_exact=False
    )
    x, y = a.planner.live.desk.accounts, b.planner.live.desk.accounts
    np.testing.assert_array_equal(x.positions, y.positions)
    np.testing.assert_allclose(x.cash, y.cash, atol=0.01)
    assert x.reserve == pytest.approx(y.reserve, abs=0.01)


def _adds_up(desk: Desk) -> None:
    """Assert the sleeves' shares and cash (with the reserve) are the broker's account."""
    accounts = desk.planner.live.desk.accounts
    broker = desk.planner.ledger()
    np.testing.assert_allclose(accounts.positions.sum(axis=0), broker.positions, atol=1e-9)
    assert accounts.account_cash() == pytest.approx(broker.cash, abs=0.01)


def _session(desk: Desk, t: int) -> dt.date:
    return pd.Timestamp(desk.data.dates[t]).date()


def _first_trading_decision(desk: Desk, after: int) -> int:
    """Run the desk to the first session after ``after`` the book decides and trades; its row.

    Stops at the close before that session (nothing of it decided yet).
    """
    desk.run(FIRST, after)
    probe = Desk(desk.tmp / "probe", desk.calendar, desk.data, desk.book)
    probe.run(FIRST, after)
    for t in range(after + 1, len(desk.data.dates) - 1):
        if probe.planner.replay_due(t):
            plan = probe.planner.plan(t, _session(probe, t))
            if plan.orders:
                return t
            probe.broker.place(plan.orders)
        probe.open(t)
        probe.close(t)
        desk.decide(t)
        desk.open(t)
        desk.close(t)
    raise AssertionError("the book never traded")


def _flat(desk: Desk, t: int, hour: int = 12, symbols: dict[str, float] | None = None) -> None:
    """A FLAT command at ``hour`` of session ``t``: every position (or ``symbols``) sold now."""
    day = _session(desk, t)
    desk.now = dt.datetime.combine(day, dt.time(hour), tzinfo=NY)
    desk.broker.cancel_all()
    held = symbols or {p.symbol: p.quantity for p in desk.broker.positions() if p.quantity}
    orders = [
        Order(
            "",
            OrderRef.flat("cmd-9"),
            s,
            Side.SELL if q > 0 else Side.BUY,
            abs(q),
            OrderType.MARKET,
        )
        for s, q in held.items()
    ]
    desk.broker.place(orders)
    desk.journal.fills("run-1", desk.broker.fill_now())


class Preheld(Desk):
    """A desk whose account held 7 shares of S00 before the book first started on it."""

    def new_planner(self) -> BookPlanner:
        if not getattr(self, "bought", False):
            self.bought = True
            self.broker.mark(self.data.panels["close"][0])
            manual = Order("", "tws:manual", "S00", Side.BUY, 7.0, OrderType.MARKET)
            self.broker.place([manual])
            self.journal.fills("run-1", self.broker.fill_now())
        return super().new_planner()


def _daily_book() -> Book:
    # Both sleeves due at every session.
    book = _book()
    sleeves = tuple(replace(s, rebalance=1) for s in book.sleeves)
    return replace(book, sleeves=sleeves)


def _twin_book() -> Book:
    # Two sleeves of the same signal on different schedules: they hold the same names.
    book = _book()
    twin = replace(book.sleeves[0], name="twin", rebalance=3, scanner=None)
    return replace(book, sleeves=(replace(book.sleeves[0], scanner=None), twin))


@pytest.fixture
def data() -> MarketData:
    return _market()


# --------------------------------------------------------------------- FLAT and account orders


def test_a_flat_on_a_session_the_book_traded_is_attributed_and_leaves_every_sleeve_flat(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # IB: the book's market-on-open orders fill at 9:30, FLAT sells everything at noon: both
    # executions belong to the same session for session_fills, one net batch per symbol.
    desk = Desk(tmp_path, calendar, data, _book())
    t = _first_trading_decision(desk, 20)
    desk.decide(t)
    assert desk.open(t)  # the book's orders filled at the open
    _flat(desk, t)
    assert not any(p.quantity for p in desk.broker.positions())
    desk.close(t)  # ValueError today: the batch's net fill opposes (or exceeds) the book's order
    _adds_up(desk)
    assert not desk.planner.live.desk.accounts.positions.any()


def test_a_flat_after_the_close_of_a_session_the_book_traded_is_attributed(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # The same FLAT at 17:00, after the session was settled: a late batch of that session,
    # where the book's (already filled) order is taken for the FLAT's size.
    desk = Desk(tmp_path, calendar, data, _book())
    t = _first_trading_decision(desk, 20)
    desk.decide(t)
    desk.open(t)
    desk.close(t)
    _flat(desk, t, hour=17)
    desk.planner.settle(t)
    _adds_up(desk)
    assert not desk.planner.live.desk.accounts.positions.any()


def test_a_partial_account_fill_in_a_name_two_sleeves_hold_keeps_whole_shares(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # A FLAT (or an account stop) that IB fills in part: one share of a name both sleeves hold.
    # Split by holdings it is a fraction of a share per sleeve, which attribute() refuses in a
    # whole-share book (ValueError in the heartbeat, and again at every restart).
    desk = Desk(tmp_path, calendar, data, _twin_book())
    desk.close(FIRST - 1)
    for t in range(FIRST, 70):
        positions = desk.planner.live.desk.accounts.positions
        both = np.flatnonzero((positions > 0).all(axis=0) & (positions.sum(axis=0) > 2))
        if both.size and not desk.planner.replay_due(t):
            break
        desk.decide(t)
        desk.open(t)
        desk.close(t)
    else:
        raise AssertionError("no quiet session with a name both sleeves hold")
    j = int(both[0])
    desk.open(t)
    _flat(desk, t, symbols={str(desk.data.symbols[j]): 1.0})
    desk.close(t)
    _adds_up(desk)
    held = desk.planner.live.desk.accounts.positions[:, j]
    np.testing.assert_array_equal(held, np.round(held))


def test_a_flat_of_a_position_held_before_the_book_leaves_no_sleeve_short(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # The account held 7 S00 before the book started ("no sleeve's", the module says). FLAT
    # sells them: today they go to the sleeves holding S00 in proportion (more than they hold),
    # or all to the first sleeve: a sleeve ends short, and would buy them back at RESUME.
    desk = Preheld(tmp_path, calendar, data, _book())
    desk.run(FIRST, 40)
    quiet = next(t for t in range(41, 70) if not desk.planner.replay_due(t))
    for t in range(41, quiet):
        desk.decide(t)
        desk.open(t)
        desk.close(t)
    desk.open(quiet)
    _flat(desk, quiet)
    desk.close(quiet)
    positions = desk.planner.live.desk.accounts.positions
    assert (positions >= 0).all(), f"a sleeve is short: {positions[positions < 0]}"


def test_an_execution_reported_after_its_session_was_settled_is_attributed_once(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # Part of a session's execution reported after its close was settled (IB, a restart's
    # recovered executions): the rest of the sleeves' requests must take it, each sleeve never
    # more than it asked. Today the late batch re-splits by holdings every other name the
    # session ordered and filled in full (orders != 0, nothing left requested): fractions of a
    # share in a whole-share book, ValueError.
    desk = Desk(tmp_path, calendar, data, _book())
    t = _first_trading_decision(desk, 20)
    desk.decide(t)
    fills = desk.open(t, journal=False)
    big = max(fills, key=lambda f: f.quantity)
    assert big.quantity >= 2
    first = replace(big, quantity=float(big.quantity // 2), commission=big.commission / 2)
    rest = replace(
        big,
        quantity=big.quantity - first.quantity,
        commission=big.commission - first.commission,
        exec_id=big.exec_id + "-late",
    )
    desk.journal.fills("run-1", [f for f in fills if f is not big] + [first])
    desk.close(t)
    asked = desk.journal.book_table("sleeve_requests", desk.planner.key)
    desk.journal.fills("run-1", [rest])
    desk.planner.settle(t)
    _adds_up(desk)
    got = _trades(desk.journal, desk.planner)
    mine = got[
        (got["symbol"] == big.symbol)
        & (pd.to_datetime(got["session"]).dt.date == _session(desk, t))
    ]
    want = asked[
        (asked["symbol"] == big.symbol)
        & (pd.to_datetime(asked["session"]).dt.date == _session(desk, t))
    ]
    for sleeve, shares in mine.groupby("sleeve")["shares"].sum().items():
        request = float(want.loc[want["sleeve"] == sleeve, "shares"].sum())
        assert abs(shares) <= abs(request) + 1e-9
    assert len(desk.journal.book_table("book_execs", desk.planner.key)) == len(
        desk.journal.table("fills")
    )


# ----------------------------------------------------------------- restarts and re-decisions


def test_a_decision_saved_but_never_sent_is_made_again_after_a_restart(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # plan() saves the book (the session marked decided) before the worker journals and sends
    # the orders; a kill in between (or planner.check's TemporaryBrokerError, a risk breach
    # later RESUMEd) leaves the session decided and no order anywhere: the plain planner
    # decides again (reconcile marks the intents unsent), the book never does.
    straight = Desk(tmp_path / "straight", calendar, data, _book())
    killed = Desk(tmp_path / "killed", calendar, data, _book())
    t = _first_trading_decision(killed, 20)
    straight.run(FIRST, 45)
    plan = killed.planner.plan(t, _session(killed, t))
    assert plan.orders  # decided and saved; the worker is killed before sending them
    killed.planner = killed.new_planner()
    assert killed.planner.replay_due(t), "the session is never decided again"
    for s in range(t, 46):
        killed.decide(s)
        killed.open(s)
        killed.close(s)
    _same_book(killed, straight)


def test_a_decision_that_fails_before_it_is_saved_is_retried_alike(
    tmp_path: Path,
    calendar: TradingCalendar,
    data: MarketData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The broker drops while quoting (TemporaryBrokerError out of plan(): the live loop
    # reconnects and beats again). decide() has already moved the allocation's cash, consumed
    # the sleeves' pending exits and marked the session decided, in memory: the retry finds
    # nothing due, and the next save keeps the half-made decision.
    straight = Desk(tmp_path / "straight", calendar, data, _book())
    flaky = Desk(tmp_path / "flaky", calendar, data, _book())
    t = _first_trading_decision(flaky, 20)
    straight.run(FIRST, 45)

    def dropped(symbols: list[str], on_batch: object = None) -> dict[str, float]:
        raise TemporaryBrokerError("connection lost")

    monkeypatch.setattr(flaky.broker, "quotes", dropped)
    with pytest.raises(TemporaryBrokerError):
        flaky.planner.plan(t, _session(flaky, t))
    monkeypatch.undo()
    assert flaky.planner.replay_due(t), "the session is not decided after the broker returns"
    for s in range(t, 46):
        flaky.decide(s)
        flaky.open(s)
        flaky.close(s)
    _same_book(flaky, straight)


def test_a_second_plan_for_a_session_keeps_the_first_plans_requests(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # --once --force-rebalance run again the same morning (or after a restart): plan() does not
    # ask needs(); decide() finds no sleeve due and commit() replaces the session's requests
    # with zeros, so the first plan's fills go to the sleeves by holdings (a new name: all to
    # the first sleeve) instead of to the sleeves that asked.
    straight = Desk(tmp_path / "straight", calendar, data, _book())
    forced = Desk(tmp_path / "forced", calendar, data, _book())
    t = _first_trading_decision(forced, 20)
    straight.run(FIRST, 45)
    forced.decide(t)
    again = forced.planner.plan(t, _session(forced, t))
    forced.broker.place(again.orders)
    assert not again.orders  # already sent: nothing sent twice
    for s in range(t, 46):
        if s > t:
            forced.decide(s)
        forced.open(s)
        forced.close(s)
    _same_book(forced, straight)


def test_a_sleeve_halt_survives_a_restart_before_the_next_close(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # Regression (fixed in a202820: LiveBook.changed saves): a HALT to a sleeve must be saved at
    # once, not at the next settle() that finds executions or a close; restarted before the next
    # close (kill -9, or the next cron --once) the sleeve must still be halted.
    t = 26
    cut = MarketData(data.dates[:t], data.symbols, {f: p[:t] for f, p in data.panels.items()})
    desk = Desk(tmp_path, calendar, cut, _book())
    desk.run(FIRST, t - 1)
    desk.planner.live.halt("rev", "HALT cmd-7")
    desk.planner.settle()  # a heartbeat: no new execution, no new close
    desk.planner = desk.new_planner()
    assert desk.planner.live.halted("rev"), "the HALT was lost"


def test_a_worker_halted_on_a_due_session_decides_it_once(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # Worker._decide skips the plan while HALTED and journals "no orders (HALTED...)"; the plain
    # planner then counts the session decided (journal.last_rebalance). The book asks only its
    # own memory: due again at every heartbeat (a decision row journaled at every beat), and
    # after RESUME the same day it trades the session anyway.
    t = 30
    cut = MarketData(data.dates[:t], data.symbols, {f: p[:t] for f, p in data.panels.items()})
    desk = Desk(tmp_path, calendar, cut, _daily_book())
    desk.run(FIRST, t - 1)
    session = pd.Timestamp(data.dates[t]).date()
    now = dt.datetime.combine(session, dt.time(10), tzinfo=NY)
    assert desk.planner.due(now) == session
    desk.journal.decision("run-1", session, now, "no orders (HALTED: FLAT cmd-1)", 0)
    assert desk.planner.due(now) is None, "decided again at the next heartbeat"


# -------------------------------------------------------------------------------- money


def test_cash_the_broker_moves_outside_executions_is_reported(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # A dividend, interest, a fee, a deposit or withdrawal changes the broker's cash and no
    # sleeve's nor the reserve: the allocation hands out cash that is not there (or leaves out
    # cash that is), and mismatches() compares shares only, so nobody is told.
    desk = Desk(tmp_path, calendar, data, _book())
    desk.run(FIRST, 30)
    ledger = desk.broker.ledger
    desk.broker.ledger = Ledger(ledger.cash - 5_000.0, ledger.positions)  # a withdrawal
    desk.planner = desk.new_planner()
    assert desk.planner.mismatches(), "a $5,000 cash difference is not reported"


# ---------------------------------------------------------------------- the live path


def test_the_live_path_on_data_that_grows_a_row_a_day_equals_the_replay(
    tmp_path: Path, calendar: TradingCalendar, data: MarketData
) -> None:
    # Live: the decision for T at row len(data.dates) (the data ends at T-1), the executions
    # journaled at the open, attributed once the bar of T is read (a reload) by the heartbeat's
    # settle(). It must equal the replay, where the data holds every row from the start.
    replay = Desk(tmp_path / "replay", calendar, data, _book())
    replay.run(FIRST, 50)

    def upto(rows: int) -> MarketData:
        return MarketData(
            data.dates[:rows], data.symbols, {f: p[:rows] for f, p in data.panels.items()}
        )

    live = Desk(tmp_path / "live", calendar, upto(FIRST), _book())
    live.close(FIRST - 1)
    for t in range(FIRST, 51):
        session = _session(replay, t)
        assert live.planner.live.row(session) == len(live.planner.data.dates)
        if live.planner.scheduled(session):
            plan = live.planner.plan(t, session)
            live.broker.place(plan.orders)
        live.now = dt.datetime.combine(session, dt.time(9, 30), tzinfo=NY)
        gone = np.full(len(data.symbols), np.nan)
        live.journal.fills("run-1", live.broker.open_session(data.panels["open"][t], gone))
        live.planner.settle()  # a heartbeat during the session: its fills wait for its bar
        live.broker.mark(data.panels["close"][t])
        live.data = upto(t + 1)
        live.planner.reload(live.data)
        live.planner.settle()  # the heartbeat after the reload
    _same_book(live, replay)
