"""No look-ahead in stops and account halts: cut the data at D, and everything up to D is unchanged.

As ``test_truncation.py`` does for decisions, on the real sp500-2010 data, with stops (stop loss,
take profit, trailing) and both account limits set tight enough that each acts many times in the
window. A stop or halt decided at the close of D acts at the open of D+1: in the run cut at D it
has no session to act at, and in the full run it is dated D+1, so through D the two agree only if
nothing at or before D read a bar after it. The engine's decisions (stops, halts, names left out)
are compared too.

A stop that looked one bar ahead (the close of D+1 for a decision at the close of D) would act at
D+1 in both runs alike; so the worker's own derivation is checked as well: from the run cut at D
(its fills as the journal's) it must decide, for D+1, exactly the stops the full run records there.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from quant_core.backtest.engine import EngineResult, EngineSettings, run_engine
from quant_core.backtest.run import load_market
from quant_core.data.panels import MarketData, forward_fill
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.live.stop_exits import journal_basis
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.halts import HaltRules
from quant_core.portfolio.stops import StopRules, stop_hits
from quant_core.strategies.base import build_strategy
from tests.acceptance.test_truncation import WINDOW, cut, through

pytestmark = pytest.mark.acceptance

ZONE = "America/New_York"

STOPS = StopRules(stop_loss=0.05, take_profit=0.08, trailing_stop=0.05)
CASES = {
    # Monthly-ish rebalances: between them only stops and halts trade.
    "flat_on_breach": HaltRules(max_daily_loss_frac=0.01, max_drawdown_frac=0.06, flattens=True),
    "halt_only": HaltRules(max_daily_loss_frac=0.01, halt_sessions=2),
}


@pytest.fixture(scope="module")
def sp500(tmp_path_factory, calendar) -> MarketData:
    warehouse = Warehouse(Path(tmp_path_factory.mktemp("truncation_stops")) / "warehouse")
    sync(SampleSource("sp500-2010"), warehouse, calendar, "sp500-2010")
    return load_market(warehouse, "sp500-2010")


def decisions_through(result: EngineResult, day: pd.Timestamp) -> pd.DataFrame:
    frame = result.decisions[result.decisions["date"] <= day]
    return frame.sort_values(["date", "kind", "name"]).reset_index(drop=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cutting_the_data_changes_no_stop_or_halt_before_the_cut(sp500, case) -> None:
    strategy = build_strategy("momentum", {"lookback": 20, "top_quantile": 0.5})
    settings = EngineSettings(
        1_000_000.0,
        costs=CostModel(commission_bps=1.0, slippage_bps=5.0),
        rebalance=10,
        stops=STOPS,
        halts=CASES[case],
    )
    full = run_engine(sp500, strategy, settings)
    lo, hi = (int(np.searchsorted(sp500.dates, np.datetime64(d))) for d in WINDOW)
    inside = full.decisions["date"].between(sp500.date_index[lo], sp500.date_index[hi])
    kinds = full.decisions.loc[inside, "kind"].value_counts()
    assert kinds.get("stop", 0) >= 10, "too few stops in the window for the test to see"
    assert kinds.get("halt", 0) >= 2, "too few halts in the window for the test to see"
    for last in range(lo, hi + 1):
        day = pd.Timestamp(sp500.dates[last])
        short = run_engine(cut(sp500, last), strategy, settings)
        for mine, theirs in zip(through(short, day), through(full, day), strict=True):
            # Not bit-exact: the cut data has fewer symbol columns, so sums run in another order.
            pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-12)
        pd.testing.assert_frame_equal(decisions_through(short, day), decisions_through(full, day))


def stops_from(result: EngineResult, data: MarketData) -> list[tuple[str, str]]:
    """The stops a worker whose data ends with ``data`` decides for the next session.

    Its executions are ``result``'s fills (the journal's), folded by the worker's own code.
    """
    fills = result.trades[result.trades["filled"] != 0]
    journal = pd.DataFrame(
        {
            "symbol": fills["symbol"].astype(str),
            "side": np.where(fills["filled"] > 0, "BUY", "SELL"),
            "quantity": fills["filled"].abs(),
            "price": fills["exec_price"],
            "ts": pd.DatetimeIndex(fills["date"]).tz_localize(ZONE) + pd.Timedelta("9h30min"),
        }
    )
    closes = forward_fill(data.panels["close"])
    basis = journal_basis(journal, data, closes, ZoneInfo(ZONE), len(data.dates))
    held = fills.groupby("symbol")["filled"].sum().reindex(data.symbols, fill_value=0.0)
    hits = stop_hits(STOPS, basis, held.to_numpy(), closes[-1])
    return sorted(
        (str(data.symbols[h.index]), h.describe(str(data.symbols[h.index]))) for h in hits
    )


def test_the_workers_stops_from_data_ending_at_d_are_the_backtests_at_d_plus_1(sp500) -> None:
    # The worker decides the stops of session D+1 from its journal and data through D; the
    # backtest of the whole history decides them at the close of D and records them at D+1.
    strategy = build_strategy("momentum", {"lookback": 20, "top_quantile": 0.5})
    settings = EngineSettings(1_000_000.0, rebalance=10, stops=STOPS, halts=CASES["flat_on_breach"])
    full = run_engine(sp500, strategy, settings)
    stops = full.decisions[full.decisions["kind"] == "stop"]
    lo, hi = (int(np.searchsorted(sp500.dates, np.datetime64(d))) for d in WINDOW)
    checked = 0
    for last in range(lo, hi):
        data = cut(sp500, last)
        live = stops_from(run_engine(data, strategy, settings), data)
        upcoming = stops[stops["date"] == sp500.date_index[last + 1]]
        backtest = sorted(
            (name, detail.removesuffix("; closed at this open"))
            for name, detail in zip(upcoming["name"], upcoming["detail"], strict=True)
        )
        assert live == backtest
        checked += len(live)
    assert checked >= 10
