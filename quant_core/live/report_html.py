"""The daily report as one self-contained HTML page: inline CSS, no script, nothing fetched.

:func:`render` draws a document of ``live/daily_report.py`` (``build_document``): the account at
the close (equity, cash, P&L), P&L by position, the fills with their slippage against the
decision and arrival prices (implementation shortfall), exposure by sector, the limits' usage,
the commands received and the errors. Every text is escaped; the page names no outside address,
so it opens the same offline, attached to a mail, or years later.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px;color:#1f2328;
background:#fff;font-size:14px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.sub{color:#57606a;margin-bottom:16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #d0d7de;border-radius:6px;
padding:10px 14px;min-width:150px}.card .k{color:#57606a;font-size:12px}.card .v{font-size:18px;
font-weight:600}
table{border-collapse:collapse;margin:4px 0}th,td{padding:4px 10px;border-bottom:1px solid #eaeef2;
text-align:right;white-space:nowrap}th{background:#f6f8fa;font-weight:600}
td.t,th.t{text-align:left}.neg{color:#cf222e}.pos{color:#1a7f37}.over{color:#cf222e;font-weight:600}
.none{color:#57606a;font-style:italic}.note{color:#9a6700}
"""

Cell = Callable[[Any], str]


def render(document: dict[str, Any]) -> str:
    """Return the page of one session's report."""
    d = document
    title = f"Daily report {d['session']}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<div class='sub'>Account at the close of {_e(d['session'])} ({_e(d['mode'])})</div>",
        _cards(d),
        *(f"<p class='note'>{_e(n)}</p>" for n in d["notes"]),
        "<h2>P&amp;L by position</h2>",
        _positions(d["positions"]),
        "<h2>Fills and implementation shortfall</h2>",
        _shortfall(d),
        _fills(d["fills"]),
        "<h2>Exposure</h2>",
        _exposure(d["exposure"]),
        "<h2>Limits</h2>",
        _limits(d["limits"]),
        "<h2>Commands received</h2>",
        _commands(d["commands"]),
        "<h2>Errors</h2>",
        _errors(d["errors"]),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def _cards(d: dict[str, Any]) -> str:
    cost = d["shortfall"]
    cards = [
        ("Equity", _money(d["equity"])),
        ("Cash", _money(d["cash"])),
        (
            "P&L",
            _signed_money(d["pnl"])
            + (f" ({_pct(d['pnl_pct'])})" if d["pnl_pct"] is not None else ""),
        ),
        ("Realised P&L", _signed_money(d["realized_pnl"])),
        ("Unrealised P&L", _signed_money(d["unrealized_pnl"])),
        ("Fills", str(d["fills_count"])),
        ("Commission", _money(d["commission"])),
        ("Shortfall vs decision", f"{_money(cost['decision'])} ({_bps(cost['decision_bps'])})"),
        ("Shortfall vs arrival", f"{_money(cost['arrival'])} ({_bps(cost['arrival_bps'])})"),
    ]
    items = "".join(
        f"<div class='card'><div class='k'>{_e(k)}</div><div class='v'>{v}</div></div>"
        for k, v in cards
    )
    return f"<div class='cards'>{items}</div>"


def _table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str, Cell]],
    empty: str,
    total: dict[str, Any] | None = None,
) -> str:
    if not rows:
        return f"<p class='none'>{_e(empty)}</p>"
    head = "".join(
        f"<th class='{'t' if fmt is _text else ''}'>{_e(label)}</th>" for _, label, fmt in columns
    )
    lines = [f"<tr>{head}</tr>"]
    for row in [*rows, *([total] if total else [])]:
        cells = "".join(
            f"<td class='{'t' if fmt is _text else ''}'>{fmt(row.get(key))}</td>"
            for key, _, fmt in columns
        )
        lines.append(f"<tr>{cells}</tr>")
    return "<table>" + "".join(lines) + "</table>"


def _positions(rows: list[dict[str, Any]]) -> str:
    columns: list[tuple[str, str, Cell]] = [
        ("symbol", "Symbol", _text),
        ("start_quantity", "Start qty", _qty),
        ("start_value", "Start value", _money),
        ("bought", "Bought", _qty),
        ("sold", "Sold", _qty),
        ("end_quantity", "End qty", _qty),
        ("avg_cost", "Avg cost", _price),
        ("market_price", "Close", _price),
        ("market_value", "End value", _money),
        ("session_realized", "Realised", _signed_money),
        ("unrealized_pnl", "Unrealised", _signed_money),
        ("realized_pnl", "Realised (all)", _signed_money),
        ("pnl", "Session P&L", _signed_money),
    ]
    total: dict[str, Any] = {"symbol": "Total"}
    for key in ("start_value", "market_value", "session_realized", "unrealized_pnl", "pnl"):
        total[key] = math.fsum(r[key] for r in rows if _finite(r.get(key)))
    return _table(rows, columns, "No position held or traded.", total)


def _shortfall(d: dict[str, Any]) -> str:
    cost = d["shortfall"]
    return (
        "<p>Slippage is the signed quantity times (fill price &minus; reference price): "
        "positive is a cost. Against the decision price (the close the order was sized from): "
        f"<b>{_cost(cost['decision'])}</b> ({_bps(cost['decision_bps'])}); against the "
        f"arrival price (the session's open): <b>{_cost(cost['arrival'])}</b> "
        f"({_bps(cost['arrival_bps'])}). Commissions apart: {_money(d['commission'])}.</p>"
    )


def _fills(rows: list[dict[str, Any]]) -> str:
    columns: list[tuple[str, str, Cell]] = [
        ("ts", "Time (UTC)", _time),
        ("symbol", "Symbol", _text),
        ("side", "Side", _text),
        ("quantity", "Qty", _qty),
        ("price", "Price", _price),
        ("commission", "Commission", _money),
        ("reason", "Reason", _text),
        ("decision_price", "Decision", _price),
        ("slippage_decision", "Slip. vs decision", _cost),
        ("bps_decision", "bps", _bps),
        ("arrival_price", "Arrival", _price),
        ("slippage_arrival", "Slip. vs arrival", _cost),
        ("bps_arrival", "bps", _bps),
    ]
    total: dict[str, Any] = {"ts": None, "symbol": "Total"}
    for key in ("commission", "slippage_decision", "slippage_arrival"):
        total[key] = math.fsum(r[key] for r in rows if _finite(r.get(key)))
    return _table(rows, columns, "No fill this session.", total if rows else None)


def _exposure(e: dict[str, Any]) -> str:
    book = [
        {"what": "Long", "frac": e["long"], "usd": e["long_usd"]},
        {"what": "Short", "frac": e["short"], "usd": e["short_usd"]},
        {"what": "Gross", "frac": e["gross"], "usd": e["gross_usd"]},
        {"what": "Net", "frac": e["net"], "usd": e["net_usd"]},
    ]
    totals = _table(
        book,
        [("what", "", _text), ("frac", "Of equity", _pct), ("usd", "Dollars", _signed_money)],
        "",
    )
    sectors = _table(
        e["sectors"],
        [
            ("sector", "Sector", _text),
            ("long", "Long", _pct),
            ("short", "Short", _pct),
            ("gross", "Gross", _pct),
            ("net", "Net", _pct),
        ],
        "No position at the close.",
    )
    return totals + sectors


def _limits(rows: list[dict[str, Any]]) -> str:
    columns: list[tuple[str, str, Cell]] = [
        ("label", "Measure", _text),
        ("usage", "Usage", _pct),
        ("limit", "Limit", _pct),
        ("used", "Used", _used),
        ("tripped", "Over", _over),
    ]
    return _table(rows, columns, "No limit set.")


def _commands(rows: list[dict[str, Any]]) -> str:
    columns: list[tuple[str, str, Cell]] = [
        ("at", "Time (UTC)", _time),
        ("command", "Command", _text),
        ("id", "Id", _text),
        ("source", "Source", _text),
        ("accepted", "Accepted", _yes),
        ("result", "Result", _text),
    ]
    return _table(rows, columns, "No command received.")


def _errors(rows: list[dict[str, Any]]) -> str:
    columns: list[tuple[str, str, Cell]] = [
        ("at", "Time (UTC)", _time),
        ("message", "Error", _text),
    ]
    return _table(rows, columns, "No error.")


# ------------------------------------------------------------------------------- cells


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any) -> str:
    return "" if value is None else _e(value)


def _qty(value: Any) -> str:
    return f"{value + 0.0:,.6g}" if _finite(value) else ""  # + 0.0: never "-0"


def _price(value: Any) -> str:
    return f"{value:,.4f}" if _finite(value) else "&ndash;"


def _money(value: Any) -> str:
    if not _finite(value):
        return "&ndash;"
    return f"{'-' if value < 0 else ''}${abs(value):,.2f}"


def _signed_money(value: Any) -> str:
    if not _finite(value):
        return "&ndash;"
    css = "neg" if value < 0 else "pos" if value > 0 else ""
    return f"<span class='{css}'>{'-' if value < 0 else '+'}${abs(value):,.2f}</span>"


def _cost(value: Any) -> str:
    # A slippage: positive is a cost (red), negative a gain (green).
    if not _finite(value):
        return "&ndash;"
    css = "neg" if value > 0 else "pos" if value < 0 else ""
    return f"<span class='{css}'>{'-' if value < 0 else '+'}${abs(value):,.2f}</span>"


def _pct(value: Any) -> str:
    return f"{value:.2%}" if _finite(value) else "&ndash;"


def _bps(value: Any) -> str:
    return f"{round(value, 1) + 0.0:+.1f} bps" if _finite(value) else "&ndash;"


def _used(value: Any) -> str:
    return f"{value:.0%}" if _finite(value) else "&ndash;"


def _over(value: Any) -> str:
    return "<span class='over'>OVER</span>" if value else ""


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def _time(value: Any) -> str:
    return "" if value is None else _e(str(value).replace("T", " ")[:19])
