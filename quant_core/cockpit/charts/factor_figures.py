"""The Factors page's figures: coverage, IC, quantile returns, turnover and correlation.

Plotly figures built from :mod:`quant_core.factors.analysis` results through
:func:`quant_core.cockpit.theme.style`; no Streamlit and no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from quant_core.cockpit.format import quantile_name
from quant_core.cockpit.theme import COLORS, DOWN, UP, style
from quant_core.factors.analysis import FactorAnalysis

LINES_HEIGHT = 420


def coverage_figure(results: Sequence[FactorAnalysis]) -> go.Figure:
    """Return the share of listed symbols with a value, per session, one line per factor."""
    series = {r.name: r.coverage for r in results}
    fig = _lines(series, "Coverage: share of symbols with a value", "Coverage")
    fig.update_yaxes(range=[0, 1.02])
    return fig


def ic_figure(result: FactorAnalysis) -> go.Figure:
    """Return the IC and the rank IC of one factor per session, with the rank IC's mean."""
    fig = go.Figure()
    fig.add_scatter(
        x=result.ic.index,
        y=result.ic.to_numpy(),
        mode="lines",
        name="IC (Pearson)",
        line={"color": COLORS[0], "width": 1.5},
    )
    fig.add_scatter(
        x=result.rank_ic.index,
        y=result.rank_ic.to_numpy(),
        mode="lines",
        name="rank IC (Spearman)",
        line={"color": COLORS[1], "width": 1.5},
    )
    fig.update_traces(hovertemplate="%{y:.3f}")
    mean = result.rank_ic_summary.mean
    if np.isfinite(mean) and len(result.rank_ic):
        fig.add_scatter(
            x=[result.rank_ic.index[0], result.rank_ic.index[-1]],
            y=[mean, mean],
            mode="lines",
            name=f"mean rank IC {mean:.3f}",
            line={"color": COLORS[1], "dash": "dash", "width": 1},
            hoverinfo="skip",
        )
    fig.add_hline(y=0, line={"color": "rgba(0,0,0,0.4)", "width": 1})
    style(
        fig,
        f"IC of {result.name} vs the {result.horizon}-session forward return",
        ("Session (factor date T)", "date"),
        ("Correlation", "ratio"),
        height=LINES_HEIGHT,
    )
    return _legend_below(fig)


def quantile_figure(result: FactorAnalysis) -> go.Figure:
    """Return the mean forward return per quantile as bars, in %, titled with the spread."""
    mean = result.quantiles.mean
    q = len(mean)
    labels = [f"Q{k}" for k in mean.index]
    labels[0] += " (low)"
    labels[-1] += " (high)"
    values = mean.to_numpy(dtype=float)
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker_color=[UP if v >= 0 else DOWN for v in np.nan_to_num(values)],
            text=[f"{v:.2%}" if np.isfinite(v) else "" for v in values],
            textposition="outside",
            hovertemplate="%{x}: %{y:.2%}<extra></extra>",
            name="mean forward return",
        )
    )
    spread = result.quantiles.spread
    spread_text = f"{spread:+.2%}" if np.isfinite(spread) else "n/a"
    style(
        fig,
        f"Forward return by {quantile_name(q)}: {result.name}",
        (f"Factor {quantile_name(q)} (Q1 = lowest values)", "none"),
        (f"Mean {result.horizon}-session forward return", "pct"),
    )
    fig.update_layout(
        title_subtitle_text=f"Q{q} - Q1: {spread_text} per {result.horizon} sessions; "
        f"mean over {result.quantiles.sessions} sessions",
        margin={"t": 80},
    )
    fig.update_layout(hovermode="closest", showlegend=False)
    fig.update_yaxes(tickformat=".2%", zeroline=True)
    return fig


def turnover_figure(results: Sequence[FactorAnalysis]) -> go.Figure:
    """Return each factor's turnover (1 - rank autocorrelation) per session."""
    series = {r.name: r.turnover for r in results}
    return _lines(series, "Turnover (1 - rank autocorrelation, session to session)", "Turnover")


def _lines(series: dict[str, pd.Series], title: str, y_title: str) -> go.Figure:
    # One line per factor over the sessions, in %, the legend below.
    fig = go.Figure()
    for name, values in series.items():
        fig.add_scatter(x=values.index, y=values.to_numpy(), mode="lines", name=name)
    fig.update_traces(hovertemplate="%{y:.1%}")
    style(fig, title, ("Session", "date"), (y_title, "pct"), height=LINES_HEIGHT)
    return _legend_below(fig)


def correlation_figure(matrix: pd.DataFrame) -> go.Figure:
    """Return the factor correlation matrix as a heatmap on a fixed -1..1 diverging scale."""
    names = [str(n) for n in matrix.columns]
    values = matrix.to_numpy(dtype=float)
    text = [[_two_decimals(v) for v in row] for row in values]
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=names,
            y=names,
            zmin=-1,
            zmax=1,
            zmid=0,
            colorscale="RdBu",
            text=text,
            texttemplate="%{text}",
            hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
            colorbar={"title": {"text": "rank corr"}, "tickformat": ".1f"},
        )
    )
    style(
        fig,
        "Mean cross-sectional rank correlation between factors",
        ("Factor", "none"),
        ("Factor", "none"),
        height=max(360, 60 * len(names) + 140),
    )
    # Factor names are categories: style() sets a linear y axis, which would hide the cells.
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    fig.update_xaxes(type="category", showgrid=False)
    return fig


def _legend_below(fig: go.Figure) -> go.Figure:
    # One entry per factor wraps onto several rows: below the plot it cannot cover the title.
    fig.update_layout(
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0, "xanchor": "left"},
        margin={"b": 120},
    )
    return fig


def _two_decimals(value: float) -> str:
    if not np.isfinite(value):
        return ""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text  # a sign on a rounded zero reads as a finding
