"""Factor research figures: IC decay over horizons, IC within sectors, one target's quantiles.

Plotly figures built through :func:`quant_core.cockpit.theme.style` from the frames of
:func:`quant_core.factors.decay.ic_decay`, :func:`quant_core.factors.decay.ic_by_sector` and
:func:`quant_core.research.targets.target_quantiles`; no Streamlit and no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from quant_core.cockpit.format import quantile_name
from quant_core.cockpit.theme import COLORS, DOWN, UP, Unit, style

# A target's unit (research.targets.target_unit) -> how its axis and hover read.
AXIS_UNITS: dict[str, Unit] = {
    "return": "pct",
    "percentile": "ratio",
    "sigma": "ratio",
    "sign": "ratio",
    "barrier": "ratio",
}
UNIT_WORDS = {
    "return": "return over the horizon",
    "percentile": "percentile rank (0.5 = middle)",
    "sigma": "multiples of sigma * sqrt(h)",
    "sign": "mean sign (-1..+1)",
    "barrier": "mean outcome (-1 stop, +1 profit-take)",
}


def ic_decay_figure(decay: pd.DataFrame, name: str) -> go.Figure:
    """Return the mean IC and rank IC against the forward horizon, one point per horizon.

    ``decay``: :func:`~quant_core.factors.decay.ic_decay`'s frame; the hover gives the
    Newey-West t and the number of sessions.
    """
    horizons = decay["horizon"].to_numpy(dtype=int)
    extra = decay[["t", "sessions"]].to_numpy(dtype=float)
    fig = go.Figure()
    for column, label, color in (
        ("ic_mean", "IC (Pearson)", COLORS[0]),
        ("rank_ic_mean", "rank IC (Spearman)", COLORS[1]),
    ):
        fig.add_scatter(
            x=horizons,
            y=decay[column].to_numpy(dtype=float),
            mode="lines+markers",
            name=label,
            line={"color": color, "width": 1.5},
            marker={"size": 6},
            customdata=extra,
            hovertemplate=f"{label}: %{{y:.4f}} (t %{{customdata[0]:.2f}}, "
            "%{customdata[1]:,.0f} sessions)<extra></extra>",
        )
    fig.add_hline(y=0, line={"color": "rgba(0,0,0,0.4)", "width": 1})
    style(
        fig,
        f"IC decay of {name}: mean IC by forward horizon",
        ("Forward horizon h (sessions)", "count"),
        ("Mean IC", "ratio"),
        height=420,
    )
    fig.update_yaxes(tickformat=".3f")
    fig.update_layout(
        title_subtitle_text="close(T+h) / close(T) - 1 against the factor at T; "
        "t: Newey-West with h - 1 lags",
        margin={"t": 80},
    )
    return fig


def sector_ic_figure(by_sector: pd.DataFrame, name: str, horizon: int) -> go.Figure:
    """Return each sector's mean rank IC among its own names, as horizontal bars.

    ``by_sector``: :func:`~quant_core.factors.decay.ic_by_sector`'s frame. Sectors without an
    IC (too few names on every session) get no bar; the subtitle counts them.
    """
    frame = by_sector[np.isfinite(by_sector["rank_ic_mean"].to_numpy(dtype=float))]
    frame = frame.sort_values("rank_ic_mean", kind="stable")
    values = frame["rank_ic_mean"].to_numpy(dtype=float)
    fig = go.Figure(
        go.Bar(
            x=values,
            y=frame["sector"].astype(str).tolist(),
            orientation="h",
            marker={"color": [UP if v >= 0 else DOWN for v in values]},
            customdata=frame[["ic_mean", "t", "names", "sessions"]].to_numpy(dtype=float),
            hovertemplate="%{y}: rank IC %{x:.4f}, IC %{customdata[0]:.4f}, t "
            "%{customdata[1]:.2f}; %{customdata[2]:,.0f} names, %{customdata[3]:,.0f} "
            "sessions<extra></extra>",
            name="mean rank IC",
        )
    )
    style(
        fig,
        f"Rank IC of {name} within each sector, {horizon}-session horizon",
        ("Mean rank IC among the sector's names", "ratio"),
        ("Sector", "none"),
        height=140 + 26 * max(len(frame), 4),
    )
    missing = len(by_sector) - len(frame)
    subtitle = "each sector's names ranked among themselves on each session"
    if missing:
        subtitle += f"; {missing} sector(s) never had enough names for an IC"
    fig.update_layout(
        hovermode="closest", showlegend=False, title_subtitle_text=subtitle, margin={"t": 80}
    )
    fig.update_xaxes(tickformat=".3f")
    fig.update_yaxes(type="category", showgrid=False)
    return fig


def target_quantile_figure(table: pd.DataFrame, target: str, unit: str, name: str) -> go.Figure:
    """Return one target's mean per factor quantile, as bars in the target's unit.

    ``table``: :func:`~quant_core.research.targets.target_quantiles`'s frame; ``unit``:
    :func:`~quant_core.research.targets.target_unit` of ``target``.
    """
    rows = table[table["target"] == target].sort_values("quantile")
    values = rows["mean"].to_numpy(dtype=float)
    q = len(rows)
    labels = [f"Q{k}" for k in rows["quantile"]]
    if labels:
        labels[0] += " (low)"
        labels[-1] += " (high)"
    axis = AXIS_UNITS.get(unit, "ratio")
    shown = ".2%" if axis == "pct" else ".3f"
    # Bars from the middle of a rank label (0.5), from 0 for every other unit.
    base = 0.5 if unit == "percentile" else 0.0
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values - base,
            base=base,
            marker_color=[UP if v >= base else DOWN for v in np.nan_to_num(values, nan=base)],
            text=[format(v, shown) if np.isfinite(v) else "" for v in values],
            textposition="outside",
            customdata=values,
            hovertemplate=f"%{{x}}: %{{customdata:{shown}}}<extra></extra>",
            name=target,
        )
    )
    style(
        fig,
        f"{target} by {quantile_name(q)} of {name}",
        (f"Factor {quantile_name(q)} (Q1 = lowest values)", "none"),
        (f"Mean {target}", axis),
    )
    spread = float(rows["spread"].iloc[0]) if q else np.nan
    sessions = int(rows["sessions"].iloc[0]) if q else 0
    spread_text = format(spread, "+" + shown) if np.isfinite(spread) else "n/a"
    fig.update_layout(
        title_subtitle_text=f"Q{q} - Q1: {spread_text} ({UNIT_WORDS.get(unit, unit)}); "
        f"mean over {sessions} sessions",
        margin={"t": 80},
        hovermode="closest",
        showlegend=False,
    )
    fig.update_yaxes(tickformat=shown, zeroline=True)
    return fig
