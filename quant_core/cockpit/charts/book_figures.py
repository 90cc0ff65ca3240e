"""The Explorer's figures of a book run: sleeves stacked, allocation, correlation, universes.

Plotly figures built through :func:`quant_core.cockpit.theme.style`, without Streamlit. The
numbers come from :mod:`quant_core.cockpit.models.book_frames` (the run's stored frames); every
title starts with "Sleeve" so the book's charts are told apart from the account's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from quant_core.book.build import RESERVE
from quant_core.cockpit.theme import COLORS, DOWN, Unit, style

RESERVE_COLOR = "#BBBBBB"


def _colors(names: list[str]) -> dict[str, str]:
    # One colour per sleeve, in the book's order; the reserve grey.
    palette = [c for c in COLORS if c != COLORS[-1]]
    return {
        name: RESERVE_COLOR if name == RESERVE else palette[i % len(palette)]
        for i, name in enumerate(names)
    }


def _label(name: str) -> str:
    return "Reserve (unallocated)" if name == RESERVE else name


def _chart(
    fig: go.Figure, title: str, x: tuple[str, Unit], y: tuple[str, Unit], height: int
) -> go.Figure:
    fig = style(fig, title, x, y, height)
    fig.update_layout(legend={"x": 1.0, "xanchor": "right"})
    return fig


def sleeves_figure(stacked: pd.DataFrame, account: pd.Series) -> go.Figure:
    """Return each sleeve's equity stacked (USD), with the account's equity as a line on top.

    ``stacked`` is :func:`~quant_core.cockpit.models.book_frames.stacked_equity` (its columns
    sum to the account's equity); ``account`` the run's stored equity curve.
    """
    colors = _colors([str(c) for c in stacked.columns])
    dates = pd.DatetimeIndex(stacked.index)
    fig = go.Figure()
    for column in stacked.columns:
        name = str(column)
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=stacked[column].to_numpy(dtype=float),
                name=_label(name),
                mode="lines",
                stackgroup="sleeves",
                line={"width": 0.5, "color": colors[name]},
                hovertemplate=f"{_label(name)}: $%{{y:,.0f}}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=pd.DatetimeIndex(account.index),
            y=account.to_numpy(dtype=float),
            name="Account",
            mode="lines",
            line={"width": 2, "color": COLORS[-1]},
            hovertemplate="Account: $%{y:,.0f}<extra></extra>",
        )
    )
    return _chart(
        fig, "Sleeves: equity stacked, and the account", ("Date", "date"), ("Equity", "usd"), 400
    )


def allocation_figure(weights: pd.DataFrame) -> go.Figure:
    """Return the weights of each allocation, stacked (fractions of the book's equity).

    ``weights`` is :func:`~quant_core.cockpit.models.book_frames.allocation_weights`; each
    allocation holds until the next one (steps).
    """
    colors = _colors([str(c) for c in weights.columns])
    fig = go.Figure()
    for column in weights.columns:
        name = str(column)
        fig.add_trace(
            go.Scatter(
                x=pd.DatetimeIndex(weights.index),
                y=weights[column].to_numpy(dtype=float),
                name=_label(name),
                mode="lines+markers" if len(weights) <= 40 else "lines",
                stackgroup="weights",
                line={"shape": "hv", "width": 0.5, "color": colors[name]},
                marker={"size": 4},
                hovertemplate=f"{_label(name)}: %{{y:.2%}}<extra></extra>",
            )
        )
    fig = _chart(
        fig, "Sleeves: allocation over time", ("Allocation date", "date"), ("Weight", "pct"), 320
    )
    fig.update_yaxes(range=[0.0, 1.0])
    return fig


def correlation_figure(matrix: pd.DataFrame, sessions: int) -> go.Figure:
    """Return the correlation of the sleeves' daily returns as a heatmap (-1 to 1)."""
    z = matrix.to_numpy(dtype=float)
    names = [str(c) for c in matrix.columns]
    text = [[f"{v:.2f}" if np.isfinite(v) else "" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu",
            reversescale=True,
            zmin=-1.0,
            zmid=0.0,
            zmax=1.0,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": "Correlation"}, "tickformat": ".1f"},
            hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
        )
    )
    title = f"Sleeves: correlation of daily returns ({sessions} sessions)"
    fig = _chart(fig, title, ("Sleeve", "none"), ("Sleeve", "none"), 160 + 60 * len(names))
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    fig.update_xaxes(type="category", showgrid=False)
    return fig


def universe_figure(universes: Mapping[str, pd.DataFrame], column: str) -> go.Figure:
    """Return each scanner sleeve's universe ``size`` (names) or ``turnover`` (%) at its scans.

    Turnover at a scan is (names entering + names leaving) / (2 x the previous size).
    """
    colors = _colors(list(universes))
    fig = go.Figure()
    for name, frame in universes.items():
        values = frame[column].to_numpy(dtype=float)
        hover = "%{y:,.0f} names" if column == "size" else "%{y:.1%}"
        fig.add_trace(
            go.Scatter(
                x=pd.DatetimeIndex(frame.index),
                y=values,
                name=name,
                mode="lines+markers" if len(frame) <= 60 else "lines",
                line={"width": 1.5, "color": colors[name], "shape": "hv"},
                marker={"size": 5},
                hovertemplate=f"{name}: {hover}<extra></extra>",
            )
        )
    if column == "size":
        fig = _chart(fig, "Sleeves: universe size", ("Scan date", "date"), ("Names", "count"), 300)
        fig.update_yaxes(rangemode="tozero")
        return fig
    return _chart(
        fig, "Sleeves: universe turnover", ("Scan date", "date"), ("Turnover", "pct"), 300
    )


def sleeve_figure(equity: pd.Series, drawdown: pd.Series, name: str) -> go.Figure:
    """Return one sleeve's equity (USD, top) over its drawdown (%, below), dates shared.

    The drawdown is that of its time-weighted curve (allocation flows taken out), so it
    agrees with the sleeve's stored ``max_drawdown``.
    """
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.08
    )
    fig.add_trace(
        go.Scatter(
            x=pd.DatetimeIndex(equity.index),
            y=equity.to_numpy(dtype=float),
            name="Equity",
            mode="lines",
            line={"width": 2, "color": COLORS[0]},
            hovertemplate="Equity: $%{y:,.0f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=pd.DatetimeIndex(drawdown.index),
            y=drawdown.to_numpy(dtype=float),
            name="Drawdown",
            mode="lines",
            fill="tozeroy",
            line={"width": 1, "color": DOWN},
            hovertemplate="Drawdown: %{y:.2%}<extra></extra>",
        ),
        row=2,
        col=1,
    )
    fig = _chart(
        fig, f"Sleeve {name}: equity and drawdown", ("Date", "date"), ("Equity", "usd"), 420
    )
    fig.update_xaxes(title_text=None, row=1, col=1)
    fig.update_yaxes(title_text="Drawdown (%)", tickformat=".0%", row=2, col=1)
    fig.update_yaxes(tickprefix=None, row=2, col=1)
    return fig
