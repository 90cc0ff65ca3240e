from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_core.data.schema import ISSUE_COLUMNS, validate_bars
from quant_core.types import BarFlag
from tests.factories import raw_rows


def _validate(calendar, *rows: dict[str, object], ohlc="reject"):
    return validate_bars(pd.DataFrame(list(rows)), calendar, ohlc=ohlc)


def test_clean_row_passes(calendar) -> None:
    result = _validate(calendar, raw_rows())
    assert result.issues.empty
    row = result.bars.iloc[0]
    assert row["symbol"] == "AAA"
    assert row["date"] == pd.Timestamp("2010-01-04")
    assert (row["open"], row["high"], row["low"], row["close"], row["volume"]) == (
        10,
        11,
        9,
        10.5,
        1000,
    )
    assert row["adj_factor"] == 1.0
    assert row["flags"] == 0


@pytest.mark.parametrize(
    ("override", "rule", "detail"),
    [
        ({"open": ""}, "missing_value", "open is empty"),
        ({"symbol": "  "}, "missing_value", "symbol is empty"),
        ({"date": ""}, "missing_value", "date is empty"),
        ({"close": "abc"}, "bad_number", "close='abc' is not a number"),
        ({"volume": "inf"}, "bad_number", "volume='inf'"),
        ({"date": "04/01/2010"}, "bad_date", "'04/01/2010' is not YYYY-MM-DD"),
        ({"date": "2010-02-30"}, "bad_date", "2010-02-30"),
        ({"symbol": "A A"}, "bad_symbol", "'A A' is not 1-15 characters A-Z and 0-9"),
        ({"low": "0", "open": "0.5", "close": "0.5"}, "nonpositive_price", "low=0 <= 0"),
        ({"open": "-1"}, "nonpositive_price", "open=-1 <= 0"),
        ({"volume": "-5"}, "negative_volume", "volume=-5 < 0"),
        ({"high": "8"}, "high_below_low", "high=8 < low=9"),
        ({"high": "10.2"}, "high_below_open_close", "high=10.2 < max(open=10, close=10.5)"),
        ({"low": "10.1"}, "low_above_open_close", "low=10.1 > min(open=10, close=10.5)"),
        ({"date": "2010-01-02"}, "not_a_session", "not a XNYS session"),  # a Saturday
        ({"date": "2010-01-18"}, "not_a_session", "XNYS"),  # Martin Luther King Jr. Day
    ],
)
def test_each_rule_rejects_and_names_the_row(calendar, override, rule, detail) -> None:
    good = raw_rows(date="2010-01-05", _line=2)
    bad = raw_rows(_line=7, **override)

    result = _validate(calendar, good, bad)

    assert len(result.bars) == 1
    assert result.rejected == 1
    issue = result.issues.iloc[0]
    assert list(result.issues.columns) == list(ISSUE_COLUMNS)
    assert issue["rule"] == rule
    assert issue["action"] == "rejected"
    assert issue["source"] == "test.csv"
    assert issue["line"] == 7
    assert detail in issue["detail"]


def test_compact_dates_and_numbers_are_accepted(calendar) -> None:
    result = _validate(calendar, raw_rows(date="20100104", close=10.5, volume=1000))
    assert result.issues.empty
    assert result.bars["date"].iloc[0] == pd.Timestamp("2010-01-04")


def test_repair_widens_high_and_low_and_flags(calendar) -> None:
    result = _validate(calendar, raw_rows(high="10.2", low="10.1"), ohlc="repair")

    assert result.rejected == 0
    assert result.repaired == 1  # one row ...
    assert len(result.issues) == 2  # ... with one issue line per broken bound
    row = result.bars.iloc[0]
    assert row["high"] == 10.5
    assert row["low"] == 10.0
    assert row["flags"] == BarFlag.OHLC_REPAIRED
    assert set(result.issues["rule"]) == {"high_below_open_close", "low_above_open_close"}
    assert set(result.issues["action"]) == {"repaired"}


def test_a_repaired_row_rejected_later_counts_as_rejected_only(calendar) -> None:
    result = _validate(
        calendar,
        raw_rows(high="10.2", date="2010-01-02", _line=2),  # repairable, but a Saturday
        raw_rows(high="10.2", date="2010-01-05", _line=3),
        ohlc="repair",
    )
    assert (result.rejected, result.repaired) == (1, 1)
    assert result.issues[["line", "action"]].to_numpy().tolist() == [
        [2, "rejected"],
        [3, "repaired"],
    ]


@pytest.mark.parametrize("field", ["adj_close", "adj_factor"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_nonpositive_adjustment_is_rejected(calendar, field, value) -> None:
    result = _validate(calendar, raw_rows(**{field: value}))
    assert result.bars.empty
    assert result.issues["rule"].tolist() == ["nonpositive_price"]
    assert f"{field}={float(value):g} <= 0" in result.issues["detail"].item()


def test_high_below_low_is_never_repaired(calendar) -> None:
    result = _validate(calendar, raw_rows(high="8"), ohlc="repair")
    assert result.rejected == 1
    assert result.bars.empty


def test_identical_duplicate_keeps_first_and_names_it(calendar) -> None:
    result = _validate(calendar, raw_rows(_line=2), raw_rows(_line=3))
    assert len(result.bars) == 1
    issue = result.issues.iloc[0]
    assert (issue["rule"], issue["line"]) == ("duplicate_row", 3)
    assert issue["detail"] == "identical to test.csv:2"


def test_conflicting_duplicates_are_all_rejected(calendar) -> None:
    result = _validate(
        calendar,
        raw_rows(_line=2),
        raw_rows(_line=3, close="10.6"),
        raw_rows(date="2010-01-05", _line=4),
    )
    assert result.bars["date"].tolist() == [pd.Timestamp("2010-01-05")]
    assert result.issues["line"].tolist() == [2, 3]
    assert set(result.issues["rule"]) == {"conflicting_duplicate"}


def test_adj_close_scales_prices_and_volume(calendar) -> None:
    result = _validate(calendar, raw_rows(adj_close="5.25"))
    row = result.bars.iloc[0]
    assert row["close"] == pytest.approx(5.25)
    assert row["open"] == pytest.approx(5.0)
    assert row["volume"] == pytest.approx(2000)
    assert row["adj_factor"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (
            {
                "adj_close": "1e308",
                "close": "1e-10",
                "open": "1e-10",
                "high": "1e-10",
                "low": "1e-10",
            },
            "open",
        ),
        ({"adj_close": "1e-300", "volume": "1e300"}, "volume"),
        (
            {
                "adj_factor": "1e300",
                "adj_close": "1e300",
                "close": "1e-10",
                "open": "1e-10",
                "high": "1e-10",
                "low": "1e-10",
            },
            "open",
        ),
    ],
)
def test_an_adjustment_that_overflows_is_a_bad_number_not_an_infinity(
    calendar, row: dict[str, str], field: str
) -> None:
    # Each raw value is finite; the adjusted one was stored as inf (found by review).
    same = {"adj_close": "10.5", "adj_factor": "1"}  # a good row with the same columns
    good = raw_rows(date="2010-01-05", **{k: v for k, v in same.items() if k in row})
    result = _validate(calendar, raw_rows(**row), good)
    assert result.bars["date"].tolist() == [pd.Timestamp("2010-01-05")]
    assert (
        np.isfinite(result.bars[["open", "high", "low", "close", "volume", "adj_factor"]])
        .all()
        .all()
    )
    issue = result.issues.iloc[0]
    assert issue["rule"] == "bad_number"
    assert f"adjusted {field} is not a finite number" in issue["detail"]


def test_symbols_are_normalised(calendar) -> None:
    result = _validate(calendar, raw_rows(symbol=" brk.b "))
    assert result.bars["symbol"].tolist() == ["BRK.B"]


def test_missing_required_column_is_an_error(calendar) -> None:
    from quant_core.errors import DataError

    with pytest.raises(DataError, match="volume"):
        validate_bars(pd.DataFrame([raw_rows()]).drop(columns="volume"), calendar)


price = st.one_of(
    st.floats(min_value=-5, max_value=200),
    st.sampled_from(["", "x", "1e3", " 12.5 ", "nan", "inf"]),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "date": st.sampled_from(
                    ["2010-01-04", "2010-01-05", "2010-01-09", "20100106", "bad", ""]
                ),
                "symbol": st.sampled_from(["AAA", "BBB", " ", "C C"]),
                "open": price,
                "high": price,
                "low": price,
                "close": price,
                "volume": st.one_of(st.integers(-10, 10**9), st.just("")),
                "adj_close": price,
            }
        ),
        min_size=1,
        max_size=30,
    ),
    ohlc=st.sampled_from(["reject", "repair"]),
)
def test_every_input_row_is_kept_rejected_or_repaired_and_output_is_clean(
    calendar, rows, ohlc
) -> None:
    frame = pd.DataFrame(rows).astype("string")
    frame["_source"] = "prop.csv"
    frame["_line"] = np.arange(2, len(frame) + 2)

    result = validate_bars(frame, calendar, ohlc=ohlc)

    # Nothing is lost: every input line is either in the output or reported as rejected.
    rejected = set(result.issues.loc[result.issues["action"] == "rejected", "line"])
    assert len(result.bars) + len(rejected) == len(frame)
    out = result.bars
    assert not out.duplicated(["symbol", "date"]).any()
    assert (out[["open", "high", "low", "close"]] > 0).all().all()
    assert (out["high"] >= out[["open", "close"]].max(axis=1)).all()
    assert (out["low"] <= out[["open", "close"]].min(axis=1)).all()
    assert (out["volume"] >= 0).all()
    assert np.isfinite(out[["open", "high", "low", "close", "volume", "adj_factor"]]).all().all()
    assert (out["adj_factor"] > 0).all()
    assert calendar.is_session(out["date"].to_numpy(dtype="datetime64[D]")).all()


@pytest.mark.parametrize(
    "date",
    [
        "\uff12\uff10\uff11\uff10-01-04",
        "\u0662\u0660\u0661\u0660-01-04",
        "\uff12\uff10\uff11\uff10\uff10\uff11\uff10\uff14",
    ],
)
def test_a_date_in_other_digits_than_ascii_is_a_bad_date(calendar, date: str) -> None:
    # strptime reads full-width and Arabic-Indic digits as 2010-01-04 (found by review); a
    # price in them was already a bad number.
    result = _validate(calendar, raw_rows(date=date))
    assert result.bars.empty
    assert result.issues["rule"].tolist() == ["bad_date"]
