"""Parity for books: a two-sleeve book replayed through the worker (``--book``) on the simulated
broker fills exactly like ``run_backtest.py --book`` with the same config: the same account fills
(symbol, session, quantity, price), the same final equity to the cent, and the same sleeve trades
(each sleeve's part of each fill, crossings included: shares, price, commission, cash to the
cent), the same allocations, and each sleeve's final equity to the cent.

Two books: ``config/books/core.yaml`` as shipped (scanners, risk budget monthly, inverse_vol in
one sleeve, mean_reversion every session), and one whose sleeves have their own stops and a
drawdown halt that flattens, a scanner on its own weekly schedule and HRP allocation. A third
case stops the replay half-way and continues the same account in a new worker process state
(``--continue``): the sleeves are restored from the journal and the whole equals the backtest.
A fourth halts the account on its daily loss (1%) with the guarded book: the sleeves' own stops
and flats still act while it is halted, in both drivers (the worker sent none before: 193 fills
of a review's book were missing, and a decision that found the halt dropped its exits).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config import load_config
from config.book_loader import load_book
from quant_core.backtest.book_run import run_book_backtest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.live.journal import Journal
from quant_core.live.run import LiveRequest, run_worker
from tests.acceptance.parity import backtest_fills, journal_fills

pytestmark = pytest.mark.acceptance

START, END = dt.date(2009, 10, 1), dt.date(2010, 8, 20)
SPAN = [f"backtest.start={START}", f"backtest.end={END}"]
CORE = Path(__file__).parents[2] / "config" / "books" / "core.yaml"

# Sleeves with limits of their own: a stop-loss and take-profit on each sleeve's own cost basis,
# a drawdown halt that closes the sleeve's positions; a scanner re-run weekly under a sleeve
# rebalanced every 10 sessions; HRP between the sleeves.
GUARDED = """
book:
  name: guarded
  sleeves:
    - name: mom
      strategy: {name: momentum, params: {lookback: 20}, rebalance: 10}
      scanner: {name: liquid, params: {top: 60, min_history: 63}, rebalance: weekly}
      risk: {stop_loss: 0.06, take_profit: 0.12}
    - name: rev
      strategy: {name: momentum, params: {lookback: 60}, rebalance: 5}
      scanner: {name: liquid, params: {top: 80, min_history: 63}}
      risk: {max_drawdown_frac: 0.04, on_breach: flat}
  allocation: {method: hrp, lookback: 60, rebalance: monthly, min_sessions: 10}
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar) -> Path:
    root = tmp_path_factory.mktemp("book_parity")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


# The account halted by its daily loss for the rest of the run (the worker: until RESUME).
HALTED = ["risk.max_daily_loss_frac=0.01", "risk.max_drawdown_frac=null", "risk.halt_sessions=1000"]


def _book(tmp_path: Path, case: str) -> Path:
    if case == "core" or case == "continued":
        return CORE
    path = tmp_path / "guarded.yaml"
    path.write_text(GUARDED)
    return path


def _replay(
    live_dir: Path, book: Path, start: dt.date, end: dt.date, *, more: bool, extra: list[str]
) -> None:
    cfg = load_config("live", [f"paths.data_dir={live_dir}", *extra], environ={})
    run_worker(cfg, LiveRequest(replay=(start, end), book=book, continue_account=more))


@pytest.mark.parametrize("case", ["core", "guarded", "continued", "halted"])
def test_book_replay_equals_book_backtest(tmp_path: Path, data_dir: Path, case: str) -> None:
    path = _book(tmp_path, case)
    extra = HALTED if case == "halted" else []
    cfg = load_config("backtest", [f"paths.data_dir={data_dir}", *SPAN, *extra], environ={})
    backtest = run_book_backtest(cfg, load_book(path), store=False)
    live_dir = tmp_path / "worker"
    live_dir.mkdir()
    (live_dir / "warehouse").symlink_to(data_dir / "warehouse")
    if case == "continued":  # stopped after the close of 2010-03-15, continued from the next
        _replay(live_dir, path, START, dt.date(2010, 3, 15), more=False, extra=extra)
        _replay(live_dir, path, dt.date(2010, 3, 16), END, more=True, extra=extra)
    else:
        _replay(live_dir, path, START, END, more=False, extra=extra)

    journal = Journal(live_dir / "live" / "journal.duckdb")
    (key,) = journal.table("book_state")["book"].tolist()
    fills = journal.table("fills")
    equity = journal.table("equity")
    sleeve_fills = journal.book_table("sleeve_fills", key)
    allocations = journal.book_table("sleeve_allocations", key)
    journal.close()

    result = backtest.book
    trades = result.account.trades
    expected = backtest_fills(trades)
    got = journal_fills(fills)
    least = 20 if case == "halted" else 500  # halted early (the close of 2009-11-27)
    assert len(got) == len(expected) > least
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    final = float(result.account.curve["equity"].iloc[-1])
    assert round(float(equity["equity"].iloc[-1]), 2) == round(final, 2)

    # Each sleeve's part of each fill, and the crossings between sleeves: the same rows.
    columns = ["sleeve", "session", "symbol", "shares", "price", "commission", "cash"]
    theirs = result.sleeve_trades.rename(columns={"date": "session"})
    theirs = theirs.assign(session=pd.DatetimeIndex(theirs["session"]).date)[columns]
    mine = sleeve_fills[columns].assign(session=pd.to_datetime(sleeve_fills["session"]).dt.date)
    order = ["session", "sleeve", "symbol"]
    theirs = theirs.sort_values(order, ignore_index=True)
    mine = mine.sort_values(order, ignore_index=True)
    assert len(mine) == len(theirs) > least
    pd.testing.assert_frame_equal(
        mine[["sleeve", "session", "symbol"]], theirs[["sleeve", "session", "symbol"]]
    )
    for column in ("shares", "price", "commission"):
        np.testing.assert_allclose(mine[column], theirs[column], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mine["cash"], theirs["cash"], rtol=0, atol=0.005)
    # Every sleeve's cash from its fills adds up to the account's, to the cent.
    assert abs(mine["cash"].sum() - theirs["cash"].sum()) < 0.01

    # The same allocations: sessions, weights, capital.
    alloc = result.allocations.assign(date=pd.DatetimeIndex(result.allocations["date"]).date)
    alloc = alloc.sort_values(["date", "sleeve"], ignore_index=True)
    mine_alloc = allocations.assign(session=pd.to_datetime(allocations["session"]).dt.date)
    mine_alloc = mine_alloc.sort_values(["session", "sleeve"], ignore_index=True)
    assert mine_alloc["session"].tolist() == alloc["date"].tolist()
    assert mine_alloc["sleeve"].tolist() == alloc["sleeve"].tolist()
    np.testing.assert_allclose(mine_alloc["weight"], alloc["weight"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mine_alloc["capital"], alloc["capital"], rtol=0, atol=0.01)

    if case == "halted":  # halted early, and the sleeves' limits acted while it was
        decisions = result.account.decisions
        halts = decisions[(decisions["kind"] == "halt") & (decisions["name"] == "max_daily_loss")]
        after = decisions[
            decisions["detail"].astype(str).str.startswith("sleeve ")
            & (decisions["date"] > halts["date"].min())
        ]
        assert (after["kind"] == "stop").sum() > 5
    if case == "guarded":  # the sleeves' own limits acted in the backtest, and alike here
        decisions = result.account.decisions
        sleeve_events = decisions[decisions["detail"].astype(str).str.startswith("sleeve ")]
        assert (sleeve_events["kind"] == "stop").sum() > 5
        assert (sleeve_events["kind"] == "halt").any()
