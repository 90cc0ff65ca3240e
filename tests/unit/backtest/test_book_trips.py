"""Each sleeve's round trips add up to its P&L, and the sleeves' to the account's, to the cent."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_core.analytics.round_trips import backtest_fills, round_trips
from quant_core.backtest.book_engine import run_book
from quant_core.backtest.book_run import sleeve_flows
from quant_core.backtest.book_trips import commission_only, sleeve_round_trips
from quant_core.backtest.engine import EngineSettings
from quant_core.backtest.run import end_marks
from quant_core.book.sleeves import AllocationRule, Book, Sleeve
from quant_core.portfolio.costs import CostModel
from quant_core.strategies.base import build_strategy
from tests.unit.backtest.test_book_engine_properties import random_walks

COSTS = CostModel(per_share_usd=0.005, min_per_order_usd=1.0, slippage_bps=5.0)


@pytest.mark.parametrize("fractional", [False, True])
def test_sleeve_round_trips_add_up_to_the_sleeves_and_to_the_account(fractional: bool) -> None:
    data = random_walks(7, 10, 160)
    book = Book(
        (
            Sleeve("mom", build_strategy("momentum", {"lookback": 10, "top_quantile": 0.5}), 5),
            Sleeve("rev", build_strategy("mean_reversion", {"lookback": 3}), 1),
        ),
        AllocationRule(method="risk_budget", rebalance="monthly", lookback=20, min_sessions=5),
    )
    settings = EngineSettings(100_000.0, costs=COSTS, fractional=fractional)
    result = run_book(data, book, settings)
    curve = result.account.curve

    trips = sleeve_round_trips(result, data)
    fills = backtest_fills(result.account.trades)
    account = round_trips(
        fills,
        marks=end_marks(data, curve, fills["symbol"]),
        mark_date=curve.index[-1],
        sessions=pd.DatetimeIndex(curve.index),
    )
    crossed = result.sleeve_trades[
        (result.sleeve_trades["commission"] == 0) & (result.sleeve_trades["shares"] != 0)
    ]
    assert len(crossed) > 0, "no crossing between the sleeves: the test would see nothing"
    alone = commission_only(result)

    pnl = trips.groupby("sleeve")["pnl"].sum() - alone
    own = result.sleeves.iloc[-1] - sleeve_flows(result).sum()
    for name in book.names:
        assert pnl[name] == pytest.approx(own[name], abs=0.01)
    assert pnl.sum() == pytest.approx(account["pnl"].sum(), abs=0.01)
    assert account["pnl"].sum() == pytest.approx(curve["equity"].iloc[-1] - 100_000.0, abs=0.01)
