"""The tearsheet's trade, construction and risk, and config sections.

Trade analytics read the run's round trips and trade statistics
(:mod:`quant_core.analytics`: by trades, not by sessions); a run stored before they were kept
says so. Construction and risk read the run's decisions and risk files
(:mod:`quant_core.backtest.risk`: every figure a fraction of equity, shown in percent and in
dollars at the last book's equity). The config is ``config.json`` as stored, secrets masked.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from quant_core.analytics.trade_stats import gain_loss
from quant_core.backtest import tearsheet_figures as fig
from quant_core.backtest.tearsheet_html import (
    Formatter,
    ReportData,
    Signed,
    day,
    esc,
    money,
    note,
    num,
    pairs,
    pct,
    section,
    shares,
    table,
)

NO_TRADE_ANALYTICS = (
    "No trade analytics stored: this run was stored before runs kept their round trips "
    "(round_trips.parquet, trade_stats.json). Run it again to get them."
)
NO_RISK = "No construction and risk report stored: this run was stored before runs carried one."
SHOWN_TRIPS = 10  # best and worst trips, top and bottom symbols shown in the tables
STAT_FORMATS: dict[str, tuple[str, Formatter]] = {
    "trades": ("Closed trips", num),
    "winners": ("Winners", num),
    "losers": ("Losers", num),
    "win_rate": ("Win rate (by trades)", pct),
    "profit_factor": ("Profit factor", num),
    "avg_win": ("Average win", money),
    "avg_loss": ("Average loss", money),
    "best": ("Best trip", money),
    "worst": ("Worst trip", money),
    "expectancy": ("Expectancy (mean P&L per trip)", money),
    "avg_pnl_pct": ("Average P&L per trip (% of entry value)", pct),
    "avg_sessions": ("Average holding period (sessions)", num),
    "avg_r": ("Average R multiple", num),
    "total_pnl": ("Total P&L of closed trips", money),
    "total_costs": ("Costs of closed trips", money),
    "open_trips": ("Trips still open", num),
    "open_pnl": ("Open P&L (marked at the last close)", money),
    "exposure_adjusted_return": ("Exposure-adjusted return", pct),
}
TRIP_FORMATS: dict[str, Formatter] = {
    "entry_date": day,
    "exit_date": day,
    "entry_price": money,
    "exit_price": money,
    "shares": shares,
    "sessions": num,
    "entry_value": money,
    "pnl": Signed(money),
    "pnl_pct": Signed(pct),
    "commission": money,
    "slippage": money,
    "costs": money,
    "gross_pnl": Signed(money),
    "r_multiple": num,
    "is_open": num,
}
TRIP_COLUMNS = [
    "symbol",
    "side",
    "entry_date",
    "exit_date",
    "entry_price",
    "exit_price",
    "shares",
    "sessions",
    "pnl",
    "pnl_pct",
    "costs",
    "r_multiple",
    "exit_reason",
]
GAIN_LOSS_FORMATS: dict[str, Formatter] = {
    "trades": num,
    "winners": num,
    "win_rate": pct,
    "pnl": Signed(money),
    "gross_pnl": Signed(money),
    "costs": money,
    "best": Signed(money),
    "worst": Signed(money),
}


def _stats_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    known = [(label, fmt(stats[key])) for key, (label, fmt) in STAT_FORMATS.items() if key in stats]
    other = [(k.replace("_", " "), num(v)) for k, v in stats.items() if k not in STAT_FORMATS]
    return known + other


def trades_section(data: ReportData) -> str:
    """Return the trade statistics, exit reasons, best and worst trips, gain/loss per symbol."""
    trips, stats = data.trips, data.stats
    if trips.empty and not stats:
        return section("trades", "Trade analytics", note(NO_TRADE_ANALYTICS))
    parts = [
        note("By round trip (flat to flat, per symbol), not by session."),
        pairs(_stats_rows(stats)),
    ]
    if trips.empty:
        parts.append(note("The run made no round trip."))
        return section("trades", "Trade analytics", *parts)
    reasons = trips["exit_reason"].value_counts().rename_axis("exit_reason").reset_index()
    parts += ["<h3>Exit reasons</h3>", table(reasons, {"count": num}, headers=_HEADERS)]
    closed = trips.loc[~trips["is_open"].astype(bool)].sort_values("pnl", ascending=False)
    view = closed.loc[:, TRIP_COLUMNS]
    parts += [
        f"<h3>Best {SHOWN_TRIPS} trips</h3>",
        table(view.head(SHOWN_TRIPS), TRIP_FORMATS, headers=_HEADERS),
        f"<h3>Worst {SHOWN_TRIPS} trips</h3>",
        table(view.tail(SHOWN_TRIPS).iloc[::-1], TRIP_FORMATS, headers=_HEADERS),
    ]
    per_symbol = gain_loss(trips)
    parts += [
        f"<h3>Gain and loss per symbol: top and bottom {SHOWN_TRIPS} by P&amp;L "
        "(closed and open trips; an open trip marked at the last close)</h3>",
        table(per_symbol.head(SHOWN_TRIPS), GAIN_LOSS_FORMATS, headers=_HEADERS),
        table(per_symbol.tail(SHOWN_TRIPS).iloc[::-1], GAIN_LOSS_FORMATS, headers=_HEADERS)
        if len(per_symbol) > SHOWN_TRIPS
        else "",
    ]
    if closed["r_multiple"].notna().any():
        parts.append(fig.r_figure(closed["r_multiple"]))
    ordered = trips.sort_values(["entry_date", "symbol"]).loc[:, TRIP_COLUMNS]
    parts.append(
        f"<details><summary>Every round trip ({len(trips):,})</summary>"
        f"{table(ordered, TRIP_FORMATS, headers=_HEADERS)}</details>"
    )
    return section("trades", "Trade analytics", *parts)


_HEADERS = {
    "symbol": "Symbol",
    "side": "Side",
    "entry_date": "Entry",
    "exit_date": "Exit",
    "entry_price": "Entry price",
    "exit_price": "Exit price",
    "shares": "Shares",
    "sessions": "Sessions",
    "pnl": "P&L",
    "pnl_pct": "P&L %",
    "costs": "Costs",
    "r_multiple": "R",
    "exit_reason": "Exit reason",
    "count": "Trips",
    "trades": "Trips",
    "winners": "Winners",
    "win_rate": "Win rate",
    "gross_pnl": "Gross P&L",
    "best": "Best",
    "worst": "Worst",
}


def _risk_tables(document: dict[str, Any]) -> list[str]:
    report = document.get("report")
    if not report:
        return [note("The book was flat at the end of the run: no last book to report on.")]
    equity = document.get("equity")
    level = float(document.get("settings", {}).get("var_level", 0.95))

    def usd(value: Any) -> str:
        return money(None if value is None or equity is None else float(value) * equity)

    summary = [
        ("Ex-ante volatility (annualised)", pct(report.get("ex_ante_vol"))),
        (f"VaR {level:.0%} (1 day, {report.get('var_sessions')} sessions)", pct(report.get("var"))),
        ("VaR in dollars", usd(report.get("var"))),
        (f"Expected shortfall {level:.0%} (1 day)", pct(report.get("es"))),
        ("Expected shortfall in dollars", usd(report.get("es"))),
    ]
    sectors = pd.DataFrame(report.get("sectors", []))
    names = pd.DataFrame(report.get("names", [])).head(15)
    stress = pd.DataFrame(report.get("stress", []))
    share: dict[str, Formatter] = dict.fromkeys(
        ("weight", "contribution", "long", "short", "gross", "net"), pct
    )
    parts = [
        f"<h3>The last book (as of {esc(document.get('as_of'))}, equity {esc(money(equity))})</h3>",
        pairs(summary),
        "<h3>Sectors</h3>",
        table(sectors, share),
        "<h3>Largest risk contributions</h3>",
        table(names, share),
    ]
    if len(stress):
        stress["book_pnl"] = stress["book_return"].astype(float) * (equity or float("nan"))
        formats = {
            "universe_return": Signed(pct),
            "book_return": Signed(pct),
            "book_pnl": Signed(money),
        }
        parts += [
            "<h3>Stress: the worst sessions of the data, on the last book</h3>",
            table(stress, formats),
        ]
    return parts


def risk_section(data: ReportData) -> str:
    """Return the construction (settings, decisions) and the risk report of the run."""
    construction = data.config.get("portfolio", {})
    parts = [
        "<h3>Construction</h3>",
        f"<pre>{esc(json.dumps(construction, indent=2))}</pre>",
    ]
    decisions = data.decisions
    if decisions is None:
        parts.append(note("No decisions stored: this run was stored before runs kept them."))
    elif decisions.empty:
        parts.append(note("No name left out, no constraint bound, no fallback, stop or halt."))
    else:
        counts = decisions["kind"].value_counts().rename_axis("kind").reset_index()
        parts += ["<h3>Decisions by kind</h3>", table(counts, {"count": num})]
        parts.append(
            f"<details><summary>Every decision ({len(decisions):,})</summary>"
            f"{table(decisions.sort_values('date'), {'date': day})}</details>"
        )
    risk = data.risk
    if risk is None:
        parts.append(note(NO_RISK))
        return section("risk", "Construction and risk", *parts)
    if not risk.exposure.empty:
        parts.append(fig.sector_figure(risk.exposure))
    parts.append(fig.volatility_figure(risk.vol))
    parts += _risk_tables(risk.report)
    return section("risk", "Construction and risk", *parts)


def config_section(data: ReportData) -> str:
    """Return the exact config of the run (``config.json``, secrets masked), pretty-printed."""
    text = json.dumps(data.config, indent=2, default=str)
    return section(
        "config",
        "Config",
        note("The exact merged config of the run (config.json; secrets masked)."),
        f'<pre id="config-json">{esc(text)}</pre>',
    )
