"""The live equity at each session close, drawn over the backtest of the same config.

Dollars against the session date. The backtest comes rebased to the live equity at their first
common session (``models.live_backtest.rebase``), so both lines leave from one point.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from quant_core.cockpit.theme import COLORS, style

TITLE = "Live equity against the backtest of the live config"
LIVE_NAME = "Live: net liquidation at each close"
BACKTEST_NAME = "Backtest of the live config (rebased)"
SATURDAY = 5  # datetime.weekday(): Saturday and Sunday are 5 and 6


def _dates(index: pd.Index) -> list[str]:
    return [f"{pd.Timestamp(t):%Y-%m-%d}" for t in index]


def live_vs_backtest_figure(live: pd.Series, backtest: pd.Series | None) -> go.Figure:
    """Return the live closes (solid) over the rebased backtest (dashed, when there is one)."""
    fig = go.Figure()
    if backtest is not None and not backtest.empty:
        fig.add_trace(
            go.Scatter(
                x=_dates(backtest.index),
                y=backtest.to_numpy(dtype=float).tolist(),
                mode="lines",
                name=BACKTEST_NAME,
                line={"color": COLORS[1], "width": 2, "dash": "dash"},
                hovertemplate="$%{y:,.2f}<extra>backtest</extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=_dates(live.index),
            y=live.to_numpy(dtype=float).tolist(),
            mode="lines+markers" if len(live) <= 60 else "lines",
            name=LIVE_NAME,
            line={"color": COLORS[0], "width": 2},
            hovertemplate="$%{y:,.2f}<extra>live</extra>",
        )
    )
    style(fig, TITLE, x=("Session", "date"), y=("Equity", "usd"), height=360)
    # No market at the weekend: the lines do not run across Saturdays and Sundays. Unless a
    # session falls on one (a crypto's or a user's dataset): the break would hide it.
    sessions = [pd.Timestamp(t) for t in live.index]
    if backtest is not None:
        sessions += [pd.Timestamp(t) for t in backtest.index]
    if not any(day.weekday() >= SATURDAY for day in sessions):
        fig.update_xaxes(rangebreaks=[{"bounds": ["sat", "mon"]}])
    return fig
