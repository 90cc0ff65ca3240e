from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_core.broker import Order, OrderStatus, Side
from quant_core.live.sim_broker import SimBroker
from quant_core.portfolio.costs import CostModel

NOW = dt.datetime(2010, 1, 4, 14, 30, tzinfo=dt.UTC)


def broker(tmp_path: Path | None = None, costs: CostModel | None = None) -> SimBroker:
    store = tmp_path / "sim.json" if tmp_path else None
    return SimBroker(
        pd.Index(["A", "B"], dtype=object),
        10_000.0,
        costs or CostModel(),
        "pro_rata",
        False,
        lambda: NOW,
        store,
    )


def trade(b: SimBroker, symbol: str, side: Side, qty: float, price: float) -> None:
    b.place([Order("", "t", symbol, side, qty)])
    prices = np.array([price if symbol == "A" else np.nan, price if symbol == "B" else np.nan])
    b.open_session(prices)
    b.mark(prices)


def test_long_round_trip_pnl() -> None:
    b = broker()
    trade(b, "A", Side.BUY, 100, 10.0)
    b.mark(np.array([12.0, np.nan]))
    assert b.account().unrealized_pnl == pytest.approx(200)
    trade(b, "A", Side.SELL, 40, 13.0)
    assert b.account().realized_pnl == pytest.approx(40 * 3)
    assert b.positions()[0].avg_cost == pytest.approx(10.0)
    assert b.account().unrealized_pnl == pytest.approx(60 * 3)


def test_short_pnl_and_buying_power() -> None:
    b = broker()
    trade(b, "A", Side.SELL, 100, 10.0)
    assert b.account().unrealized_pnl == pytest.approx(0)
    assert b.positions()[0].avg_cost == pytest.approx(10.0)
    assert b.account().cash == pytest.approx(11_000)
    assert b.account().buying_power == pytest.approx(10_000)  # the proceeds are owed back
    trade(b, "A", Side.BUY, 100, 12.0)
    assert b.account().realized_pnl == pytest.approx(-200)
    assert b.positions() == []
    assert b.account().net_liquidation == pytest.approx(9_800)


def test_trading_through_zero_opens_the_other_side() -> None:
    b = broker()
    trade(b, "A", Side.BUY, 10, 10.0)
    trade(b, "A", Side.SELL, 30, 11.0)  # closes 10 (+10), opens 20 short at 11
    assert b.account().realized_pnl == pytest.approx(10)
    assert b.positions()[0].quantity == -20
    assert b.positions()[0].avg_cost == pytest.approx(11.0)


def test_commissions_are_realised_costs() -> None:
    b = broker(costs=CostModel(commission_bps=10))
    trade(b, "A", Side.BUY, 100, 10.0)
    assert b.account().realized_pnl == pytest.approx(-1.0)
    assert b.account().net_liquidation == pytest.approx(10_000 - 1.0)


def test_an_order_without_a_price_is_cancelled_with_the_reason() -> None:
    b = broker()
    b.place([Order("", "t", "A", Side.BUY, 10)])
    assert b.open_session(np.array([np.nan, 5.0])) == []
    assert b.open_orders() == []
    assert b.positions() == []


def test_unknown_symbols_are_rejected() -> None:
    placed = broker().place([Order("", "t", "ZZZ", Side.BUY, 1)])
    assert placed[0].status is OrderStatus.REJECTED


def test_the_account_outlives_the_process(tmp_path: Path) -> None:
    first = broker(tmp_path)
    trade(first, "A", Side.SELL, 50, 10.0)
    first.place([Order("", "qc:2010-01-05:B", "B", Side.BUY, 5)])

    again = broker(tmp_path)

    assert again.account().cash == pytest.approx(first.account().cash)
    assert [(p.symbol, p.quantity, p.avg_cost) for p in again.positions()] == [("A", -50, 10.0)]
    assert [o.ref for o in again.open_orders()] == ["qc:2010-01-05:B"]


def test_an_unknown_symbol_is_rejected_and_reported_once() -> None:
    b = broker()
    [placed] = b.place([Order("", "qc:x:ZZZ", "ZZZ", Side.BUY, 5)])
    assert placed.status is OrderStatus.REJECTED
    [refused] = b.rejections()
    assert (refused.ref, refused.reason) == ("qc:x:ZZZ", "unknown symbol")
    assert b.rejections() == []
    assert b.open_orders() == []
