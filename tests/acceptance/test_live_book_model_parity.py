"""Parity for a book whose sleeve trades a stored model as a factor, replayed through the worker.

A ``multi_factor`` sleeve naming ``model_<id>`` (a stored model's predictions as a factor) beside
a momentum sleeve: before this, such a book could not be read at all (``load_book`` built the
sleeve before anything loaded the model). The worker (``--book``, simulated broker) loads the
model as the backtest does (``book_setup.prepare_book``) and fills exactly like
``run_backtest.py --book``: the same account fills (symbol, session, quantity, price), the same
final equity to the cent, and each sleeve's part of each fill. A short span keeps it cheap.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from config import load_config
from config.book_loader import load_book
from quant_core.backtest.book_run import run_book_backtest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.factors.base import forget_named_factor
from quant_core.live.journal import Journal
from quant_core.live.run import LiveRequest, run_worker
from tests.acceptance.parity import backtest_fills, journal_fills
from tests.model_factories import refit, store_model

pytestmark = pytest.mark.acceptance

START, END = dt.date(2010, 3, 1), dt.date(2010, 6, 30)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("book_model_parity")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


def test_a_book_trading_a_model_factor_replays_as_its_backtest(
    tmp_path: Path, data_dir: Path
) -> None:
    model = store_model(
        data_dir, ["momentum_20", "volatility_20"], [refit(dt.date(2010, 1, 4), [1.0, -0.5])]
    )
    factor = f"model_{model}"
    book_file = tmp_path / "modelbook.yaml"
    sleeves = [
        {
            "name": "mf",
            "strategy": {"name": "multi_factor", "params": {"factors": {factor: 1.0}}},
            "scanner": {"name": "liquid", "params": {"top": 100, "min_history": 63}},
        },
        {"name": "mom", "strategy": {"name": "momentum", "params": {"lookback": 20}}},
    ]
    book = {"book": {"sleeves": sleeves, "allocation": {"method": "equal"}}}
    book_file.write_text(yaml.safe_dump(book))

    forget_named_factor(factor)  # each driver loads it, as a fresh process would
    span = [f"backtest.start={START}", f"backtest.end={END}"]
    cfg = load_config("backtest", [f"paths.data_dir={data_dir}", *span], environ={})
    backtest = run_book_backtest(cfg, load_book(book_file), store=False)
    forget_named_factor(factor)
    live_dir = tmp_path / "worker"
    live_dir.mkdir()
    (live_dir / "warehouse").symlink_to(data_dir / "warehouse")
    (live_dir / "models").symlink_to(data_dir / "models")
    live = load_config("live", [f"paths.data_dir={live_dir}"], environ={})
    run_worker(live, LiveRequest(replay=(START, END), book=book_file, continue_account=False))
    forget_named_factor(factor)

    journal = Journal(live_dir / "live" / "journal.duckdb")
    (key,) = journal.table("book_state")["book"].tolist()
    fills = journal.table("fills")
    equity = journal.table("equity")
    sleeve_fills = journal.book_table("sleeve_fills", key)
    journal.close()

    result = backtest.book
    trades = result.account.trades
    expected = backtest_fills(trades)
    got = journal_fills(fills)
    assert len(got) == len(expected) > 100
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    final = float(result.account.curve["equity"].iloc[-1])
    assert round(float(equity["equity"].iloc[-1]), 2) == round(final, 2)
    # The model's sleeve traded, and each sleeve's part of each fill is the backtest's.
    theirs = result.sleeve_trades
    assert (theirs["sleeve"] == "mf").sum() > 20
    counts = sleeve_fills["sleeve"].value_counts().sort_index()
    pd.testing.assert_series_equal(
        counts, theirs["sleeve"].value_counts().sort_index(), check_names=False
    )
    shares = sleeve_fills.groupby("sleeve")["shares"].sum().sort_index()
    np.testing.assert_allclose(
        shares.to_numpy(), theirs.groupby("sleeve")["shares"].sum().sort_index().to_numpy()
    )
