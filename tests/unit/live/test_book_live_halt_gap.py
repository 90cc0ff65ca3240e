"""A live book: a sleeve halted by hand holds its positions; a cash gap survives a restart.

Found by an adversarial review of the worker running a book:

* HALT of a sleeve whose own limit says ``on_breach: flat`` sold everything it held at the next
  open, while the acknowledgement said "it holds its positions": the flat is the drawdown
  breach's, not a halt's;
* a cash gap with the broker (a dividend) seen at one close and again at the next went to the
  reserve only within one process: a worker run once a day (cron, ``--once``) never absorbed it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from quant_core.book.sleeves import SleeveRisk
from tests.unit.live.test_book_live import Desk, _book, _market


def test_a_sleeve_halted_by_hand_holds_its_positions_whatever_its_on_breach(
    tmp_path, calendar
) -> None:
    book = _book()
    never = SleeveRisk(max_drawdown=0.99, on_breach="flat")  # a limit that never trips
    book = replace(book, sleeves=(book.sleeves[0], replace(book.sleeves[1], risk=never)))
    desk = Desk(tmp_path, calendar, _market(), book)
    desk.run(12, 30)
    live = desk.planner.live
    k = live.index("rev")
    before = live.desk.accounts.positions[k].copy()
    assert before.any()

    live.halt("rev", "HALT command from the cockpit")
    desk.run(31, 40)
    np.testing.assert_array_equal(live.desk.accounts.positions[k], before)

    desk.planner = desk.new_planner()  # restarted: still a halt by hand, still holding
    desk.run(41, 45)
    np.testing.assert_array_equal(desk.planner.live.desk.accounts.positions[k], before)


def test_a_cash_gap_seen_at_two_closes_reaches_the_reserve_across_restarts(
    tmp_path, calendar
) -> None:
    desk = Desk(tmp_path, calendar, _market(), _book())
    desk.run(12, 30)
    reserve = desk.planner.live.desk.accounts.reserve
    ledger = desk.broker.ledger
    desk.broker.ledger = type(ledger)(ledger.cash + 250.0, ledger.positions)  # a dividend
    for t in range(31, 34):  # one worker process per session (cron: --once)
        desk.planner = desk.new_planner()
        desk.run(t, t)

    # (before the next allocation, which hands the reserve to the sleeves)
    assert desk.planner.live.desk.accounts.reserve == pytest.approx(reserve + 250.0, abs=0.01)
    assert not [m for m in desk.planner.mismatches() if m.startswith("cash")]
