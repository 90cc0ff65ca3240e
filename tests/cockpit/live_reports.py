"""A worker's session reports for the Live history tests, shaped by the issue 14 contract.

``<live_dir>/reports/fills.parquet``, ``positions.parquet`` and ``daily.parquet`` with the
contract's columns and types (session: a date; ts: UTC; quantity signed; slippage_* in dollars,
positive = cost: ``signed q x (price - reference)``), and the state document the worker writes
beside them. The account: AAPL bought and partly sold, MSFT bought and sold at a loss, XOM
bought, over five sessions of sp500-2010 (2010-05-03 to 2010-05-07); the positions and
realised P&L at the last close follow the average-cost method with commissions, computed here
by hand so the tests check the cockpit against numbers it did not make.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from quant_core.live.files import write_state

# The contract's columns (issue 14, section 3), spelled here independently of the cockpit.
FILL_COLUMNS = [
    "session", "ts", "symbol", "side", "quantity", "price", "commission", "order_id", "ref",
    "reason", "decision_price", "arrival_price", "slippage_decision", "slippage_arrival",
]  # fmt: skip
POSITION_COLUMNS = [
    "symbol", "quantity", "avg_cost", "market_price", "market_value", "unrealized_pnl",
    "realized_pnl",
]  # fmt: skip
DAILY_COLUMNS = [
    "session", "equity", "cash", "pnl", "realized_pnl", "fills", "commission", "shortfall",
]  # fmt: skip
SESSIONS = [dt.date(2010, 5, d) for d in (3, 4, 5, 6, 7)]
NEXT_SESSION = dt.date(2010, 5, 10)


def at(session: dt.date, hhmmss: str) -> dt.datetime:
    """Return a time of ``session`` in UTC (New York in May is UTC-4)."""
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return dt.datetime.combine(session, dt.time(h, m, s), dt.UTC)


def fill(
    session: dt.date,
    time: str,
    symbol: str,
    quantity: float,
    price: float,
    order_id: str,
    decision: float | None,
    arrival: float | None,
    commission: float = 1.0,
    reason: str = "",
) -> dict[str, Any]:
    """Return one contract row; slippage from the reference prices (None: not known)."""
    return {
        "session": session,
        "ts": at(session, time),
        "symbol": symbol,
        "side": "BUY" if quantity > 0 else "SELL",
        "quantity": quantity,
        "price": price,
        "commission": commission,
        "order_id": order_id,
        "ref": f"qc:{session}:{symbol}",
        "reason": reason,
        "decision_price": decision,
        "arrival_price": arrival,
        "slippage_decision": None if decision is None else quantity * (price - decision),
        "slippage_arrival": None if arrival is None else quantity * (price - arrival),
    }


FILLS = [
    fill(SESSIONS[0], "13:35:02", "AAPL", 100, 260.00, "11", 258.00, 259.50),
    fill(SESSIONS[0], "13:35:03", "MSFT", 200, 30.00, "12", 30.10, 29.95),
    fill(SESSIONS[1], "13:35:01", "XOM", 50, 65.00, "21", 64.50, 64.80),
    fill(SESSIONS[2], "13:35:04", "AAPL", -40, 262.00, "31", 263.00, 262.50),
    fill(SESSIONS[3], "13:35:02", "MSFT", -150, 29.00, "41", 29.20, None, reason="stop_loss"),
    fill(SESSIONS[4], "13:35:01", "MSFT", -50, 29.00, "50", 29.10, 29.05),
    # Two partial fills of one order in one second, alike: both are kept.
    fill(SESSIONS[4], "13:35:05", "XOM", 10, 66.00, "51", 65.90, 66.10, commission=0.5),
    fill(SESSIONS[4], "13:35:05", "XOM", 10, 66.00, "51", 65.90, 66.10, commission=0.5),
]
# Average cost with commissions (TWS): AAPL (100 x 260 + 1) / 100 = 260.01, 40 sold at 262
# realise 40 x (262 - 260.01) - 1 = 78.60; MSFT (200 x 30 + 1) / 200 = 30.005, sold at 29 in
# two fills realise 150 x (-1.005) - 1 = -151.75, then 50 x (-1.005) - 1 = -51.25 (-203.00);
# XOM (50 x 65 + 1 + 2 x (10 x 66 + 0.5)) / 70. The positions file (TWS's window at the last
# close) holds what is held and what was closed that session: MSFT, closed on the last session.
XOM_COST = (50 * 65.0 + 1.0 + 2 * (10 * 66.0 + 0.5)) / 70
POSITIONS: list[dict[str, Any]] = [
    {"symbol": "AAPL", "quantity": 60.0, "avg_cost": 260.01, "market_price": 263.00},
    {"symbol": "MSFT", "quantity": 0.0, "avg_cost": 0.0, "market_price": 29.10},
    {"symbol": "XOM", "quantity": 70.0, "avg_cost": XOM_COST, "market_price": 66.50},
]
REALISED = {"AAPL": 78.60, "MSFT": -203.00, "XOM": 0.0}
REALISED_BY_SESSION = {SESSIONS[2]: 78.60, SESSIONS[3]: -151.75, SESSIONS[4]: -51.25}
EQUITY = [1_000_000.0, 1_001_250.0, 998_400.0, 1_003_100.0, 1_002_000.0]


def positions_rows() -> list[dict[str, Any]]:
    """Return the positions file's rows at the last close (value, unrealised, realised)."""
    rows = []
    for p in POSITIONS:
        q, cost, price = float(p["quantity"]), float(p["avg_cost"]), float(p["market_price"])
        rows.append(
            p
            | {
                "market_value": q * price,
                "unrealized_pnl": (price - cost) * q,
                "realized_pnl": REALISED[str(p["symbol"])],
            }
        )
    return rows


def daily_rows(
    sessions: list[dt.date] = SESSIONS, equity: list[float] = EQUITY
) -> list[dict[str, Any]]:
    """Return the daily file's rows: equity at each close and its day's figures."""
    rows = []
    for i, (session, value) in enumerate(zip(sessions, equity, strict=True)):
        fills = [f for f in FILLS if f["session"] == session]
        rows.append(
            {
                "session": session,
                "equity": value,
                "cash": value * 0.3,
                "pnl": value - (equity[i - 1] if i else value),
                "realized_pnl": REALISED_BY_SESSION.get(session, 0.0),
                "fills": len(fills),
                "commission": sum(f["commission"] for f in fills),
                "shortfall": sum(f["slippage_decision"] or 0.0 for f in fills),
            }
        )
    return rows


def write_reports(
    live_dir: Path,
    fills: list[dict[str, Any]] = FILLS,
    positions: list[dict[str, Any]] | None = None,
    daily: list[dict[str, Any]] | None = None,
) -> Path:
    """Write the three parquet reports into ``<live_dir>/reports``; return that folder."""
    folder = live_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(fills, columns=FILL_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    for name in ("decision_price", "arrival_price", "slippage_decision", "slippage_arrival"):
        frame[name] = frame[name].astype(float)
    frame.to_parquet(folder / "fills.parquet", index=False)
    rows = positions_rows() if positions is None else positions
    pd.DataFrame(rows, columns=POSITION_COLUMNS).to_parquet(folder / "positions.parquet")
    days = daily_rows() if daily is None else daily
    pd.DataFrame(days, columns=DAILY_COLUMNS).to_parquet(folder / "daily.parquet", index=False)
    return folder


def state_fill(row: dict[str, Any]) -> dict[str, Any]:
    """Return a contract fill row as the state document's ``fills_today`` writes it."""
    return {
        "order_id": row["order_id"],
        "symbol": row["symbol"],
        "side": row["side"],
        "quantity": abs(row["quantity"]),
        "price": row["price"],
        "commission": row["commission"],
        "time": row["ts"].isoformat(),
    }


def state(
    session: dt.date,
    fills_today: list[dict[str, Any]],
    positions: list[dict[str, Any]],
    *,
    broker_as_of: dt.datetime | None = None,
    daily: tuple[tuple[dt.date, float], ...] = (),
    strategy: str = "momentum",
    finished: bool = False,
) -> dict[str, Any]:
    """Return a running worker's state document (the worker's own fields, minimal).

    ``finished``: a replay that ran to its end on ``session`` (its process has exited).
    """
    now = dt.datetime.now(dt.UTC)
    ended = {"exited": True, "latched": False, "replay_finished": session.isoformat()}
    return {
        "worker": (ended if finished else {})
        | {
            "pid": 4242,
            "state": "STOPPED" if finished else "RUNNING",
            "reason": f"replay finished on {session}" if finished else "connected",
            "mode": "sim",
            "account": "SIM",
            "run_id": "20100503T133000Z-abc123",
            "started_at": (now - dt.timedelta(hours=1)).isoformat(),
            "heartbeat_at": now.isoformat(),
            "session": session.isoformat(),
            "strategy": strategy,
            "broker_as_of": (broker_as_of or now).isoformat(),
        },
        "account": {
            "net_liquidation": 1_002_000.0,
            "cash": 300_000.0,
            "buying_power": 300_000.0,
            "daily_pnl": 0.0,
            "unrealized_pnl": 0.0,
            "realized_pnl": 0.0,
        },
        "positions": [
            p | {"market_value": p["quantity"] * p["market_price"], "weight": None}
            for p in positions
        ],
        "open_orders": [],
        "fills_today": [state_fill(f) for f in fills_today],
        "equity": [],
        "risk": {"status": "ok", "limit": None, "reason": None},
        "rebalance": {"last": "2010-05-03", "next": "2010-06-02"},
        "reconciled": {"positions": len(positions), "our_open_orders": 0},
        "commands": [],
        "errors": [],
        "daily": [
            {"session": s.isoformat(), "equity": e, "gross": 0.7, "sectors": []} for s, e in daily
        ],
    }


def write(live_dir: Path, document: dict[str, Any]) -> None:
    """Write the state document with the worker's own writer."""
    write_state(live_dir, document)
