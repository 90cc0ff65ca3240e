"""The trade analysis figures: how the closed round trips' results are spread.

Built through :func:`quant_core.cockpit.theme.style`, without Streamlit, from the values of
:func:`quant_core.cockpit.tables.round_trips.distribution_values`: R-multiples when a stop loss
defines the risk, else each trip's pnl as a fraction of its entry value. Winners and losers are
drawn in their own colours on the same bins.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from quant_core.cockpit.theme import DOWN, UP, Unit, style

BINS = 40  # at most; fewer when the trips are few


def _edges(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.array([lo - 0.5, hi + 0.5])
    count = int(min(BINS, max(5, np.sqrt(values.size))))
    return np.linspace(lo, hi, count + 1)


def distribution_figure(values: np.ndarray, pnl: np.ndarray, kind: str) -> go.Figure:
    """Return the spread of ``values``: R-multiples (``kind`` ``"r"``) or fractions (``"pct"``).

    Bars count closed trips per bin (the same bins for winners, value > 0, and losers, stacked);
    the hover adds the bin's summed ``pnl`` (dollars) and its share of the closed trips.
    """
    fig = go.Figure()
    edges = _edges(values) if values.size else np.array([0.0, 1.0])
    centres, width = (edges[:-1] + edges[1:]) / 2, float(edges[1] - edges[0])
    unit = "%{x:.2f} R" if kind == "r" else "%{x:.1%}"
    total = max(values.size, 1)
    for name, color, chosen in (
        ("Losers", DOWN, values <= 0),
        ("Winners", UP, values > 0),
    ):
        counts, _ = np.histogram(values[chosen], bins=edges)
        sums, _ = np.histogram(values[chosen], bins=edges, weights=pnl[chosen])
        fig.add_trace(
            go.Bar(
                x=centres,
                y=counts,
                width=width,
                name=f"{name} ({int(chosen.sum()):,})",
                marker={"color": color},
                customdata=np.column_stack([sums, counts / total]),
                hovertemplate=(
                    f"{unit}: %{{y:,d}} trades (%{{customdata[1]:.1%}} of all), "
                    f"P&L $%{{customdata[0]:,.0f}}<extra>{name}</extra>"
                ),
            )
        )
    fig.update_layout(barmode="stack", bargap=0.05)
    x: tuple[str, Unit]
    if kind == "r":
        title = "R-multiples of the closed trades"
        x = ("R = pnl / (stop loss x entry value)", "ratio")
    else:
        title = "Returns of the closed trades (no stop loss: no R)"
        x = ("Trade return = pnl / entry value", "pct")
    return style(fig, title, x, ("Trades", "count"), 360)
