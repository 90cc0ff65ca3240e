"""The worker's journal in DuckDB: runs, orders, fills, equity and the command audit.

One file, ``<data_dir>/live/journal.duckdb``, written by the worker alone. DuckDB's write-ahead
log makes a killed worker's journal readable on the next start.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from quant_core.broker import Fill, Order

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runs (run_id VARCHAR PRIMARY KEY, mode VARCHAR, "
    "config_sha256 VARCHAR, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS orders (run_id VARCHAR, session DATE, order_id VARCHAR, "
    "ref VARCHAR, symbol VARCHAR, side VARCHAR, quantity DOUBLE, status VARCHAR, "
    "reason VARCHAR, ts TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS fills (run_id VARCHAR, order_id VARCHAR, ref VARCHAR, "
    "symbol VARCHAR, side VARCHAR, quantity DOUBLE, price DOUBLE, commission DOUBLE, "
    "ts TIMESTAMPTZ, exec_id VARCHAR)",
    # Journals written before executions carried the broker's id:
    "ALTER TABLE fills ADD COLUMN IF NOT EXISTS exec_id VARCHAR",
    "CREATE TABLE IF NOT EXISTS equity (run_id VARCHAR, ts TIMESTAMPTZ, equity DOUBLE, "
    "cash DOUBLE)",
    "CREATE TABLE IF NOT EXISTS decisions (run_id VARCHAR, session DATE, ts TIMESTAMPTZ, "
    "outcome VARCHAR, orders INTEGER)",
    "CREATE TABLE IF NOT EXISTS commands (run_id VARCHAR, ts TIMESTAMPTZ, id VARCHAR, "
    "command VARCHAR, result VARCHAR, accepted BOOLEAN, detail VARCHAR)",
)


class Journal:
    """Append-only records of one worker, across its runs."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(path))
        for statement in SCHEMA:
            self.con.execute(statement)

    def close(self) -> None:
        """Flush and close the file."""
        self.con.close()

    def start_run(self, run_id: str, mode: str, config_sha256: str, at: dt.datetime) -> None:
        """Record a run's start."""
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, NULL)", [run_id, mode, config_sha256, at]
        )

    def end_run(self, run_id: str, at: dt.datetime) -> None:
        """Record a run's end."""
        self.con.execute("UPDATE runs SET ended_at = ? WHERE run_id = ?", [at, run_id])

    def orders(
        self, run_id: str, session: dt.date, orders: Iterable[Order], at: dt.datetime
    ) -> None:
        """Record orders as sent."""
        rows = [
            [
                run_id,
                session,
                o.order_id,
                o.ref,
                o.symbol,
                o.side.value,
                o.quantity,
                o.status.value,
                o.reason,
                at,
            ]
            for o in orders
        ]
        if rows:
            self.con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def fills(self, run_id: str, fills: Iterable[Fill]) -> None:
        """Record executions."""
        rows = [
            [
                run_id,
                f.order_id,
                f.ref,
                f.symbol,
                f.side.value,
                f.quantity,
                f.price,
                f.commission,
                f.time,
                f.exec_id,
                f.exec_id,
                f.exec_id,
            ]
            for f in fills
        ]
        if rows:
            # An execution the broker reports again (IB does, after every reconnect or restart)
            # is recorded once: its exec_id is already here.
            self.con.executemany(
                "INSERT INTO fills SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
                "WHERE ? = '' OR NOT EXISTS (SELECT 1 FROM fills WHERE exec_id = ?)",
                rows,
            )

    def equity(self, run_id: str, at: dt.datetime, equity: float, cash: float) -> None:
        """Record an equity snapshot."""
        self.con.execute("INSERT INTO equity VALUES (?, ?, ?, ?)", [run_id, at, equity, cash])

    def command(self, run_id: str, ack: dict[str, Any]) -> None:
        """Record a command's acknowledgement, accepted or refused."""
        self.con.execute(
            "INSERT INTO commands VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                ack["at"],
                ack.get("id"),
                ack.get("command"),
                ack["result"],
                ack["accepted"],
                json.dumps(ack.get("detail")),
            ],
        )

    def decision(
        self, run_id: str, session: dt.date, at: dt.datetime, outcome: str, orders: int
    ) -> None:
        """Record one rebalance decision: traded, nothing to trade, or skipped and why."""
        self.con.execute(
            "INSERT INTO decisions VALUES (?, ?, ?, ?, ?)", [run_id, session, at, outcome, orders]
        )

    def last_rebalance(self) -> dt.date | None:
        """Return the last session a rebalance was decided for (any run, traded or not)."""
        # fetchall: DuckDB 2 keeps a half-read result open and refuses the next statement
        rows = self.con.execute("SELECT max(session) FROM decisions").fetchall()
        last = rows[0][0] if rows else None
        return last if isinstance(last, dt.date) else None

    def table(self, name: str) -> pd.DataFrame:
        """Return one table (for tests and the cockpit)."""
        if name not in {"runs", "orders", "fills", "equity", "commands", "decisions"}:
            raise ValueError(f"no journal table {name!r}")
        frame: pd.DataFrame = self.con.sql(f"SELECT * FROM {name}").to_arrow_table().to_pandas()  # noqa: S608 - fixed names
        return frame
