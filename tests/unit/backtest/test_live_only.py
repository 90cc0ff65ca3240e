"""``risk.max_order_notional_usd`` is the worker's control; a backtest says what it would hit.

It was read by the live planner only: a backtest with the setting gave the same run as without,
silently, with 476 of 736 trades above a 1,000 USD limit the worker would have halted on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from config import load_config
from quant_core.backtest.live_only import orders_above
from quant_core.backtest.run import run_backtest
from tests.unit.backtest.test_engine_stops import random_market


def test_the_trades_above_the_limit_are_counted() -> None:
    trades = pd.DataFrame({"notional": [500.0, 1500.0, 0.0, 2500.0]})

    assert orders_above(None, trades) is None
    assert orders_above(5000.0, trades) is None
    message = orders_above(1000.0, trades)
    assert message is not None
    assert message.startswith("risk.max_order_notional_usd is 1,000.00: 2 of 4 trades")
    assert "largest 2,500.00" in message


def test_a_backtest_warns_of_the_orders_the_worker_would_refuse(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    overrides = [
        f"paths.data_dir={tmp_path}",
        "strategy.params.lookback=5",
        "backtest.benchmark=null",
    ]
    plain = run_backtest(
        load_config("backtest", overrides, environ={}), random_market(), store=False
    )
    limit = float(plain.result.trades["notional"].median())
    cfg = load_config("backtest", [*overrides, f"risk.max_order_notional_usd={limit}"], environ={})

    with caplog.at_level(logging.WARNING, logger="quant_core.backtest.live_only"):
        limited = run_backtest(cfg, random_market(), store=False)

    above = int((limited.result.trades["notional"] > limit).sum())
    assert above > 0
    # The warning's own logger: the config's override lines name the key too (at INFO, when
    # an earlier test in the same worker process set that level).
    [warned] = [r.getMessage() for r in caplog.records if r.name == "quant_core.backtest.live_only"]
    assert f"{above} of {len(limited.result.trades)} trades here were above it" in warned
