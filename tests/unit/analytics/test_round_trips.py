"""Round trips computed by hand: long, short, adds and trims, crossing zero, stops, open trips."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from quant_core.analytics.round_trips import (
    EXIT_REASONS,
    FILL_COLUMNS,
    ROUND_TRIP_COLUMNS,
    backtest_fills,
    round_trips,
)
from quant_core.errors import DataError

SESSIONS = pd.bdate_range("2024-01-01", "2024-03-29")


def fills(*rows: tuple[str, str, float, float, float, float, str]) -> pd.DataFrame:
    """Fills from (date, symbol, quantity, price, commission, slippage, reason) rows."""
    frame = pd.DataFrame(list(rows), columns=list(FILL_COLUMNS))
    return frame.assign(date=pd.to_datetime(frame["date"]))


def one(trips: pd.DataFrame) -> pd.Series:
    assert len(trips) == 1, trips
    return trips.iloc[0]


def test_a_long_trip() -> None:
    trips = round_trips(
        fills(
            ("2024-01-02", "AAA", 100, 10.0, 1.0, 0.5, ""),
            ("2024-01-05", "AAA", -100, 12.0, 1.0, 0.6, ""),
        ),
        sessions=SESSIONS,
    )
    assert list(trips.columns) == list(ROUND_TRIP_COLUMNS)
    trip = one(trips)
    assert (trip["symbol"], trip["side"], trip["exit_reason"]) == ("AAA", "long", "signal")
    assert trip["entry_date"] == pd.Timestamp("2024-01-02")
    assert trip["exit_date"] == pd.Timestamp("2024-01-05")
    assert trip["sessions"] == 3  # Jan 2 -> Jan 5: three sessions later
    assert (trip["entry_price"], trip["exit_price"], trip["shares"]) == (10.0, 12.0, 100.0)
    assert trip["entry_value"] == 1000.0
    assert trip["pnl"] == pytest.approx(-1000 - 1 + 1200 - 1)  # 198
    assert trip["pnl_pct"] == pytest.approx(0.198)
    assert (trip["commission"], trip["slippage"]) == (2.0, pytest.approx(1.1))
    assert trip["costs"] == pytest.approx(3.1)
    assert trip["gross_pnl"] == pytest.approx(201.1)
    assert np.isnan(trip["r_multiple"])  # no stop: no R
    assert not trip["is_open"]


def test_a_short_trip() -> None:
    trip = one(
        round_trips(
            fills(
                ("2024-01-02", "BBB", -50, 20.0, 1.0, 0.0, ""),
                ("2024-01-09", "BBB", 50, 18.0, 1.0, 0.0, ""),
            )
        )
    )
    assert trip["side"] == "short"
    assert trip["pnl"] == pytest.approx(1000 - 1 - 900 - 1)  # 98
    assert (trip["entry_price"], trip["exit_price"], trip["entry_value"]) == (20.0, 18.0, 1000.0)
    assert trip["sessions"] == 7  # no sessions given: calendar days


def test_adds_and_trims_stay_one_trip() -> None:
    trip = one(
        round_trips(
            fills(
                ("2024-01-02", "AAA", 100, 10.0, 1.0, 0.0, ""),
                ("2024-01-03", "AAA", 100, 12.0, 1.0, 0.0, ""),
                ("2024-01-04", "AAA", -50, 13.0, 1.0, 0.0, ""),
                ("2024-01-05", "AAA", -150, 9.0, 1.0, 0.0, ""),
            ),
            sessions=SESSIONS,
        )
    )
    assert trip["shares"] == 200.0  # the peak position
    assert trip["entry_value"] == 2200.0
    assert trip["entry_price"] == pytest.approx(11.0)
    assert trip["exit_price"] == pytest.approx((650 + 1350) / 200)
    assert trip["pnl"] == pytest.approx(-1000 - 1200 + 650 + 1350 - 4)  # -204
    assert trip["sessions"] == 3


def test_a_fill_that_crosses_zero_closes_one_side_and_opens_the_other() -> None:
    trips = round_trips(
        fills(
            ("2024-01-02", "AAA", 100, 10.0, 1.0, 0.0, ""),
            ("2024-01-03", "AAA", -150, 12.0, 3.0, 1.5, ""),
            ("2024-01-04", "AAA", 50, 11.0, 1.0, 0.0, "flat"),
        ),
        sessions=SESSIONS,
    )
    assert list(trips["side"]) == ["long", "short"]
    long, short = trips.iloc[0], trips.iloc[1]
    # 100 of the 150 shares close the long: 2/3 of the fill's commission and slippage.
    assert long["pnl"] == pytest.approx(-1000 - 1 + 1200 - 2)
    assert (long["commission"], long["slippage"]) == (pytest.approx(1 + 2), pytest.approx(1.0))
    assert long["exit_date"] == pd.Timestamp("2024-01-03")
    assert long["exit_reason"] == "signal"
    assert short["entry_date"] == pd.Timestamp("2024-01-03")
    assert (short["shares"], short["entry_value"]) == (50.0, pytest.approx(600.0))
    assert short["pnl"] == pytest.approx(600 - 1 - 550 - 1)
    assert short["commission"] == pytest.approx(2.0)
    assert short["exit_reason"] == "flat"


def test_a_stop_exit_carries_its_reason_and_r_multiple() -> None:
    trip = one(
        round_trips(
            fills(
                ("2024-01-02", "AAA", 100, 10.0, 0.0, 0.0, ""),
                ("2024-01-08", "AAA", -100, 9.5, 0.0, 0.0, "stop_loss"),
            ),
            stop_loss=0.05,
        )
    )
    assert trip["exit_reason"] == "stop_loss"
    # Risk at the stop: 5% of the 1,000 entry = 50; the trip lost 50: -1 R.
    assert trip["r_multiple"] == pytest.approx(-1.0)


def test_interleaved_symbols_keep_their_own_order() -> None:
    trips = round_trips(
        fills(
            ("2024-01-02", "BBB", 10, 5.0, 0.0, 0.0, ""),
            ("2024-01-02", "AAA", 10, 7.0, 0.0, 0.0, ""),
            ("2024-01-03", "BBB", -10, 6.0, 0.0, 0.0, ""),
            ("2024-01-04", "BBB", 20, 6.5, 0.0, 0.0, ""),
            ("2024-01-05", "AAA", -10, 8.0, 0.0, 0.0, ""),
            ("2024-01-05", "BBB", -20, 7.0, 0.0, 0.0, ""),
        )
    )
    assert list(zip(trips["symbol"], trips["entry_date"].dt.day, strict=True)) == [
        ("AAA", 2),
        ("BBB", 2),
        ("BBB", 4),
    ]
    assert list(trips["pnl"]) == pytest.approx([10.0, 10.0, 10.0])


def test_an_open_trip_is_marked() -> None:
    trip = one(
        round_trips(
            fills(
                ("2024-01-02", "AAA", 100, 10.0, 1.0, 0.0, ""),
                ("2024-01-03", "AAA", -40, 10.5, 1.0, 0.0, ""),
            ),
            marks=pd.Series({"AAA": 11.0, "ZZZ": 1.0}),
            mark_date=pd.Timestamp("2024-01-10"),
            sessions=SESSIONS,
        )
    )
    assert trip["is_open"]
    assert trip["exit_reason"] == "open"
    assert trip["exit_date"] == pd.Timestamp("2024-01-10")
    assert trip["exit_price"] == 11.0  # the mark
    assert trip["sessions"] == 6
    assert trip["pnl"] == pytest.approx(-1000 - 1 + 420 - 1 + 60 * 11.0)  # 78


def test_an_open_trip_without_a_mark_has_no_pnl_and_says_so(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        trip = one(round_trips(fills(("2024-01-02", "AAA", 100, 10.0, 1.0, 0.0, ""))))
    assert trip["is_open"]
    assert np.isnan(trip["pnl"])
    assert np.isnan(trip["exit_price"])
    assert trip["exit_date"] == pd.Timestamp("2024-01-02")  # no sessions: the last fill's date
    assert "AAA" in caplog.text
    assert "without a mark" in caplog.text


def test_backtest_fills_map_statuses_to_reasons() -> None:
    trades = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02"] * 6),
            "symbol": ["A", "B", "C", "D", "E", "F"],
            "side": ["buy", "buy", "sell", "sell", "buy", "sell"],
            "requested": [10.0, 10.0, -5.0, -5.0, 7.0, -3.0],
            "filled": [10.0, 4.0, -5.0, -5.0, 0.0, -3.0],
            "signal_price": [1.0] * 6,
            "open_price": [1.0, 1.0, np.nan, 1.0, np.nan, 1.0],
            "exec_price": [1.0, 1.0, 0.9, 1.0, np.nan, 1.0],
            "notional": [10.0, 4.0, 4.5, 5.0, 0.0, 3.0],
            "commission": [0.1, 0.1, 0.1, 0.1, 0.0, 0.1],
            "slippage": [0.0] * 6,
            "status": [
                "filled",
                "truncated_cash",
                "exit_at_last_close",
                "halt_flat",
                "rejected_no_price",
                "take_profit",
            ],
        }
    )
    out = backtest_fills(trades)
    assert list(out.columns) == list(FILL_COLUMNS)
    assert list(out["symbol"]) == ["A", "B", "C", "D", "F"]  # the unfilled order dropped
    assert list(out["reason"]) == ["", "", "delisting", "halt", "take_profit"]
    assert list(out["quantity"]) == [10.0, 4.0, -5.0, -5.0, -3.0]
    assert set(out["reason"]) - {""} <= set(EXIT_REASONS)


def test_a_delisting_exit() -> None:
    trades = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02", "2024-01-12"]),
            "symbol": ["GONE", "GONE"],
            "filled": [100.0, -100.0],
            "exec_price": [10.0, 8.0],
            "commission": [1.0, 1.0],
            "slippage": [0.0, 0.004],
            "status": ["filled", "exit_at_last_close"],
        }
    )
    trip = one(round_trips(backtest_fills(trades)))
    assert trip["exit_reason"] == "delisting"
    assert trip["pnl"] == pytest.approx(-202.0)


def test_an_unknown_status_is_kept_as_its_reason() -> None:
    trades = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02", "2024-01-03"]),
            "symbol": ["A", "A"],
            "filled": [1.0, -1.0],
            "exec_price": [10.0, 10.0],
            "commission": [0.0, 0.0],
            "slippage": [0.0, 0.0],
            "status": ["filled", "margin_call"],
        }
    )
    assert one(round_trips(backtest_fills(trades)))["exit_reason"] == "margin_call"


def test_no_fills_give_the_empty_frame() -> None:
    out = round_trips(backtest_fills(pd.DataFrame(columns=["filled", "status"])))
    assert out.empty
    assert list(out.columns) == list(ROUND_TRIP_COLUMNS)


def test_bad_fills_are_refused() -> None:
    with pytest.raises(DataError, match="quantity 0"):
        round_trips(fills(("2024-01-02", "A", 0, 1.0, 0.0, 0.0, "")))
    with pytest.raises(DataError, match=r"price not finite.*B on 2024-01-03"):
        round_trips(
            fills(
                ("2024-01-02", "A", 1, 1.0, 0.0, 0.0, ""),
                ("2024-01-03", "B", 1, float("nan"), 0.0, 0.0, ""),
            )
        )
    with pytest.raises(DataError, match="reason"):
        round_trips(pd.DataFrame({"date": [], "symbol": [], "quantity": []}))


def test_fractional_residue_counts_as_flat() -> None:
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point, not 0: still one closed trip.
    trips = round_trips(
        fills(
            ("2024-01-02", "A", 0.1, 10.0, 0.0, 0.0, ""),
            ("2024-01-03", "A", 0.2, 10.0, 0.0, 0.0, ""),
            ("2024-01-04", "A", -0.3, 11.0, 0.0, 0.0, ""),
            ("2024-01-05", "A", 0.5, 11.0, 0.0, 0.0, ""),
        ),
        marks=pd.Series({"A": 12.0}),
    )
    assert list(trips["is_open"]) == [False, True]
    assert trips["pnl"].iloc[0] == pytest.approx(0.3)
    assert trips["pnl"].iloc[1] == pytest.approx(0.5)
