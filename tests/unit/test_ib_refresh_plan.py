"""The incremental IB refresh's request planning (pure): which symbols, which durations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_core.calendar import TradingCalendar
from quant_core.errors import ConfigError
from quant_core.ib.refresh_plan import (
    SymbolRequest,
    changed_history,
    duration,
    factor_starts,
    ib_kind,
    known_factors,
    listed,
    new_rows,
    plan_refresh,
    refetch_duration,
    request_end,
    strategy_factors,
)

d = dt.date


def coverage(rows: dict[str, tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": list(rows),
            "first_date": pd.to_datetime([f for f, _ in rows.values()]),
            "last_date": pd.to_datetime([la for _, la in rows.values()]),
        }
    )


def no_reference() -> pd.DataFrame:
    return pd.DataFrame({"symbol": pd.Series([], dtype=object)})


@pytest.mark.parametrize(
    ("last", "through", "expected"),
    [
        (d(2024, 6, 25), d(2024, 6, 28), "4 D"),  # Tuesday .. Friday
        (d(2024, 6, 28), d(2024, 7, 1), "4 D"),  # Friday .. Monday: the weekend counts
        (d(2024, 5, 24), d(2024, 5, 28), "5 D"),  # Memorial Day: Friday .. Tuesday
        (d(2024, 11, 27), d(2024, 11, 29), "3 D"),  # Thanksgiving between
        (d(2024, 12, 31), d(2025, 1, 2), "3 D"),  # New Year's Day between
        (d(2024, 6, 27), d(2024, 6, 28), "2 D"),  # one missing session
    ],
)
def test_the_duration_reaches_back_to_the_last_stored_session(
    calendar: TradingCalendar, last: dt.date, through: dt.date, expected: str
) -> None:
    assert duration(last, through) == expected
    # IB's span is (end - N days, end]: it holds the last stored session and every one after.
    days = int(expected.split()[0])
    span = calendar.sessions_in_range(through - dt.timedelta(days=days - 1), through)
    assert span[0] == np.datetime64(last)
    assert len(span) == len(calendar.sessions_in_range(last, through))


def test_spans_beyond_365_days_are_asked_in_years() -> None:
    assert duration(d(2023, 6, 29), d(2024, 6, 27)) == "365 D"
    assert duration(d(2023, 6, 28), d(2024, 6, 27)) == "2 Y"  # 366 days: in years, rounded up
    assert duration(d(2022, 6, 27), d(2024, 6, 27)) == "3 Y"
    with pytest.raises(ValueError, match="cannot reach forward"):
        duration(d(2024, 6, 28), d(2024, 6, 27))


def test_adjusted_last_requests_end_now_and_trades_requests_end_on_the_session() -> None:
    friday, monday = d(2024, 6, 28), d(2024, 7, 1)
    assert request_end("ADJUSTED_LAST", friday, friday) == ("", friday)
    assert request_end("ADJUSTED_LAST", friday, monday) == ("", monday)  # IB counts from now
    assert request_end("TRADES", friday, monday) == ("20240628 23:59:59 UTC", friday)


def test_only_symbols_short_of_the_session_are_asked_once_each(
    calendar: TradingCalendar,
) -> None:
    cov = coverage(
        {
            "MSFT": ("2024-01-02", "2024-06-25"),
            "AAPL": ("2023-01-03", "2024-06-27"),
            "XOM": ("2024-01-02", "2024-06-28"),  # fresh
        }
    )

    plan = plan_refresh(
        cov, no_reference(), calendar.sessions, d(2024, 6, 28), d(2024, 6, 28), "ADJUSTED_LAST"
    )

    assert plan.requests == (
        SymbolRequest("AAPL", d(2023, 1, 3), d(2024, 6, 27), "", "2 D"),
        SymbolRequest("MSFT", d(2024, 1, 2), d(2024, 6, 25), "", "4 D"),
    )
    assert (plan.fresh, plan.delisted, plan.end_day) == (1, (), d(2024, 6, 28))


def test_on_monday_morning_adjusted_requests_reach_back_from_monday(
    calendar: TradingCalendar,
) -> None:
    cov = coverage({"AAPL": ("2024-01-02", "2024-06-27")})

    adjusted = plan_refresh(
        cov, no_reference(), calendar.sessions, d(2024, 6, 28), d(2024, 7, 1), "ADJUSTED_LAST"
    )
    trades = plan_refresh(
        cov, no_reference(), calendar.sessions, d(2024, 6, 28), d(2024, 7, 1), "TRADES"
    )

    assert adjusted.requests[0].duration == "5 D"  # Thursday .. Monday
    assert trades.requests[0].duration == "2 D"  # Thursday .. Friday
    assert trades.requests[0].end == "20240628 23:59:59 UTC"


@pytest.mark.parametrize(
    ("delisted", "asked"),
    [
        (None, True),
        ("2024-06-20", False),  # delisted on its last bar
        ("2024-06-22", False),  # on the Saturday after it: before the next session
        ("2024-06-24", True),  # on the next session (Monday): it may have traded that day
        ("2024-12-31", True),  # announced, later
    ],
)
def test_symbols_delisted_before_the_session_after_their_last_bar_are_skipped(
    calendar: TradingCalendar, delisted: str | None, asked: bool
) -> None:
    cov = coverage({"AAPL": ("2024-01-02", "2024-06-27"), "GONE": ("2020-01-02", "2024-06-21")})
    reference = pd.DataFrame(
        {
            "symbol": ["AAPL", "GONE"],
            "delisted": [None, None if delisted is None else d.fromisoformat(delisted)],
        }
    )

    plan = plan_refresh(
        cov, reference, calendar.sessions, d(2024, 6, 28), d(2024, 6, 28), "ADJUSTED_LAST"
    )

    assert [r.symbol for r in plan.requests] == (["AAPL", "GONE"] if asked else ["AAPL"])
    assert plan.delisted == (() if asked else ("GONE",))


def test_a_delisted_symbol_that_is_fresh_is_neither_asked_nor_skipped(
    calendar: TradingCalendar,
) -> None:
    cov = coverage({"AAPL": ("2024-01-02", "2024-06-28")})
    reference = pd.DataFrame({"symbol": ["AAPL"], "delisted": [d(2024, 6, 1)]})
    plan = plan_refresh(cov, reference, calendar.sessions, d(2024, 6, 28), d(2024, 6, 28), "TRADES")
    assert (plan.requests, plan.delisted, plan.fresh) == ((), (), 1)


def test_a_refetch_asks_for_the_whole_stored_history_in_years() -> None:
    request = SymbolRequest("AAPL", d(2021, 6, 1), d(2024, 6, 25), "", "4 D")
    assert refetch_duration(request, d(2024, 6, 28)) == "4 Y"  # 1,124 days
    short = SymbolRequest("AAPL", d(2024, 1, 2), d(2024, 6, 25), "", "4 D")
    assert refetch_duration(short, d(2024, 6, 28)) == "1 Y"
    exact = SymbolRequest("AAPL", d(2023, 6, 29), d(2024, 6, 25), "", "4 D")
    assert refetch_duration(exact, d(2024, 6, 27)) == "1 Y"  # 365 days, the first included
    assert refetch_duration(exact, d(2024, 6, 28)) == "2 Y"


def test_only_rows_after_the_last_stored_bar_through_the_session_are_kept() -> None:
    bars = pd.DataFrame(
        {
            "symbol": ["AAPL"] * 4 + ["MSFT"] * 2,
            "date": pd.to_datetime(
                ["2024-06-25", "2024-06-26", "2024-06-27", "2024-07-01", "2024-06-26", "2024-06-27"]
            ),
        }
    )
    lasts = pd.Series(pd.to_datetime(["2024-06-25", "2024-06-26"]), index=["AAPL", "MSFT"])

    kept = new_rows(bars, lasts, d(2024, 6, 28))

    assert list(zip(kept["symbol"], kept["date"].dt.day, strict=True)) == [
        ("AAPL", 26),
        ("AAPL", 27),
        ("MSFT", 27),
    ]


def test_the_overlap_bar_tells_whether_the_history_changed() -> None:
    stored = pd.DataFrame(
        {
            "symbol": ["AAPL", "MSFT", "XOM", "IBM", "NEW"],
            "date": pd.to_datetime(["2024-06-25"] * 5),
            "close": [100.0, 200.0, 50.0, 10.0, 5.0],
        }
    )
    bars = pd.DataFrame(
        {
            "symbol": ["AAPL", "AAPL", "MSFT", "XOM", "IBM"],
            "date": pd.to_datetime(
                ["2024-06-25", "2024-06-26", "2024-06-25", "2024-06-25", "2024-06-26"]
            ),
            "close": [100.0 * (1 + 5e-7), 101.0, 200.0 * (1 + 2e-6), 25.0, 10.0],
        }
    )

    changed = changed_history(bars, stored)

    # AAPL within 1e-6: the same; NEW: IB sent nothing, nothing to compare.
    assert list(changed) == ["IBM", "MSFT", "XOM"]
    assert changed["XOM"].startswith("close of 2024-06-25: stored 50, IB now 25")
    assert changed["IBM"] == "IB's answer has no bar on its last stored session 2024-06-25"


def test_ib_kind_refuses_a_dataset_of_another_source() -> None:
    assert ib_kind("ib", "ib:ADJUSTED_LAST") == "ADJUSTED_LAST"
    assert ib_kind("ib", "ib:TRADES") == "TRADES"
    with pytest.raises(ConfigError, match=r"'sp500-2010' .* sample:sp500-2010 data"):
        ib_kind("sp500-2010", "sample:sp500-2010")
    with pytest.raises(ConfigError, match="ib:MIDPOINT"):
        ib_kind("x", "ib:MIDPOINT")


def test_the_strategys_factors_are_the_strings_make_factor_builds() -> None:
    params = {
        "factors": {"momentum_20": 1.0, "rsi": 0.5, "volatility_20": -0.5},
        "name": "abc",
        "lookback": 5,
        "more": ["reversal_5", "momentum_126_0", ("momentum_20",)],
    }
    assert strategy_factors(params) == [
        "momentum_20",
        "volatility_20",
        "reversal_5",
        "momentum_126",
    ]
    assert strategy_factors({}) == []


def test_stored_factors_make_factor_does_not_know_are_set_aside() -> None:
    names = ["momentum_20", "model_value-20240105T143000Z-1a2b", "momentum_20_0", "bogus_3"]
    assert known_factors(names) == (
        ["momentum_20"],
        ["model_value-20240105T143000Z-1a2b", "bogus_3"],
    )


def test_factors_are_recomputed_from_the_first_new_bar_or_their_last_stored_date() -> None:
    last = {
        "current": d(2024, 6, 25),
        "behind": d(2024, 6, 20),  # a failed attempt left it behind
        "dropped": None,  # the bars changed, or the strategy names it for the first time
    }
    assert factor_starts(last, d(2024, 6, 26), d(2024, 6, 28)) == {
        "current": d(2024, 6, 26),
        "behind": d(2024, 6, 21),
        "dropped": None,
    }
    # A symbol catching up on sessions the others have: from its first new bar.
    assert factor_starts({"current": d(2024, 6, 28)}, d(2024, 6, 24), d(2024, 6, 28)) == {
        "current": d(2024, 6, 24)
    }
    # Nothing new, everything through the end: no work at all.
    assert factor_starts({"current": d(2024, 6, 28)}, None, d(2024, 6, 28)) == {}


def test_notes_name_ten_symbols_and_count_the_rest() -> None:
    symbols = [f"S{i:02d}" for i in range(12)]
    assert listed(symbols) == ", ".join(symbols[:10]) + " and 2 more"
    assert listed(["A", "B"]) == "A, B"
