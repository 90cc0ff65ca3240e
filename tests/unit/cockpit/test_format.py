"""The cockpit's shared formatters: the Data page's coarse ages and the times without suffix."""

from __future__ import annotations

import datetime as dt

import pytest

from quant_core.cockpit import format as fmt


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-3.0, "0 s"), (45.9, "45 s"), (185, "3 min"), (10_800, "3 h"), (273_600, "3 days")],
)
def test_fmt_age_coarse_is_in_whole_units(seconds: float, text: str) -> None:
    assert fmt.fmt_age(seconds, coarse=True) == text


def test_fmt_time_in_utc_with_or_without_its_suffix() -> None:
    when = dt.datetime(2026, 3, 2, 15, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert fmt.fmt_time(when) == "2026-03-02 14:30:05 UTC"
    assert fmt.fmt_time(when, suffix=False) == "2026-03-02 14:30:05"
    assert fmt.fmt_time(None, suffix=False) == "-"
