"""The worker's daily report: made at each session's close, journaled, then written as files.

:func:`record_report` runs in ``DailyCloseWatch.record`` (``live/daily_close.py``), right after
the session's close row, and:

1. reads the account's fills from the journal; those of the session without an arrival price
   are asked of the broker (:class:`~quant_core.broker.SessionOpens`: the simulated broker's
   opens, IB's daily bar of the session), left NULL when it cannot say;
2. makes the report (``live/daily_report.py``): P&L by position against the broker's positions
   at the close, the fills' slippage, exposure from the close row, the limits' usage from the
   risk state, the commands acknowledged (the audit log, ``commands.log.jsonl``) and the errors
   recorded since the previous report;
3. journals it (``journal_reports``: one row per account and session, the arrival prices with
   it, one transaction), then writes ``<live_dir>/reports/`` from the journal
   (``live/report_files.py``). A kill between the two loses nothing: :func:`restore_files`, at
   the worker's start, writes the files again from the journal, as does the next close.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quant_core.atomic import json_safe
from quant_core.broker import SessionOpens
from quant_core.errors import OperationalError, TemporaryBrokerError
from quant_core.live.crash_hook import crash_point_for_tests
from quant_core.live.daily_report import build_document, daily_figures, limit_rows
from quant_core.live.files import AUDIT_FILE
from quant_core.live.report_book import position_rows
from quant_core.live.report_files import REPORTS, Account, account_fills, write_files
from quant_core.live.state import WorkerMode
from quant_core.live.state_fields import parse_time
from quant_core.live.state_risk import DailyClose

if TYPE_CHECKING:
    from quant_core.live.worker import Worker

logger = logging.getLogger(__name__)

COMMAND_FIELDS = ("at", "id", "command", "source", "accepted", "result")


def account_of(worker: Worker) -> Account:
    """Return whose reports the worker writes, with its data and calendar."""
    return Account(
        mode=str(worker.options.mode),
        account=worker.broker.account_id,
        zone=worker.zone,
        data=worker.data,
        closes=worker.planner.closes,
        sessions=trading_days(worker),
        stop_loss=worker.cfg.risk.stop_loss,
        gone_exits=worker.options.mode is WorkerMode.SIM,
    )


def trading_days(worker: Worker) -> pd.DatetimeIndex:
    """Return the sessions a round trip's length is counted in: the data's, then the calendar's.

    The dates of the warehouse's bars, as the backtest counts them (a replay's trips last as
    long as the backtest's), and the exchange's sessions after the data's last close (live).
    """
    dates = pd.DatetimeIndex(worker.data.dates)
    calendar = pd.DatetimeIndex(worker.calendar.sessions)
    later = calendar[calendar > dates[-1]] if len(dates) else calendar
    return pd.DatetimeIndex(dates.append(later), dtype="datetime64[ns]")


def reports_dir(worker: Worker) -> Path:
    """Return ``<live_dir>/reports``."""
    return worker.live_dir / REPORTS


def record_report(
    worker: Worker,
    session: dt.date,
    close: DailyClose,
    cash: float,
    span: tuple[dt.datetime, dt.datetime],
    *,
    write: bool = True,
) -> dict[str, Any]:
    """Make, journal and write the report of ``session``; return its document.

    ``close``: the session's close row, just recorded; ``span``: the previous report's time and
    now (wall clock): the commands and errors between are this report's. ``write``: the files
    now (False: the caller writes them later, :func:`write_reports`).
    """
    who = account_of(worker)
    journal = worker.journal
    raw = journal.report_fills(who.mode, who.account)
    fills = account_fills(journal, who, raw)
    arrivals = _arrivals(worker, session, raw, fills)
    if arrivals:
        learnt = raw["exec_id"].map(arrivals)
        raw = raw.assign(arrival_price=raw["arrival_price"].fillna(learnt))
        fills = account_fills(journal, who, raw)
    start, end = _prices(worker, session)
    positions = position_rows(fills, session, worker.broker.positions(), start, end)
    figures = worker.risk_state
    since, now = span
    document = build_document(
        session,
        mode=who.mode,
        close=close,
        cash=cash,
        previous_equity=journal.close_before(who.mode, who.account, session),
        fills=fills[fills["session"] == session],
        positions=positions,
        limits=limit_rows(
            worker.cfg,
            close.equity,
            figures.day_start_equity,
            figures.peak_equity,
            close,
            positions,
        ),
        commands=audit_since(worker.live_dir, since, now),
        errors=[
            {"at": e.at.isoformat(), "message": e.message}
            for e in worker.errors
            if since < e.at <= now
        ],
    )
    text = json.dumps(json_safe(document), default=str)
    journal.record_report(
        who.mode, who.account, worker.run_id, now, daily_figures(document), text, arrivals
    )
    crash_point_for_tests("writing_reports")  # journaled; the files follow (or the next start)
    if write:
        write_reports(worker, [session], fills)
    return document


def write_reports(
    worker: Worker, sessions: list[dt.date] | None = None, fills: pd.DataFrame | None = None
) -> None:
    """Write the reports' files from the journal: the pages of ``sessions`` and the parquet files.

    ``sessions`` None: every page missing or older than its report. A failure to write (a full
    disk) is reported, not raised: the journal has the report, the next close writes it.
    """
    try:
        write_files(reports_dir(worker), worker.journal, account_of(worker), sessions, fills)
    except OSError as exc:
        worker.report_error(f"daily reports not written ({exc}); written again at the next close")


def restore_files(worker: Worker) -> None:
    """Write the reports' files again from the journal (at start: a kill may have cut them).

    Pages missing are written; the parquet files are rewritten whole. Nothing is written for
    an account with no report, unless the folder is there (an earlier account's files).
    """
    mode, account = str(worker.options.mode), worker.broker.account_id
    if not reports_dir(worker).is_dir() and worker.journal.last_report_at(mode, account) is None:
        return
    write_reports(worker)


def audit_since(live_dir: Path, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Return the commands acknowledged in ``(since, until]``, from the audit log.

    A line that is not a JSON object with a time is skipped (the log is appended by the worker
    only, a line at a time; a torn last line after a crash is the only way one is unreadable).
    """
    path = live_dir / AUDIT_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        at = parse_time(entry.get("at")) if isinstance(entry, dict) else None
        if at is not None and since < at <= until:
            out.append({k: entry.get(k) for k in COMMAND_FIELDS})
    return out


def _arrivals(
    worker: Worker, session: dt.date, raw: pd.DataFrame, fills: pd.DataFrame
) -> dict[str, float]:
    # The session's fills with no arrival price yet: asked of the broker, by symbol.
    broker = worker.broker
    if raw.empty or not isinstance(broker, SessionOpens):
        return {}
    missing = (
        (fills["session"] == session).to_numpy()
        & raw["arrival_price"].isna().to_numpy()
        & (raw["exec_id"].astype(str) != "").to_numpy()
    )
    if not missing.any():
        return {}
    symbols = sorted(set(raw.loc[missing, "symbol"].astype(str)))
    try:
        opens = broker.session_opens(symbols, session)
    except (TemporaryBrokerError, OperationalError, TimeoutError) as exc:
        logger.warning("No arrival prices for %s: %s", session, exc)
        return {}
    return {
        str(e): float(opens[s])
        for e, s in zip(raw.loc[missing, "exec_id"], raw.loc[missing, "symbol"], strict=True)
        if s in opens
    }


def _prices(worker: Worker, session: dt.date) -> tuple[pd.Series, pd.Series]:
    # The closes of T-1 (the session's start) and of the session, where the data has them.
    data, closes = worker.data, worker.planner.closes
    row = int(np.searchsorted(data.dates, np.datetime64(session, "D")))
    nan = np.full(len(data.symbols), np.nan)
    start = closes[row - 1] if 1 <= row <= len(closes) else nan
    on_row = row < len(data.dates) and data.dates[row] == np.datetime64(session, "D")
    end = closes[row] if on_row else nan
    index = data.symbol_index
    return pd.Series(start, index=index, dtype=float), pd.Series(end, index=index, dtype=float)
