"""The Live Dashboard's equity chart skips weekends only when no point falls on one.

A plotly range break over ``["sat", "mon"]`` takes Saturdays and Sundays off the time axis: a
point on one is not drawn, and a series of weekend dates (a crypto's, a user's dataset) would
show as an empty chart. The figure is read as plotly reads it: which points a break hides.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from quant_core.cockpit.charts.equity import live_equity_figure
from quant_core.live.state import SCHEMA_VERSION, DashboardState
from tests.cockpit import live_reports

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # plotly's day-of-week bounds


def _state(equity: list[list[object]]) -> DashboardState:
    doc = live_reports.state(live_reports.SESSIONS[-1], [], [])
    return DashboardState.from_json({"schema_version": SCHEMA_VERSION, **doc, "equity": equity})


def _figure(equity: list[list[object]]) -> go.Figure:
    fig = live_equity_figure(_state(equity))
    assert fig is not None
    return fig


def _breaks(fig: go.Figure) -> list[tuple[str, str]]:
    # The day-of-week range breaks in force (the only kind the chart may set).
    found = []
    for rangebreak in fig.layout.xaxis.rangebreaks or ():
        assert rangebreak.values is None, rangebreak
        if rangebreak.enabled is not False:
            assert rangebreak.pattern in (None, "day of week"), rangebreak
            low, high = rangebreak.bounds
            found.append((str(low), str(high)))
    return found


def _hidden(fig: go.Figure) -> list[str]:
    # The points a day-of-week break takes off the axis: from its first day, up to its last.
    hidden = []
    for low, high in _breaks(fig):
        start, end = DAYS.index(low), DAYS.index(high)
        for x in fig.data[0].x:
            day = pd.Timestamp(x).weekday()
            off = start <= day < end if start < end else day >= start or day < end
            if off:
                hidden.append(str(x))
    return hidden


# 2026-03-02 is a Monday.
WEEKDAYS = [["2026-03-02", 100.0], ["2026-03-03", 101.0], ["2026-03-06", 99.0]]
WEEKEND_DATES = [
    ["2026-03-06", 100.0],
    ["2026-03-07", 101.0],
    ["2026-03-08", 102.5],
    ["2026-03-09", 102.0],
]
WEEKEND_ONLY = [["2026-03-07", 100.0], ["2026-03-08", 101.0], ["2026-03-14", 103.0]]
# 20:30 in New York on Friday is 01:30 UTC on Saturday: the axis is UTC.
FRIDAY_EVENING = [
    ["2026-03-06T15:00:00-05:00", 100.0],
    ["2026-03-06T20:30:00-05:00", 100.5],
    ["2026-03-09T10:00:00-04:00", 101.0],
]


def test_a_weekday_series_keeps_the_weekend_break() -> None:
    fig = _figure(WEEKDAYS)
    assert _breaks(fig) == [("sat", "mon")]
    assert _hidden(fig) == []
    assert list(fig.data[0].y) == [100.0, 101.0, 99.0]


@pytest.mark.parametrize("equity", [WEEKEND_DATES, WEEKEND_ONLY, FRIDAY_EVENING])
def test_no_break_hides_a_point_that_falls_on_a_weekend(equity: list[list[object]]) -> None:
    fig = _figure(equity)
    assert _hidden(fig) == []
    assert len(fig.data[0].x) == len(equity)  # every point is drawn


def test_the_hidden_check_sees_what_the_weekend_break_would_hide() -> None:
    # The helper above is what the tests rest on: over a weekend-dated series, the break the
    # weekday series gets would hide exactly its Saturday and Sunday.
    fig = _figure(WEEKEND_DATES)
    fig.update_xaxes(rangebreaks=[{"bounds": ["sat", "mon"]}])
    assert _hidden(fig) == ["2026-03-07 00:00:00", "2026-03-08 00:00:00"]  # Sat, Sun


def test_live_against_backtest_breaks_weekends_only_without_weekend_sessions() -> None:
    from quant_core.cockpit.charts.live_equity import live_vs_backtest_figure

    def series(days: list[list[object]]) -> pd.Series:
        values = [float(str(v)) for _, v in days]
        return pd.Series(values, index=pd.DatetimeIndex([str(d) for d, _ in days]))

    weekdays = live_vs_backtest_figure(series(WEEKDAYS), series(WEEKDAYS))
    assert _breaks(weekdays) == [("sat", "mon")]
    assert _hidden(weekdays) == []
    weekend = live_vs_backtest_figure(series(WEEKDAYS), series(WEEKEND_DATES))  # backtest's only
    assert _breaks(weekend) == []
    crypto = live_vs_backtest_figure(series(WEEKEND_ONLY), None)
    assert _breaks(crypto) == []
    assert len(crypto.data[0].x) == len(WEEKEND_ONLY)
