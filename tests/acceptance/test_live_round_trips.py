"""The live reports against the backtest and IB: sp500-2010 replayed through the worker writes a
``round_trips.parquet`` equal to the backtest's round trips for the same config (symbol, side,
dates, shares, P&L to 1e-6 relative, and the exit reason), with and without stops; and on the
IB broker (the fake TWS) a fill's arrival price is the session's open from IB's history, NULL
where IB has none, without disturbing the connection."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config import load_config
from quant_core.backtest.run import run_backtest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.live.journal import Journal
from quant_core.live.run import LiveRequest, run_worker
from quant_core.live.state import WorkerState
from tests.fake_tws import LIB, client_problems
from tests.fake_tws.server import FakeTWS
from tests.integration.test_worker_ib import close_worker, make_worker

pytestmark = pytest.mark.acceptance

SPAN = ["backtest.start=2009-10-01", "backtest.end=2010-08-20"]
STOPS = ["risk.stop_loss=0.08", "risk.take_profit=0.15", "risk.trailing_stop=0.1"]
COMPARED = ["symbol", "side", "entry_date", "exit_date", "shares", "exit_reason", "is_open"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, calendar) -> Path:
    root = tmp_path_factory.mktemp("trips")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


def _ordered(trips: pd.DataFrame) -> pd.DataFrame:
    return trips.sort_values(["entry_date", "symbol", "exit_date"], ignore_index=True)


@pytest.mark.parametrize("params", [[], STOPS], ids=["default", "stops"])
def test_the_replays_round_trips_are_the_backtests(
    tmp_path: Path, data_dir: Path, params: list[str]
) -> None:
    common = [f"paths.data_dir={data_dir}", *params]
    backtest = run_backtest(load_config("backtest", [*common, *SPAN], environ={}), store=False)
    live_cfg = load_config("live", [*common, f"paths.data_dir={tmp_path}"], environ={})
    (tmp_path / "warehouse").symlink_to(data_dir / "warehouse")

    run_worker(live_cfg, LiveRequest(replay=(dt.date(2009, 10, 1), dt.date(2010, 8, 20))))

    ours = _ordered(pd.read_parquet(tmp_path / "live" / "reports" / "round_trips.parquet"))
    theirs = _ordered(backtest.round_trips)
    assert len(ours) == len(theirs) > 100
    pd.testing.assert_frame_equal(
        ours[COMPARED].astype(object), theirs[COMPARED].astype(object), check_dtype=False
    )
    for column in ("pnl", "entry_price", "exit_price", "commission", "costs", "sessions"):
        np.testing.assert_allclose(ours[column], theirs[column], rtol=1e-6, err_msg=column)
    if params is STOPS:
        assert {"stop_loss", "take_profit", "trailing_stop"} <= set(ours["exit_reason"])
        np.testing.assert_allclose(ours["r_multiple"], theirs["r_multiple"], rtol=1e-6)
    # The trips' P&L is the account's: closed ones and those held, marked at the last close.
    final = backtest.metrics["final_equity"]
    assert ours["pnl"].sum() == pytest.approx(final - live_cfg.live.initial_cash, abs=0.01)
    daily = pd.read_parquet(tmp_path / "live" / "reports" / "daily.parquet")
    assert round(daily["equity"].iloc[-1], 2) == round(final, 2)


def test_ib_arrival_prices_come_from_the_sessions_daily_bar(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LIB)
    fake = FakeTWS(prices={"AAPL": 150.6, "MSFT": 299.0}).start()  # XOM has no price: rests
    try:
        session = dt.date(2010, 1, 11)  # the session after the data's last close (2010-01-08)
        fake.fill_time = dt.datetime(2010, 1, 11, 14, 31, tzinfo=dt.UTC)
        # IB's daily bars of AAPL (the session's open: 150.10); MSFT has none: NULL.
        fake.history["AAPL"] = [
            ("20100108", 149.0, 151.0, 148.0, 150.0, 1e6),
            ("20100111", 150.1, 152.0, 149.5, 151.5, 1e6),
        ]
        worker = make_worker(tmp_path, fake)
        assert worker.rebalance_next()
        worker.journal.fills(worker.run_id, worker.broker.settle(0.5))

        worker.daily.record(worker, session)

        folder = worker.live_dir / "reports"
        fills = pd.read_parquet(folder / "fills.parquet").set_index("symbol")
        assert fills.loc["AAPL", "arrival_price"] == 150.1
        # 1,960 bought at 150.60: 0.50 over the open, 0.60 over the close of T-1 (150.00).
        assert fills.loc["AAPL", "slippage_arrival"] == pytest.approx(1960 * 0.5)
        assert fills.loc["AAPL", "decision_price"] == 150.0
        assert fills.loc["AAPL", "slippage_decision"] == pytest.approx(1960 * 0.6)
        assert np.isnan(fills["arrival_price"].to_dict()["MSFT"])
        assert fills.loc["MSFT", "slippage_decision"] == pytest.approx(-980 * 1.0)  # bought below
        asked = {symbol for _, symbol, _, _, _ in fake.history_requests}
        assert asked == {"AAPL", "MSFT"}
        # Kept in the journal: not asked again when the session is reported again.
        journal_fills = worker.journal.report_fills("ib-paper", "DU1234567").set_index("symbol")
        assert journal_fills.loc["AAPL", "arrival_price"] == 150.1
        worker.daily.record(worker, session)
        again = [symbol for _, symbol, _, _, _ in fake.history_requests]
        assert sorted(again) == ["AAPL", "MSFT", "MSFT"]  # MSFT still unknown: asked again
        # IB's answers for MSFT (no security definition) cost the connection nothing.
        worker.heartbeat()
        worker.broker.settle(0.1)
        assert worker.state is WorkerState.RUNNING
        page = (folder / f"daily-{session}.html").read_text(encoding="utf-8")
        assert "150.1000" in page
        close_worker(worker)
    finally:
        fake.stop()
    assert client_problems(caplog.records) == []
    journal = Journal(tmp_path / "live" / "journal.duckdb")
    rows = journal.table("report_daily")
    assert rows["session"].tolist().count(session) == 1  # reported twice, kept once
    journal.close()
