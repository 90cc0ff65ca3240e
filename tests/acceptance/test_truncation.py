"""No look-ahead in the engine: cut the data at D, and everything up to D is unchanged.

Every built-in strategy, rebalancing every session and every 21, on the real sp500-2010 data,
is run on the full history and on the history cut at each session of a window. The window holds
the partial session of 2009-11-12 (408 of ~500 symbols have a bar) and the end of CBE, CIEN, CVG,
DYN, ESV, KBH, MBI and MTW (last bar 2009-12-24, gone by the 5-session rule from 2010-01-04): a
decision that used bars after T (whether a pausing symbol ever trades again) would differ
between the two runs. Every strategy's full run sells at least one gone symbol at its last close
in the window, so the forced sale itself is cut through. Symbols with no bar up to D
are dropped from the cut data, as a warehouse synced up to D would not hold them.

``fitted`` trades a model stored in the test's data directory (``<data_dir>/models``) and loaded
as the drivers load it: hand-built refits, one valid from the data's start and three whose
``valid_from`` falls inside the window, each with other coefficients, so that the cut also goes
through the sessions where the model switches refits (the one valid at T-1 predicts for T).

Each run is repeated with every construction method (``portfolio.construction``): ``equal`` and
``inverse_vol`` re-weight the picks, the latter from the returns of the 20 sessions through T-1
(its warm-up, 21 sessions, is longer than some strategies'; the partial session leaves names
out of its window for 20 sessions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quant_core.backtest.engine import EngineResult, EngineSettings, run_engine
from quant_core.backtest.run import load_market
from quant_core.data.panels import MarketData, first_rows, forward_fill, gone_at
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.portfolio.construction import METHODS, ConstructionSettings
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.ledger import Ledger
from quant_core.portfolio.policy import ConstraintSettings, PortfolioPolicy
from quant_core.research.attach import attach_model
from quant_core.strategies.base import Strategy, build_strategy
from quant_core.strategies.decide import target_orders
from tests.model_factories import refit, store_model

pytestmark = pytest.mark.acceptance

WINDOW = ("2009-11-09", "2010-01-15")  # the partial session and eight symbols that leave
STRATEGIES: dict[str, dict[str, Any]] = {
    # Short lookbacks, so that each trades well before the window, and broad picks, so that
    # each holds symbols that leave (and must sell them at their last close) in it.
    "momentum": {"lookback": 20, "top_quantile": 0.5},
    "multi_factor": {
        "factors": {"momentum_20": 1.0, "reversal_5": 0.5},
        "top_quantile": 0.5,
        "long_short": True,
    },
    "sma_cross": {"fast": 5, "slow": 20},
    "mean_reversion": {"lookback": 5, "bottom_quantile": 0.3, "hold_sessions": 1},
    "fitted": {"top_quantile": 0.4, "long_short": True},  # the model: the stored one (below)
}
# fitted's model: a refit valid from the data's first session, then three switching inside the
# window (2009-11-09 .. 2010-01-15), the coefficients of momentum_20, reversal_5, momentum_10
# (factors on rolling windows cost ~20 ms a session each to compute: run at every cut, too slow).
MODEL_FACTORS = ("momentum_20", "reversal_5", "momentum_10")
REFITS = [
    ("2009-08-21", (0.5, 0.3, -0.2)),
    ("2009-11-18", (-0.4, 0.6, 0.1)),
    ("2009-12-09", (0.2, -0.5, -0.3)),
    ("2010-01-06", (0.6, 0.1, 0.4)),
]
CONSTRUCTION_LOOKBACK = 20  # short enough for the window to start well before the cut days
# Runs that hold no symbol that leaves in the window, so sell none at its last close: at its
# rebalance of 2009-11-30, mean_reversion every 21 sessions picks CBE and CIEN, but their
# 20 returns through T-1 miss the partial session of 2009-11-12, so every method that reads
# returns (inverse_vol and the optimisers, by the same rule) leaves them out.
NO_EXIT_IN_WINDOW = {
    ("mean_reversion", 21, name) for name, method in METHODS.items.items() if method.reads_returns
}
# min_variance holds the least volatile of the picks and gives the rest v = 0: in these runs
# the volatile names that leave in the window (CBE, DYN, MBI, ...) are never held.
NO_EXIT_IN_WINDOW |= {
    ("mean_reversion", 1, "min_variance"),
    ("momentum", 1, "min_variance"),
    ("momentum", 21, "min_variance"),
    ("sma_cross", 1, "min_variance"),
}
# The maximum Sharpe methods hold few of the picks (the rest sit at the bound, 0), and half
# Kelly drops the names it would take the other side of: in these runs none of them leaves.
NO_EXIT_IN_WINDOW |= {
    ("momentum", 1, "black_litterman"),
    ("momentum", 21, "black_litterman"),
    ("momentum", 21, "half_kelly"),
    ("momentum", 1, "mean_variance"),
    ("momentum", 21, "mean_variance"),
    ("multi_factor", 21, "mean_variance"),
    ("fitted", 21, "black_litterman"),
    ("fitted", 21, "half_kelly"),
    ("fitted", 21, "mean_variance"),
}
# Every strategy with every method it can run: a method of expected returns (needs_scores) only
# with a strategy that gives scores (check_method refuses the others before anything runs).
PAIRS = [
    (name, method)
    for name in sorted(STRATEGIES)
    for method in METHODS.names()
    if build_strategy(name, STRATEGIES[name]).gives_scores or not METHODS.get(method).needs_scores
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, calendar) -> Path:
    root = Path(tmp_path_factory.mktemp("truncation"))
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


@pytest.fixture(scope="module")
def sp500(data_dir: Path) -> MarketData:
    return load_market(Warehouse(data_dir / "warehouse"), "sp500-2010")


@pytest.fixture(scope="module")
def make(data_dir: Path) -> Callable[[str], Strategy[Any]]:
    """Build a strategy of STRATEGIES; fitted with the model stored in the data directory."""
    refits = [refit(pd.Timestamp(day).date(), coef) for day, coef in REFITS]
    model_id = store_model(data_dir, MODEL_FACTORS, refits)

    def build(name: str) -> Strategy[Any]:
        params = STRATEGIES[name] | ({"model": model_id} if name == "fitted" else {})
        strategy = build_strategy(name, params)
        assert attach_model(strategy, data_dir) is None  # as both drivers load it
        return strategy

    return build


def cut(data: MarketData, last: int) -> MarketData:
    """Return the data through row ``last``, without the symbols that have no bar by then."""
    keep = np.isfinite(data.panels["close"][: last + 1]).any(axis=0)
    panels = {k: v[: last + 1][:, keep].copy() for k, v in data.panels.items()}
    sectors = None if data.sectors is None else data.sectors[keep]
    return MarketData(data.dates[: last + 1], data.symbols[keep], panels, sectors)


def through(result: EngineResult, day: pd.Timestamp) -> tuple[pd.DataFrame, ...]:
    trades = result.trades[result.trades["date"] <= day]
    positions = result.positions[result.positions["date"] <= day]
    return (
        trades.sort_values(["date", "symbol"]).reset_index(drop=True),
        positions.sort_values(["date", "symbol"]).reset_index(drop=True),
        result.curve.loc[:day],
    )


# The optimisers cost 10-50 ms a decision and a run is repeated at every cut: they run every 21
# sessions, cut at every third session of the window (each cut still compares every trade
# before it). The decision test below checks every method at every session of the window.
HEURISTIC = ("as_is", "equal", "inverse_vol")
RUNS = [
    (name, rebalance, method)
    for name, method in PAIRS
    for rebalance in ((1, 21) if method in HEURISTIC else (21,))
]


@pytest.mark.parametrize(("name", "rebalance", "method"), RUNS)
def test_cutting_the_data_changes_nothing_before_the_cut(
    sp500, make, name, rebalance, method
) -> None:
    strategy = make(name)
    settings = EngineSettings(
        1_000_000.0,
        costs=CostModel(commission_bps=1.0, slippage_bps=5.0),
        rebalance=rebalance,
        policy=PortfolioPolicy(ConstructionSettings(method, CONSTRUCTION_LOOKBACK)),
    )
    full = run_engine(sp500, strategy, settings)
    lo, hi = (int(np.searchsorted(sp500.dates, np.datetime64(d))) for d in WINDOW)
    window = full.trades["date"].between(sp500.date_index[lo], sp500.date_index[hi])
    exits = full.trades[window & (full.trades["status"] == "exit_at_last_close")]
    if (name, rebalance, method) not in NO_EXIT_IN_WINDOW:
        assert len(exits) > 0, "no forced sale in the window: the test would not see one"
    checked = 0
    for last in range(lo, hi + 1, 1 if method in HEURISTIC else 3):
        day = pd.Timestamp(sp500.dates[last])
        short = run_engine(cut(sp500, last), strategy, settings)
        for mine, theirs in zip(through(short, day), through(full, day), strict=True):
            # Not bit-exact: the cut data has fewer symbol columns, so sums run in another order.
            pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-12)
        checked += len(short.trades)
    assert checked > 0


def decision(
    data: MarketData, t: int, session: pd.Timestamp, strategy: Strategy[Any], method: str
) -> pd.Series:
    """The orders of an empty $1M book for ``session`` at row ``t``, as the drivers decide."""
    ledger = Ledger(1_000_000.0, np.zeros(len(data.symbols)))
    orders = target_orders(
        strategy,
        data,
        t,
        ledger,
        forward_fill(data.panels["close"])[t - 1],
        0.02,
        False,
        session,
        ended=gone_at(data, t, 5, first_rows(data)),
        policy=PortfolioPolicy(ConstructionSettings(method, CONSTRUCTION_LOOKBACK)),
    )
    return pd.Series(orders.orders, index=data.symbols)[orders.orders != 0].sort_index()


@pytest.mark.parametrize(("name", "method"), PAIRS)
def test_a_decision_at_t_is_the_same_whether_the_data_ends_at_t_minus_1(sp500, make, name, method):
    # The worker decides for the session after the data's last close (row t one past the
    # data); the backtest decides at row t of the whole history. Both must give the same orders.
    strategy = make(name)  # no state between decisions: one serves both drivers
    lo, hi = (int(np.searchsorted(sp500.dates, np.datetime64(d))) for d in WINDOW)
    decided = 0
    for t in range(lo, hi + 1):
        session = pd.Timestamp(sp500.dates[t])
        ended = cut(sp500, t - 1)
        live = decision(ended, len(ended.dates), session, strategy, method)
        backtest = decision(sp500, t, session, strategy, method)
        pd.testing.assert_series_equal(live, backtest, check_exact=False, rtol=1e-12)
        decided += len(backtest)
    assert decided > 0


# Every limit and the vol target on: caps per name (below the 1/k weights of momentum's ~250
# picks) and per sector (the reference data's sectors), the gross (room to scale the long-short
# book up), the net, a drift band and a turnover cap against the book held, and the gross scaled
# to 10% ex-ante volatility from the covariance of the 20 returns through T-1.
CONSTRAINED = ConstraintSettings(
    max_weight=0.003,
    sector_cap=0.15,
    max_gross=1.5,
    max_net=0.6,
    max_turnover=0.15,
    no_trade_band=0.002,
    vol_target=0.10,
)
# Two books, long only and long-short, deciding every 5 sessions (the cut still falls on every
# session of the window; the vol target's covariance costs time at each decision). The limits
# each full run must see binding, so that the comparison covers them (max_turnover in both).
REBALANCE_CONSTRAINED = 5
BINDING = {
    "momentum": {"vol_target", "max_weight", "sector_cap", "max_net", "no_trade_band"},
    "multi_factor": {"vol_target", "max_weight", "sector_cap", "no_trade_band"},
}


@pytest.mark.parametrize("name", sorted(BINDING))
def test_cutting_the_data_changes_nothing_with_constraints_and_vol_target(
    sp500, make, name, caplog
):
    strategy = make(name)
    construction = ConstructionSettings("as_is", CONSTRUCTION_LOOKBACK)
    settings = EngineSettings(
        1_000_000.0,
        costs=CostModel(commission_bps=1.0, slippage_bps=5.0),
        rebalance=REBALANCE_CONSTRAINED,
        policy=PortfolioPolicy(construction, CONSTRAINED),
    )
    lo, hi = (int(np.searchsorted(sp500.dates, np.datetime64(d))) for d in WINDOW)
    caplog.set_level(logging.INFO, logger="quant_core.strategies.decide")
    full = run_engine(sp500, strategy, settings)
    bound = {r.args[0] for r in caplog.records if r.getMessage().startswith("Constraint ")}
    assert BINDING[name] | {"max_turnover"} <= bound, bound
    assert sp500.sectors is not None
    checked = 0
    for last in range(lo, hi + 1):
        day = pd.Timestamp(sp500.dates[last])
        short = run_engine(cut(sp500, last), strategy, settings)
        for mine, theirs in zip(through(short, day), through(full, day), strict=True):
            pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-12)
        checked += len(short.trades)
    assert checked > 0
