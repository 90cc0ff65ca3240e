"""One look for every chart: a plotly template, and axis formats that carry units.

Every chart goes through :func:`style`, which names both axes with their unit and sets the
number format ($, %, dates), so no axis is ever left bare.
"""

from __future__ import annotations

from typing import Literal

import plotly.graph_objects as go
import plotly.io as pio

Unit = Literal["usd", "pct", "ratio", "date", "count", "shares", "none"]

# Colour-blind-safe (Okabe-Ito), in a fixed order: strategy, benchmark, then the rest.
# (Okabe-Ito's yellow is left out: it cannot be read on white.)
COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#555555", "#000000"]
UP, DOWN = "#009E73", "#D55E00"
FORMATS: dict[str, dict[str, str]] = {
    "usd": {"tickprefix": "$", "tickformat": ",.0f"},
    "pct": {"tickformat": ".1%"},
    "ratio": {"tickformat": ".2f"},
    "date": {"tickformat": "%Y-%m-%d"},
    "count": {"tickformat": ",d"},
    "shares": {"tickformat": ",.0f"},
    "none": {},
}
HOVER = {"usd": "$%{y:,.2f}", "pct": "%{y:.2%}", "ratio": "%{y:.3f}", "count": "%{y:,d}"}

TEMPLATE = go.layout.Template(
    layout=go.Layout(
        colorway=COLORS,
        # Streamlit's own face, so charts and page read as one.
        font={"family": '"Source Sans", "Source Sans Pro", sans-serif', "size": 13},
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        hovermode="x unified",
        # Top right, above the plot: clear of the title (top left) and of the lines.
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        xaxis={"showgrid": True, "gridcolor": "rgba(128,128,128,0.15)"},
        yaxis={"showgrid": True, "gridcolor": "rgba(128,128,128,0.15)", "zeroline": False},
    )
)
pio.templates["quant"] = TEMPLATE


def style(
    fig: go.Figure,
    title: str,
    x: tuple[str, Unit],
    y: tuple[str, Unit],
    height: int = 360,
    log_y: bool = False,
) -> go.Figure:
    """Apply the house look; ``x`` and ``y`` are (axis title, unit). Return ``fig``."""
    fig.update_layout(template="plotly_white+quant", title={"text": title}, height=height)
    fig.update_xaxes(title_text=_title(*x), **FORMATS[x[1]])
    if x[1] == "date":  # level labels, few enough not to touch in a half-width column
        fig.update_xaxes(tickangle=0, nticks=6)
    fig.update_yaxes(title_text=_title(*y), type="log" if log_y else "linear", **FORMATS[y[1]])
    return fig


def _title(text: str, unit: Unit) -> str:
    suffix = {"usd": " ($)", "pct": " (%)", "shares": " (shares)", "count": " (count)"}
    return text + suffix.get(unit, "")
