"""The turnover cap and the drift band reduce the traded notional of a real backtest (sp500-2010,
the default momentum) as configured: every decision within the cap, every kept name untraded."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest

from config import load_config
from quant_core.backtest.run import BacktestRun, run_backtest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.strategies import decide

pytestmark = pytest.mark.acceptance

CAP = 0.05  # one-sided, of the investable equity, per rebalance
BAND = 0.003  # momentum holds ~100 names at ~1% each: a drift of up to 0.3 points is kept


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, calendar) -> Path:
    root = tmp_path_factory.mktemp("constraints")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


def backtest(data_dir: Path, *overrides: str) -> tuple[BacktestRun, list[dict[str, Any]]]:
    """Run the backtest and keep each decision with the ledger and marks it was made from."""
    cfg = load_config("backtest", [f"paths.data_dir={data_dir}", *overrides], environ={})
    calls: list[dict[str, Any]] = []
    signature = inspect.signature(decide.target_orders)

    def spy(*args: Any, **kwargs: Any) -> decide.Decision:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        result = decide.target_orders(*args, **kwargs)
        calls.append({**bound.arguments, "decision": result})
        return result

    with mock.patch("quant_core.backtest.engine.target_orders", spy):
        run = run_backtest(cfg, store=False)
    return run, calls


def current_of(call: dict[str, Any]) -> tuple[np.ndarray, float]:
    ledger, marks = call["ledger"], call["marks"]
    investable = ledger.equity(marks) * (1 - call["cash_buffer"])
    return ledger.positions * np.nan_to_num(marks) / investable, investable


def traded(run: BacktestRun) -> float:
    return float(run.result.trades["notional"].sum())


def test_turnover_cap_and_drift_band_reduce_traded_notional(data_dir: Path) -> None:
    base, _ = backtest(data_dir)
    capped, capped_calls = backtest(data_dir, f"portfolio.constraints.max_turnover={CAP}")
    banded, banded_calls = backtest(data_dir, f"portfolio.constraints.no_trade_band={BAND}")

    assert traded(capped) < 0.6 * traded(base)
    # The band skips the small re-sizing trades: many of them, little notional (names that
    # enter or leave the top quantile trade their whole weight, far outside the band).
    assert traded(banded) < traded(base)
    assert len(banded.result.trades) < 0.75 * len(base.result.trades)
    # The cap, decision by decision: the target weights, and the shares traded at the T-1
    # closes (one share per name of rounding; the exits of gone names sold in full first).
    bound = 0
    trades = capped.result.trades
    for call, day in zip(capped_calls, capped.result.rebalances, strict=True):
        current, investable = current_of(call)
        weights = call["decision"].weights
        exits = np.abs(current[call["ended"]]).sum() / 2
        assert np.abs(weights - current).sum() / 2 <= max(CAP, exits) + 1e-9
        bound += any(b.constraint == "max_turnover" for b in call["decision"].binding)
        on_day = trades[trades["date"] == day]
        value = (on_day["filled"].abs() * on_day["signal_price"]).sum() / 2
        assert value <= max(CAP, exits) * investable + on_day["signal_price"].sum() / 2 + 1e-6
    assert bound > len(capped_calls) / 2
    # The band: a name kept at its current weight is not traded at all.
    kept_names = 0
    for call, day in zip(banded_calls, banded.result.rebalances, strict=True):
        current, _ = current_of(call)
        kept = np.flatnonzero((call["decision"].weights == current) & (current != 0))
        kept_names += kept.size
        on_day = banded.result.trades[banded.result.trades["date"] == day]
        assert not set(on_day["symbol"]) & set(call["data"].symbols[kept])
    assert kept_names > 0
