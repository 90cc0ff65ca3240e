"""The worker's journal in DuckDB: runs, decisions, orders, fills and equity.

One file, ``<data_dir>/live/journal.duckdb``, written by the worker alone. Every batch is one
transaction, so a worker killed at any point leaves whole batches or none:

- a rebalance is journaled **before** it is sent (:meth:`Journal.intend`: its orders as
  ``intended`` and its decision, together); the broker's ids and statuses follow once placed
  (:meth:`Journal.placed`);
- the executions of a batch go in together (:meth:`Journal.fills`), each once (by the broker's
  execution id);
- at start, ``live/reconcile.py`` settles what a stop left open against the broker: intents the
  broker has (``intended`` -> its status) or never got (``unsent``, and their decision says so),
  executions the journal lacks (added with ``recovered``), and an order row for any execution
  without one (added with ``recovered``).

A batch's orders and its decision share a ``batch`` id, so a stop batch and a rebalance of the
same session are settled each on its own. A rebalance's decision row also keeps what shaped its
weights (``bindings``, ``left_out``, ``fallback``: :meth:`Journal.last_decision`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from quant_core.broker import Fill, Order, OrderRef
from quant_core.live.crash_hook import crash_point_for_tests
from quant_core.live.journal_book import BOOK_SCHEMA, BOOK_TABLES, BookRecords
from quant_core.live.journal_daily import DAILY_SCHEMA, DAILY_TABLES, DailyCloses
from quant_core.live.journal_decisions import CUT_SHORT as CUT_SHORT
from quant_core.live.journal_decisions import NOT_SENT as NOT_SENT
from quant_core.live.journal_decisions import STOPS as STOPS
from quant_core.live.journal_decisions import UNSENT as UNSENT
from quant_core.live.journal_decisions import Decisions
from quant_core.live.journal_fills import correct, execution, insert
from quant_core.live.journal_fills import values_list as _values
from quant_core.live.journal_reports import REPORT_SCHEMA, REPORT_TABLES, Reports
from quant_core.live.state import LastDecision

INTENDED = "intended"  # an intent: journaled, not yet confirmed (not OrderStatus.PENDING)
UNCONFIRMED = "unconfirmed"  # an intent of an earlier day the broker no longer reports

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
    # Rows written by the reconciliation at start, not as they happened:
    "ALTER TABLE orders ADD COLUMN IF NOT EXISTS recovered BOOLEAN DEFAULT FALSE",
    "ALTER TABLE fills ADD COLUMN IF NOT EXISTS recovered BOOLEAN DEFAULT FALSE",
    # The broker account a run traded (the simulated account's id, IB's account code):
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS account VARCHAR",
    "CREATE TABLE IF NOT EXISTS equity (run_id VARCHAR, ts TIMESTAMPTZ, equity DOUBLE, "
    "cash DOUBLE)",
    "CREATE TABLE IF NOT EXISTS decisions (run_id VARCHAR, session DATE, ts TIMESTAMPTZ, "
    "outcome VARCHAR, orders INTEGER)",
    # A batch's orders and decision together (stops and a rebalance of one session apart):
    "ALTER TABLE orders ADD COLUMN IF NOT EXISTS batch VARCHAR",
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS batch VARCHAR",
    # What shaped a rebalance's weights: [[constraint, detail], ...] as JSON, every name left
    # out (comma-separated) and the construction fallback's reason; NULL for stops.
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS bindings VARCHAR",
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS left_out VARCHAR",
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS fallback VARCHAR",
    # The daily report's prices: what an order was sized from (a rebalance's close of T-1), what
    # it was sent for (a stop's kind; never overwritten by the broker's answers), and the price
    # an execution aimed at (its session's open; NULL until known, live/journal_reports.py).
    "ALTER TABLE orders ADD COLUMN IF NOT EXISTS decision_price DOUBLE",
    "ALTER TABLE orders ADD COLUMN IF NOT EXISTS purpose VARCHAR",
    "ALTER TABLE fills ADD COLUMN IF NOT EXISTS arrival_price DOUBLE",
    *DAILY_SCHEMA,  # one row per account and session close (live/journal_daily.py)
    *REPORT_SCHEMA,  # the daily reports (live/journal_reports.py)
    *BOOK_SCHEMA,  # a book's sleeves (live/journal_book.py)
)
ORDER_COLUMNS = (
    "run_id, session, order_id, ref, symbol, side, quantity, status, reason, ts, recovered, batch, "
    "decision_price, purpose"
)
# DuckDB's buffer pool for the journal: it caches the file's blocks up to its limit (80% of the
# machine's memory by default), so a worker's memory grew with its journal (+19 to +48 MB per
# 1,000 sessions in the soak). The journal's reads are a day's fills and reports: small.
JOURNAL_MEMORY = "64MB"


class Journal(Decisions, DailyCloses, Reports, BookRecords):
    """Append-only records of one worker, across its runs (reconciliation settles intents)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(path), config={"memory_limit": JOURNAL_MEMORY})
        for statement in SCHEMA:
            self.con.execute(statement)

    def close(self) -> None:
        """Flush and close the file."""
        self.con.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def start_run(self, run_id: str, mode: str, config_sha256: str, at: dt.datetime) -> None:
        """Record a run's start."""
        self.con.execute(
            "INSERT INTO runs (run_id, mode, config_sha256, started_at) VALUES (?, ?, ?, ?)",
            [run_id, mode, config_sha256, at],
        )

    def end_run(self, run_id: str, at: dt.datetime) -> None:
        """Record a run's end."""
        self.con.execute("UPDATE runs SET ended_at = ? WHERE run_id = ?", [at, run_id])

    # ------------------------------------------------------------------------------ orders

    def _insert_orders(
        self,
        run_id: str,
        session: dt.date,
        orders: Iterable[Order],
        at: dt.datetime,
        status: str | None = None,
        recovered: bool = False,
        batch: str | None = None,
    ) -> int:
        rows = [
            [
                run_id,
                session,
                o.order_id,
                o.ref,
                o.symbol,
                o.side.value,
                o.quantity,
                status or o.status.value,
                o.reason,
                at,
                recovered,
                batch,
                o.decision_price,
                o.reason if status == INTENDED else None,  # what a batch was sent for
            ]
            for o in orders
        ]
        if rows:
            values, params = _values(rows)
            self.con.execute(f"INSERT INTO orders ({ORDER_COLUMNS}) VALUES {values}", params)  # noqa: S608 - placeholders only
        return len(rows)

    def orders(
        self,
        run_id: str,
        session: dt.date,
        orders: Iterable[Order],
        at: dt.datetime,
        recovered: bool = False,
    ) -> None:
        """Record orders as the broker has them (one transaction)."""
        with self._transaction():
            self._insert_orders(run_id, session, orders, at, recovered=recovered)

    def intend(
        self,
        run_id: str,
        session: dt.date,
        orders: list[Order],
        at: dt.datetime,
        decided_at: dt.datetime,
        outcome: str = "traded",
        shape: LastDecision | None = None,
    ) -> None:
        """Write ahead: record a batch as ``intended`` with its decision, before it is sent.

        ``outcome``: ``traded`` for a rebalance; a batch of stop exits' begins with
        :data:`STOPS` and names each stop (not a rebalance: :meth:`last_rebalance`).
        ``shape``: what shaped a rebalance's weights, kept with its decision.
        """
        if not orders:
            return
        batch = uuid.uuid4().hex
        with self._transaction():
            self._insert_orders(run_id, session, orders, at, status=INTENDED, batch=batch)
            self._insert_decision(run_id, session, decided_at, outcome, len(orders), batch, shape)
            crash_point_for_tests("journaling_orders")

    def placed(self, run_id: str, orders: list[Order]) -> None:
        """Confirm a batch's intents with the broker's ids and statuses (one transaction)."""
        self.resolve(
            [(run_id, o.ref, o.symbol, o.order_id, o.status.value, o.reason) for o in orders]
        )

    def resolve(self, rows: list[tuple[str, str, str, str, str, str]]) -> None:
        """Settle intents: (run_id, ref, symbol) -> (order_id, status, reason)."""
        if not rows:
            return
        values, params = _values([list(r) for r in rows])
        with self._transaction():
            self.con.execute(
                "UPDATE orders SET order_id = v.order_id, status = v.status, reason = v.reason "  # noqa: S608 - placeholders only
                f"FROM (VALUES {values}) v(run_id, ref, symbol, order_id, status, reason) "
                f"WHERE orders.status = '{INTENDED}' AND orders.run_id = v.run_id "
                "AND orders.ref = v.ref AND orders.symbol = v.symbol",
                params,
            )

    def modes(self) -> set[str]:
        """Return the modes (sim, ib-paper, ib-live) of every run on record."""
        rows = self.con.execute("SELECT DISTINCT mode FROM runs").fetchall()
        return {str(row[0]) for row in rows}

    def set_account(self, run_id: str, account: str) -> None:
        """Record the broker account ``run_id`` trades (known once connected)."""
        self.con.execute("UPDATE runs SET account = ? WHERE run_id = ?", [account, run_id])

    def sent_symbols(self, prefix: str, mode: str, account: str) -> set[str]:
        """Return the symbols whose order under ``prefix`` a run on this account sent.

        The account is ``mode`` and ``account`` together: a journal kept across a reset of the
        simulated account, or a switch of brokers, does not hold back the new account's orders.

        Every order on record but those known never sent (``unsent``): the broker's report of
        the day's executions ends at its day's end, the journal's does not, so a session's
        orders are not sent again by a run on a later day (an evening run, then the morning).
        """
        rows = self.con.execute(
            "SELECT DISTINCT o.symbol FROM orders o JOIN runs r USING (run_id) "  # noqa: S608 - constant
            "WHERE r.mode = ? AND coalesce(r.account, '') = ? AND starts_with(o.ref, ?) "
            f"AND o.status <> '{UNSENT}'",
            [mode, account, prefix],
        ).fetchall()
        return {str(row[0]) for row in rows}

    def intents(self) -> pd.DataFrame:
        """Return the intents no broker answer has settled yet (every run)."""
        return self._frame(f"SELECT * FROM orders WHERE status = '{INTENDED}'")  # noqa: S608 - constant

    # ------------------------------------------------------------------------------- fills

    def fills(self, run_id: str, fills: Iterable[Fill], recovered: bool = False) -> int:
        """Record a batch of executions in one transaction; return how many were new.

        An execution the broker reports again (IB does, after every reconnect or restart; the
        simulated broker after a restart) is recorded once: its exec_id is already here. One
        first recorded without its commission (IB sends it a moment later) gets it now. IB's
        correction of an execution (its exec id's last part raised: ``....01.01`` ->
        ``....01.02``) replaces the shares, price and commission of the one it corrects, which
        keeps its row and id (what a book's sleeves were given of it is not given again).
        """
        unique: dict[str, Fill] = {}  # once per batch; a correction over what it corrects
        for i, f in enumerate(fills):
            key = execution(f.exec_id) or f"\0{i}"
            if key not in unique or unique[key].exec_id <= f.exec_id:  # the later one
                unique[key] = f
        if not unique:
            return 0
        with self._transaction():
            corrected = {f.exec_id for f in unique.values() if correct(self.con, f)}
            added = insert(
                self.con,
                run_id,
                [f for f in unique.values() if f.exec_id not in corrected],
                recovered,
            )
            crash_point_for_tests("journaling_fills")
        return added

    def account_fills(self, mode: str, account: str) -> pd.DataFrame:
        """Return every execution of the account (``mode`` and ``account``), as recorded.

        Columns symbol, side, quantity, price, ts, in the order they happened (time, then the
        order recorded): what the stops' average costs are folded from (``live/stop_exits.py``).
        """
        frame: pd.DataFrame = (
            self.con.execute(
                "SELECT f.symbol, f.side, f.quantity, f.price, f.ts FROM fills f "
                "JOIN runs r USING (run_id) WHERE r.mode = $mode "
                "AND coalesce(r.account, '') = $account ORDER BY f.ts, f.rowid",
                {"mode": mode, "account": account},
            )
            .to_arrow_table()
            .to_pandas()
        )
        return frame

    def orphan_fills(self) -> pd.DataFrame:
        """Return the executions that have no order row (ours found by reference and symbol)."""
        return self._frame(
            # Our references (broker.OrderRef) are unique per symbol: found by them.
            "SELECT * FROM fills f WHERE NOT EXISTS (SELECT 1 FROM orders o "  # noqa: S608 - constant
            f"WHERE o.status NOT IN ('{INTENDED}', '{UNSENT}') AND o.symbol = f.symbol "
            "AND o.ref = f.ref AND (o.order_id = f.order_id "
            f"OR f.ref LIKE '{OrderRef.STRATEGY}%' OR f.ref LIKE '{OrderRef.FLAT}%'))"
        )

    # --------------------------------------------------------------------------- decisions

    def equity(self, run_id: str, at: dt.datetime, equity: float, cash: float) -> None:
        """Record an equity snapshot."""
        self.con.execute("INSERT INTO equity VALUES (?, ?, ?, ?)", [run_id, at, equity, cash])

    def equity_recorded(self, at: dt.datetime) -> bool:
        """Return whether an equity snapshot is recorded at ``at`` (by any run)."""
        row = self.con.execute("SELECT count(*) FROM equity WHERE ts = ?", [at]).fetchone()
        return bool(row and row[0])

    def table(self, name: str) -> pd.DataFrame:
        """Return one table (for tests and the cockpit)."""
        if name not in {
            "runs",
            "orders",
            "fills",
            "equity",
            "decisions",
            *DAILY_TABLES,
            *REPORT_TABLES,
            *BOOK_TABLES,
        }:
            raise ValueError(f"no journal table {name!r}")
        return self._frame(f"SELECT * FROM {name}")  # noqa: S608 - fixed names

    def _frame(self, query: str) -> pd.DataFrame:
        frame: pd.DataFrame = self.con.sql(query).to_arrow_table().to_pandas()
        return frame
