"""The account at each session's close: equity and sector exposure, journaled once per session.

The Live Dashboard draws sector exposure over time and the realised volatility of the account
from these rows, as a stored run's risk frames do for a backtest. A row is taken after the close
of a session and before the next session opens, by the market clock (the replay takes it right
after marking the close): the broker's net liquidation, and each held position's market value
(``quantity x`` the data's last close where the broker has no price) as a fraction of it, by
the sector of the reference data (``Unknown`` for a name it lacks). A worker that was not
running between a close and the next open leaves that session out rather than record a later
figure under its date.

Rows go into the journal (``live/journal_daily.py``: one per account and session, replaced if
taken again) and the last :data:`DAILY_KEPT` are kept in the state document's ``daily``, read
back from the journal at start, so a restart or a kill loses none.

Then the session's daily report (``live/report_worker.py``): journaled, written into
``<live_dir>/reports/`` (a page per session and the account's parquet files, written again from
the journal at start) and announced (``AlertEvent.DAILY_REPORT``: a short text, no account id).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from quant_core.alerts.events import AlertEvent
from quant_core.broker import Position
from quant_core.data.panels import MarketData, forward_fill
from quant_core.live.allocators import give_back
from quant_core.live.daily_report import summary
from quant_core.live.report_worker import record_report, restore_files, write_reports
from quant_core.live.state_risk import DailyClose, SectorExposureRow
from quant_core.portfolio.risk_report import UNKNOWN_SECTOR, sector_exposure, sector_names

if TYPE_CHECKING:
    from quant_core.live.worker import Worker

logger = logging.getLogger(__name__)

DAILY_KEPT = 260  # session closes in the state document: a year and some


def close_row(
    session: dt.date, positions: Sequence[Position], nav: float, data: MarketData
) -> DailyClose:
    """Return the account's row at the close of ``session`` (fractions of ``nav``).

    With a net liquidation that is not a positive number, the exposures are left empty.
    """
    equity = nav if math.isfinite(nav) else None
    held = [p for p in positions if p.quantity != 0]
    if equity is None or equity <= 0 or not held:
        return DailyClose(session, equity, 0.0, ())
    sector_of = dict(zip(data.symbols, sector_names(data), strict=True))
    last: np.ndarray | None = None
    weights: list[float] = []
    sectors: list[str] = []
    for position in held:
        value = position.market_value
        if not math.isfinite(value):
            if last is None:
                last = forward_fill(data.panels["close"])[-1]
            i = data.symbol_index.get_indexer(pd.Index([position.symbol], dtype=object))[0]
            value = position.quantity * float(last[i]) if i >= 0 else math.nan
        if not math.isfinite(value):
            continue  # no price at all: not a figure to draw
        weights.append(value / equity)
        sectors.append(str(sector_of.get(position.symbol, UNKNOWN_SECTOR)))
    # The risk report's own sums (long, short, gross, net per sector, sorted by name).
    frame = sector_exposure(np.array(weights, dtype=float), np.array(sectors, dtype=object))
    rows = tuple(
        SectorExposureRow(str(sector), *map(float, values))
        for sector, values in zip(frame.index, frame.to_numpy(), strict=True)
    )
    return DailyClose(session, equity, sum(r.gross for r in rows), rows)


class DailyCloseWatch:
    """Take one row per session close for a worker, and keep the last :data:`DAILY_KEPT`."""

    def __init__(self) -> None:
        self.rows: deque[DailyClose] = deque(maxlen=DAILY_KEPT)
        self.loaded = False
        self.since: dt.datetime | None = None  # the last report's time: commands after it
        self.pending: list[dt.date] | None = None  # reports whose files wait (defer())
        # The last close on record without its report (a kill between the two): made again once.
        self.unreported: dt.date | None = None

    def load(self, worker: Worker) -> None:
        """Read the account's last rows back from the journal (at start, once connected).

        The reports' files are written again from the journal (a kill may have cut them).
        """
        mode, account = worker.options.mode, worker.broker.account_id
        self.rows.clear()
        self.rows.extend(worker.journal.daily_closes(mode, account, DAILY_KEPT))
        self.since = worker.journal.last_report_at(str(mode), account) or worker.started_at
        last = self.rows[-1].session if self.rows else None
        reported = worker.journal.report_rows(str(mode), account)["session"]
        done = {pd.Timestamp(s).date() for s in reported}
        self.unreported = last if last is not None and last not in done else None
        restore_files(worker)
        self.loaded = True

    def due(self, worker: Worker) -> dt.date | None:
        """Return the session whose close is to be recorded now, or None.

        The last completed session, if it is not recorded yet and no later session has opened;
        or recorded without its report (a kill between the close row and the report): it is
        taken again, once, so the report is made.
        """
        now = worker.clock()
        last = worker.calendar.last_completed_session(now)
        if last is None or worker.calendar.last_opened_session(now) != last:
            return None
        if not self.rows or self.rows[-1].session < last or self.unreported == last:
            return last
        return None

    def record(self, worker: Worker, session: dt.date) -> DailyClose:
        """Record the account at the close of ``session``: the journal, then the state's rows."""
        if not self.loaded:
            self.load(worker)
        self.unreported = None  # one try: a report that fails again is an error, not a loop
        account = worker.broker.account()
        row = close_row(session, worker.broker.positions(), account.net_liquidation, worker.data)
        worker.journal.record_close(
            worker.options.mode,
            worker.broker.account_id,
            worker.run_id,
            worker.wall(),
            row,
            account.cash,
        )
        kept = [r for r in self.rows if r.session != session]
        self.rows.clear()
        self.rows.extend(sorted([*kept, row], key=lambda r: r.session)[-DAILY_KEPT:])
        self.report(worker, session, row, account.cash)
        give_back()  # the day's transient frames: their pages back to the system
        return row

    def report(self, worker: Worker, session: dt.date, row: DailyClose, cash: float) -> None:
        """Make the daily report of ``session`` (``live.report_worker``) and announce it.

        The close row is on record whatever happens here: a report that fails is reported as an
        error (the worker goes on), and announced by the row's figures alone.
        """
        since, now = self.since or worker.started_at, worker.wall()
        title = f"Daily report {session.isoformat()}"
        try:
            write = self.pending is None
            document = record_report(worker, session, row, cash, (since, now), write=write)
        except Exception as exc:  # the worker loop's boundary: report, carry on
            logger.exception("The daily report of %s failed", session)
            worker.report_error(f"daily report of {session} failed: {type(exc).__name__}: {exc}")
            equity = "n/a" if row.equity is None else f"${row.equity:,.2f}"
            text = f"Close of {session.isoformat()}: equity {equity} (no report: see the errors)."
            worker.alerts.notify(AlertEvent.DAILY_REPORT, title, text)
            return
        self.since = now
        if self.pending is not None:
            self.pending.append(session)
        worker.alerts.notify(AlertEvent.DAILY_REPORT, title, summary(document))

    def defer(self) -> None:
        """Journal each report at once, and write the files at :meth:`flush` only.

        A replay at full speed (nobody reads a page a millisecond old): the files of a few
        hundred sessions are written once, at its end, not rewritten at every close.
        """
        self.pending = []

    def flush(self, worker: Worker) -> None:
        """Write the files of the reports deferred since :meth:`defer` (and stop deferring)."""
        if self.pending is None:
            return
        sessions, self.pending = self.pending, None
        if sessions:
            write_reports(worker, sorted(set(sessions)))
