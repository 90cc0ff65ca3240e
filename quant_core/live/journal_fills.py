"""The journal's executions: recorded once each, late commissions, IB's corrections.

Used by :meth:`quant_core.live.journal.Journal.fills`, inside its transaction.
"""

from __future__ import annotations

from typing import Any

import duckdb

from quant_core.broker import Fill

FILL_COLUMNS = (
    "run_id, order_id, ref, symbol, side, quantity, price, commission, ts, exec_id, recovered, "
    "arrival_price"
)


def execution(exec_id: str) -> str:
    """Return the execution ``exec_id`` names: an IB id (``<a>.<b>.<c>.<nn>``) without ``nn``.

    IB corrects an execution with another report whose id differs in that last part only;
    another broker's id names its execution whole.
    """
    parts = exec_id.split(".")
    if len(parts) == 4 and parts[-1].isdigit():
        return ".".join(parts[:-1])
    return exec_id


def values_list(rows: list[list[Any]]) -> tuple[str, list[Any]]:
    """Return one VALUES list with a placeholder per field, and the fields: one statement."""
    row = "(" + ", ".join("?" * len(rows[0])) + ")"
    return ", ".join([row] * len(rows)), [v for r in rows for v in r]


def correct(con: duckdb.DuckDBPyConnection, fill: Fill) -> bool:
    """Apply IB's correction ``fill`` to the recorded execution it corrects; True if one was.

    The recorded row takes the correction's shares, price and commission (if it has one), and
    keeps its id. False (nothing changed): ``fill`` is no correction (an IB id ending ``.01``,
    another broker's), or corrects none recorded; the caller inserts it.
    """
    base = execution(fill.exec_id)
    if base == fill.exec_id or fill.exec_id.endswith(".01"):
        return False
    hit = con.execute(
        "UPDATE fills SET quantity = ?, price = ?, commission = CASE WHEN ? > 0 THEN ? "
        "ELSE commission END WHERE starts_with(exec_id, ?) AND exec_id < ? RETURNING 1",
        [fill.quantity, fill.price, fill.commission, fill.commission, f"{base}.", fill.exec_id],
    ).fetchall()
    return bool(hit)


def insert(con: duckdb.DuckDBPyConnection, run_id: str, unique: list[Fill], recovered: bool) -> int:
    """Insert the executions not recorded yet; return how many were.

    Those recorded without a commission get the one ``unique`` gives them. Inside the
    caller's transaction.
    """
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
            recovered,
            f.arrival_price,
        ]
        for f in unique
    ]
    if not rows:
        return 0
    values, params = values_list(rows)
    priced = [[f.exec_id, f.commission] for f in unique if f.exec_id and f.commission]
    added = con.execute(
        f"INSERT INTO fills ({FILL_COLUMNS}) SELECT * FROM (VALUES {values}) "  # noqa: S608 - placeholders only
        f"v({FILL_COLUMNS}) WHERE v.exec_id = '' OR NOT EXISTS "
        "(SELECT 1 FROM fills WHERE fills.exec_id = v.exec_id)",
        params,
    ).fetchall()[0][0]
    if priced:
        late, late_params = values_list(priced)
        con.execute(
            f"UPDATE fills SET commission = v.commission FROM (VALUES {late}) "  # noqa: S608 - placeholders only
            "v(exec_id, commission) WHERE fills.exec_id = v.exec_id "
            "AND fills.commission = 0",
            late_params,
        )
    return int(added)
