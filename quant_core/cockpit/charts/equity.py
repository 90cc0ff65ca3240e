"""The Live Dashboard's equity chart: net liquidation over time, in dollars against UTC time.

A bare date in the equity series (a replay's session close) is that session, at midnight UTC.
The axis skips Saturdays and Sundays (no market), unless a point falls on one (UTC).
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go

from quant_core.cockpit.theme import COLORS, Unit, style
from quant_core.live.state import DashboardState
from quant_core.live.state_fields import finite

SATURDAY = 5  # datetime.weekday(): Saturday and Sunday are 5 and 6


def live_equity_figure(state: DashboardState | None) -> go.Figure | None:
    """Return the net liquidation over time ($ against UTC time), or None without points."""
    points: list[tuple[dt.datetime, float]] = []
    dates_only = True
    for point in state.equity if state is not None else ():
        value = finite(point.value)
        if value is None:
            continue
        when = point.at
        if not isinstance(when, dt.datetime):  # a session's date: midnight UTC
            when = dt.datetime.combine(when, dt.time(), tzinfo=dt.UTC)
        dates_only = dates_only and point.session_only
        points.append((when, value))
    if not points:
        return None
    points.sort()
    # Plotly shows a time as written, offsets ignored: hand it UTC wall times.
    x = [f"{when.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}" for when, _ in points]
    y = [value for _, value in points]
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=y,
            mode="lines+markers" if len(points) <= 60 else "lines",
            name="Net liquidation",
            line={"color": COLORS[0], "width": 2},
            hovertemplate="$%{y:,.2f}<extra></extra>",
        )
    )
    axis: tuple[str, Unit] = ("Session (date)", "date") if dates_only else ("Time (UTC)", "date")
    style(fig, "Equity: net liquidation", x=axis, y=("Net liquidation", "usd"), height=320)
    if not dates_only:
        fig.update_xaxes(tickformat="%H:%M<br>%Y-%m-%d")
    # No market at the weekend: the line does not run across Saturdays and Sundays. Unless a
    # point falls on one (a crypto's or a user's dataset, a time late on Friday in New York):
    # the break would hide it, and a series of weekends would show as an empty chart.
    if not any(when.astimezone(dt.UTC).weekday() >= SATURDAY for when, _ in points):
        fig.update_xaxes(rangebreaks=[{"bounds": ["sat", "mon"]}])
    return fig
