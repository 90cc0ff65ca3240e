"""The tearsheet's own figures, drawn with matplotlib and inlined as base64 PNG ``<img>`` tags.

Every figure is a ``matplotlib.figure.Figure`` (no pyplot: no global figure state, no GUI
backend) rendered to PNG in memory, so the report needs no file beside it and fetches nothing.
The caller sets the fonts (:mod:`quant_core.backtest.tearsheet` draws inside an ``rc_context``).
Series are plotted as given: the formulas are those of :mod:`quant_core.backtest.metrics` and
:mod:`quant_core.backtest.tearsheet_tables`.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

WIDTH, HEIGHT, DPI = 9.0, 3.2, 100  # inches, inches, dots per inch: 900 x 320 pixels
STRATEGY, BENCHMARK, GREY = "#1f5fa8", "#e0801e", "#888888"


def _png(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)  # constrained layout: nothing cut off
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="figure" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


@contextmanager
def _axes(alt: str, out: list[str], rows: int = 1) -> Iterator[Any]:
    # Yield the axes of a new figure, then render it into ``out``.
    figure = Figure(figsize=(WIDTH, HEIGHT * rows), layout="constrained")
    axes = figure.subplots(rows, 1, sharex=True, squeeze=rows == 1)
    yield axes if rows == 1 else list(axes[:, 0])
    out.append(_png(figure, alt))


def _style(ax: Axes, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)


def _dollars(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.0f}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def equity_figure(equity: pd.Series, benchmark: pd.Series | None, label: str) -> str:
    """Return the equity curve and the benchmark's, in dollars on a log scale."""
    out: list[str] = []
    with _axes("Equity vs benchmark, log scale", out) as ax:
        ax.plot(equity.index, equity.to_numpy(float), color=STRATEGY, lw=1.4, label="Strategy")
        if benchmark is not None:
            ax.plot(
                benchmark.index, benchmark.to_numpy(float), color=BENCHMARK, lw=1.2, label=label
            )
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        if high / low < 10:  # under a decade a log axis labels one tick or none: label more
            ax.yaxis.set_major_locator(MaxNLocator(6))
        _dollars(ax)
        _style(ax, "Equity vs benchmark (log scale, USD)")
        ax.legend(loc="upper left", frameon=False)
    return out[0]


def drawdown_figure(drawdown: pd.Series, periods: pd.DataFrame) -> str:
    """Return the drawdown from the running peak, the worst ``periods`` shaded (peak to end)."""
    out: list[str] = []
    with _axes("Drawdown, worst periods shaded", out) as ax:
        ax.fill_between(drawdown.index, drawdown.to_numpy(float), 0, color="#c0392b", alpha=0.5)
        ends = periods["recovery"].fillna(drawdown.index[-1])  # still under water: the end
        for peak, end in zip(periods["peak"], ends, strict=True):
            ax.axvspan(peak, end, color=GREY, alpha=0.15)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        _style(ax, "Drawdown (worst five periods shaded)")
    return out[0]


def rolling_figure(sharpe: pd.Series, vol: pd.Series, window: int) -> str:
    """Return the rolling Sharpe ratio (top) and the rolling annualised volatility (bottom)."""
    out: list[str] = []
    with _axes("Rolling Sharpe ratio and volatility", out, rows=2) as (top, bottom):
        top.plot(sharpe.index, sharpe.to_numpy(float), color=STRATEGY, lw=1.2)
        top.axhline(0.0, color=GREY, lw=0.8)
        _style(top, f"Rolling Sharpe ratio ({window} sessions, annualised)")
        bottom.plot(vol.index, vol.to_numpy(float), color=BENCHMARK, lw=1.2)
        bottom.yaxis.set_major_formatter(PercentFormatter(1.0))
        _style(bottom, f"Rolling volatility ({window} sessions, annualised)")
        bottom.set_xlim(sharpe.index[0], sharpe.index[-1])  # the whole run, NaN at first
    return out[0]


def exposure_figure(gross: pd.Series, net: pd.Series) -> str:
    """Return gross and net exposure (fractions of equity) over the run."""
    out: list[str] = []
    with _axes("Gross and net exposure", out) as ax:
        ax.plot(gross.index, gross.to_numpy(float), color=STRATEGY, lw=1.2, label="Gross")
        ax.plot(net.index, net.to_numpy(float), color=BENCHMARK, lw=1.0, ls="--", label="Net")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        _style(ax, "Exposure (fraction of equity)")
        ax.legend(loc="lower left", frameon=False)
    return out[0]


def turnover_figure(turnover: pd.Series) -> str:
    """Return each month's one-sided turnover as bars."""
    out: list[str] = []
    with _axes("Monthly turnover", out) as ax:
        # Bars from the first of each month rightwards, so each sits inside its own month.
        ax.bar(turnover.index, turnover.to_numpy(float), width=25, align="edge", color=STRATEGY)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        _style(ax, "Turnover per month (one-sided, of the month's mean equity)")
    return out[0]


def costs_figure(costs: pd.DataFrame) -> str:
    """Return commissions and slippage paid to date, stacked, in dollars."""
    out: list[str] = []
    with _axes("Costs paid to date", out) as ax:
        ax.stackplot(
            costs.index,
            costs["commission"].to_numpy(float),
            costs["slippage"].to_numpy(float),
            labels=["Commissions", "Slippage"],
            colors=[STRATEGY, BENCHMARK],
            alpha=0.8,
        )
        _dollars(ax)
        _style(ax, "Costs paid to date (USD)")
        ax.legend(loc="upper left", frameon=False)
    return out[0]


def sector_figure(exposure: pd.DataFrame) -> str:
    """Return the net exposure of each sector at every rebalance (the risk report's rows)."""
    out: list[str] = []
    wide = exposure.pivot_table(index="date", columns="sector", values="net", aggfunc="sum")
    with _axes("Net sector exposure at each rebalance", out) as ax:
        for sector in wide.columns:
            ax.plot(wide.index, wide[sector].to_numpy(float), lw=1.0, marker=".", label=sector)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        _style(ax, "Net sector exposure at each rebalance (fraction of equity)")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
    return out[0]


def volatility_figure(vol: pd.DataFrame) -> str:
    """Return the realised volatility, the ex-ante one at the rebalances and the target."""
    out: list[str] = []
    with _axes("Realised and ex-ante volatility", out) as ax:
        ax.plot(
            vol.index, vol["realised"].to_numpy(float), color=STRATEGY, lw=1.2, label="Realised"
        )
        at = vol["ex_ante"].dropna()
        ax.plot(at.index, at.to_numpy(float), "o", color=BENCHMARK, ms=4, label="Ex ante")
        if vol["target"].notna().any():
            ax.plot(vol.index, vol["target"].to_numpy(float), color=GREY, ls="--", label="Target")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        _style(ax, "Volatility (annualised)")
        ax.legend(loc="lower left", frameon=False)
    return out[0]


def r_figure(r_multiples: pd.Series) -> str:
    """Return the distribution of the closed trips' R multiples (pnl over the risk at the stop)."""
    out: list[str] = []
    values = r_multiples.to_numpy(float)
    values = values[np.isfinite(values)]
    with _axes("R multiple distribution", out) as ax:
        ax.hist(values, bins=min(40, max(5, values.size // 5)), color=STRATEGY)
        ax.axvline(0.0, color=GREY, lw=0.8)
        _style(ax, "R multiples of the closed trips")
    return out[0]
