"""The walk-forward figures: the stitched out-of-sample curve by fold, the parameters' path.

Plotly figures built through :func:`quant_core.cockpit.theme.style` from the frames of
:mod:`quant_core.cockpit.models.walk_forward_data`; no Streamlit and no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from quant_core.cockpit.models.walk_forward_data import ParameterPath
from quant_core.cockpit.theme import COLORS, style

SHADES = ("rgba(0,114,178,0.10)", "rgba(85,85,85,0.06)")  # alternate folds' test windows
LABELLED_FOLDS = 24  # at most this many folds carry their number above the plot
ROW_PX = 170  # the height of one parameter's step chart


def _day(value: object) -> str:
    return f"{pd.Timestamp(str(value)):%Y-%m-%d}"


def oos_curve_figure(
    curve: pd.Series, folds: pd.DataFrame, fold: np.ndarray, params: list[str]
) -> go.Figure:
    """Return the stitched out-of-sample equity ($ per session), each fold's test window shaded.

    ``fold``: each session's fold (:func:`~quant_core.cockpit.models.walk_forward_data.fold_of`);
    ``params``: each fold's chosen parameters as text, in ``folds``' order (for the hover).
    Bands alternate in shade, one per fold from its test start to its test end; with at most
    :data:`LABELLED_FOLDS` folds each band is labelled ``F<fold>``.
    """
    text = dict(zip(folds["fold"].to_numpy(dtype=np.int64), params, strict=True))
    custom = np.column_stack([fold, [text.get(int(f), "") for f in fold]])
    fig = go.Figure(
        go.Scatter(
            x=[_day(d) for d in curve.index],
            y=curve.to_numpy(dtype=float),
            customdata=custom,
            mode="lines",
            name="out-of-sample equity",
            line={"color": COLORS[0], "width": 2},
            hovertemplate="%{x}: $%{y:,.0f} · fold %{customdata[0]} (%{customdata[1]})"
            "<extra></extra>",
        )
    )
    label = len(folds) <= LABELLED_FOLDS
    for i, row in enumerate(folds.itertuples(index=False)):
        fig.add_vrect(
            x0=_day(row.test_start),
            x1=_day(row.test_end),
            fillcolor=SHADES[i % 2],
            line_width=0,
            layer="below",
            annotation_text=f"F{row.fold}" if label else None,
            annotation_position="top left",
            annotation_font_size=11,
        )
    style(
        fig,
        "Out-of-sample equity (the test windows stitched)",
        ("Session (date)", "date"),
        ("Equity", "usd"),
        height=420,
    )
    fig.update_layout(
        hovermode="closest",
        showlegend=False,
        title_subtitle_text=f"{len(folds)} folds; each shaded band is one fold's test window",
        margin={"t": 90},
    )
    return fig


def _numeric(values: pd.Series) -> bool:
    numeric = pd.to_numeric(values, errors="coerce")
    return bool(numeric.notna().all()) and not values.map(lambda v: isinstance(v, bool)).any()


def parameter_path_figure(path: ParameterPath) -> go.Figure:
    """Return one step chart per parameter: the value chosen per fold over its test window.

    x: the fold's test start; each value holds until the next fold's start, the last one until
    the last test end. A numeric parameter reads on a linear axis, any other on a category axis
    (its values sorted as text).
    """
    names = list(path.chosen.columns)
    rows = max(1, len(names))
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    starts = [_day(d) for d in path.test_start]
    x = [*starts, _day(path.test_end[-1])] if len(starts) else []
    windows = np.column_stack(
        [path.fold, starts, [_day(d) for d in path.test_end]] if len(starts) else [[], [], []]
    )
    custom = np.vstack([windows, windows[-1:]]) if len(starts) else windows
    numeric = {name: _numeric(path.chosen[name]) for name in names}
    for i, name in enumerate(names):
        values = path.chosen[name]
        shown = pd.to_numeric(values).astype(float) if numeric[name] else values.astype(str)
        y = [*shown, shown.iloc[-1]] if len(shown) else []
        fig.add_scatter(
            x=x,
            y=y,
            customdata=custom,
            mode="lines+markers",
            line={"shape": "hv", "color": COLORS[i % len(COLORS)], "width": 2},
            marker={"size": 6},
            name=name,
            hovertemplate=f"fold %{{customdata[0]}}: test %{{customdata[1]}} to "
            f"%{{customdata[2]}}, {name}=%{{y}}<extra></extra>",
            row=i + 1,
            col=1,
        )
    style(
        fig,
        "Parameters chosen per fold",
        ("Test window start (date)", "date"),
        ("Value", "none"),
        height=110 + ROW_PX * rows,
    )
    for i, name in enumerate(names):  # style() set every y axis alike: each its parameter's
        fig.update_yaxes(title_text=name, row=i + 1, col=1)
        if not numeric[name]:
            fig.update_yaxes(type="category", categoryorder="category ascending", row=i + 1, col=1)
    fig.update_xaxes(title_text=None)
    fig.update_xaxes(title_text="Test window start (date)", row=rows, col=1)
    fig.update_layout(hovermode="closest", showlegend=False)
    return fig


__all__ = ["oos_curve_figure", "parameter_path_figure"]
