"""The Explorer's figures of one stored run, and of several side by side.

Equity against the benchmark, drawdown, monthly returns, rolling Sharpe, exposure, holdings,
weights, and the compare chart: plotly figures built through
:func:`quant_core.cockpit.theme.style`, without Streamlit. The numbers come from
:mod:`quant_core.cockpit.models.backtests` and :mod:`quant_core.backtest.metrics`, so a chart
agrees with the run's metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from quant_core.backtest import metrics
from quant_core.cockpit.format import pct
from quant_core.cockpit.models.backtests import (
    equity_series,
    exposure,
    monthly_pnl,
    monthly_returns,
)
from quant_core.cockpit.theme import COLORS, DOWN, UP, Unit, style


def _chart(
    fig: go.Figure,
    title: str,
    x: tuple[str, Unit],
    y: tuple[str, Unit],
    height: int,
    log_y: bool = False,
) -> go.Figure:
    # The house style, with the legend at the top right so it never runs into the title.
    fig = style(fig, title, x, y, height, log_y)
    fig.update_layout(legend={"x": 1.0, "xanchor": "right"})
    return fig


def _dates(series: pd.Series | pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(series.index)


def equity_figure(curve: pd.DataFrame, log_y: bool = False) -> go.Figure:
    """Return the equity curve against the benchmark, in USD; hover shows $ and % since start."""
    fig = go.Figure()
    columns = [("equity", "Strategy")]
    if "benchmark" in curve and curve["benchmark"].notna().any():
        columns.append(("benchmark", "Benchmark"))
    for (column, name), color in zip(columns, COLORS, strict=False):
        values = equity_series(curve, column)
        fig.add_trace(
            go.Scatter(
                x=_dates(values),
                y=values.to_numpy(),
                name=name,
                mode="lines",
                line={"color": color, "width": 2 if column == "equity" else 1.5},
                customdata=(metrics.growth(values) - 1).to_numpy(),
                hovertemplate=f"{name}: $%{{y:,.0f}} (%{{customdata:+.2%}})<extra></extra>",
            )
        )
    title = "Equity vs benchmark" if len(columns) > 1 else "Equity"
    scale = " (log scale)" if log_y else ""
    return _chart(fig, title + scale, ("Date", "date"), ("Equity", "usd"), 380, log_y)


def drawdown_figure(curve: pd.DataFrame) -> go.Figure:
    """Return the drawdown from the running peak in %, hover also in USD below the peak."""
    equity = equity_series(curve)
    fall = metrics.drawdown(equity)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=_dates(fall),
            y=fall.to_numpy(),
            name="Strategy",
            fill="tozeroy",
            mode="lines",
            line={"color": DOWN, "width": 1},
            customdata=metrics.drawdown_usd(equity).to_numpy(),
            hovertemplate="Strategy: %{y:.2%} ($%{customdata:,.0f} below peak)<extra></extra>",
        )
    )
    if "benchmark" in curve and curve["benchmark"].notna().any():
        bench = equity_series(curve, "benchmark")
        fig.add_trace(
            go.Scatter(
                x=_dates(bench),
                y=metrics.drawdown(bench).to_numpy(),
                name="Benchmark",
                mode="lines",
                line={"color": COLORS[1], "width": 1, "dash": "dot"},
                customdata=metrics.drawdown_usd(bench).to_numpy(),
                hovertemplate="Benchmark: %{y:.2%} ($%{customdata:,.0f} below peak)<extra></extra>",
            )
        )
    return _chart(fig, "Drawdown from peak", ("Date", "date"), ("Drawdown", "pct"), 260)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_heatmap(curve: pd.DataFrame) -> go.Figure:
    """Return monthly returns as a years x months heatmap in %, hover also in USD."""
    equity = equity_series(curve)
    returns = monthly_returns(equity)
    pnl = monthly_pnl(equity)
    z = returns.to_numpy(dtype=float)
    text = [[pct(v, 1) if math.isfinite(v) else "" for v in row] for row in z]
    limit = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 0.01
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[*MONTHS, "Year"],
            y=[str(y) for y in returns.index],
            text=text,
            texttemplate="%{text}",
            customdata=pnl.to_numpy(dtype=float),
            colorscale=[[0.0, DOWN], [0.5, "#FFFFFF"], [1.0, UP]],
            zmid=0.0,
            zmin=-limit,
            zmax=limit,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": "Return (%)"}, "tickformat": ".0%"},
            hovertemplate="%{x} %{y}: %{z:.2%} ($%{customdata:,.0f})<extra></extra>",
        )
    )
    height = max(240, 140 + 40 * len(returns))
    fig = _chart(fig, "Monthly returns (%)", ("Month", "none"), ("Year", "none"), height)
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    fig.update_xaxes(showgrid=False, type="category")
    return fig


def rolling_sharpe_figure(curve: pd.DataFrame, window: int) -> go.Figure:
    """Return the rolling annualised Sharpe ratio over ``window`` sessions."""
    equity = equity_series(curve)
    ratio = metrics.rolling_sharpe(equity, window)
    change = metrics.window_returns(equity, window)
    fig = go.Figure(
        go.Scatter(
            x=_dates(ratio),
            y=ratio.to_numpy(),
            name=f"Sharpe, {window} sessions",
            mode="lines",
            line={"color": COLORS[0], "width": 1.5},
            customdata=np.column_stack(
                [change.to_numpy(), metrics.window_pnl(equity, window).to_numpy()]
            ),
            hovertemplate="Sharpe %{y:.2f} · window return %{customdata[0]:+.2%} "
            "($%{customdata[1]:,.0f})<extra></extra>",
        )
    )
    fig.add_hline(y=0, line={"color": "rgba(0,0,0,0.4)", "width": 1})
    title = f"Rolling Sharpe ({window} sessions)"
    return _chart(fig, title, ("Date", "date"), ("Sharpe ratio, annualised", "ratio"), 300)


def exposure_figure(curve: pd.DataFrame) -> go.Figure:
    """Return gross and net exposure in % of equity; hover also shows long and short USD."""
    frame = exposure(curve)
    usd = frame[["long_usd", "short_usd"]].to_numpy()
    fig = go.Figure()
    for column, name, color in (("gross", "Gross", COLORS[0]), ("net", "Net", COLORS[2])):
        fig.add_trace(
            go.Scatter(
                x=_dates(frame),
                y=frame[column].to_numpy(),
                name=name,
                mode="lines",
                line={
                    "color": color,
                    "width": 1.5,
                    "dash": "solid" if column == "gross" else "dot",
                },
                customdata=usd,
                hovertemplate=f"{name}: %{{y:.1%}} (long $%{{customdata[0]:,.0f}}, "
                "short $%{customdata[1]:,.0f})<extra></extra>",
            )
        )
    return _chart(fig, "Exposure (% of equity)", ("Date", "date"), ("Exposure", "pct"), 300)


def holdings_figure(counts: pd.Series, curve: pd.DataFrame) -> go.Figure:
    """Return the number of holdings after each rebalance, held until the next one.

    The hover also shows the value invested (long plus short, USD) and the gross exposure.
    """
    series = counts
    end = pd.DatetimeIndex(curve.index)[-1] if len(curve) else None
    if end is not None and len(counts) and counts.index[-1] < end:
        series = pd.concat([counts, pd.Series([counts.iloc[-1]], index=pd.DatetimeIndex([end]))])
    book = exposure(curve).reindex(_dates(series), method="ffill")
    fig = go.Figure(
        go.Scatter(
            x=_dates(series),
            y=series.to_numpy(),
            name="Holdings",
            mode="lines+markers",
            line={"shape": "hv", "color": COLORS[0], "width": 1.5},
            marker={"size": 5},
            customdata=book[["gross_usd", "gross"]].to_numpy(),
            hovertemplate="%{y:,d} symbols held: $%{customdata[0]:,.0f} invested "
            "(%{customdata[1]:.1%} of equity)<extra></extra>",
        )
    )
    fig = _chart(fig, "Number of holdings", ("Date", "date"), ("Holdings", "count"), 300)
    fig.update_yaxes(rangemode="tozero")
    return fig


def weights_figure(weights: pd.DataFrame, equity: pd.Series) -> go.Figure:
    """Return a heatmap of the weights (% of equity) of the most held symbols per rebalance."""
    z = weights.T.to_numpy(dtype=float)
    values = weights.mul(equity.reindex(weights.index), axis=0).T.to_numpy(dtype=float)
    # Shorts on a diverging scale centred on 0 (red short, blue long): on a one-hue scale from
    # 0 a 5% short would look like a tiny long. Two decimals: long-only weights are close.
    top = float(np.nanmax(np.abs(z))) if z.size else 0.0
    shorts = bool((z < 0).any())
    scale: dict[str, object] = (
        {"colorscale": "RdBu", "zmid": 0.0, "zmin": -top, "zmax": top}
        if shorts
        else {"colorscale": "Blues", "zmin": 0.0}
    )
    fig = go.Figure(
        go.Heatmap(
            z=np.where(z == 0, np.nan, z),
            x=_dates(weights),
            y=[str(s) for s in weights.columns],
            customdata=values,
            **scale,
            colorbar={"title": {"text": "Weight (%)"}, "tickformat": ".2%"},
            hovertemplate="%{y} on %{x|%Y-%m-%d}: %{z:.2%} of equity "
            "($%{customdata:,.0f})<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    height = 140 + 20 * len(weights.columns)
    title = f"Weights of the {len(weights.columns)} most held symbols (% of equity)"
    fig = _chart(fig, title, ("Rebalance date", "date"), ("Symbol", "none"), max(height, 300))
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    return fig


def compare_figure(
    curves: Mapping[str, pd.DataFrame],
    normalise: bool = True,
    rebased_on: pd.Timestamp | None = None,
) -> go.Figure:
    """Return the equity of several runs, one trace each, as growth of $1 or in USD.

    Growth is each curve over its first value (pass curves cut to a common period, see
    :func:`quant_core.cockpit.models.run_compare.align`); ``rebased_on`` names that first
    session in the title.
    """
    fig = go.Figure()
    for number, (label, curve) in enumerate(curves.items()):
        equity = equity_series(curve)
        growth = metrics.growth(equity)
        fig.add_trace(
            go.Scatter(
                x=_dates(equity),
                y=(growth if normalise else equity).to_numpy(),
                name=label,
                mode="lines",
                line={"color": COLORS[number % len(COLORS)], "width": 1.5},
                customdata=np.column_stack([(growth - 1).to_numpy(), equity.to_numpy()]),
                hovertemplate=f"{label}: $%{{customdata[1]:,.0f}} "
                "(%{customdata[0]:+.2%})<extra></extra>",
            )
        )
    if normalise:
        since = "" if rebased_on is None else f" (rebased on {pd.Timestamp(rebased_on).date()})"
        title = f"Compare runs: growth of $1{since}"
        fig = _chart(fig, title, ("Date", "date"), ("Growth of $1", "ratio"), 420)
    else:
        fig = _chart(fig, "Compare runs: equity ($)", ("Date", "date"), ("Equity", "usd"), 420)
    # Many runs make a long legend: below the plot it never covers the title or the lines.
    fig.update_layout(
        legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.25, "yanchor": "top"},
        margin={"b": 100},
    )
    return fig


def sector_weights_figure(sectors: pd.DataFrame, date: pd.Timestamp) -> go.Figure:
    """Return the book's weights by sector after the trades of ``date``, as horizontal bars.

    ``sectors`` is :func:`quant_core.cockpit.models.backtests.sector_weights`: one bar per
    sector of its long weight (% of equity), and a short bar where the book is short; the hover
    also shows the dollars and the number of names.
    """
    fig = go.Figure()
    sides = [("long", "Long", UP)]
    if (sectors["short"] < 0).any():
        sides.append(("short", "Short", DOWN))
    for column, name, color in sides:
        fig.add_trace(
            go.Bar(
                x=sectors[column].to_numpy(dtype=float),
                y=sectors["sector"].astype(str).tolist(),
                name=name,
                orientation="h",
                marker={"color": color},
                customdata=np.column_stack(
                    [
                        sectors[f"{column}_usd"].to_numpy(dtype=float),
                        sectors["names"].to_numpy(dtype=float),
                    ]
                ),
                hovertemplate=f"%{{y}} {name.lower()}: %{{x:.2%}} of equity "
                "($%{customdata[0]:,.0f}, %{customdata[1]:,d} names)<extra></extra>",
            )
        )
    day = pd.Timestamp(date).date()
    height = max(260, 120 + 28 * len(sectors))
    fig = _chart(
        fig, f"Weights by sector after {day}", ("Weight", "pct"), ("Sector", "none"), height
    )
    fig.update_layout(barmode="relative", hovermode="closest")
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    return fig
