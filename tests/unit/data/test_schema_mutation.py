"""Bar validation edges a mutation run found untested: flat and zero-volume bars are valid,
every boundary is where the rules say, and every detail is exact (not only a substring)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from quant_core.calendar import TradingCalendar
from quant_core.data.schema import ISSUE_COLUMNS, validate_bars
from quant_core.data.symbol_rule import SYMBOL_RULE
from quant_core.data.warehouse import BAR_COLUMNS
from quant_core.errors import DataError
from quant_core.types import BarFlag
from tests.factories import raw_rows

NOW = dt.datetime(2024, 6, 28, 20, 0, tzinfo=ZoneInfo("America/New_York"))


def _validate(calendar: TradingCalendar, *rows: dict[str, object], **kwargs: object):
    return validate_bars(pd.DataFrame(list(rows)), calendar, now=NOW, **kwargs)  # type: ignore[arg-type]


def _bar(result) -> list[float]:
    row = result.bars.iloc[0]
    return [row[k] for k in ("open", "high", "low", "close", "volume", "adj_factor")]


def test_a_flat_bar_with_zero_volume_is_valid(calendar: TradingCalendar) -> None:
    # high == low == open == close, and no share traded: a real (if quiet) session.
    flat = raw_rows(open="10", high="10", low="10", close="10", volume="0")
    result = _validate(calendar, flat)
    assert result.issues.empty
    assert (result.rejected, result.repaired) == (0, 0)
    assert _bar(result) == [10.0, 10.0, 10.0, 10.0, 0.0, 1.0]


def test_high_at_the_close_and_low_at_the_open_are_valid(calendar: TradingCalendar) -> None:
    # high == max(open, close) and low == min(open, close): on the bounds, not beyond them.
    row = raw_rows(open="10", high="10.5", low="10", close="10.5", volume="0.5")
    result = _validate(calendar, row)
    assert result.issues.empty
    assert _bar(result) == [10.0, 10.5, 10.0, 10.5, 0.5, 1.0]


def test_prices_and_factors_below_one_dollar_are_valid(calendar: TradingCalendar) -> None:
    # A penny stock, with the source's own adjustment factor 0.5 (kept: 0.5 x 1).
    row = raw_rows(open="0.5", high="0.75", low="0.25", close="0.5", adj_factor="0.5")
    result = _validate(calendar, row)
    assert result.issues.empty
    assert _bar(result) == [0.5, 0.75, 0.25, 0.5, 1000.0, 0.5]


def test_the_default_ohlc_policy_is_reject(calendar: TradingCalendar) -> None:
    result = validate_bars(pd.DataFrame([raw_rows(high="10.2")]), calendar, now=NOW)
    assert result.bars.empty
    assert result.issues["rule"].tolist() == ["high_below_open_close"]


@pytest.mark.parametrize(
    ("override", "rule", "detail"),
    [
        ({"symbol": "  "}, "missing_value", "symbol is empty"),
        ({"date": ""}, "missing_value", "date is empty"),
        ({"close": "abc"}, "bad_number", "close='abc' is not a number"),
        ({"date": "04/01/2010"}, "bad_date", "date '04/01/2010' is not YYYY-MM-DD or YYYYMMDD"),
        ({"date": "20100230"}, "bad_date", "date '20100230' is not YYYY-MM-DD or YYYYMMDD"),
        ({"symbol": "A A"}, "bad_symbol", f"symbol 'A A' is not {SYMBOL_RULE}"),
        ({"volume": "-5"}, "negative_volume", "volume=-5 < 0"),
        ({"adj_factor": "0"}, "nonpositive_price", "adj_factor=0 <= 0"),
        ({"high": "8"}, "high_below_low", "high=8 < low=9"),
        ({"date": "2010-01-02"}, "not_a_session", "date is not a XNYS session"),
    ],
)
def test_each_rejection_detail_is_exact(calendar, override, rule, detail) -> None:
    result = _validate(calendar, raw_rows(_line=7, **override))
    assert result.issues.to_dict("records") == [
        {
            "source": "test.csv",
            "line": 7,
            "symbol": "AAA" if "symbol" not in override else str(override["symbol"]).strip(),
            "date": str(override.get("date", "2010-01-04")),
            "rule": rule,
            "action": "rejected",
            "detail": detail,
        }
    ]


def test_each_repair_detail_is_exact_and_flags_only_that_row(calendar: TradingCalendar) -> None:
    result = _validate(
        calendar,
        raw_rows(high="10.2", _line=2),  # only high is wrong
        raw_rows(low="10.1", date="2010-01-05", _line=3),  # only low is wrong
        raw_rows(date="2010-01-06", _line=4),  # clean
        ohlc="repair",
    )
    assert (result.rejected, result.repaired) == (0, 2)
    assert result.issues[["line", "rule", "action", "detail"]].to_numpy().tolist() == [
        [
            2,
            "high_below_open_close",
            "repaired",
            "high=10.2 < max(open=10, close=10.5); high raised",
        ],
        [3, "low_above_open_close", "repaired", "low=10.1 > min(open=10, close=10.5); low lowered"],
    ]
    repaired = int(BarFlag.OHLC_REPAIRED)
    assert result.bars["flags"].tolist() == [repaired, repaired, 0]
    assert result.bars[["high", "low"]].to_numpy().tolist() == [[10.5, 9.0], [11.0, 10.0], [11, 9]]


def test_source_flags_are_kept_and_combined_with_a_repair(calendar: TradingCalendar) -> None:
    corporate = int(BarFlag.CORPORATE_ACTION)  # 2
    result = _validate(
        calendar,
        raw_rows(flags=str(corporate)),
        raw_rows(flags="", date="2010-01-05"),  # an empty flag is no flag
        raw_rows(flags=str(corporate), high="10.2", date="2010-01-06"),
        ohlc="repair",
    )
    # 2; 0; 2 | 1 = 3
    assert result.bars["flags"].tolist() == [2, 0, 3]


def test_the_bars_have_the_warehouse_columns_and_types(calendar: TradingCalendar) -> None:
    result = _validate(calendar, raw_rows(date="2010-01-05"), raw_rows(symbol="bbb"))
    assert list(result.bars.columns) == list(BAR_COLUMNS)
    assert result.bars.index.tolist() == [0, 1]
    assert result.bars["flags"].dtype == np.int16
    assert result.bars["adj_factor"].tolist() == [1.0, 1.0]  # no adjustment for either row
    assert result.bars[["symbol", "date"]].astype(str).to_numpy().tolist() == [
        ["AAA", "2010-01-05"],
        ["BBB", "2010-01-04"],
    ]
    assert list(result.issues.columns) == list(ISSUE_COLUMNS)


def test_rows_without_provenance_are_reported_as_unknown(calendar: TradingCalendar) -> None:
    bare = {k: v for k, v in raw_rows().items() if not k.startswith("_")}
    result = validate_bars(pd.DataFrame([bare, bare]), calendar, now=NOW)
    assert result.issues.to_dict("records") == [
        {
            "source": "(unknown)",
            "line": None,
            "symbol": "AAA",
            "date": "2010-01-04",
            "rule": "duplicate_row",
            "action": "rejected",
            "detail": "identical to (unknown):?",
        }
    ]
    assert str(result.issues["line"].dtype) == "Int64"


def test_each_duplicate_names_its_own_first_copy(calendar: TradingCalendar) -> None:
    result = _validate(
        calendar,
        raw_rows(_line=2),
        raw_rows(_line=3),
        raw_rows(symbol="CCC", _line=4),  # no copy: kept, and not among the duplicates
        raw_rows(symbol="BBB", _line=5),
        raw_rows(symbol="BBB", _line=6),
    )
    assert result.issues[["line", "detail"]].to_numpy().tolist() == [
        [3, "identical to test.csv:2"],
        [6, "identical to test.csv:5"],
    ]
    assert result.bars["symbol"].tolist() == ["AAA", "BBB", "CCC"]


def test_conflicting_duplicates_detail_is_exact(calendar: TradingCalendar) -> None:
    result = _validate(calendar, raw_rows(_line=2), raw_rows(_line=3, close="10.6"))
    # Each copy names the other's file:line, so every copy can be found.
    assert result.issues["detail"].tolist() == [
        "(symbol, date) appears more than once with different values; also at test.csv:3",
        "(symbol, date) appears more than once with different values; also at test.csv:2",
    ]


def test_missing_values_that_are_null_not_empty(calendar: TradingCalendar) -> None:
    result = _validate(calendar, raw_rows(symbol=None), raw_rows(date=None, _line=3))
    issues = result.issues
    assert issues[["line", "symbol", "rule", "detail"]].to_numpy().tolist() == [
        [2, "", "missing_value", "symbol is empty"],
        [3, "AAA", "missing_value", "date is empty"],
    ]


def test_numeric_columns_nan_and_booleans(calendar: TradingCalendar) -> None:
    base = {"date": ["2010-01-04"], "symbol": ["AAA"], "open": [10.0], "high": [11.0]}
    nan_close = pd.DataFrame({**base, "low": [9.0], "close": [np.nan], "volume": [1000]})
    result = validate_bars(nan_close, calendar, now=NOW)
    assert result.issues[["rule", "detail"]].to_numpy().tolist() == [
        ["bad_number", "close='' is not a number"]
    ]
    flag_volume = pd.DataFrame({**base, "low": [9.0], "close": [10.5], "volume": [True]})
    result = validate_bars(flag_volume, calendar, now=NOW)
    assert result.issues[["rule", "detail"]].to_numpy().tolist() == [
        ["bad_number", "volume='True' is not a number"]
    ]
    numbers = pd.DataFrame({**base, "low": [9], "close": [10.5], "volume": [1000]})
    assert _bar(validate_bars(numbers, calendar, now=NOW)) == [10.0, 11.0, 9.0, 10.5, 1000.0, 1.0]


def test_datetime_dates_keep_their_day(calendar: TradingCalendar) -> None:
    frame = pd.DataFrame([raw_rows()])
    frame["date"] = pd.to_datetime(["2010-01-04 15:30"])
    result = validate_bars(frame, calendar, now=NOW)
    assert result.issues.empty
    assert result.bars["date"].tolist() == [pd.Timestamp("2010-01-04")]


def test_missing_columns_are_all_named(calendar: TradingCalendar) -> None:
    frame = pd.DataFrame([raw_rows()]).drop(columns=["open", "volume"])
    with pytest.raises(DataError) as info:
        validate_bars(frame, calendar, now=NOW)
    assert str(info.value) == "source rows lack required column(s): open, volume"


def test_before_any_completed_session_every_row_is_future(calendar: TradingCalendar) -> None:
    # 1980 is before the calendar's first close (1990): no session is completed yet.
    early = dt.datetime(1980, 1, 2, 12, 0, tzinfo=ZoneInfo("America/New_York"))
    result = validate_bars(pd.DataFrame([raw_rows(date="1979-12-31")]), calendar, now=early)
    assert result.bars.empty
    assert result.issues[["rule", "detail"]].to_numpy().tolist() == [
        [
            "future_date",
            "date is after the last completed XNYS session (None) as of 1980-01-02 12:00 EST",
        ]
    ]
