"""The tearsheet's building blocks: what a report is drawn from, and HTML tables with inline CSS.

Every text from a file (a symbol, a config value, a decision's detail) is escaped, so a report
shows it as written and can load nothing. Unknown numbers (None, NaN) show as ``-``.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from quant_core.backtest.risk import RunRisk

Formatter = Callable[[Any], str]

CSS = """
.qc h2{font-size:18px;font-weight:700;margin:34px 0 10px;border-bottom:1px solid #ccc}
.qc h3{margin:18px 0 8px}
.qc .final{font-size:22px;margin:8px 0}
.qc .note{color:#555;margin:6px 0 12px}
.qc table.qc-table{width:auto;min-width:40%;margin:0 0 18px;border-collapse:collapse}
.qc table.qc-table td,.qc table.qc-table th{padding:3px 8px;border-bottom:1px solid #eee}
.qc table.qc-table thead th{background:#eee;font-weight:700}
.qc .pos{color:#1b7a2f}.qc .neg{color:#b02a1c}
.qc img.figure{width:100%;max-width:900px;height:auto;display:block;margin:6px 0 14px}
.qc pre{background:#f6f6f6;padding:10px;overflow:auto;font:12px/1.4 monospace}
.qc details{margin:8px 0 18px}.qc summary{cursor:pointer;font-weight:700}
.qs-part{clear:both;margin-top:30px}
"""


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything a tearsheet shows, read from one stored run."""

    run_id: str
    label: str | None  # the run's display name (label.json), None when it has none
    curve: pd.DataFrame  # equity.parquet: equity, cash, long_value, short_value[, benchmark]
    benchmark_name: str | None  # config backtest.benchmark; None when the run has no benchmark
    trades: pd.DataFrame
    metrics: dict[str, Any]
    config: dict[str, Any]  # config.json, secrets already masked
    trips: pd.DataFrame  # round_trips.parquet (empty for a run stored without)
    stats: dict[str, Any]  # trade_stats.json ({} for a run stored without)
    risk: RunRisk | None  # the risk files (None for a run stored without)
    decisions: pd.DataFrame | None  # decisions.parquet (None for a run stored without)

    @property
    def equity(self) -> pd.Series:
        """Return the equity curve (dollars, one value per session)."""
        return self.curve["equity"].astype(float)

    @property
    def benchmark(self) -> pd.Series | None:
        """Return the benchmark's curve (dollars), None when the run stored none."""
        if "benchmark" not in self.curve or self.curve["benchmark"].isna().all():
            return None
        return self.curve["benchmark"].astype(float)


def esc(value: Any) -> str:
    """Return ``value`` as HTML text (escaped)."""
    return html.escape(str(value))


def _unknown(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def money(value: Any) -> str:
    """Format dollars with cents: ``$955,589.35``, ``-$12.00``."""
    if _unknown(value):
        return "-"
    sign = "-" if float(value) < 0 else ""
    return f"{sign}${abs(float(value)):,.2f}"


def pct(value: Any) -> str:
    """Format a fraction as a percentage: 0.0123 -> ``1.23%``."""
    return "-" if _unknown(value) else f"{float(value):.2%}"


def num(value: Any, decimals: int = 2) -> str:
    """Format a number: ``1,234.57``; an integer without decimals."""
    if _unknown(value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    return f"{float(value):,.{decimals}f}"


def shares(value: Any) -> str:
    """Format a share count: ``1,241`` when whole, ``12.3457`` when fractional."""
    if _unknown(value):
        return "-"
    count = float(value)
    return f"{count:,.0f}" if count.is_integer() else f"{count:,.4f}"


def day(value: Any) -> str:
    """Format a date: ``2010-03-04``."""
    return "-" if _unknown(value) else str(pd.Timestamp(value).date())


def text(value: Any) -> str:
    """Format any value as plain text."""
    return "-" if _unknown(value) else str(value)


@dataclass(frozen=True, slots=True)
class Signed:
    """A formatter whose positive values show green and negative ones red (HTML, escaped)."""

    formatter: Formatter

    def __call__(self, value: Any) -> str:
        """Return ``value`` formatted, in a coloured span when it is a non-zero number."""
        shown = esc(self.formatter(value))
        if _unknown(value) or not isinstance(value, numbers.Real) or value == 0:
            return shown
        return f'<span class="{"pos" if float(value) > 0 else "neg"}">{shown}</span>'


def table(
    frame: pd.DataFrame,
    formats: Mapping[str, Formatter] | None = None,
    *,
    index: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Return ``frame`` as an HTML table.

    ``formats`` maps a column to its formatter (plain text otherwise); ``index`` names the
    index column to show first (hidden when None); ``headers`` renames columns for people.
    """
    formats = formats or {}
    headers = headers or {}
    shown = frame.reset_index() if index is not None else frame
    if index is not None:
        shown = shown.rename(columns={shown.columns[0]: index})
    names = [str(c) for c in shown.columns]
    head = "".join(f"<th>{esc(headers.get(n, n))}</th>" for n in names)
    rows = []
    for values in shown.itertuples(index=False, name=None):
        cells = []
        for name, value in zip(names, values, strict=True):
            formatter = formats.get(name, text)
            cell = formatter(value) if isinstance(formatter, Signed) else esc(formatter(value))
            cells.append(f"<td>{cell}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    body = "".join(rows)
    return f'<table class="qc-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def pairs(rows: list[tuple[str, str]]) -> str:
    """Return a two-column table of (label, already formatted value) rows."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="qc-table"><tbody>{body}</tbody></table>'


def section(anchor: str, title: str, *parts: str) -> str:
    """Return a titled section of the report (``parts``: HTML already safe)."""
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{"".join(parts)}</section>'


def note(message: str) -> str:
    """Return a short note in the report (plain text, escaped)."""
    return f'<p class="note">{esc(message)}</p>'
