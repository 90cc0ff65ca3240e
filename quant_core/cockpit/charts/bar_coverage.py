"""The Data page's chart: how many symbols have a bar on each session, with gaps marked."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from quant_core.cockpit.models.dataset_snapshot import DatasetSnapshot
from quant_core.cockpit.theme import COLORS, DOWN, style

PARTIAL = "#E69F00"


def bars_figure(snap: DatasetSnapshot) -> go.Figure:
    """Return the number of symbols with a bar per session, with gaps marked."""
    per = snap.bars_per_session
    fig = go.Figure()
    fig.add_scatter(
        x=per.index,
        y=per.to_numpy(),
        mode="lines",
        name="symbols with a bar",
        line={"color": COLORS[0]},
        hovertemplate="%{y:,d} symbols",
    )
    for day in snap.gaps.missing:
        fig.add_vline(x=pd.Timestamp(day), line={"color": DOWN, "width": 1, "dash": "dot"})
    if snap.gaps.missing:
        fig.add_scatter(
            x=[pd.Timestamp(d) for d in snap.gaps.missing],
            y=[0] * len(snap.gaps.missing),
            mode="markers",
            name="missing session (no bar at all)",
            marker={"color": DOWN, "symbol": "x", "size": 10},
            hovertemplate="missing session",
        )
    if snap.gaps.partial:
        fig.add_scatter(
            x=[pd.Timestamp(d) for d, _, _ in snap.gaps.partial],
            y=[n for _, n, _ in snap.gaps.partial],
            mode="markers",
            name="partial session",
            marker={"color": PARTIAL, "symbol": "diamond", "size": 10},
            hovertemplate="partial: %{y:,d} symbols",
        )
    style(
        fig,
        f"Symbols with a bar per session: {snap.name}",
        ("Session", "date"),
        ("Symbols", "count"),
        height=380,
    )
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(
        legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0, "xanchor": "left"},
        margin={"b": 100},
    )
    return fig
