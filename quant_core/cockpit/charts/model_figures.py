"""The Models view's figures: out-of-sample rank IC, coefficients, the composite's quantiles.

Plotly figures from the frames a stored model keeps (:mod:`quant_core.research.result`),
through :func:`quant_core.cockpit.theme.style`; no Streamlit and no I/O. A label's unit follows
its kind: returns (``fwd_open_<h>``, ``fwd_close_<h>``, ``fwd_open_<h>_demeaned``) in %, the
others (rank, vol-normalised, sign, triple barrier) as plain numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from quant_core.cockpit.format import quantile_name
from quant_core.cockpit.tables.model_tables import ROLLING_SESSIONS, daily_rank_ic, rolling_rank_ic
from quant_core.cockpit.theme import COLORS, DOWN, UP, Unit, style
from quant_core.research.labels import parse_label

RETURN_KINDS = frozenset({"fwd_open", "fwd_close", "fwd_open_demeaned"})
DAILY_COLOR = "rgba(85,85,85,0.45)"  # the noisy daily series, behind its rolling mean


def label_unit(target: str) -> Unit:
    """Return the unit of label ``target``'s values: ``pct`` for returns, else ``ratio``."""
    return "pct" if parse_label(target).kind in RETURN_KINDS else "ratio"


def oos_ic_figure(
    oos_daily: pd.DataFrame,
    name: str,
    overall: float,
    t_stat: float,
    window: int = ROLLING_SESSIONS,
) -> go.Figure:
    """Return the daily out-of-sample rank IC, its rolling mean and the overall mean.

    ``overall`` is the mean of every out-of-sample session's rank IC and ``t_stat`` its
    Newey-West t (both as stored with the model), shown in the subtitle.
    """
    daily = daily_rank_ic(oos_daily)
    rolling = rolling_rank_ic(oos_daily, window)
    fig = go.Figure()
    fig.add_scatter(
        x=daily.index,
        y=daily.to_numpy(),
        mode="lines",
        name="daily rank IC",
        line={"color": DAILY_COLOR, "width": 1},
        hovertemplate="%{y:.3f}",
    )
    fig.add_scatter(
        x=rolling.index,
        y=rolling.to_numpy(),
        mode="lines",
        name=f"rolling {window}-session mean",
        line={"color": COLORS[0], "width": 2.5},
        hovertemplate="%{y:.3f}",
    )
    if np.isfinite(overall) and len(daily):
        fig.add_scatter(
            x=[daily.index[0], daily.index[-1]],
            y=[overall, overall],
            mode="lines",
            name=f"overall {overall:.3f}",
            line={"color": COLORS[1], "dash": "dash", "width": 1.5},
            hoverinfo="skip",
        )
    fig.add_hline(y=0, line={"color": "rgba(0,0,0,0.4)", "width": 1})
    style(
        fig,
        f"Out-of-sample rank IC: {name}",
        ("Session (prediction made at its close)", "date"),
        ("Rank IC (Spearman)", "ratio"),
        height=400,
    )
    fig.update_layout(
        title_subtitle_text=f"overall {_num(overall, '.3f')}, Newey-West t {_num(t_stat, '.2f')}"
        f" over {int(daily.notna().sum())} sessions",
        margin={"t": 80},
    )
    return fig


def coefficient_figure(coefficients: pd.DataFrame, target: str) -> go.Figure:
    """Return each factor's full-sample coefficient with its 95% bootstrap interval.

    Error bars run from ``ci_low`` to ``ci_high`` (2.5% and 97.5% percentiles of the
    bootstrap by dates); a factor without an interval has none. Coefficients are per one
    cross-sectional standard deviation of the factor, in the label's unit.
    """
    coef = coefficients["coef"].to_numpy(float)
    low, high = coefficients["ci_low"].to_numpy(float), coefficients["ci_high"].to_numpy(float)
    unit = label_unit(target)
    fmt = ".3%" if unit == "pct" else ".4f"
    fig = go.Figure(
        go.Scatter(
            x=[str(f) for f in coefficients["factor"]],
            y=coef,
            mode="markers",
            marker={"size": 11, "color": [UP if v >= 0 else DOWN for v in np.nan_to_num(coef)]},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": np.nan_to_num(high - coef),  # NaN: no bar
                "arrayminus": np.nan_to_num(coef - low),
                "thickness": 1.5,
                "width": 8,
                "color": COLORS[6],
            },
            customdata=np.column_stack([low, high]),
            hovertemplate=f"%{{x}}: %{{y:{fmt}}} (95%: %{{customdata[0]:{fmt}}} to "
            f"%{{customdata[1]:{fmt}}})<extra></extra>",
            name="coefficient",
        )
    )
    fig.add_hline(y=0, line={"color": "rgba(0,0,0,0.4)", "width": 1})
    style(
        fig,
        "Coefficients with 95% bootstrap intervals",
        ("Factor (cross-sectional z-score)", "none"),
        (f"{target} per 1 sd of the factor", unit),
    )
    fig.update_layout(hovermode="closest", showlegend=False)
    fig.update_xaxes(type="category")
    if unit == "pct":  # coefficients are small: 0.21%, not 0.2%
        fig.update_yaxes(tickformat=".2%")
    return fig


def quantile_label_figure(quantiles: pd.DataFrame, target: str) -> go.Figure:
    """Return the composite's mean label per quantile over the out-of-sample sessions (bars).

    Quantile 1 holds each session's lowest predictions; the subtitle gives top minus bottom.
    """
    values = quantiles["mean_label"].to_numpy(float)
    q = len(values)
    labels = [f"Q{int(k)}" for k in quantiles["quantile"]]
    if labels:
        labels[0] += " (low)"
        labels[-1] += " (high)"
    unit = label_unit(target)
    fmt = ".2%" if unit == "pct" else ".3f"
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker_color=[UP if v >= 0 else DOWN for v in np.nan_to_num(values)],
            text=[format(v, fmt) if np.isfinite(v) else "" for v in values],
            textposition="outside",
            hovertemplate=f"%{{x}}: %{{y:{fmt}}}<extra></extra>",
            name=f"mean {target}",
        )
    )
    style(
        fig,
        f"Mean {target} by {quantile_name(q)} of the composite",
        (f"Composite {quantile_name(q)} (Q1 = lowest predictions)", "none"),
        (f"Mean {target}", unit),
    )
    spread = values[-1] - values[0] if q else np.nan
    fig.update_layout(
        title_subtitle_text=f"Q{q} - Q1: {_num(spread, '+' + fmt)}; out-of-sample sessions only",
        margin={"t": 80},
        hovermode="closest",
        showlegend=False,
    )
    if unit == "pct":
        fig.update_yaxes(tickformat=".2%")
    return fig


def _num(value: float, spec: str) -> str:
    return format(value, spec) if np.isfinite(value) else "n/a"
