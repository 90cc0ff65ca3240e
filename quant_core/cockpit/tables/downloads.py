"""The Explorer's downloads: a run's curve, trades and metrics as CSV files."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pandas as pd

from quant_core.cockpit.tables.run_metrics import format_metric
from quant_core.cockpit.tables.trades import trades_view


def curve_csv(curve: pd.DataFrame) -> bytes:
    """Return the daily curve (USD columns) as CSV with a ``date`` column."""
    frame = curve.copy()
    frame.index = pd.DatetimeIndex(curve.index).strftime("%Y-%m-%d")
    frame.index.name = "date"
    return frame.to_csv().encode()


def trades_csv(trades: pd.DataFrame) -> bytes:
    """Return the trades (with their notes) as CSV."""
    view = trades_view(trades)
    view["date"] = view["date"].dt.strftime("%Y-%m-%d")
    return view.to_csv(index=False).encode()


def metrics_csv(metrics: Mapping[str, Any]) -> bytes:
    """Return ``metric, value, display`` rows: raw numbers and the formatted text."""
    buffer = io.StringIO()
    pd.DataFrame(
        {
            "metric": list(metrics),
            "value": list(metrics.values()),
            "display": [format_metric(k, v) for k, v in metrics.items()],
        }
    ).to_csv(buffer, index=False)
    return buffer.getvalue().encode()
