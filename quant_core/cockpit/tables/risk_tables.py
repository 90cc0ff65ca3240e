"""The risk report's tables, for a stored run's last book and for the worker's book alike.

A report is read in its JSON form: a stored run's ``risk.json`` ``report``, or the worker's
state ``book_risk`` (``BookRisk.to_json()``); both have the keys of
:class:`quant_core.portfolio.risk_report.RiskReport` (``ex_ante_vol``, ``var``, ``es``,
``var_sessions``, ``names``, ``sectors``, ``stress``, ``left_out``), every figure a fraction of
equity. Tables show percentages (``12.5`` for 12.5%) and dollars at the book's equity. Pure,
without Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from quant_core.cockpit.format import pct
from quant_core.portfolio.risk_tail import VAR_LEVEL

PERCENT = "%.2f%%"
SUMMARY_FORMATS = {"% of equity": PERCENT, "USD": "dollar"}
STRESS_FORMATS = {"Universe return (%)": PERCENT, "Book return (%)": PERCENT, "Book P&L": "dollar"}
NAME_FORMATS = {"Weight (%)": PERCENT, "Risk contribution (%)": PERCENT}
SECTOR_FORMATS = {
    "Long (%)": PERCENT,
    "Short (%)": PERCENT,
    "Gross (%)": PERCENT,
    "Net (%)": PERCENT,
    "Risk contribution (%)": PERCENT,
}
NO_RUN_REPORT = (
    "No risk report: this run was stored before runs carried one. Run it again to get sector "
    "exposure, volatility, VaR and the stress table."
)
NO_LIVE_REPORT = (
    "No risk report in the state yet: the worker computes one at start and whenever its book "
    "changes (an older worker writes none)."
)


def _percent(value: Any) -> float | None:
    return None if value is None else 100.0 * float(value)


def _usd(value: Any, equity: float | None) -> float | None:
    return None if value is None or equity is None else float(value) * equity


def level_label(level: float = VAR_LEVEL) -> str:
    """Return the confidence as people write it: 0.95 -> ``95%``."""
    return pct(level, 0)


def summary_table(
    report: Mapping[str, Any], equity: float | None, level: float = VAR_LEVEL
) -> pd.DataFrame:
    """Return ex-ante volatility, VaR and ES, in % of equity and in dollars at ``equity``."""
    label = level_label(level)
    sessions = report.get("var_sessions", 0)
    rows = [
        ("Ex-ante volatility (annualised)", report.get("ex_ante_vol")),
        (f"VaR {label} (1 day, historical, {sessions} sessions)", report.get("var")),
        (f"Expected shortfall {label} (1 day, historical)", report.get("es")),
    ]
    return pd.DataFrame(
        [
            {"Measure": name, "% of equity": _percent(value), "USD": _usd(value, equity)}
            for name, value in rows
        ],
        columns=["Measure", *SUMMARY_FORMATS],
    )


def stress_table(report: Mapping[str, Any], equity: float | None) -> pd.DataFrame:
    """Return the worst sessions of the data, worst first, replayed on the book."""
    rows = [
        {
            "Session": str(row.get("session")),
            "Universe return (%)": _percent(row.get("universe_return")),
            "Book return (%)": _percent(row.get("book_return")),
            "Book P&L": _usd(row.get("book_return"), equity),
        }
        for row in report.get("stress", ())
    ]
    return pd.DataFrame(rows, columns=["Session", *STRESS_FORMATS])


def names_table(report: Mapping[str, Any], top: int = 15) -> pd.DataFrame:
    """Return the ``top`` names by absolute risk contribution: sector, weight, contribution."""
    rows = [
        {
            "Symbol": row.get("symbol"),
            "Sector": row.get("sector"),
            "Weight (%)": _percent(row.get("weight")),
            "Risk contribution (%)": _percent(row.get("contribution")),
        }
        for row in list(report.get("names", ()))[:top]
    ]
    return pd.DataFrame(rows, columns=["Symbol", "Sector", *NAME_FORMATS])


def sectors_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """Return each sector's long, short, gross and net exposure and its risk contribution."""
    rows = [
        {
            "Sector": row.get("sector"),
            "Long (%)": _percent(row.get("long")),
            "Short (%)": _percent(row.get("short")),
            "Gross (%)": _percent(row.get("gross")),
            "Net (%)": _percent(row.get("net")),
            "Risk contribution (%)": _percent(row.get("contribution")),
        }
        for row in report.get("sectors", ())
    ]
    return pd.DataFrame(rows, columns=["Sector", *SECTOR_FORMATS])


def left_out_line(left_out: Sequence[str]) -> str | None:
    """Return which held names are outside the covariance, or None when none is."""
    if not left_out:
        return None
    shown = ", ".join(left_out[:10]) + (
        f" and {len(left_out) - 10} more" if len(left_out) > 10 else ""
    )
    return (
        "Outside the volatility and contributions (too short a history for the covariance): "
        f"{shown}. They count in the exposure, VaR, ES and stress table; a symbol without any "
        "bars counts nowhere."
    )


def last_book(document: Mapping[str, Any]) -> str:
    """Return which book a run's risk.json reports on: the run's end (older runs: a rebalance)."""
    rebalance = document.get("last_rebalance")
    if "last_rebalance" not in document:  # stored before the report moved to the run's end
        return f"The last book is the one after the rebalance of {document.get('as_of')}"
    later = "" if rebalance == document.get("as_of") else f"; the last rebalance was {rebalance}"
    return (
        f"The last book is the one held at the end of the run, after the trades of "
        f"{document.get('as_of')}{later}"
    )


def run_caption(document: Mapping[str, Any]) -> str:
    """Return how a run's risk was measured: the book, covariance, windows, target."""
    settings = document.get("settings", {})
    target = document.get("target")
    return (
        f"{last_book(document)}. Ex-ante "
        f"volatility: {settings.get('covariance')} covariance of {settings.get('lookback')} "
        f"daily returns through the session before each rebalance, annualised (x252). Realised: "
        f"{settings.get('realised_window')} sessions of daily equity returns, annualised. "
        f"Target: {pct(target, 1) if target is not None else 'none (portfolio.vol_target)'}."
    )
