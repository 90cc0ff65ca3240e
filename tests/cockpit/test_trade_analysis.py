"""The Explorer's trade analysis of a run: stats, round trips, gain/loss, the R distribution.

Drawn by ``views/run_trade_analysis.render`` in an AppTest of its own (the Explorer page wires
it in): a run stored with its round trips, one stored before (computed from its trades), one
with a stop loss (R-multiples), and one that never traded.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from config import load_config
from quant_core.backtest.results import catalog, load_round_trips, load_trade_stats
from quant_core.backtest.run import run_backtest
from quant_core.cockpit.tables import round_trips as tables

TRIP_FILES = ("round_trips.parquet", "gain_loss.parquet", "trade_stats.json")


def _page(folder: str) -> None:
    from pathlib import Path

    from quant_core.backtest.results import load_run
    from quant_core.cockpit.views.run_trade_analysis import render

    path = Path(folder)
    render(path, load_run(path.parent, path.name))


def _open(folder: Path) -> AppTest:
    at = AppTest.from_function(_page, args=(str(folder),), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def _run_folder(data_dir: Path) -> Path:
    (run_id,) = catalog(data_dir / "backtests")["run_id"]
    return data_dir / "backtests" / str(run_id)


def _table(at: AppTest, column: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1
    frame: pd.DataFrame = found[0]
    return frame


def _histogram(at: AppTest) -> dict[str, Any]:
    (chart,) = at.get("plotly_chart")
    spec: dict[str, Any] = json.loads(chart.proto.spec)
    return spec


def _values(trace: dict[str, Any], axis: str = "x") -> np.ndarray:
    raw = trace[axis]
    if isinstance(raw, dict) and "bdata" in raw:
        return np.frombuffer(base64.b64decode(raw["bdata"]), dtype=np.dtype(raw["dtype"]))
    return np.asarray(raw, dtype=float)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_a_stored_run_shows_its_trade_analysis(data_dir: Path) -> None:
    folder = _run_folder(data_dir)
    trips, stats = load_round_trips(folder), load_trade_stats(folder)
    assert len(trips) > 100
    assert trips["is_open"].any()

    at = _open(folder)

    assert "Trade analysis" in [h.value for h in at.subheader]
    shown = _metrics(at)
    assert shown["Win rate (trades)"] == f"{stats['win_rate']:.2%}"
    assert shown["Profit factor"] == f"{stats['profit_factor']:,.2f}"
    assert shown["Best trade"] == f"${stats['best']:,.2f}"
    assert shown["Average R"] == "-"  # the default config sets no stop loss
    assert shown["Exposure-adjusted return"] == f"{stats['exposure_adjusted_return']:.2%}"
    table = _table(at, "Exit reason")
    assert len(table) == len(trips)
    assert (table["Status"] == "open").sum() == trips["is_open"].sum()
    assert set(table.loc[table["Status"] == "open", "Exit reason"]) == {"open"}
    np.testing.assert_allclose(table["P&L ($)"].sum(), trips["pnl"].sum())
    per_symbol = _table(at, "Gross P&L ($)")
    assert len(per_symbol) == trips["symbol"].nunique()
    assert per_symbol["P&L ($)"].is_monotonic_decreasing
    spec = _histogram(at)
    assert spec["layout"]["title"]["text"].startswith("Returns of the closed trades")
    counts = sum(int(_values(t, "y").sum()) for t in spec["data"])
    assert counts == int((~trips["is_open"]).sum())


def test_the_trips_filter_by_symbol_and_exit_reason(data_dir: Path) -> None:
    folder = _run_folder(data_dir)
    trips = load_round_trips(folder)
    symbol = str(trips["symbol"].value_counts().index[0])

    at = _open(folder)
    at.multiselect(key="trade_symbols").set_value([symbol]).run()

    table = _table(at, "Exit reason")
    assert set(table["Symbol"]) == {symbol}
    assert len(table) == int((trips["symbol"] == symbol).sum())
    at.multiselect(key="trade_symbols").set_value([]).run()
    at.multiselect(key="trade_reasons").set_value(["open"]).run()
    table = _table(at, "Exit reason")
    assert len(table) == int(trips["is_open"].sum())
    assert set(table["Status"]) == {"open"}


def test_a_run_stored_before_gets_its_trips_from_its_trades(data_dir: Path) -> None:
    folder = _run_folder(data_dir)
    stored = load_round_trips(folder)
    for name in TRIP_FILES:
        (folder / name).unlink()

    at = _open(folder)

    assert any("stored before runs kept their round trips" in c.value for c in at.caption)
    table = _table(at, "Exit reason")
    assert len(table) == len(stored)
    # Closed trips are the same; open ones are marked at the last session the run traded.
    closed = table[table["Status"] == "closed"]
    np.testing.assert_allclose(closed["P&L ($)"].sum(), stored.loc[~stored["is_open"], "pnl"].sum())
    assert table["P&L ($)"].notna().all()


def test_a_run_with_a_stop_loss_draws_its_r_multiples(data_dir: Path) -> None:
    cfg = load_config("backtest", [f"paths.data_dir={data_dir}", "risk.stop_loss=0.05"], environ={})
    run = run_backtest(cfg)

    at = _open(run.path)

    spec = _histogram(at)
    assert spec["layout"]["title"]["text"].startswith("R-multiples")
    closed = run.round_trips[~run.round_trips["is_open"]]
    r = closed["r_multiple"].to_numpy()
    centres = _values(spec["data"][0])
    half = (centres[1] - centres[0]) / 2 if centres.size > 1 else 0.5
    edges = np.append(centres - half, centres[-1] + half)
    shown = sum(_values(t, "y") for t in spec["data"])
    np.testing.assert_array_equal(shown, np.histogram(r, bins=edges)[0])  # every trip, its bin
    pnl = sum(_values(t, "customdata").reshape(-1, 2)[:, 0] for t in spec["data"])
    np.testing.assert_allclose(pnl, np.histogram(r, bins=edges, weights=closed["pnl"])[0])
    assert _metrics(at)["Average R"] == f"{run.trade_stats['avg_r']:,.2f}"
    assert "stop_loss" in set(_table(at, "Exit reason")["Exit reason"])


def test_a_run_without_trades_says_so(data_dir: Path) -> None:
    folder = _run_folder(data_dir)
    for name in TRIP_FILES:
        (folder / name).unlink()
    trades = pd.read_parquet(folder / "trades.parquet")
    trades.iloc[:0].to_parquet(folder / "trades.parquet")

    at = _open(folder)

    assert [i.value for i in at.info] == [tables.NO_TRADES]
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("profit_factor", [None, 1.5])
def test_stat_cards_name_a_profit_factor_without_loser(profit_factor) -> None:
    stats = {"trades": 3, "profit_factor": profit_factor}
    cards = {label: value for label, value, _ in tables.stat_cards(stats)}
    assert cards["Profit factor"] == ("no loser" if profit_factor is None else "1.50")
