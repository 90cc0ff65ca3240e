"""The journal's daily reports: one row per account and session close, and the fills they read.

A mixin of :class:`~quant_core.live.journal.Journal` (its connection and transactions). The
worker's daily report (``live/report_worker.py``) is kept here whole: its figures as columns
(what ``reports/daily.parquet`` holds) and the rest of the report as a JSON document (what
``reports/daily-<date>.html`` is drawn from), so every file of ``<live_dir>/reports/`` can be
written again from the journal alone. A session reported again (a restart after the close, a
replay run anew in the same folder) replaces its row in one transaction, with the arrival prices
it learnt: a kill at any moment leaves the old row or the new one, never both.

:meth:`Reports.report_fills` reads every execution of the account with what its order was sized
from (``orders.decision_price``) and sent for (``orders.purpose``: a stop's kind), found by the
order's reference and symbol (unique per session and symbol, or per FLAT command).
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd

from quant_core.analytics.round_trips import ROUND_TRIP_COLUMNS
from quant_core.live.crash_hook import crash_point_for_tests

REPORT_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS report_daily (mode VARCHAR, account VARCHAR, session DATE, "
    "run_id VARCHAR, ts TIMESTAMPTZ, equity DOUBLE, cash DOUBLE, pnl DOUBLE, "
    "realized_pnl DOUBLE, fills INTEGER, commission DOUBLE, shortfall DOUBLE, document VARCHAR)",
    # The account's round trips (analytics.round_trips), replaced whole with the report files.
    "CREATE TABLE IF NOT EXISTS round_trips (mode VARCHAR, account VARCHAR, symbol VARCHAR, "
    "side VARCHAR, entry_date TIMESTAMP, exit_date TIMESTAMP, entry_price DOUBLE, "
    "exit_price DOUBLE, shares DOUBLE, sessions BIGINT, entry_value DOUBLE, pnl DOUBLE, "
    "pnl_pct DOUBLE, commission DOUBLE, slippage DOUBLE, costs DOUBLE, gross_pnl DOUBLE, "
    "r_multiple DOUBLE, exit_reason VARCHAR, is_open BOOLEAN)",
)
REPORT_TABLES = ("report_daily", "round_trips")
DAILY_COLUMNS = (
    "session",
    "equity",
    "cash",
    "pnl",
    "realized_pnl",
    "fills",
    "commission",
    "shortfall",
)
KEY = "mode = ? AND account = ? AND session = ?"
ACCOUNT = "mode = $mode AND account = $account"


class Reports:
    """The ``report_daily`` table of a journal, and the fills it reads (mixed into ``Journal``)."""

    con: Any  # the journal's DuckDB connection (only live.journal imports duckdb)

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError  # Journal's

    def _sql(self, query: str, params: dict[str, Any]) -> pd.DataFrame:
        frame: pd.DataFrame = self.con.execute(query, params).to_arrow_table().to_pandas()
        return frame

    def record_report(
        self,
        mode: str,
        account: str,
        run_id: str,
        at: dt.datetime,
        figures: dict[str, Any],
        document: str,
        arrivals: dict[str, float] | None = None,
    ) -> None:
        """Record (or replace) the account's report of ``figures["session"]``, in one transaction.

        ``figures``: :data:`DAILY_COLUMNS`; ``document``: the rest of the report, JSON.
        ``arrivals``: execution id -> arrival price learnt for it (set where none is yet).
        """
        key = [mode, account, figures["session"]]
        values = [figures[c] for c in DAILY_COLUMNS[1:]]
        with self._transaction():
            if arrivals:
                self.con.executemany(
                    "UPDATE fills SET arrival_price = ? WHERE exec_id = ? "
                    "AND arrival_price IS NULL",
                    [[price, exec_id] for exec_id, price in arrivals.items()],
                )
            self.con.execute(f"DELETE FROM report_daily WHERE {KEY}", key)  # noqa: S608 - constant
            crash_point_for_tests("recording_report")  # the old row deleted, the new not yet in
            self.con.execute(
                "INSERT INTO report_daily VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*key, run_id, at, *values, document],
            )

    def record_round_trips(self, mode: str, account: str, trips: pd.DataFrame) -> None:
        """Replace the account's round trips (``ROUND_TRIP_COLUMNS``) in one transaction."""
        columns = ", ".join(ROUND_TRIP_COLUMNS)
        with self._transaction():
            self.con.execute(
                f"DELETE FROM round_trips WHERE {ACCOUNT}",  # noqa: S608 - constant
                {"mode": mode, "account": account},
            )
            self.con.register("new_trips", trips[list(ROUND_TRIP_COLUMNS)])
            try:
                self.con.execute(
                    f"INSERT INTO round_trips SELECT $mode, $account, {columns} FROM new_trips",  # noqa: S608 - constants
                    {"mode": mode, "account": account},
                )
            finally:
                self.con.unregister("new_trips")

    def round_trips(self, mode: str, account: str) -> pd.DataFrame:
        """Return the account's round trips as last recorded (``ROUND_TRIP_COLUMNS``)."""
        columns = ", ".join(ROUND_TRIP_COLUMNS)
        return self._sql(
            f"SELECT {columns} FROM round_trips WHERE {ACCOUNT} ORDER BY entry_date, symbol",  # noqa: S608 - constants
            {"mode": mode, "account": account},
        )

    def report_rows(self, mode: str, account: str) -> pd.DataFrame:
        """Return the account's reports' figures (:data:`DAILY_COLUMNS`), oldest session first.

        And ``ts``: when each was made (the wall clock).
        """
        columns = ", ".join((*DAILY_COLUMNS, "ts"))
        return self._sql(
            f"SELECT {columns} FROM report_daily WHERE {ACCOUNT} ORDER BY session",  # noqa: S608 - constants
            {"mode": mode, "account": account},
        )

    def report_documents(
        self, mode: str, account: str, sessions: list[dt.date] | None = None
    ) -> dict[dt.date, str]:
        """Return the account's report documents (JSON) by session: every one, or ``sessions``."""
        frame = self._sql(
            f"SELECT session, document FROM report_daily WHERE {ACCOUNT} ORDER BY session",  # noqa: S608 - constants
            {"mode": mode, "account": account},
        )
        wanted = None if sessions is None else set(sessions)
        return {
            s: str(d)
            for s, d in zip(frame["session"], frame["document"], strict=True)
            if wanted is None or s in wanted
        }

    def last_report_at(self, mode: str, account: str) -> dt.datetime | None:
        """Return when the account's latest report was made (the wall clock), None if none."""
        rows = self.con.execute(
            "SELECT max(ts) FROM report_daily WHERE mode = ? AND account = ?", [mode, account]
        ).fetchall()
        last = rows[0][0] if rows else None
        return last if isinstance(last, dt.datetime) else None

    def close_before(self, mode: str, account: str, session: dt.date) -> float | None:
        """Return the account's equity at its last recorded close before ``session``."""
        rows = self.con.execute(
            "SELECT equity FROM daily_close WHERE mode = ? AND account = ? AND session < ? "
            "ORDER BY session DESC LIMIT 1",
            [mode, account, session],
        ).fetchall()
        value = rows[0][0] if rows else None
        return None if value is None or pd.isna(value) else float(value)

    def report_fills(self, mode: str, account: str) -> pd.DataFrame:
        """Return every execution of the account with its order's decision price and purpose.

        Columns ts, symbol, side, quantity, price, commission, order_id, ref, exec_id,
        arrival_price, decision_price, purpose, in the order they happened (time, then the
        order recorded). ``decision_price`` is NaN where the order has none on record (a stop's
        exit, FLAT's orders, an order the journal lacks); ``purpose`` '' where none.
        """
        return self._sql(
            "SELECT f.ts, f.symbol, f.side, f.quantity, f.price, f.commission, f.order_id, "
            "f.ref, coalesce(f.exec_id, '') AS exec_id, f.arrival_price, o.decision_price, "
            "coalesce(o.purpose, '') AS purpose FROM fills f JOIN runs r USING (run_id) "
            "LEFT JOIN (SELECT r2.mode, coalesce(r2.account, '') AS account, o2.ref, o2.symbol, "
            "max(o2.decision_price) AS decision_price, max(o2.purpose) AS purpose "
            "FROM orders o2 JOIN runs r2 USING (run_id) GROUP BY ALL) o "
            "ON o.mode = r.mode AND o.account = coalesce(r.account, '') AND o.ref = f.ref "
            "AND o.symbol = f.symbol WHERE r.mode = $mode AND coalesce(r.account, '') = $account "
            "ORDER BY f.ts, f.rowid",
            {"mode": mode, "account": account},
        )
