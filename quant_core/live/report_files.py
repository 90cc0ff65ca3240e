"""The files of ``<live_dir>/reports/``, written from the journal alone, each atomically.

Per account (``mode`` and ``account``), from the journal's rows (``live/journal_reports.py``):

- ``daily-<YYYY-MM-DD>.html``: a session's report (``live/report_html.py``), from its document;
- ``fills.parquet``: every fill of the account (``daily_report.REPORT_FILL_COLUMNS``);
- ``round_trips.parquet``: the round trips of those fills (``analytics.round_trips``), the trips
  still open marked at the latest report's closing prices (else the data's last close);
- ``positions.parquet``: the portfolio window at the latest report's close
  (``report_book.POSITION_COLUMNS``);
- ``daily.parquet``: one row per session reported (``journal_reports.DAILY_COLUMNS``).

Each file is a temporary file, flushed, fsynced and renamed (``quant_core.atomic``), parquet
files rewritten whole: a reader sees the old file or the new one. As they are made from the
journal only, writing them again (the next close, or the worker's start after a kill between the
journal's row and the files) loses nothing and doubles nothing; the temporary files a kill left
are removed then.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from quant_core.analytics.round_trips import round_trips
from quant_core.atomic import fsync_path
from quant_core.data.panels import MarketData
from quant_core.live.crash_hook import crash_point_for_tests
from quant_core.live.daily_report import analytics_fills, report_fills
from quant_core.live.journal import Journal
from quant_core.live.journal_reports import DAILY_COLUMNS
from quant_core.live.report_book import POSITION_COLUMNS, SESSION_COLUMNS, tws_rows
from quant_core.live.report_html import render

REPORTS = "reports"  # under the live folder
FILLS_FILE, TRIPS_FILE = "fills.parquet", "round_trips.parquet"
POSITIONS_FILE, DAILY_FILE = "positions.parquet", "daily.parquet"


def html_name(session: dt.date) -> str:
    """Return the file name of ``session``'s report: ``daily-<YYYY-MM-DD>.html``."""
    return f"daily-{session.isoformat()}.html"


@dataclass(frozen=True, slots=True)
class Account:
    """Whose reports, and what their figures are read with (the worker's data and calendar)."""

    mode: str
    account: str
    zone: ZoneInfo
    data: MarketData
    closes: np.ndarray  # the data's forward-filled closes
    sessions: pd.DatetimeIndex  # the exchange's sessions: a round trip's length is counted in them
    stop_loss: float | None  # risk.stop_loss: a round trip's R-multiple
    gone_exits: bool  # the simulated broker: a fill where the data has no open was an exit


def account_fills(journal: Journal, who: Account, raw: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return every fill of the account (``daily_report.report_fills``) from the journal."""
    raw = journal.report_fills(who.mode, who.account) if raw is None else raw
    return report_fills(raw, who.zone, who.data, who.closes, gone_exits=who.gone_exits)


def write_files(
    folder: Path,
    journal: Journal,
    who: Account,
    html_sessions: list[dt.date] | None = None,
    fills: pd.DataFrame | None = None,
) -> list[Path]:
    """Write the account's files into ``folder`` from the journal; return the paths written.

    ``html_sessions``: the sessions whose page is written (None: each one whose page is
    missing or older than its report). ``fills``: the account's fills when the caller has just
    read them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for left in folder.glob(".*.tmp"):  # a write a kill cut short (the worker writes alone)
        left.unlink(missing_ok=True)
    fills = account_fills(journal, who) if fills is None else fills
    daily = journal.report_rows(who.mode, who.account)
    latest = daily["session"].max() if len(daily) else None
    documents = journal.report_documents(
        who.mode, who.account, None if latest is None else [latest]
    )
    positions = _positions(documents.get(latest) if latest is not None else None)
    marks = _marks(who, positions, latest)
    mark_date = pd.Timestamp(latest) if latest is not None else None
    trips = round_trips(
        analytics_fills(fills),
        marks=marks,
        mark_date=mark_date,
        sessions=who.sessions,
        stop_loss=who.stop_loss,
    )
    journal.record_round_trips(who.mode, who.account, trips)  # the journal keeps them too
    files = {
        FILLS_FILE: _parquet(fills),
        TRIPS_FILE: _parquet(trips),
        POSITIONS_FILE: _parquet(tws_rows(positions)),
        DAILY_FILE: _parquet(daily[list(DAILY_COLUMNS)]),
    }
    if html_sessions is None:
        html_sessions = [
            pd.Timestamp(s).date()
            for s, at in zip(daily["session"], daily["ts"], strict=True)
            if _stale(folder / html_name(pd.Timestamp(s).date()), at)
        ]
    if html_sessions:
        pages = journal.report_documents(who.mode, who.account, html_sessions)
        for session, document in pages.items():
            files[html_name(session)] = render(json.loads(document)).encode()
    return write_atomically(folder, files)


def write_atomically(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Replace each file of ``folder`` named in ``files`` with its bytes, each atomically.

    Each a temporary file, flushed and fsynced, then all renamed and the folder fsynced once
    (``quant_core.atomic``'s steps, for a batch): a reader sees each file old or new.
    """
    temporary: list[tuple[Path, Path]] = []
    try:
        for name, data in files.items():
            fd, where = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
            temporary.append((Path(where), folder / name))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, path in temporary:
            os.replace(tmp, path)
            crash_point_for_tests("renaming_reports")  # some files new, the others not yet
    except BaseException:
        for tmp, _ in temporary:
            tmp.unlink(missing_ok=True)
        raise
    fsync_path(folder)
    return [path for _, path in temporary]


def _stale(page: Path, made: Any) -> bool:
    # A page missing, or written before its report was (last) made.
    try:
        written = page.stat().st_mtime
    except FileNotFoundError:
        return True
    return bool(pd.isna(made)) or written < pd.Timestamp(made).timestamp()


def _positions(document: str | None) -> pd.DataFrame:
    # The latest report's P&L by position (every row: the portfolio window's are among them).
    rows: list[dict[str, Any]] = [] if document is None else json.loads(document)["positions"]
    frame = pd.DataFrame(rows, columns=list(SESSION_COLUMNS))
    for column in SESSION_COLUMNS[1:-1]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["symbol"] = frame["symbol"].astype(object)
    return frame


def _marks(who: Account, positions: pd.DataFrame, latest: dt.date | None) -> pd.Series:
    # The latest report's closing prices; for a symbol it lacks, the data's last close through
    # that session (never a later one).
    dates = who.data.dates
    row = (
        len(dates)
        if latest is None
        else int(np.searchsorted(dates, np.datetime64(latest, "D"), side="right"))
    )
    row = min(row, len(who.closes))
    base = who.closes[row - 1] if row >= 1 else np.full(len(who.data.symbols), np.nan)
    last = pd.Series(base, index=who.data.symbol_index, dtype=float)
    mine = pd.Series(
        positions["market_price"].to_numpy(dtype=float), index=positions["symbol"].astype(str)
    ).dropna()
    marks = pd.concat([last[~last.index.isin(mine.index)], mine]).dropna()
    out: pd.Series = marks.astype(float)
    return out


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


__all__ = ["POSITION_COLUMNS", "REPORTS", "Account", "html_name", "write_files"]
