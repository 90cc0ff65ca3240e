"""A book of one sleeve is the plain run; two identical sleeves at 50/50 are one sleeve."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quant_core.backtest.book_engine import run_book
from quant_core.backtest.engine import EngineSettings, run_engine
from quant_core.backtest.run import load_market
from quant_core.book.sleeves import AllocationRule, Book, Sleeve
from quant_core.data.panels import MarketData
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.halts import HaltRules
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.schedule import Rule
from quant_core.portfolio.stops import StopRules
from quant_core.strategies.base import build_strategy

pytestmark = pytest.mark.acceptance

COSTS = CostModel(per_share_usd=0.005, min_per_order_usd=1.0, slippage_bps=5.0)
CASES: dict[str, tuple[str, dict[str, Any], Rule, dict[str, Any]]] = {
    "momentum": ("momentum", {"lookback": 20, "top_quantile": 0.3}, 10, {}),
    "capped_inverse_vol": (
        "momentum",
        {"lookback": 40, "top_quantile": 0.2},
        "weekly",
        {"max_position_weight": 0.05, "construction": "inverse_vol"},
    ),
    "mean_reversion_stops": (
        "mean_reversion",
        {"lookback": 5, "bottom_quantile": 0.1, "hold_sessions": 5},
        1,
        {"stops": StopRules(stop_loss=0.05, take_profit=0.08)},
    ),
    "halts_flat": (
        "momentum",
        {"lookback": 20, "top_quantile": 0.5},
        10,
        {"halts": HaltRules(max_daily_loss_frac=0.01, max_drawdown_frac=0.06, flattens=True)},
    ),
}


@pytest.fixture(scope="module")
def sp500(tmp_path_factory, calendar) -> MarketData:
    warehouse = Warehouse(Path(tmp_path_factory.mktemp("book_golden")) / "warehouse")
    sync(SampleSource("sp500-2010"), warehouse, calendar, "sp500-2010")
    return load_market(warehouse, "sp500-2010")


def settings_of(rebalance: Rule, extra: dict[str, Any]) -> EngineSettings:
    method = extra.get("construction", "as_is")
    policy = PortfolioPolicy(ConstructionSettings(method=method))
    return EngineSettings(
        1_000_000.0,
        costs=COSTS,
        rebalance=rebalance,
        policy=policy,
        stops=extra.get("stops", StopRules()),
        halts=extra.get("halts", HaltRules()),
        max_position_weight=extra.get("max_position_weight"),
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_book_of_one_sleeve_is_the_plain_run_exactly(sp500, case) -> None:
    name, params, rebalance, extra = CASES[case]
    settings = settings_of(rebalance, extra)
    plain = run_engine(sp500, build_strategy(name, params), settings)
    sleeve = Sleeve("main", build_strategy(name, params), rebalance, settings.policy, weight=1.0)
    book = run_book(sp500, Book((sleeve,), AllocationRule(method="fixed")), settings)

    assert len(plain.trades) > 50, "too few trades for the comparison to mean anything"
    pd.testing.assert_frame_equal(book.account.trades, plain.trades)
    pd.testing.assert_frame_equal(book.account.curve, plain.curve)
    pd.testing.assert_frame_equal(book.account.positions, plain.positions)
    pd.testing.assert_frame_equal(book.account.decisions, plain.decisions)
    # The sleeve is the account from its first allocation on: its equity, its fills, and
    # nothing left in reserve (before it, the session before the first rebalance, all is).
    assert book.reserve.iloc[0] == 1_000_000.0
    assert book.sleeves["main"].iloc[0] == 0.0
    np.testing.assert_allclose(book.sleeves["main"][1:], plain.curve["equity"][1:], rtol=1e-12)
    assert (book.reserve.iloc[1:] == 0).all()
    traded = plain.trades[plain.trades["filled"] != 0]
    assert len(book.sleeve_trades) == len(traded)
    np.testing.assert_array_equal(book.sleeve_trades["shares"], traded["filled"])


def test_two_identical_sleeves_at_half_each_are_one_sleeve(sp500) -> None:
    params = {"lookback": 20, "top_quantile": 0.3}
    settings = replace(settings_of(10, {}), fractional=True)
    one = run_book(
        sp500,
        Book(
            (Sleeve("a", build_strategy("momentum", params), 10, weight=1.0),),
            AllocationRule(method="fixed"),
        ),
        settings,
    )
    two = run_book(
        sp500,
        Book(
            (
                Sleeve("a", build_strategy("momentum", params), 10, weight=0.5),
                Sleeve("b", build_strategy("momentum", params), 10, weight=0.5),
            ),
            AllocationRule(method="fixed"),
        ),
        settings,
    )
    # One order per symbol: the same trades, one commission each (the $1 minimum not doubled).
    a, b = one.account.trades, two.account.trades
    assert len(a) == len(b) > 50
    np.testing.assert_allclose(b["filled"], a["filled"], rtol=1e-9)
    np.testing.assert_allclose(b["commission"], a["commission"], rtol=1e-9)
    np.testing.assert_allclose(two.account.curve["equity"], one.account.curve["equity"], rtol=1e-9)
    # Each sleeve is half of it.
    np.testing.assert_allclose(two.sleeves["a"], two.sleeves["b"], rtol=1e-9)
    np.testing.assert_allclose(two.sleeves["a"] * 2, one.sleeves["a"], rtol=1e-9)
