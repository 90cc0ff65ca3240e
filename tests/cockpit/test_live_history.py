"""The Live Dashboard's history in AppTest: session reports and state in, tables and figure out.

The reports are written with the contract's columns (``tests/cockpit/live_reports.py``) into
``<data_dir>/live/reports``, the state with the worker's own writer; the warehouse is the
cockpit suite's sp500-2010, so the backtest of the live config really runs.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from config import load_config
from quant_core.backtest.run import run_backtest
from quant_core.cockpit.charts.live_equity import BACKTEST_NAME, LIVE_NAME, TITLE
from quant_core.cockpit.models import live_backtest as bt
from quant_core.cockpit.models import live_reports as history
from quant_core.cockpit.models.live_portfolio import roll
from tests.cockpit import live_reports as reports
from tests.cockpit.live_reports import FILLS, NEXT_SESSION, SESSIONS, XOM_COST

Opener = Callable[[str], AppTest]
ROOT = Path(__file__).resolve().parents[2]
REPLAY = "2010-05-03:2010-05-28"


def _live_dir(data_dir: Path) -> Path:
    return data_dir / "live"


def _table(at: AppTest, column: str) -> pd.DataFrame:
    """Return the page's one dataframe with ``column``."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def _history(at: AppTest) -> pd.DataFrame:
    return _table(at, "From")


def _portfolio(at: AppTest) -> pd.DataFrame:
    return _table(at, "Realised P&L").set_index("Symbol")


def _figure(at: AppTest) -> dict[str, Any]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    found = [s for s in specs if s["layout"]["title"]["text"] == TITLE]
    assert len(found) == 1
    return found[0]


def _of(session: dt.date) -> list[dict[str, Any]]:
    """Return the reported fills of ``session``."""
    return [f for f in FILLS if f["session"] == session]


def _texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def _captions(at: AppTest) -> str:
    """Return the captions as read: Markdown's escapes (``\\$``) taken out."""
    return _texts(at, "caption").replace("\\", "")


# ------------------------------------------------------------------------------- fills


def test_fills_already_reported_are_not_listed_twice(data_dir: Path, open_page: Opener) -> None:
    # The evening after the close: today's fills are in the state and in the report.
    live = _live_dir(data_dir)
    reports.write_reports(live)
    last = SESSIONS[-1]
    reports.write(live, reports.state(last, _of(last), reports.POSITIONS))
    at = open_page("live")
    assert not at.exception
    table = _history(at)
    assert len(table) == len(FILLS)  # 7, the two alike partial fills both kept
    assert set(table["From"]) == {"session report"}
    assert list(table["Session"])[:2] == [f"{last}", f"{last}"]  # newest first
    assert list(table["Time (UTC)"])[-1] == "2010-05-03 13:35:02"


def test_todays_new_fills_join_the_history(data_dir: Path, open_page: Opener) -> None:
    live = _live_dir(data_dir)
    reports.write_reports(live)
    today = [
        reports.fill(NEXT_SESSION, "13:35:02", "AAPL", -20, 264.0, "61", None, None),
        reports.fill(NEXT_SESSION, "13:35:03", "XOM", -70, 67.0, "62", None, None),
    ]
    reports.write(live, reports.state(NEXT_SESSION, today, reports.POSITIONS))
    at = open_page("live")
    table = _history(at)
    assert len(table) == len(FILLS) + 2
    new = table[table["From"] == "today (state)"]
    assert list(new["Symbol"]) == ["XOM", "AAPL"]
    assert list(new["Shares"]) == [-70.0, -20.0]  # signed, from the state's side
    assert set(new["Session"]) == {f"{NEXT_SESSION}"}
    assert new["Slippage vs decision ($)"].isna().all()  # no reference price in the state


def test_history_filters_by_session_and_symbol(data_dir: Path, open_page: Opener) -> None:
    live = _live_dir(data_dir)
    reports.write_reports(live)
    reports.write(live, reports.state(SESSIONS[-1], [], reports.POSITIONS))
    at = open_page("live")
    assert at.date_input(key="hist_from").value == SESSIONS[0]
    assert at.date_input(key="hist_to").value == SESSIONS[-1]
    at.date_input(key="hist_from").set_value(SESSIONS[1]).run()
    at.date_input(key="hist_to").set_value(SESSIONS[3]).run()
    table = _history(at)
    assert list(table["Session"]) == ["2010-05-06", "2010-05-05", "2010-05-04"]
    assert list(table["Symbol"]) == ["MSFT", "AAPL", "XOM"]  # newest first
    assert "3 fill(s) in 3 session(s), 3 symbol(s)" in _captions(at)
    at.date_input(key="hist_from").set_value(SESSIONS[0]).run()
    at.multiselect(key="hist_symbols").set_value(["AAPL"]).run()
    table = _history(at)
    assert list(table["Symbol"]) == ["AAPL", "AAPL"]
    assert list(table["Shares"]) == [-40.0, 100.0]


def test_slippage_against_decision_and_arrival(data_dir: Path, open_page: Opener) -> None:
    live = _live_dir(data_dir)
    reports.write_reports(live)
    reports.write(live, reports.state(SESSIONS[-1], [], reports.POSITIONS))
    at = open_page("live")
    table = _history(at)
    first = table.iloc[-1]  # AAPL bought 100 at 260.00: decided at 258.00, opened at 259.50
    assert first["Slippage vs decision ($)"] == pytest.approx(200.0)
    assert first["vs decision (bps)"] == pytest.approx(1e4 * 200.0 / (100 * 258.0))
    assert first["Slippage vs arrival ($)"] == pytest.approx(50.0)
    stop = table[table["Reason"] == "stop_loss"].iloc[0]  # sold 150 at 29.00, decided at 29.20
    assert stop["Slippage vs decision ($)"] == pytest.approx(30.0)
    assert math.isnan(stop["Slippage vs arrival ($)"])  # no arrival price known
    decision = sum(f["slippage_decision"] for f in FILLS if f["slippage_decision"] is not None)
    assert f"vs the decision price +${decision:,.2f}" in _captions(at)


# ------------------------------------------------------------------------------- positions


def test_realised_pnl_per_position_with_totals(data_dir: Path, open_page: Opener) -> None:
    # Next morning: XOM sold today (not reported yet); the state holds AAPL only, now at 265.
    live = _live_dir(data_dir)
    reports.write_reports(live)
    today = [reports.fill(NEXT_SESSION, "13:35:03", "XOM", -70, 67.0, "62", None, None)]
    # The broker's own average cost leaves the commission out: the method's stays.
    held = [{"symbol": "AAPL", "quantity": 60.0, "avg_cost": 260.0, "market_price": 265.0}]
    reports.write(live, reports.state(NEXT_SESSION, today, held))
    at = open_page("live")
    table = _portfolio(at)
    assert list(table.index) == ["AAPL", "MSFT", "XOM", "Total"]
    aapl = table.loc["AAPL"]
    assert (aapl["Position"], aapl["Market price"], aapl["Avg cost"]) == (60.0, 265.0, 260.01)
    assert aapl["Market value"] == pytest.approx(15_900.0)
    assert aapl["Unrealised P&L"] == pytest.approx((265.0 - 260.01) * 60)
    assert aapl["Realised P&L"] == pytest.approx(78.60)
    assert table.loc["MSFT", "Position"] == 0.0
    assert table.loc["MSFT", "Realised P&L"] == pytest.approx(-203.0)
    xom = 70 * (67.0 - XOM_COST) - 1.0  # today's sale, under the average cost
    assert table.loc["XOM", "Position"] == 0.0
    assert table.loc["XOM", "Realised P&L"] == pytest.approx(xom)
    total = table.loc["Total"]
    assert total["Market value"] == pytest.approx(15_900.0)
    assert total["Realised P&L"] == pytest.approx(78.60 - 203.0 + xom)
    assert pd.isna(total["Position"])
    captions = _captions(at)
    assert f"includes +${xom:,.2f} from today's fills not yet reported" in captions
    overall = 78.60 - 151.75 - 51.25 + xom  # every reported session's, and today's
    shown = f"{'+' if overall > 0 else '-'}${abs(overall):,.2f}"
    assert f"Realised since the worker's start, every symbol: {shown}" in captions


def test_a_report_newer_than_the_state_wins(data_dir: Path, open_page: Opener) -> None:
    live = _live_dir(data_dir)
    reports.write_reports(live)
    old = dt.datetime(2010, 5, 7, 20, 0, tzinfo=dt.UTC)  # read before the file was written
    held = [{"symbol": "AAPL", "quantity": 999.0, "avg_cost": 1.0, "market_price": 1.0}]
    reports.write(live, reports.state(SESSIONS[-1], [], held, broker_as_of=old))
    at = open_page("live")
    table = _portfolio(at)
    assert table.loc["AAPL", "Position"] == 60.0
    assert table.loc["XOM", "Unrealised P&L"] == pytest.approx((66.5 - XOM_COST) * 70)
    assert table.loc["Total", "Realised P&L"] == pytest.approx(78.60 - 203.0)
    assert "from the worker's state" not in _captions(at)


# ------------------------------------------------------------------------------- equity


def _backtest_expected(data_dir: Path, start: str, end: str, equity: float) -> pd.Series:
    """Run the backtest the page must draw, independently, and rebase it by hand."""
    overrides = [f"paths.data_dir={data_dir}", f"backtest.start={start}", f"backtest.end={end}"]
    overrides += [f"backtest.initial_cash={equity}", "backtest.benchmark=null"]
    curve = run_backtest(load_config("live", overrides, environ={}), store=False).result.curve
    first = pd.Timestamp(SESSIONS[0])
    shown = curve.loc[curve.index >= first, "equity"]
    return shown * equity / float(curve["equity"].loc[first])


def test_live_equity_over_the_backtest(data_dir: Path, open_page: Opener) -> None:
    live = _live_dir(data_dir)
    reports.write_reports(live)
    extra = (NEXT_SESSION, 1_004_000.0)  # a close the file does not have yet
    document = reports.state(NEXT_SESSION, [], reports.POSITIONS)
    document["daily"] = [
        {"session": s.isoformat(), "equity": e, "gross": 0.7, "sectors": []}
        for s, e in [(SESSIONS[-1], 999.0), extra]  # the file's equity wins on 05-07
    ]
    reports.write(live, document)
    at = open_page("live")
    spec = _figure(at)
    traces = {t["name"]: t for t in spec["data"]}
    assert set(traces) == {LIVE_NAME, BACKTEST_NAME}
    ours = traces[LIVE_NAME]
    assert ours["x"] == [f"{s}" for s in [*SESSIONS, NEXT_SESSION]]
    assert ours["y"] == [*reports.EQUITY, extra[1]]
    expected = _backtest_expected(data_dir, "2010-05-04", f"{NEXT_SESSION}", reports.EQUITY[0])
    theirs = traces[BACKTEST_NAME]
    assert theirs["x"] == [f"{t:%Y-%m-%d}" for t in expected.index]
    assert theirs["x"][0] == f"{SESSIONS[0]}"
    assert theirs["y"] == pytest.approx(expected.to_list(), rel=1e-12)
    assert theirs["y"][0] == pytest.approx(reports.EQUITY[0])  # both leave from one point
    assert theirs["line"]["dash"] == "dash"
    assert spec["layout"]["yaxis"]["tickprefix"] == "$"
    live_return = extra[1] / reports.EQUITY[0] - 1
    assert f"live {live_return:+.2%}" in _captions(at)
    assert "from 2010-05-04 to 2010-05-10" in _captions(at)


@pytest.mark.parametrize(
    ("setting", "sessions", "said"),
    [
        ({"QC__DATA__DATASET": "no-such-dataset"}, SESSIONS, "no dataset 'no-such-dataset'"),
        ({}, [dt.date(2011, 1, d) for d in (3, 4, 5, 6, 7)], "no session from 2011-01-04"),
    ],
)
def test_a_backtest_that_cannot_run_is_a_note(
    data_dir: Path,
    open_page: Opener,
    monkeypatch: pytest.MonkeyPatch,
    setting: dict[str, str],
    sessions: list[dt.date],
    said: str,
) -> None:
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    live = _live_dir(data_dir)
    reports.write_reports(live, daily=reports.daily_rows(sessions))
    reports.write(live, reports.state(sessions[-1], [], reports.POSITIONS))
    at = open_page("live")
    assert not at.exception
    warnings = _texts(at, "warning")
    assert "The backtest of the live config cannot run" in warnings
    assert said in warnings
    assert "Only the live equity is drawn" in warnings
    assert [t["name"] for t in _figure(at)["data"]] == [LIVE_NAME]


def test_a_sim_replays_own_reports(data_dir: Path, open_page: Opener) -> None:
    # The worker itself writes the reports: a month of sp500-2010 replayed on the simulated
    # broker, which fills as the backtest does, so the two lines lie on each other.
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir), "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, str(ROOT / "run_live_strategy.py"), "--replay", REPLAY]
    done = subprocess.run(
        [*command, "--speed", "0"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    folder = data_dir / "live" / "reports"
    written = pd.read_parquet(folder / "fills.parquet")
    at = open_page("live")
    assert not at.exception
    table = _history(at)
    assert len(table) == len(written) > 50
    assert set(table["Session"]) == {f"{s}" for s in written["session"]}
    assert table["Slippage vs decision ($)"].notna().all()
    portfolio = _portfolio(at)
    held = pd.read_parquet(folder / "positions.parquet")
    assert set(portfolio.index) == {*held["symbol"], "Total"}
    total = portfolio.loc["Total"]
    assert total["Market value"] == pytest.approx(held["market_value"].sum())
    assert total["Unrealised P&L"] == pytest.approx(held["unrealized_pnl"].sum())
    assert total["Realised P&L"] == pytest.approx(held["realized_pnl"].sum())
    traces = {t["name"]: t for t in _figure(at)["data"]}
    daily = pd.read_parquet(folder / "daily.parquet")
    assert traces[LIVE_NAME]["y"] == pytest.approx(daily["equity"].to_list())
    ours = dict(zip(traces[LIVE_NAME]["x"], traces[LIVE_NAME]["y"], strict=True))
    theirs = dict(zip(traces[BACKTEST_NAME]["x"], traces[BACKTEST_NAME]["y"], strict=True))
    assert set(theirs) == set(ours)
    gap = max(abs(ours[d] / theirs[d] - 1) for d in ours)
    assert gap < 1e-9, gap


# ------------------------------------------------------------------------------- missing


def test_no_report_yet_says_so(data_dir: Path, open_page: Opener) -> None:
    live = _live_dir(data_dir)
    today = [reports.fill(SESSIONS[0], "13:35:02", "AAPL", 100, 260.0, "11", None, None)]
    held = [{"symbol": "AAPL", "quantity": 100.0, "avg_cost": 260.01, "market_price": 261.0}]
    reports.write(live, reports.state(SESSIONS[0], today, held))
    at = open_page("live")
    infos = _texts(at, "info")
    assert "The worker has not closed a session yet: no session report in" in infos
    assert "No session close recorded yet" in infos
    assert "no session report yet (reports/positions.parquet is missing)" in _captions(at)
    table = _history(at)
    assert list(table["From"]) == ["today (state)"]
    portfolio = _portfolio(at)
    assert portfolio.loc["AAPL", "Position"] == 100.0
    assert portfolio["Realised P&L"].isna().all()  # unknown before the first report
    assert not at.get("plotly_chart") or all(
        json.loads(c.proto.spec)["layout"]["title"]["text"] != TITLE for c in at.get("plotly_chart")
    )


def test_an_unreadable_report_is_named(data_dir: Path, open_page: Opener) -> None:
    live = _live_dir(data_dir)
    folder = reports.write_reports(live)
    (folder / "fills.parquet").write_bytes(b"not parquet")
    pd.DataFrame({"symbol": ["AAPL"]}).to_parquet(folder / "positions.parquet")
    reports.write(live, reports.state(SESSIONS[-1], [], reports.POSITIONS))
    at = open_page("live")
    assert not at.exception
    warnings = _texts(at, "warning")
    assert "fills.parquet cannot be read" in warnings
    assert "positions.parquet lacks the column(s) quantity, avg_cost, realized_pnl" in warnings
    assert _figure(at)["data"]  # the equity still draws


# ------------------------------------------------------------------------------- models


def test_alike_fills_are_told_apart_by_their_order() -> None:
    # Three partial fills alike (one order, one second, 10 shares): two reported, one not yet.
    report = history.normalise_fills(pd.DataFrame(FILLS[-2:]))
    today = history.normalise_fills(pd.DataFrame([FILLS[-1]] * 3), history.TODAY)
    assert len(history.not_reported(report, today)) == 1
    merged = history.merge_fills(report, today)
    assert list(merged["source"]) == [history.REPORT, history.REPORT, history.TODAY]


def test_roll_realises_and_crosses_zero() -> None:
    # Long 100 at 10.01 (commission in); sell 150 at 11 with $3: 100 close, 50 open short.
    quantity, cost, realised = roll(100.0, 10.01, [(-150.0, 11.0, 3.0)])
    assert realised == pytest.approx(100 * (11.0 - 10.01) - 2.0)
    assert quantity == -50.0
    assert cost == pytest.approx((50 * 11.0 - 1.0) / 50)  # a short's proceeds net of costs
    quantity, cost, realised = roll(quantity, cost, [(50.0, 10.0, 1.0)])
    assert quantity == 0.0
    assert realised == pytest.approx(50 * (10.98 - 10.0) - 1.0)


def test_rebase_meets_the_live_equity_at_the_first_common_session() -> None:
    index = pd.DatetimeIndex(["2010-05-03", "2010-05-04", "2010-05-05"])
    live = pd.Series([2_000.0, 2_100.0, 2_050.0], index=index)
    backtest = pd.Series([1_000.0, 1_000.0, 1_040.0, 1_020.0], index=index.insert(0, "2010-04-30"))
    rebased = bt.rebase(live, backtest)
    assert rebased is not None
    assert rebased[1] == index[0]
    assert rebased[0].to_list() == [2_000.0, 2_080.0, 2_040.0]
    measured = bt.tracking(live, rebased[0])
    assert measured is not None
    assert measured.live_return == pytest.approx(0.025)
    assert measured.backtest_return == pytest.approx(0.02)
