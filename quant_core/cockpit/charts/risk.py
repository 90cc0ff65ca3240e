"""The risk report's figures: sector exposure and volatility over a run, contributions of a book.

Built through :func:`quant_core.cockpit.theme.style`, without Streamlit, from a stored run's risk
frames (:mod:`quant_core.backtest.risk`) and a report's JSON form (names and sectors as lists of
objects, fractions of equity). Every hover shows the percentage and its dollars at the run's
equity (a volatility as one standard deviation of a year's P&L).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go

from quant_core.cockpit.theme import COLORS, DOWN, UP, Unit, style

TOP_NAMES = 15  # names in the contributions chart
# A dozen sectors need a dozen colours: Paul Tol's colour-blind-safe set, then Okabe-Ito's (its
# grey kept for Unknown).
SECTOR_COLORS = [*plotly.colors.qualitative.Safe[:10], *COLORS]
UNKNOWN_COLOR = "#BBBBBB"


def _chart(
    fig: go.Figure, title: str, x: tuple[str, Unit], y: tuple[str, Unit], height: int
) -> go.Figure:
    fig = style(fig, title, x, y, height)
    fig.update_layout(legend={"x": 1.0, "xanchor": "right"})
    return fig


def _dollars(equity: pd.Series, dates: pd.DatetimeIndex) -> np.ndarray:
    return equity.reindex(dates).to_numpy(dtype=float)


def _sector_color(sector: str, number: int) -> str:
    return UNKNOWN_COLOR if sector == "Unknown" else SECTOR_COLORS[number % len(SECTOR_COLORS)]


def sector_exposure_figure(
    exposure: pd.DataFrame, equity: pd.Series, *, closes: bool = False
) -> go.Figure:
    """Return each sector's gross exposure after every rebalance, stacked (% of equity).

    The stack's top is the book's gross exposure; the hover shows its dollars at ``equity``
    (the run's, by date) and each sector's long, short and net too. A book is held from its
    rebalance to the next one (steps). ``closes``: the rows are the live account at each
    session's close (``live/daily_close.py``), not a run's rebalances.
    """
    fig = go.Figure()
    frame = exposure.assign(date=pd.DatetimeIndex(exposure["date"]))
    frame["usd"] = frame["gross"] * _dollars(equity, pd.DatetimeIndex(frame["date"]))
    order = frame.groupby("sector")["gross"].mean().sort_values(ascending=False, kind="stable")
    for number, sector in enumerate(order.index):
        rows = frame[frame["sector"] == sector].sort_values("date")
        fig.add_trace(
            go.Scatter(
                x=pd.DatetimeIndex(rows["date"]),
                y=rows["gross"].to_numpy(),
                name=str(sector),
                mode="lines",
                stackgroup="gross",
                line={"shape": "hv", "width": 0.5, "color": _sector_color(str(sector), number)},
                customdata=rows[["long", "short", "net", "usd"]].to_numpy(),
                hovertemplate=f"{sector}: %{{y:.1%}} gross ($%{{customdata[3]:,.0f}}; long "
                "%{customdata[0]:.1%}, short %{customdata[1]:.1%}, net %{customdata[2]:.1%})"
                "<extra></extra>",
            )
        )
    when = "at each session's close" if closes else "after each rebalance"
    fig = _chart(
        fig,
        f"Sector exposure {when} (gross, % of equity)",
        ("Session" if closes else "Rebalance date", "date"),
        ("Gross exposure", "pct"),
        480,
    )
    # A dozen sectors make a long legend: below the axis title, clear of it.
    fig.update_layout(
        legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.3, "yanchor": "top"},
        margin={"b": 170},
    )
    return fig


def _hover(name: str) -> str:
    return f"{name}: %{{y:.1%}} (a year's 1-sigma: $%{{customdata:,.0f}})<extra></extra>"


def volatility_figure(vol: pd.DataFrame, equity: pd.Series, *, live: bool = False) -> go.Figure:
    """Return realised volatility, ex-ante volatility at each rebalance, and the target.

    The hover gives each in dollars too: the volatility times ``equity`` (the run's, by date).
    ``live``: the live account's, whose ex-ante figure is the book's latest report only.
    """
    dates = pd.DatetimeIndex(vol.index)
    usd = _dollars(equity, dates)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=vol["realised"].to_numpy(),
            name="Realised (63 sessions)",
            mode="lines",
            line={"color": COLORS[0], "width": 1.5},
            customdata=vol["realised"].to_numpy() * usd,
            hovertemplate=_hover("Realised"),
        )
    )
    ex_ante = vol["ex_ante"].dropna()
    at = pd.DatetimeIndex(ex_ante.index)
    fig.add_trace(
        go.Scatter(
            x=at,
            y=ex_ante.to_numpy(),
            name="Ex-ante of the book held" if live else "Ex-ante at each rebalance",
            mode="lines+markers",
            line={"color": COLORS[1], "width": 1.5, "shape": "hv"},
            marker={"size": 5},
            customdata=ex_ante.to_numpy() * _dollars(equity, at),
            hovertemplate=_hover("Ex-ante"),
        )
    )
    target = vol["target"].dropna()
    if not target.empty:
        level = float(target.iloc[0])
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=np.full(len(dates), level),
                name="Target",
                mode="lines",
                line={"color": COLORS[6], "width": 1.5, "dash": "dash"},
                customdata=level * usd,
                hovertemplate=_hover("Target"),
            )
        )
    title = "Realised vs target volatility (annualised)"
    if target.empty:
        title = "Realised and ex-ante volatility (annualised; no target set)"
    fig = _chart(fig, title, ("Date", "date"), ("Volatility", "pct"), 480)  # beside sectors
    fig.update_yaxes(rangemode="tozero")
    return fig


def _bars(values: np.ndarray) -> list[str]:
    return [UP if v >= 0 else DOWN for v in values]


def contributions_figure(
    names: Sequence[Mapping[str, Any]], equity: float | None, top: int = TOP_NAMES
) -> go.Figure:
    """Return the ``top`` names' risk contributions (% of the book's variance), largest first.

    The hover shows each name's weight, and its value in dollars at the book's ``equity``.
    """
    rows = list(names)[:top]
    share = np.array([float(r.get("contribution") or 0.0) for r in rows])
    weights = np.array([float(r.get("weight") or 0.0) for r in rows])
    usd = weights * (equity if equity is not None else np.nan)
    fig = go.Figure(
        go.Bar(
            x=share,
            y=[str(r.get("symbol")) for r in rows],
            orientation="h",
            marker={"color": _bars(share)},
            customdata=np.column_stack([weights, usd]) if rows else None,
            text=[str(r.get("sector")) for r in rows],
            textposition="none",  # the sector is for the hover only
            hovertemplate="%{y} (%{text}): %{x:.1%} of the variance, weight "
            "%{customdata[0]:.2%} ($%{customdata[1]:,.0f})<extra></extra>",
        )
    )
    title = f"Risk contribution of the {len(rows)} largest names (% of variance)"
    fig = _chart(fig, title, ("Risk contribution", "pct"), ("Symbol", "none"), 140 + 22 * top)
    fig.update_layout(hovermode="closest", showlegend=False)
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    return fig


def sector_contributions_figure(
    sectors: Sequence[Mapping[str, Any]], equity: float | None
) -> go.Figure:
    """Return each sector's risk contribution and gross exposure (% of variance, % of equity).

    The hover shows the sector's gross exposure in dollars at the book's ``equity``.
    """
    rows = list(sectors)
    labels = [str(r.get("sector")) for r in rows]
    share = np.array([float(r.get("contribution") or 0.0) for r in rows])
    gross = np.array([float(r.get("gross") or 0.0) for r in rows])
    usd = gross * (equity if equity is not None else np.nan)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=labels,
            y=share,
            name="Risk contribution (% of variance)",
            marker={"color": COLORS[0]},
            customdata=usd,
            hovertemplate="%{x}: %{y:.1%} of the variance (gross $%{customdata:,.0f})"
            "<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=labels,
            y=gross,
            name="Gross exposure (% of equity)",
            marker={"color": COLORS[4]},
            customdata=usd,
            hovertemplate="%{x}: %{y:.1%} of equity gross ($%{customdata:,.0f})<extra></extra>",
        )
    )
    height = 140 + 22 * TOP_NAMES  # level with the names' chart beside it
    fig = _chart(fig, "Risk and exposure by sector", ("Sector", "none"), ("Share", "pct"), height)
    # Below the plot: above it, the legend would run into the title.
    fig.update_layout(
        barmode="group",
        hovermode="x unified",
        legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.45, "yanchor": "top"},
        margin={"b": 150},
    )
    return fig
