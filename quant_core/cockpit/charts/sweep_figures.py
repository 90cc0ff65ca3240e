"""The Sweeps page's figures: the objective over two parameters, its distribution, the best curves.

Plotly figures built through :func:`quant_core.cockpit.theme.style` from the frames of
:mod:`quant_core.cockpit.models.sweep_data`; no Streamlit and no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from quant_core.cockpit.models.sweep_data import Heatmap
from quant_core.cockpit.theme import COLORS, FORMATS, Unit, style

# A single run's metrics (backtest.metrics) -> the unit its axis and hover read in.
OBJECTIVE_UNITS: dict[str, Unit] = {
    "cagr": "pct",
    "total_return": "pct",
    "volatility": "pct",
    "max_drawdown": "pct",
    "exposure": "pct",
    "hit_rate": "pct",
    "trades": "count",
    "final_equity": "usd",
    "total_costs": "usd",
}
ANNOTATED_CELLS = 400  # at most this many cells show their value as text
HOVER_FORMAT = {"pct": ".2%", "usd": "$,.0f", "count": ",.0f"}


def objective_unit(objective: str) -> Unit:
    """Return the unit of the objective ``objective`` (a ratio unless known otherwise)."""
    return OBJECTIVE_UNITS.get(objective, "ratio")


def value_format(unit: Unit) -> str:
    """Return the d3 format a value of ``unit`` is shown with (``.2%``, ``.3f``...)."""
    return HOVER_FORMAT.get(unit, ".3f")


def heatmap_figure(cells: Heatmap, objective: str) -> go.Figure:
    """Return the best objective for each pair of parameter values, a cell's count on hover.

    Rows: ``cells.y``'s values (one row when the sweep has one parameter); columns: ``cells.x``'s.
    A cell without a finite objective is left blank.
    """
    unit = objective_unit(objective)
    spec = value_format(unit)
    z = cells.best.to_numpy(dtype=float)
    y_name = cells.y or objective
    small = z.size <= ANNOTATED_CELLS
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in cells.best.columns],
            y=[str(i) for i in cells.best.index],
            customdata=cells.count.to_numpy(dtype=float),
            colorscale="Viridis",
            xgap=1,
            ygap=1,
            texttemplate=f"%{{z:{spec}}}" if small else None,
            colorbar={"title": {"text": objective}, "tickformat": FORMATS[unit].get("tickformat")},
            hovertemplate=f"{cells.x}=%{{x}}, {y_name}=%{{y}}: {objective} %{{z:{spec}}} "
            f"(the {cells.how} of %{{customdata:,.0f}} configurations)<extra></extra>",
        )
    )
    title = f"{objective} by {cells.x}" + (f" and {cells.y}" if cells.y else "")
    height = max(300, 160 + 34 * len(cells.best.index))
    style(fig, title, (cells.x, "none"), (y_name, "none"), height=height)
    fig.update_layout(
        hovermode="closest",
        title_subtitle_text=f"each cell: the {cells.how} of {objective} over the other "
        "parameters' values",
        margin={"t": 80},
    )
    fig.update_xaxes(type="category", showgrid=False)
    fig.update_yaxes(type="category", showgrid=False)
    return fig


def histogram_figure(
    bins: pd.DataFrame, missing: int, objective: str, best: float | None
) -> go.Figure:
    """Return the objective's distribution: configurations per bin, the best value marked.

    ``bins``: :func:`~quant_core.cockpit.models.sweep_data.objective_histogram`'s frame.
    """
    unit = objective_unit(objective)
    spec = value_format(unit)
    lo, hi = bins["lo"].to_numpy(dtype=float), bins["hi"].to_numpy(dtype=float)
    fig = go.Figure(
        go.Bar(
            x=(lo + hi) / 2,
            y=bins["count"].to_numpy(dtype=float),
            width=np.maximum(hi - lo, 1e-12),
            customdata=np.column_stack([lo, hi]) if len(bins) else None,
            marker={"color": COLORS[0]},
            name="configurations",
            hovertemplate=f"{objective} %{{customdata[0]:{spec}}} to %{{customdata[1]:{spec}}}: "
            "%{y:,.0f} configurations<extra></extra>",
        )
    )
    if best is not None:
        fig.add_vline(x=best, line={"color": COLORS[5], "width": 2, "dash": "dash"})
        fig.add_annotation(
            x=best, y=1, yref="paper", text="best", showarrow=False, yanchor="bottom"
        )
    style(fig, f"Distribution of {objective}", (objective, unit), ("Configurations", "count"))
    total = int(bins["count"].sum()) + missing
    note = f"{total:,} configurations" + (
        f"; {missing:,} without a finite {objective}, left out" if missing else ""
    )
    fig.update_layout(hovermode="closest", bargap=0.05, title_subtitle_text=note, margin={"t": 80})
    if len(bins) and int(bins["count"].max()) <= 10:
        fig.update_yaxes(dtick=1)  # whole counts only: no 0.5 ticks rounded into twins
    return fig


def curves_figure(curves: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """Return the kept equity curves ($ per session), one line each, in rank order."""
    fig = go.Figure()
    dates = [f"{pd.Timestamp(d):%Y-%m-%d}" for d in curves.index]
    for i, (key, label) in enumerate(labels.items()):
        fig.add_scatter(
            x=dates,
            y=curves[key].to_numpy(dtype=float),
            mode="lines",
            name=label,
            line={"color": COLORS[i % len(COLORS)], "width": 2 if i == 0 else 1.2},
            hovertemplate=f"{label}: $%{{y:,.0f}}<extra></extra>",
        )
    style(
        fig,
        f"Equity of the best {len(labels)} configurations",
        ("Session (date)", "date"),
        ("Equity", "usd"),
        height=420,
    )
    fig.update_layout(
        hovermode="closest",
        legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"},
    )
    return fig


__all__ = [
    "OBJECTIVE_UNITS",
    "curves_figure",
    "heatmap_figure",
    "histogram_figure",
    "objective_unit",
    "value_format",
]
