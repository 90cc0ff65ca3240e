"""The journal's session closes: the account's equity and sector exposure once per session.

A mixin of :class:`~quant_core.live.journal.Journal` (its connection and transactions). One row
per account (``mode`` and ``account``) and session in ``daily_close``, its sectors in
``daily_sectors``; a session recorded again (a restart after the close, a replay run anew in the
same folder) replaces its rows in one transaction, so a kill at any moment leaves the old rows
or the new ones, never both and never half. What the Live Dashboard's sector exposure over time
and realised volatility are drawn from (``live/daily_close.py``).
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd

from quant_core.live.crash_hook import crash_point_for_tests
from quant_core.live.state_risk import DailyClose, SectorExposureRow

DAILY_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS daily_close (mode VARCHAR, account VARCHAR, session DATE, "
    "run_id VARCHAR, ts TIMESTAMPTZ, equity DOUBLE, cash DOUBLE, gross DOUBLE)",
    "CREATE TABLE IF NOT EXISTS daily_sectors (mode VARCHAR, account VARCHAR, session DATE, "
    "sector VARCHAR, long DOUBLE, short DOUBLE, gross DOUBLE, net DOUBLE)",
)
DAILY_TABLES = ("daily_close", "daily_sectors")
KEY = "mode = ? AND account = ? AND session = ?"


class DailyCloses:
    """The ``daily_close`` and ``daily_sectors`` tables of a journal (mixed into ``Journal``)."""

    con: Any  # the journal's DuckDB connection (only live.journal imports duckdb)

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError  # Journal's

    def record_close(
        self,
        mode: str,
        account: str,
        run_id: str,
        at: dt.datetime,
        close: DailyClose,
        cash: float,
    ) -> None:
        """Record (or replace) the account's row of ``close.session``, in one transaction."""
        key = [mode, account, close.session]
        with self._transaction():
            self.con.execute(f"DELETE FROM daily_close WHERE {KEY}", key)  # noqa: S608 - constant
            self.con.execute(f"DELETE FROM daily_sectors WHERE {KEY}", key)  # noqa: S608 - constant
            crash_point_for_tests("recording_close")  # the old rows deleted, the new not yet in
            self.con.execute(
                "INSERT INTO daily_close VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [*key, run_id, at, close.equity, cash, close.gross],
            )
            if close.sectors:
                rows = [[*key, s.sector, s.long, s.short, s.gross, s.net] for s in close.sectors]
                insert = "INSERT INTO daily_sectors VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                self.con.executemany(insert, rows)

    def daily_closes(self, mode: str, account: str, limit: int) -> list[DailyClose]:
        """Return the account's last ``limit`` session closes, oldest first."""
        params = {"mode": mode, "account": account, "limit": limit}
        closes = (
            self.con.execute(
                "SELECT session, equity, gross FROM daily_close WHERE mode = $mode AND "
                "account = $account ORDER BY session DESC LIMIT $limit",
                params,
            )
            .to_arrow_table()
            .to_pandas()
        )
        if closes.empty:
            return []
        first = min(closes["session"])
        sectors = (
            self.con.execute(
                "SELECT session, sector, long, short, gross, net FROM daily_sectors WHERE "
                "mode = $mode AND account = $account AND session >= $first "
                "ORDER BY session, sector",
                {"mode": mode, "account": account, "first": first},
            )
            .to_arrow_table()
            .to_pandas()
        )
        by_session = _grouped(sectors)
        return [
            DailyClose(
                session=row.session,
                equity=None if pd.isna(row.equity) else float(row.equity),
                gross=float(row.gross),
                sectors=by_session.get(row.session, ()),
            )
            for row in closes.sort_values("session").itertuples(index=False)
        ]


def _grouped(frame: pd.DataFrame) -> dict[dt.date, tuple[SectorExposureRow, ...]]:
    out: dict[dt.date, list[SectorExposureRow]] = {}
    columns = ("session", "sector", "long", "short", "gross", "net")
    for session, sector, long, short, gross, net in zip(
        *(frame[c].tolist() for c in columns), strict=True
    ):
        row = SectorExposureRow(str(sector), float(long), float(short), float(gross), float(net))
        out.setdefault(session, []).append(row)
    return {session: tuple(rows) for session, rows in out.items()}
