"""A live.refresh_time that cannot work on the exchange is said at start (market_clock)."""

from __future__ import annotations

import datetime as dt

import pytest

from quant_core.calendar import get_calendar
from quant_core.live.market_clock import refresh_time_warnings


@pytest.mark.parametrize(
    ("exchange", "refresh", "rebalance", "expected"),
    [
        ("XNYS", dt.time(16, 30), dt.time(9, 35), []),  # the default: 30 min after the close
        ("XNYS", dt.time(6, 0), dt.time(9, 35), []),  # the next morning, before the rebalance
        ("XNYS", dt.time(16, 5), dt.time(9, 35), ["5 min after XNYS's close 16:00"]),
        ("XLON", dt.time(16, 30), dt.time(8, 5), ["0 min after XLON's close 16:30"]),
        ("XNYS", dt.time(10, 0), dt.time(9, 35), ["comes after the next session's"]),
        ("XNYS", dt.time(9, 35), dt.time(9, 35), ["comes after the next session's"]),
    ],
)
def test_refresh_time_warnings(
    exchange: str, refresh: dt.time, rebalance: dt.time, expected: list[str]
) -> None:
    warnings = refresh_time_warnings(get_calendar(exchange), refresh, rebalance)
    assert len(warnings) == len(expected)
    for warning, part in zip(warnings, expected, strict=True):
        assert part in warning
        assert f"live.refresh_time {refresh:%H:%M}" in warning
