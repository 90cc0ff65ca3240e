"""The journal's book records: each sleeve's sub-account, requests, attributed fills, allocations.

A mixin of :class:`~quant_core.live.journal.Journal` (its connection and transactions), used by
the worker running a book (:mod:`quant_core.live.book_live`). A book is keyed by
``<mode>:<account>:<book name>``:

- ``book_state``: the book's latest state (sub-accounts, sleeve limits, schedules, history), one
  row per key, replaced in the same transaction as what changed it;
- ``sleeve_requests``: each sleeve's request per symbol at a session (signed shares), written
  before the session's orders are journaled and sent;
- ``sleeve_fills``: each sleeve's part of each fill (signed shares, price, commission, cash),
  and ``book_execs``: the broker's executions already attributed, so an execution is attributed
  once, whatever restarts between its journaling and its attribution;
- ``sleeve_allocations``: each allocation: weight before and after scaling, capital, cash moved.

A kill at any moment leaves the state and the rows that changed it together, or neither.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd

from quant_core.live.crash_hook import crash_point_for_tests

BOOK_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS book_state (book VARCHAR, ts TIMESTAMPTZ, state BLOB)",
    "CREATE TABLE IF NOT EXISTS sleeve_requests (book VARCHAR, session DATE, sleeve VARCHAR, "
    "symbol VARCHAR, shares DOUBLE)",
    "CREATE TABLE IF NOT EXISTS sleeve_fills (book VARCHAR, session DATE, sleeve VARCHAR, "
    "symbol VARCHAR, shares DOUBLE, price DOUBLE, commission DOUBLE, cash DOUBLE)",
    "CREATE TABLE IF NOT EXISTS book_execs (book VARCHAR, exec_id VARCHAR)",
    "CREATE TABLE IF NOT EXISTS sleeve_allocations (book VARCHAR, session DATE, sleeve VARCHAR, "
    "allocated DOUBLE, weight DOUBLE, capital DOUBLE, flow DOUBLE, fallback VARCHAR)",
)
BOOK_TABLES = ("book_state", "sleeve_requests", "sleeve_fills", "book_execs", "sleeve_allocations")

RequestRow = tuple[dt.date, str, str, float]  # session, sleeve, symbol, shares
FillRow = tuple[dt.date, str, str, float, float, float, float]  # + price, commission, cash
AllocationRow = tuple[dt.date, str, float, float, float, float, str | None]


class BookRecords:
    """The book tables of a journal (mixed into ``Journal``)."""

    con: Any  # the journal's DuckDB connection (only live.journal imports duckdb)

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError  # Journal's

    def book_state(self, book: str) -> bytes | None:
        """Return the book's latest saved state, or None if it never ran on this account."""
        rows = self.con.execute("SELECT state FROM book_state WHERE book = ?", [book]).fetchall()
        return bytes(rows[0][0]) if rows else None

    def save_book(
        self,
        book: str,
        at: dt.datetime,
        state: bytes,
        *,
        requests: list[RequestRow] | None = None,
        fills: list[FillRow] | None = None,
        execs: list[str] | None = None,
        allocations: list[AllocationRow] | None = None,
    ) -> None:
        """Replace the book's state and add the rows that changed it, in one transaction.

        ``requests`` replace the sleeves' requests of their sessions (a decision taken anew
        after a restart); ``fills`` and ``execs`` are added (the executions they attribute).
        """
        with self._transaction():
            self.con.execute("DELETE FROM book_state WHERE book = ?", [book])
            self.con.execute("INSERT INTO book_state VALUES (?, ?, ?)", [book, at, state])
            crash_point_for_tests("saving_book")  # the state replaced, its rows not yet in
            if requests:
                for session in sorted({r[0] for r in requests}):
                    self.con.execute(
                        "DELETE FROM sleeve_requests WHERE book = ? AND session = ?",
                        [book, session],
                    )
                self._insert("sleeve_requests", book, requests)
            if fills:
                self._insert("sleeve_fills", book, fills)
            if execs:
                self._insert("book_execs", book, [(e,) for e in execs])
            if allocations:
                self._insert("sleeve_allocations", book, allocations)

    def _insert(self, table: str, book: str, rows: list[tuple[Any, ...]]) -> None:
        width = len(rows[0]) + 1
        frame = pd.DataFrame([(book, *r) for r in rows], columns=[f"c{i}" for i in range(width)])
        self.con.register("book_rows", frame)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM book_rows")  # noqa: S608 - fixed names
        finally:
            self.con.unregister("book_rows")

    def unattributed_fills(self, book: str, mode: str, account: str) -> pd.DataFrame:
        """Return the account's executions the book has not attributed yet, as they happened.

        Columns exec_id, ref, symbol, side, quantity, price, commission, ts.
        """
        frame: pd.DataFrame = (
            self.con.execute(
                "SELECT f.exec_id, f.ref, f.symbol, f.side, f.quantity, f.price, f.commission, "
                "f.ts FROM fills f JOIN runs r USING (run_id) WHERE r.mode = $mode "
                "AND coalesce(r.account, '') = $account AND coalesce(f.exec_id, '') <> '' "
                "AND f.exec_id NOT IN (SELECT exec_id FROM book_execs WHERE book = $book) "
                "ORDER BY f.ts, f.rowid",
                {"mode": mode, "account": account, "book": book},
            )
            .to_arrow_table()
            .to_pandas()
        )
        return frame

    def journaled(self, execs: list[str]) -> set[str]:
        """Return those of ``execs`` (execution ids) the journal holds."""
        if not execs:
            return set()
        frame = pd.DataFrame({"exec_id": sorted(set(execs))})
        self.con.register("asked_execs", frame)
        try:
            rows = self.con.execute(
                "SELECT DISTINCT a.exec_id FROM asked_execs a JOIN fills f USING (exec_id)"
            ).fetchall()
        finally:
            self.con.unregister("asked_execs")
        return {str(r[0]) for r in rows}

    def fill_count(self) -> int:
        """Return how many executions the journal holds (a cheap test for new ones)."""
        return int(self.con.execute("SELECT count(*) FROM fills").fetchall()[0][0])

    def book_table(self, name: str, book: str) -> pd.DataFrame:
        """Return one of the book's tables (``BOOK_TABLES`` but the state), for one book."""
        if name not in BOOK_TABLES or name == "book_state":
            raise ValueError(f"no book table {name!r}")
        frame: pd.DataFrame = (
            self.con.execute(f"SELECT * FROM {name} WHERE book = $book", {"book": book})  # noqa: S608 - fixed names
            .to_arrow_table()
            .to_pandas()
        )
        return frame


__all__ = ["BOOK_SCHEMA", "BOOK_TABLES", "BookRecords"]
