"""The daily report's figures: each fill's slippage against the decision and arrival prices (hand
computed), the session's implementation shortfall, the fills' reasons, exposure, limits, the
round trips' fills and the alert's text."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from config import load_config
from quant_core.analytics.round_trips import FILL_COLUMNS
from quant_core.data.panels import forward_fill
from quant_core.live.daily_report import (
    REPORT_FILL_COLUMNS,
    analytics_fills,
    build_document,
    daily_figures,
    exposure,
    limit_rows,
    report_fills,
    shortfall,
    summary,
)
from quant_core.live.report_book import position_rows
from quant_core.live.state_risk import DailyClose, SectorExposureRow
from tests.factories import market

NY = ZoneInfo("America/New_York")
# Sessions 2010-01-04, 05, 06. C has no bar on the 6th (gone: its exit fills at its last close).
DATA = market(
    {"A": [10.0, 11.0, 12.0], "B": [20.0, 19.0, 18.0], "C": [5.0, 6.0, np.nan]},
    opens={"A": [10.0, 10.5, 11.8], "B": [20.0, 19.5, 18.2], "C": [5.0, 5.5, np.nan]},
)
CLOSES = forward_fill(DATA.panels["close"])


def _raw(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as ``Journal.report_fills`` gives them (defaults for what a test leaves out)."""
    base = {
        "commission": 1.0,
        "order_id": "1",
        "exec_id": "",
        "arrival_price": np.nan,
        "decision_price": np.nan,
        "purpose": "",
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def _at(day: str, time: str = "14:30") -> pd.Timestamp:
    return pd.Timestamp(f"{day} {time}", tz="UTC")


def test_slippage_against_the_decision_and_arrival_prices_by_hand() -> None:
    raw = _raw(
        [
            # A buy of 100 at 10.60, sized from 10.00 (the close of T-1 on record), open 10.50.
            {"ts": _at("2010-01-05"), "symbol": "A", "side": "BUY", "quantity": 100.0,
             "price": 10.60, "ref": "qc:2010-01-05:A", "decision_price": 10.0,
             "arrival_price": 10.5},
            # A sale of 50 at 19.40, sized from 20.00, open 19.50: sold below both.
            {"ts": _at("2010-01-05"), "symbol": "B", "side": "SELL", "quantity": 50.0,
             "price": 19.40, "ref": "qc:2010-01-05:B", "decision_price": 20.0,
             "arrival_price": 19.5},
            # A stop's exit has no decision price on record: the last close before the session.
            {"ts": _at("2010-01-06"), "symbol": "A", "side": "SELL", "quantity": 100.0,
             "price": 11.70, "ref": "qc:2010-01-06:A", "purpose": "stop_loss"},
        ]
    )  # fmt: skip
    fills = report_fills(raw, NY, DATA, CLOSES)

    assert list(fills.columns) == list(REPORT_FILL_COLUMNS)
    assert fills["quantity"].tolist() == [100.0, -50.0, -100.0]
    # 100 x (10.60 - 10.00) = 60.00 paid over the decision; 100 x (10.60 - 10.50) = 10.00.
    # -50 x (19.40 - 20.00) = 30.00 given up; -50 x (19.40 - 19.50) = 5.00.
    # -100 x (11.70 - 11.00) = -70.00: sold above the close it was decided on, a gain.
    assert fills["slippage_decision"].tolist() == pytest.approx([60.0, 30.0, -70.0])
    assert fills["slippage_arrival"].tolist()[:2] == pytest.approx([10.0, 5.0])
    assert np.isnan(fills["slippage_arrival"].iloc[2])  # no arrival price: none counted
    assert fills["decision_price"].iloc[2] == 11.0
    assert fills["session"].tolist() == [dt.date(2010, 1, 5)] * 2 + [dt.date(2010, 1, 6)]
    assert fills["reason"].tolist() == ["", "", "stop_loss"]

    totals = shortfall(fills)
    # Decision: 60 + 30 - 70 = 20 over 100 x 10 + 50 x 20 + 100 x 11 = 3,100: 64.516... bps.
    assert totals["decision"] == pytest.approx(20.0)
    assert totals["decision_bps"] == pytest.approx(20.0 / 3100.0 * 1e4)
    # Arrival: 10 + 5 = 15 over 100 x 10.5 + 50 x 19.5 = 2,025 (the stop's exit has none).
    assert totals["arrival"] == pytest.approx(15.0)
    assert totals["arrival_bps"] == pytest.approx(15.0 / 2025.0 * 1e4)


def test_the_reasons_flat_stops_delisting_manual_and_strategy() -> None:
    raw = _raw(
        [
            {"ts": _at("2010-01-05"), "symbol": "A", "side": "BUY", "quantity": 1.0,
             "price": 10.5, "ref": "qc:2010-01-05:A"},
            {"ts": _at("2010-01-05", "15:00"), "symbol": "A", "side": "SELL", "quantity": 1.0,
             "price": 10.4, "ref": "flat:cmd-1"},
            {"ts": _at("2010-01-05", "15:00"), "symbol": "B", "side": "SELL", "quantity": 1.0,
             "price": 19.0, "ref": "flat:risk-abc", "purpose": "take_profit"},
            {"ts": _at("2010-01-06"), "symbol": "C", "side": "SELL", "quantity": 1.0,
             "price": 6.0, "ref": "qc:2010-01-06:C"},
            {"ts": _at("2010-01-06"), "symbol": "B", "side": "BUY", "quantity": 1.0,
             "price": 18.2, "ref": "", "order_id": "0/7"},
            {"ts": _at("2010-01-06"), "symbol": "B", "side": "SELL", "quantity": 1.0,
             "price": 18.2, "ref": "qc:2010-01-06:B", "purpose": "trailing_stop"},
        ]
    )  # fmt: skip

    sim = report_fills(raw, NY, DATA, CLOSES, gone_exits=True)["reason"].tolist()
    assert sim == ["", "flat", "flat", "delisting", "manual", "trailing_stop"]
    # Away from the simulated broker a missing open is the data's gap, not an exit.
    assert report_fills(raw, NY, DATA, CLOSES)["reason"].tolist()[3] == ""


def test_the_session_of_a_fill_is_its_date_at_the_exchange() -> None:
    # 2010-01-06 03:00 UTC is still the 5th in New York.
    raw = _raw([{"ts": _at("2010-01-06", "03:00"), "symbol": "A", "side": "BUY",
                 "quantity": 1.0, "price": 11.0, "ref": "flat:x"}])  # fmt: skip
    fills = report_fills(raw, NY, DATA, CLOSES)
    assert fills["session"].tolist() == [dt.date(2010, 1, 5)]
    assert fills["decision_price"].tolist() == [10.0]  # the close of the 4th


def test_the_round_trips_fills_take_the_arrival_slippage_as_a_cost() -> None:
    raw = _raw(
        [
            {"ts": _at("2010-01-05"), "symbol": "A", "side": "BUY", "quantity": 10.0,
             "price": 10.6, "ref": "qc:2010-01-05:A", "arrival_price": 10.5},
            {"ts": _at("2010-01-06"), "symbol": "A", "side": "SELL", "quantity": 10.0,
             "price": 11.9, "ref": "qc:2010-01-06:A", "arrival_price": 11.8},
            {"ts": _at("2010-01-06"), "symbol": "B", "side": "SELL", "quantity": 5.0,
             "price": 18.3, "ref": "flat:x", "arrival_price": 18.2},
        ]
    )  # fmt: skip
    out = analytics_fills(report_fills(raw, NY, DATA, CLOSES))
    assert list(out.columns) == list(FILL_COLUMNS)
    assert out["date"].tolist() == [pd.Timestamp("2010-01-05")] + [pd.Timestamp("2010-01-06")] * 2
    assert out["date"].dtype == "datetime64[ns]"
    assert out["quantity"].tolist() == [10.0, -10.0, -5.0]
    # 10 x 0.1 paid; -10 x (11.9 - 11.8) = -1: better than the open, no cost; likewise B.
    assert out["slippage"].tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert out["reason"].tolist() == ["", "", "flat"]


def _close() -> DailyClose:
    return DailyClose(
        dt.date(2010, 1, 6),
        100_000.0,
        0.9,
        (
            SectorExposureRow("Energy", 0.2, -0.25, 0.45, -0.05),
            SectorExposureRow("Tech", 0.45, 0.0, 0.45, 0.45),
        ),
    )


def test_exposure_sums_the_sectors_in_fractions_and_dollars() -> None:
    e = exposure(_close())
    assert (e["long"], e["short"], e["gross"], e["net"]) == pytest.approx((0.65, -0.25, 0.9, 0.4))
    assert e["net_usd"] == pytest.approx(40_000.0)
    assert [s["sector"] for s in e["sectors"]] == ["Energy", "Tech"]


def test_limits_are_measured_against_the_account_at_the_close() -> None:
    cfg = load_config(
        "live",
        [
            "risk.max_drawdown_frac=0.2",
            "risk.max_daily_loss_frac=0.03",
            "risk.max_position_weight=0.4",
            "portfolio.constraints.max_gross=0.8",
        ],
        environ={},
    )
    positions = pd.DataFrame({"market_value": [45_000.0, -25_000.0]})
    rows = {
        r["name"]: r for r in limit_rows(cfg, 100_000.0, 104_000.0, 125_000.0, _close(), positions)
    }
    # Daily loss 1 - 100/104 = 3.85% > 3%; drawdown 1 - 100/125 = 20%, not over 20%.
    assert rows["max_daily_loss"]["usage"] == pytest.approx(1 - 100 / 104)
    assert rows["max_daily_loss"]["tripped"] is True
    assert rows["max_drawdown"]["usage"] == pytest.approx(0.2)
    assert rows["max_drawdown"]["tripped"] is False
    assert rows["max_gross"]["usage"] == pytest.approx(0.9)
    assert rows["max_gross"]["used"] == pytest.approx(0.9 / 0.8)
    assert rows["max_gross"]["tripped"] is True
    assert rows["max_net"]["usage"] == pytest.approx(0.4)
    assert rows["max_position_weight"]["usage"] == pytest.approx(0.45)
    assert "sector_cap" not in rows  # not set: not listed


def test_the_document_and_its_alert_text() -> None:
    raw = _raw(
        [
            {"ts": _at("2010-01-05"), "symbol": "A", "side": "BUY", "quantity": 100.0,
             "price": 10.6, "ref": "qc:2010-01-05:A", "decision_price": 10.0,
             "arrival_price": 10.5},
            {"ts": _at("2010-01-06"), "symbol": "A", "side": "SELL", "quantity": 40.0,
             "price": 11.9, "ref": "qc:2010-01-06:A", "decision_price": 11.0,
             "arrival_price": 11.8},
        ]
    )  # fmt: skip
    fills = report_fills(raw, NY, DATA, CLOSES)
    day = dt.date(2010, 1, 6)
    from quant_core.broker import Position

    held = [Position("A", 60.0, 10.61, 12.0)]
    start = pd.Series(CLOSES[1], index=DATA.symbol_index)
    end = pd.Series(CLOSES[2], index=DATA.symbol_index)
    positions = position_rows(fills, day, held, start, end)
    close = DailyClose(day, 99_000.0, 0.01, ())
    document = build_document(
        day,
        mode="sim",
        close=close,
        cash=98_280.0,
        previous_equity=100_000.0,
        fills=fills[fills["session"] == day],
        positions=positions,
        limits=[],
        commands=[],
        errors=[{"at": "2010-01-06T15:00:00+00:00", "message": "something"}],
    )
    assert document["pnl"] == pytest.approx(-1000.0)
    assert document["fills_count"] == 1
    assert document["commission"] == 1.0
    # Realised on the 40 sold: 40 x (11.9 - 10.61) - 1 = 50.60 (average cost 10.61 = 10.6 + 1/100).
    assert document["realized_pnl"] == pytest.approx(50.6)
    assert document["shortfall"]["decision"] == pytest.approx(-40 * (11.9 - 11.0))
    assert daily_figures(document) == {
        "session": day,
        "equity": 99_000.0,
        "cash": 98_280.0,
        "pnl": pytest.approx(-1000.0),
        "realized_pnl": pytest.approx(50.6),
        "fills": 1,
        "commission": 1.0,
        "shortfall": pytest.approx(-36.0),
    }
    text = summary(document)
    assert text.startswith("Close of 2010-01-06: equity $99,000.00; P&L -$1,000.00 (-1.00%)")
    assert "1 fill(s), commission $1.00, shortfall -$36.00" in text
    assert "1 error(s)" in text
