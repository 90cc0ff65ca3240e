"""One sync: source -> validation -> warehouse, with a report of everything that happened.

Order matters for "nothing is lost": the issues file (every rejected or repaired row, with its
rule) is written before the bars, so even a sync whose every row is rejected leaves its reasons
on disk. Good rows are written even when some are rejected; ``--strict`` turns rejections into
a non-zero exit code, it does not hold back good data.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from quant_core.atomic import atomic_write_bytes
from quant_core.calendar import TradingCalendar
from quant_core.data import reference
from quant_core.data.schema import ISSUE_COLUMNS, validate_bars
from quant_core.data.sources.base import BarSource, ProgressFn, SourceBatch
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.errors import DataError
from quant_core.runs import new_run_id
from quant_core.types import IssueAction, Rule

logger = logging.getLogger(__name__)

# A session is "partial" when fewer than this share of the symbols listed before and after it
# have a bar on it (sp500-2010's 2009-11-12 has 408 of about 500).
PARTIAL_SESSION_SHARE = 0.9
MIN_SYMBOLS_FOR_PARTIAL = 10


@dataclass(frozen=True, slots=True)
class Gaps:
    """Sessions missing from a dataset as a whole, and sessions with too few bars."""

    missing: tuple[dt.date, ...]
    partial: tuple[tuple[dt.date, int, int], ...]  # (session, bars, symbols listed)


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync read, wrote, rejected and repaired."""

    sync_id: str
    dataset: str
    source: str
    label: str
    synthetic: bool
    started_at: dt.datetime
    finished_at: dt.datetime
    rows_in: int
    rows_written: int
    rows_replaced: int
    rejected: int
    repaired: int
    symbols: int
    first_date: dt.date | None
    last_date: dt.date | None
    by_rule: dict[str, dict[str, int]]
    notes: tuple[str, ...]
    gaps: Gaps
    issues_file: Path | None
    unknown_sectors: int = 0  # symbols of this sync the reference data gives no sector
    unfetched: tuple[str, ...] = ()  # symbols asked for the source could not give (IB 200)

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (for the sync log and ``--json``)."""
        data = asdict(self)
        data["issues_file"] = str(self.issues_file) if self.issues_file else None
        return data


def find_gaps(
    per_session: pd.Series, first: pd.Series, last: pd.Series, calendar: TradingCalendar
) -> Gaps:
    """Find sessions with no bar at all, and sessions with too few bars.

    Parameters
    ----------
    per_session
        Number of bars on each date that has any (a ``DatetimeIndex``).
    first, last
        Each symbol's first and last bar date.
    calendar
        The exchange calendar.
    """
    if per_session.empty:
        return Gaps((), ())
    dates = per_session.index.to_numpy(dtype="datetime64[D]")
    sessions = calendar.sessions_in_range(
        pd.Timestamp(dates.min()).date(), pd.Timestamp(dates.max()).date()
    )
    missing = sessions[~np.isin(sessions, dates)]
    firsts = np.sort(first.to_numpy(dtype="datetime64[D]"))
    lasts = np.sort(last.to_numpy(dtype="datetime64[D]"))
    listed = np.searchsorted(firsts, dates, "right") - np.searchsorted(lasts, dates, "left")
    counts = per_session.to_numpy()
    short = (listed >= MIN_SYMBOLS_FOR_PARTIAL) & (counts < PARTIAL_SESSION_SHARE * listed)
    return Gaps(
        tuple(pd.Timestamp(d).date() for d in missing),
        tuple(
            (pd.Timestamp(d).date(), int(n), int(k))
            for d, n, k in zip(dates[short], counts[short], listed[short], strict=True)
        ),
    )


def dataset_gaps(
    warehouse: Warehouse,
    dataset: str,
    calendar: TradingCalendar,
    coverage: pd.DataFrame | None = None,
    per_session: pd.Series | None = None,
) -> Gaps:
    """Return the gaps of a whole stored dataset.

    ``coverage`` and ``per_session`` are read from the warehouse unless the caller
    already holds them.
    """
    if coverage is None:
        coverage = warehouse.coverage(dataset, calendar)
    if per_session is None:
        per_session = warehouse.bars_per_session(dataset)
    return find_gaps(per_session, coverage["first_date"], coverage["last_date"], calendar)


def sync(
    source: BarSource,
    warehouse: Warehouse,
    calendar: TradingCalendar,
    dataset: str,
    ohlc_default: Literal["reject", "repair"] = "reject",
    progress: ProgressFn | None = None,
    *,
    replace: bool = False,
    clock: Callable[[], dt.datetime] | None = None,
) -> SyncReport:
    """Load ``source``, validate its rows and upsert the good ones into ``dataset``.

    Parameters
    ----------
    source
        Where the bars come from.
    warehouse
        Where they go.
    calendar
        Dates must be its sessions.
    dataset
        Warehouse dataset name.
    ohlc_default
        Rule for high/low contradicting open/close when the source states none.
    progress
        ``progress(task, done, total)`` for long steps.
    replace
        Rebuild ``dataset`` from this source alone, dropping what it held (atomically).
    clock
        Returns the time-zone aware moment of the sync (default: now, UTC); rows dated after
        the last session completed by then are rejected as ``future_date``.

    Raises
    ------
    DataError
        The source is unusable, ``dataset`` holds another source's data (checked before
        loading when the source has a ``meta`` attribute), or no row survived validation (the
        issues file is still written).
    """
    now = clock or _utc_now
    started = _aware(now())
    sync_id = new_run_id(started)
    known = getattr(source, "meta", None)  # a source that knows its label before loading
    if isinstance(known, DatasetMeta):  # (IB): refused before anything is fetched
        warehouse.check_source(dataset, known, replace)
    batch = source.load(progress)
    warehouse.check_source(dataset, batch.meta, replace)
    logger.info("Validating %d rows from %s", len(batch.bars), source.name)
    result = validate_bars(batch.bars, calendar, ohlc=batch.ohlc or ohlc_default, now=started)
    issues = _with_malformed(result.issues, batch)
    issues_file = _write_issues(warehouse.sync_log.issues_dir(dataset), sync_id, issues)
    if progress is not None:
        progress("validate", 1, 1)
    if result.bars.empty:
        where = f"; see {issues_file}" if issues_file else ""
        raise DataError(f"{source.name}: no valid rows ({len(issues)} rejected){where}")
    bars = result.bars
    made: list[tuple[pd.DataFrame, list[str]]] = []

    def symbols_for(previous: pd.DataFrame | None) -> pd.DataFrame:
        # Under the writers' lock, from the table stored then: a sync beside this one keeps
        # its rows (merged from a table read before the lock, they would be lost). Replacing,
        # the symbols it keeps keep their stored rows; the others' go with their bars.
        if replace and previous is not None:
            previous = previous[previous["symbol"].isin(bars["symbol"].unique())]
        made.append(
            reference.for_sync(
                batch.symbols, bars["symbol"].unique(), previous, batch.meta.source, dataset
            )
        )
        return made[-1][0]

    dropped = _dropped(warehouse, dataset, bars) if replace else ()
    # Bars and reference data go in one commit: a kill leaves both old or both new.
    written = warehouse.write_bars(
        dataset, bars, batch.meta, progress, replace=replace, symbols=symbols_for
    )
    stored, unused = made[-1]
    notes = batch.notes + _unused_note(unused) + _dropped_note(dropped)
    firsts = bars.groupby("symbol")["date"].agg(["min", "max"])
    gaps = find_gaps(bars.groupby("date").size(), firsts["min"], firsts["max"], calendar)
    report = SyncReport(
        sync_id=sync_id,
        dataset=dataset,
        source=source.name,
        label=batch.meta.label,
        synthetic=batch.meta.synthetic,
        started_at=started,
        finished_at=_aware(now()),
        rows_in=len(batch.bars) + (0 if batch.malformed is None else len(batch.malformed)),
        rows_written=written.rows_written,
        rows_replaced=written.rows_replaced,
        rejected=result.rejected + (0 if batch.malformed is None else len(batch.malformed)),
        repaired=result.repaired,
        symbols=int(bars["symbol"].nunique()),
        first_date=pd.Timestamp(bars["date"].min()).date(),
        last_date=pd.Timestamp(bars["date"].max()).date(),
        by_rule=_by_rule(issues),
        notes=notes,
        gaps=gaps,
        issues_file=issues_file,
        unknown_sectors=reference.unknown_sectors(stored[stored["symbol"].isin(bars["symbol"])]),
        unfetched=batch.unfetched,
    )
    warehouse.sync_log.record(dataset, report.to_json())
    _log_report(report)
    return report


def _unused_note(unused: list[str]) -> tuple[str, ...]:
    if not unused:
        return ()
    shown = ", ".join(unused[:10]) + (f" and {len(unused) - 10} more" if len(unused) > 10 else "")
    return (
        f"reference data of {len(unused)} symbol(s) left out (no bars in this sync, and not in "
        f"the dataset's stored reference table): {shown}",
    )


def _dropped(warehouse: Warehouse, dataset: str, bars: pd.DataFrame) -> tuple[str, ...]:
    """Return the symbols ``dataset`` holds bars of that ``bars`` has none of (sorted)."""
    if not warehouse.exists(dataset) or not warehouse.store.load(dataset, required=True).partitions:
        return ()
    held = warehouse.store.query(dataset, "DISTINCT symbol", None, None, None, "ORDER BY symbol")
    kept = set(bars["symbol"].unique())
    return tuple(str(x) for x in held.column("symbol").to_pylist() if x not in kept)


def _dropped_note(dropped: tuple[str, ...]) -> tuple[str, ...]:
    if not dropped:
        return ()
    shown = ", ".join(dropped[:10]) + (
        f" and {len(dropped) - 10} more" if len(dropped) > 10 else ""
    )
    note = (
        f"--replace dropped {len(dropped)} symbol(s) the dataset held and this source has no "
        f"bars of (their bars, reference data and stored factors are gone): {shown}"
    )
    logger.warning("%s", note)
    return (note,)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"the sync's clock must give a time-zone aware time, got {moment!r}")
    return moment.astimezone(dt.UTC)


def _with_malformed(issues: pd.DataFrame, batch: SourceBatch) -> pd.DataFrame:
    if batch.malformed is None or batch.malformed.empty:
        return issues
    bad = batch.malformed
    extra = pd.DataFrame(
        {
            "source": bad["_source"].astype("string"),
            "line": bad["_line"].astype("Int64").array,
            "symbol": pd.NA,
            "date": pd.NA,
            "rule": Rule.MALFORMED_LINE.value,
            "action": IssueAction.REJECTED.value,
            "detail": bad["detail"].astype("string"),
        },
        columns=list(ISSUE_COLUMNS),
    )
    return pd.concat([issues, extra], ignore_index=True).sort_values(
        ["source", "line"], na_position="last", kind="stable"
    )


def _write_issues(folder: Path, sync_id: str, issues: pd.DataFrame) -> Path | None:
    if issues.empty:
        return None
    path = folder / f"{sync_id}-issues.csv"
    atomic_write_bytes(path, issues.to_csv(index=False).encode())
    logger.warning("%d row(s) rejected or repaired; each is listed in %s", len(issues), path)
    return path


def _by_rule(issues: pd.DataFrame) -> dict[str, dict[str, int]]:
    counts = issues.groupby(["rule", "action"]).size().reset_index(name="n")
    out: dict[str, dict[str, int]] = {}
    for rule, action, n in zip(counts["rule"], counts["action"], counts["n"], strict=True):
        out.setdefault(str(rule), {})[str(action)] = int(n)
    return out


def _log_report(report: SyncReport) -> None:
    logger.info(
        "Sync %s into %s: %d rows in, %d written (%d replaced), %d rejected, %d repaired",
        report.sync_id,
        report.dataset,
        report.rows_in,
        report.rows_written,
        report.rows_replaced,
        report.rejected,
        report.repaired,
    )
    logger.info(
        "Reference data: %d symbols, %d with sector %s",
        report.symbols,
        report.unknown_sectors,
        reference.UNKNOWN,
    )
    if report.gaps.missing:
        logger.info("Sessions with no bar at all: %s", ", ".join(map(str, report.gaps.missing)))
    for day, bars, listed in report.gaps.partial:
        logger.info("Partial session %s: %d bars of %d listed symbols", day, bars, listed)
