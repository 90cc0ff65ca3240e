"""The daily report's figures: fills and their implementation shortfall, P&L, exposure, limits.

No I/O here: ``live/report_worker.py`` gathers the journal's rows, the broker's positions, the
commands and errors, and these functions make the report of one session from them (a JSON-ready
document, :func:`build_document`, drawn by ``live/report_html.py``) and the frames of the files
in ``<live_dir>/reports/``.

Prices of a fill (``x`` signed shares at ``p``):

* decision price ``d``: the close of T-1 its order was sized from (journaled with a rebalance's
  order; for a stop's exit or FLAT's order, the data's last close before the fill's session);
* arrival price ``a``: the open of the execution session (the broker's, NaN when it cannot say).

Slippage in dollars, positive a cost: ``x (p - d)`` against the decision price, ``x (p - a)``
against the arrival price; in basis points of the value at that price: ``1e4 x (p - d) /
(|x| d)``. The session's implementation shortfall is the sum over its fills (commissions are
reported apart), in bps of the summed ``|x| d``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from config.schema import AppConfig
from quant_core.analytics.average_cost import SHARE_EPSILON
from quant_core.analytics.round_trips import FILL_COLUMNS
from quant_core.broker import OrderRef, Side
from quant_core.data.panels import MarketData
from quant_core.live.state_risk import DailyClose
from quant_core.portfolio import risk
from quant_core.portfolio.stops import StopKind

REPORT_FILL_COLUMNS = (
    "session",
    "ts",
    "symbol",
    "side",
    "quantity",
    "price",
    "commission",
    "order_id",
    "ref",
    "reason",
    "decision_price",
    "arrival_price",
    "slippage_decision",
    "slippage_arrival",
)
STOP_REASONS = frozenset(k.value for k in StopKind)
FLAT, DELISTING, MANUAL = "flat", "delisting", "manual"
BPS = 1e4


def report_fills(
    raw: pd.DataFrame,
    zone: ZoneInfo,
    data: MarketData,
    closes: np.ndarray,
    *,
    gone_exits: bool = False,
) -> pd.DataFrame:
    """Return the account's fills (:data:`REPORT_FILL_COLUMNS`) from the journal's rows.

    ``raw``: ``Journal.report_fills``. ``closes``: ``data``'s forward-filled closes, where a
    decision price the journal lacks is read (the last close before the fill's session).
    ``gone_exits``: the simulated broker's rule holds, so a fill in a session where the data has
    no open for its symbol was an exit at a gone symbol's last close (reason ``delisting``, as
    the backtest's ``exit_at_last_close``).

    The reason: ``flat`` for FLAT's orders (their reference), ``delisting`` as above, a stop's
    kind for its exit, ``manual`` for an order that is not ours (typed in TWS), '' for the
    strategy's.
    """
    ts = pd.to_datetime(raw["ts"], utc=True)
    side = raw["side"].to_numpy(dtype=object)
    quantity = np.where(side == Side.BUY.value, 1.0, -1.0) * raw["quantity"].to_numpy(dtype=float)
    price = raw["price"].to_numpy(dtype=float)
    # The session: the fill's date in the exchange's zone (its wall clock, the zone dropped).
    days = ts.dt.tz_convert(zone).dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    rows = np.searchsorted(data.dates, days)
    col = data.symbol_index.get_indexer(pd.Index(raw["symbol"], dtype=object))
    known = (rows >= 1) & (col >= 0)
    last_close = np.full(len(raw), np.nan)
    last_close[known] = closes[rows[known] - 1, col[known]]
    decision = raw["decision_price"].to_numpy(dtype=float)
    decision = np.where(np.isfinite(decision), decision, last_close)
    arrival = raw["arrival_price"].to_numpy(dtype=float)
    in_data = np.zeros(len(raw), dtype=bool)
    inside = rows < len(data.dates)
    in_data[inside] = data.dates[rows[inside]] == days[inside]
    no_open = np.zeros(len(raw), dtype=bool)
    where = in_data & (col >= 0)
    no_open[where] = ~np.isfinite(data.panels["open"][rows[where], col[where]])
    refs = raw["ref"].astype(str).to_numpy(dtype=object)
    purpose = raw["purpose"].astype(str).to_numpy(dtype=object)
    reason = np.where(np.isin(purpose, sorted(STOP_REASONS)), purpose, "")
    reason = np.where([not OrderRef.is_ours(r) for r in refs], MANUAL, reason)
    if gone_exits:
        reason = np.where(no_open, DELISTING, reason)
    reason = np.where([r.startswith(OrderRef.FLAT) for r in refs], FLAT, reason)
    return pd.DataFrame(
        {
            "session": days.astype(object),  # datetime.date, as DatetimeIndex.date, in one step
            "ts": ts.array.astype("datetime64[ns, UTC]"),  # not via an array of Timestamps
            "symbol": raw["symbol"].astype(str).to_numpy(dtype=object),
            "side": side,
            "quantity": quantity,
            "price": price,
            "commission": raw["commission"].to_numpy(dtype=float),
            "order_id": raw["order_id"].astype(str).to_numpy(dtype=object),
            "ref": refs,
            "reason": reason.astype(object),
            "decision_price": decision,
            "arrival_price": arrival,
            "slippage_decision": quantity * (price - decision),
            "slippage_arrival": quantity * (price - arrival),
        }
    )


def analytics_fills(fills: pd.DataFrame) -> pd.DataFrame:
    """Return :func:`report_fills` as the round trips' fills (``analytics`` FILL_COLUMNS).

    ``date``: the session (naive); ``slippage``: the cost against the arrival price, as the
    backtest counts it against the open (``|x (p - a)|`` is the cost model's for a simulated
    fill); none where the arrival price is unknown, and a price better than it costs none.
    """
    slippage = np.clip(np.nan_to_num(fills["slippage_arrival"].to_numpy(dtype=float)), 0.0, None)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(pd.Series(fills["session"], dtype=object)).astype(
                "datetime64[ns]"
            ),
            "symbol": fills["symbol"].to_numpy(dtype=object),
            "quantity": fills["quantity"].to_numpy(dtype=float),
            "price": fills["price"].to_numpy(dtype=float),
            "commission": fills["commission"].to_numpy(dtype=float),
            "slippage": slippage,
            "reason": fills["reason"].to_numpy(dtype=object),
        },
        columns=list(FILL_COLUMNS),
    )


def shortfall(fills: pd.DataFrame) -> dict[str, float | None]:
    """Return a session's implementation shortfall: dollars and bps, against both prices.

    ``decision`` and ``arrival``: the summed slippage (dollars, positive a cost) over the fills
    with that price; ``*_bps``: that sum over the summed ``|x|`` times the price, x 1e4 (None
    without a fill priced so).
    """
    out: dict[str, float | None] = {}
    quantity = np.abs(fills["quantity"].to_numpy(dtype=float))
    for name in ("decision", "arrival"):
        base = fills[f"{name}_price"].to_numpy(dtype=float)
        slip = fills[f"slippage_{name}"].to_numpy(dtype=float)
        priced = np.isfinite(base) & np.isfinite(slip)
        notional = float((quantity[priced] * base[priced]).sum())
        out[name] = float(slip[priced].sum())
        out[f"{name}_bps"] = out[name] / notional * BPS if notional > 0 else None  # type: ignore[operator]
    return out


def fill_rows(fills: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the session's fills for the document, each with its slippage in bps."""
    quantity = np.abs(fills["quantity"].to_numpy(dtype=float))
    frame = fills.drop(columns=["session", "order_id"]).copy()
    for name in ("decision", "arrival"):
        value = quantity * fills[f"{name}_price"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            bps = fills[f"slippage_{name}"].to_numpy(dtype=float) / value * BPS
        frame[f"bps_{name}"] = np.where(value > 0, bps, np.nan)
    frame["ts"] = [t.isoformat() for t in fills["ts"]]
    return _records(frame)


def exposure(close: DailyClose) -> dict[str, Any]:
    """Return long, short, gross and net (fractions of equity, and dollars), and by sector."""
    sums = {
        key: float(sum(getattr(s, key) for s in close.sectors))
        for key in ("long", "short", "gross", "net")
    }
    equity = close.equity
    dollars = {f"{k}_usd": (None if equity is None else v * equity) for k, v in sums.items()}
    sectors = [
        {"sector": s.sector, "long": s.long, "short": s.short, "gross": s.gross, "net": s.net}
        for s in close.sectors
    ]
    return {**sums, **dollars, "sectors": sectors}


def limit_rows(
    cfg: AppConfig,
    equity: float | None,
    day_start: float,
    peak: float,
    close: DailyClose,
    positions: pd.DataFrame,
) -> list[dict[str, Any]]:
    """Return each limit set, with its usage at the close (fractions of equity).

    Daily loss and drawdown as the worker measures them (``portfolio.risk.account_usage``
    against the session's opening equity and the peak); gross, net, the largest position and
    the largest sector against ``portfolio.constraints`` and ``risk.max_position_weight``.
    """
    now = np.nan if equity is None else equity
    rows = [
        (u.name, u.label, u.limit, u.usage)
        for u in risk.account_usage(cfg.risk, now, day_start, peak)
    ]
    c = cfg.portfolio.constraints
    ok = equity is not None and equity > 0
    net = sum(s.net for s in close.sectors)
    values = positions["market_value"].to_numpy(dtype=float) if len(positions) else np.zeros(0)
    largest = float(np.nanmax(np.abs(values))) / now if ok and values.size else 0.0
    sector = max((s.gross for s in close.sectors), default=0.0)
    for name, label, limit, usage in (
        ("max_gross", "gross exposure", c.max_gross, close.gross),
        ("max_net", "net exposure", c.max_net, abs(net)),
        ("max_position_weight", "largest position", cfg.risk.max_position_weight, largest),
        ("sector_cap", "largest sector", c.sector_cap, sector),
    ):
        if limit is not None:
            rows.append((name, label, limit, usage if ok else None))
    return [
        {
            "name": name,
            "label": label,
            "limit": limit,
            "usage": usage,
            "used": None if usage is None else usage / limit,
            "tripped": usage is not None and usage > limit,
        }
        for name, label, limit, usage in rows
    ]


def build_document(
    session: dt.date,
    *,
    mode: str,
    close: DailyClose,
    cash: float,
    previous_equity: float | None,
    fills: pd.DataFrame,
    positions: pd.DataFrame,
    limits: list[dict[str, Any]],
    commands: list[dict[str, Any]],
    errors: list[dict[str, Any]],
) -> dict[str, Any]:
    """Return the report of ``session`` as a JSON-ready document (``fills``: the session's)."""
    equity = close.equity
    pnl = None if equity is None or previous_equity is None else equity - previous_equity
    unexplained = positions.loc[~positions["explained"].astype(bool), "symbol"].tolist()
    notes = []
    if unexplained:
        notes.append(
            f"{len(unexplained)} position(s) the journal's fills do not explain (held before "
            f"the journal, or traded elsewhere): {', '.join(unexplained[:10])}; their average "
            "cost is the broker's and their realised P&L unknown"
        )
    return {
        "session": session.isoformat(),
        "mode": mode,
        "equity": equity,
        "cash": cash,
        "previous_equity": previous_equity,
        "pnl": pnl,
        "pnl_pct": None if pnl is None or not previous_equity else pnl / previous_equity,
        "realized_pnl": float(np.nansum(positions["session_realized"].to_numpy(dtype=float))),
        "unrealized_pnl": float(np.nansum(positions["unrealized_pnl"].to_numpy(dtype=float))),
        "fills_count": len(fills),
        "commission": float(fills["commission"].sum()),
        "shortfall": shortfall(fills),
        "positions": _records(positions[_moved(positions)]),
        "fills": fill_rows(fills),
        "exposure": exposure(close),
        "limits": limits,
        "commands": commands,
        "errors": errors,
        "notes": notes,
    }


def daily_figures(document: dict[str, Any]) -> dict[str, Any]:
    """Return the document's row of ``daily.parquet`` (``journal_reports.DAILY_COLUMNS``)."""
    return {
        "session": dt.date.fromisoformat(document["session"]),
        "equity": document["equity"],
        "cash": document["cash"],
        "pnl": document["pnl"],
        "realized_pnl": document["realized_pnl"],
        "fills": document["fills_count"],
        "commission": document["commission"],
        "shortfall": document["shortfall"]["decision"],
    }


def summary(document: dict[str, Any]) -> str:
    """Return the alert's short text: equity, P&L, fills, costs and shortfall (no account id)."""
    money = _money
    parts = [f"Close of {document['session']}: equity {money(document['equity'])}"]
    if document["pnl"] is not None:
        pct = document["pnl_pct"]
        parts.append(
            f"P&L {money(document['pnl'], sign=True)}"
            + (f" ({pct:+.2%})" if pct is not None else "")
        )
    parts.append(f"realised {money(document['realized_pnl'], sign=True)}")
    cost = document["shortfall"]
    bps = cost["decision_bps"]
    parts.append(
        f"{document['fills_count']} fill(s), commission {money(document['commission'])}, "
        f"shortfall {money(cost['decision'], sign=True)}"
        + (f" ({bps:+.1f} bps vs decision)" if bps is not None else "")
    )
    parts.append(f"gross exposure {document['exposure']['gross']:.1%}")
    tripped = [row["label"] for row in document["limits"] if row["tripped"]]
    if tripped:
        parts.append(f"limits over: {', '.join(tripped)}")
    if document["errors"]:
        parts.append(f"{len(document['errors'])} error(s)")
    return "; ".join(parts) + "."


def _money(value: float | None, sign: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    text = f"${abs(value):,.2f}"
    return ("-" if value < 0 else "+" if sign else "") + text


def _moved(positions: pd.DataFrame) -> pd.Series:
    # Rows worth a line: held at either end, or traded in the session.
    moved: pd.Series = (
        (positions["start_quantity"].abs() > SHARE_EPSILON)
        | (positions["end_quantity"].abs() > SHARE_EPSILON)
        | (positions["bought"] > 0)
        | (positions["sold"] > 0)
    )
    return moved


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # Plain Python values; NaN stays NaN here (written as null: atomic.json_safe).
    columns = [str(c) for c in frame.columns]
    values = zip(*(frame[c].tolist() for c in frame.columns), strict=True)
    return [dict(zip(columns, row, strict=True)) for row in values]
