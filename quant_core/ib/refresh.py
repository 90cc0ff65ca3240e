"""The worker's data refresh from IB (``live.refresh: broker``): the missing sessions, no more.

:func:`refresh_through` brings the dataset ``data.dataset`` to a session ``T``:

1. **plan** (``ib/refresh_plan.py``): the symbols whose last bar is before ``T``, minus those
   delisted before the session after their last bar; one request each, ``"N D"`` reaching
   back to the symbol's last stored session (asked again: the overlap). A dataset already
   through ``T`` sends nothing and opens no connection.
2. **ib history**: the requests, on the history client id (``ib.client_id`` +
   ``HISTORY_CLIENT_ID_OFFSET``), paced by :class:`~quant_core.ib.history.Pacer` (60 per 10
   minutes, no identical request within 15 s, a pacing violation waited out). A symbol IB
   has no bar for yet ("no data") or no longer knows (200) is noted, not an error for the
   others. Answers are cached under ``<data_dir>/cache/ib-refresh/<dataset>/`` until the
   refresh succeeds, so a retry after a failure half-way asks only for the rest; an answer
   without a bar on ``T`` is not kept (IB lagging on that symbol: the retry asks it again).
3. **Overlap check**: a symbol whose bar on its last stored session differs from the stored
   one (close, relative 1e-6) had its adjusted history changed by a split or dividend: its
   whole history is asked for again (one more request) and upserted, and a note says so.
4. **validate**, **store**: :func:`quant_core.data.sync.sync` with the dataset's own source
   meta (validation, issues file, sync log, the warehouse's lock and atomic commits).
5. **factors**: every factor stored for the dataset that ``make_factor`` knows, plus those
   the strategy's parameters name (its ``model_<id>`` factors loaded first), recomputed from
   the first new bar (or their last stored date) on: incremental, never the whole history,
   unless the bars changed (then the warehouse dropped them and they are computed whole).

Each phase is written to the progress file (``data.refresh_status.write_progress``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from config.schema import AppConfig
from quant_core.calendar import TradingCalendar, get_calendar
from quant_core.data.refresh_status import RefreshOutcome, write_progress
from quant_core.data.sources.base import ProgressFn, SourceBatch
from quant_core.data.sync import sync
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.errors import ConfigError, DataError
from quant_core.factors.base import MODEL_PREFIX
from quant_core.factors.compute import compute_factors
from quant_core.ib import refresh_plan as plans
from quant_core.ib.connection import IBConnection
from quant_core.ib.history import (
    NO_SECURITY,
    HistoryRefusal,
    IBHistorySource,
    Pacer,
    history_connection,
)
from quant_core.ib.refresh_plan import RefreshPlan, SymbolRequest

logger = logging.getLogger(__name__)

REFRESH_CACHE = "ib-refresh"  # <data_dir>/cache/ib-refresh/<dataset>/: answers until success
PHASES = {"write bars": "store"}  # the sync's progress tasks, as the refresh names its phases

Clock = Callable[[], dt.datetime]


@dataclass(slots=True)
class _Fetched:
    bars: pd.DataFrame  # raw rows to validate (date as datetime64)
    notes: list[str] = field(default_factory=list)


class _Progress:
    """``progress(task, done, total)`` writing the refresh's phases to its progress file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, task: str, done: int, total: int) -> None:
        write_progress(self.path, PHASES.get(task, task), done, total)


class _Batch:
    """A prepared batch, as the sync's bar source."""

    def __init__(self, name: str, batch: SourceBatch) -> None:
        self.name, self.batch = name, batch

    def load(self, progress: ProgressFn | None = None) -> SourceBatch:
        """Return the batch (fetched already)."""
        return self.batch


def refresh_through(
    cfg: AppConfig,
    through: dt.date,
    progress_path: Path,
    *,
    pacer: Pacer | None = None,
    clock: Clock | None = None,
) -> RefreshOutcome:
    """Fetch the sessions of ``data.dataset`` missing through ``through``, store, recompute.

    Parameters
    ----------
    cfg
        The configuration: ``data.dataset``, ``paths.data_dir``, ``ib``, ``calendar``,
        ``strategy.params`` (the factors it names), ``data.ohlc_inconsistency``.
    through
        The last session the data must reach.
    progress_path
        Where the phases are written (``plan``, ``ib history``, ``validate``, ``store``,
        ``factors``).
    pacer
        IB's pacing rules (tests and benchmarks inject a clock and a sleep); default: real time.
    clock
        The moment of the refresh, time-zone aware (default: now): the day an open-ended
        request ends on, and the sync's guard against future bars.

    Returns
    -------
    RefreshOutcome
        ``data_through`` is the dataset's last session afterwards; when it is still before
        ``through`` (IB had no bar yet), a note says so and the caller treats it as a failure.

    Raises
    ------
    ConfigError
        ``data.dataset`` is not in the warehouse or holds another source's data (before any
        request); a factor the strategy names cannot be built.
    DataError
        IB did not answer a request, or every row it sent was rejected.
    TemporaryBrokerError
        TWS / IB Gateway cannot be reached.
    """
    now = clock or _utc_now
    progress = _Progress(progress_path)
    progress("plan", 0, 1)
    calendar = get_calendar(cfg.calendar.exchange)
    warehouse = Warehouse(cfg.paths.warehouse_location())
    dataset = cfg.data.dataset
    meta = _ib_meta(warehouse, dataset)
    what = plans.ib_kind(dataset, meta.source)
    names = _factor_names(cfg, warehouse, dataset)  # before the sync: a refetch drops them
    today = now().astimezone(ZoneInfo(calendar.tz)).date()
    coverage = warehouse.coverage(dataset, calendar)
    plan = plans.plan_refresh(
        coverage, warehouse.symbols(dataset), calendar.sessions, through, today, what
    )
    progress("plan", 1, 1)
    notes = _plan_notes(plan)
    requests, rows, rejected, issues, first_new = 0, 0, 0, None, None
    if plan.requests:
        pacer = pacer or Pacer()
        sent = pacer.count
        fetched = _fetch(cfg, plan, warehouse, dataset, calendar, pacer, now, progress)
        requests = pacer.count - sent
        notes += fetched.notes
        if not fetched.bars.empty:
            batch = SourceBatch(
                fetched.bars,
                meta,
                # No reference rows: the sync keeps the stored ones as they are when it holds
                # the lock (a copy read before the fetch would undo a sync made meanwhile).
                notes=(f"refresh through {through}",),
                symbols=None,
            )
            try:
                report = sync(
                    _Batch(f"ib:{what} refresh", batch),
                    warehouse,
                    calendar,
                    dataset,
                    cfg.data.ohlc_inconsistency,
                    progress,
                    clock=now,
                )
            except DataError:
                # Every row refused: the next attempt asks IB again rather than replaying the
                # cached answers (the cache is for a refresh cut short, not for bad answers).
                _clear_cache(cfg.paths.data_dir, dataset)
                raise
            rows, rejected, first_new = report.rows_written, report.rejected, report.first_date
            issues = None if report.issues_file is None else str(report.issues_file)
    data_end = _data_end(warehouse, dataset)
    factors = _recompute(warehouse, dataset, names, first_new, data_end, progress)
    if data_end is None or data_end < through:
        notes.append(f"the dataset still ends {data_end}, before {through}: IB had no bars yet")
    asked = [request.symbol for request in plan.requests]
    behind = plans.still_behind(warehouse.coverage(dataset, calendar), asked, through)
    _clear_cache(cfg.paths.data_dir, dataset)
    outcome = RefreshOutcome(
        data_through=data_end,
        symbols=len(plan.requests),
        requests=requests,
        rows_written=rows,
        rejected=rejected,
        factors=tuple(factors),
        issues_file=issues,
        notes=tuple(notes),
        behind=behind,
    )
    logger.info(
        "Refresh of %s through %s: %d symbols, %d requests, %d rows written, %d rejected, "
        "factors %s",
        dataset,
        through,
        outcome.symbols,
        requests,
        rows,
        rejected,
        ", ".join(factors) or "none",
    )
    for note in notes:
        logger.info("Refresh of %s: %s", dataset, note)
    return outcome


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ib_meta(warehouse: Warehouse, dataset: str) -> DatasetMeta:
    if not warehouse.exists(dataset):
        raise ConfigError(
            f"live.refresh: broker refreshes data.dataset {dataset!r}, which is not in the "
            f"warehouse {warehouse.location}; sync it from IB first (run_data_sync.py --source ib "
            f"--dataset {dataset} --symbols ... --start ...)"
        )
    return warehouse.meta(dataset)


def _factor_names(cfg: AppConfig, warehouse: Warehouse, dataset: str) -> list[str]:
    """Return the factors to keep current: the stored ones make_factor knows, the strategy's."""
    if any(text.startswith(MODEL_PREFIX) for text in plans.strings(cfg.strategy.params)):
        # Imported here: only a strategy naming a stored model needs scikit-learn (0.8 s).
        from quant_core.research.model_factors import load_model_factors

        load_model_factors(cfg.strategy.params, cfg.paths.data_dir)  # model_<id> become known
    stored, unknown = plans.known_factors(warehouse.factor_store.names(dataset))
    for name in unknown:
        logger.info("Stored factor %s of %s is not loaded here: not recomputed", name, dataset)
    wanted = plans.strategy_factors(cfg.strategy.params)
    return list(dict.fromkeys([*stored, *wanted]))


def _plan_notes(plan: RefreshPlan) -> list[str]:
    notes = []
    if plan.delisted:
        notes.append(f"delisted, not asked for: {plans.listed(plan.delisted)}")
    return notes


def _fetch(
    cfg: AppConfig,
    plan: RefreshPlan,
    warehouse: Warehouse,
    dataset: str,
    calendar: TradingCalendar,
    pacer: Pacer,
    clock: Clock,
    progress: ProgressFn,
) -> _Fetched:
    """Ask IB for each planned symbol, check the overlaps, refetch what changed."""
    symbols = [r.symbol for r in plan.requests]
    cache = cfg.paths.data_dir / "cache" / REFRESH_CACHE / dataset
    source = IBHistorySource(
        cfg.ib, symbols, plan.through, plan.through, plan.what, cache, pacer, calendar, clock
    )
    stored = _stored_overlap(warehouse, dataset, plan.requests)
    connection = history_connection(cfg.ib)
    connection.connect()
    frames: list[pd.DataFrame] = []
    refused: list[str] = []
    try:
        for done, request in enumerate(plan.requests, start=1):
            try:
                frame = _ask(source, connection, request.symbol, request.end, request.duration)
            except HistoryRefusal as exc:
                if exc.code != NO_SECURITY:
                    raise
                refused.append(request.symbol)
            else:
                frames.append(frame)
            progress("ib history", done, len(plan.requests))
        bars = plans.dated(frames)
        changed = plans.changed_history(bars, stored)
        by_symbol = {r.symbol: r for r in plan.requests}
        whole = plans.dated([_refetch(source, connection, by_symbol[s], plan) for s in changed])
        firsts = pd.to_datetime(whole["symbol"].map({s: by_symbol[s].first for s in changed}))
    finally:
        connection.disconnect()
    lasts = pd.Series(pd.to_datetime([r.last for r in plan.requests]), index=symbols)
    kept = plans.new_rows(bars[~bars["symbol"].isin(list(changed))], lasts, plan.through)
    # Nothing before the symbol's first stored bar (the dataset's start), nothing after T.
    refetched = whole[(whole["date"] >= firsts) & (whole["date"] <= pd.Timestamp(plan.through))]
    rows = pd.concat([kept, refetched], ignore_index=True)
    # Only exact copies go (a bar two answers both hold); copies that disagree are left to the
    # validation, which rejects them as conflicting_duplicate, as run_data_sync.py does.
    rows = rows.drop_duplicates().reset_index(drop=True)
    notes = [
        f"{s}: IB's adjusted history changed ({why}): its whole history was fetched again"
        for s, why in changed.items()
    ]
    behind = sorted(set(symbols) - set(refused) - set(changed) - set(kept["symbol"]))
    if behind:
        notes.append(f"IB has no bar after the last stored one yet for {plans.listed(behind)}")
    if refused:
        notes.append(
            f"IB knows no security {plans.listed(refused)} (error {NO_SECURITY}): not "
            "refreshed; if delisted, give the date in the dataset's reference data"
        )
    return _Fetched(rows, notes)


def _ask(
    source: IBHistorySource, connection: IBConnection, symbol: str, end: str, duration: str
) -> pd.DataFrame:
    """Return one request's raw answer; one without a bar on ``T`` is not kept for a retry."""
    frame = source.fetch_chunk(connection, symbol, end, duration)
    if source.end is not None and not plans.reaches(frame, source.end):
        source.forget(symbol, end, duration)  # IB lagging on it: a retry asks IB again
    return frame


def _refetch(
    source: IBHistorySource, connection: IBConnection, request: SymbolRequest, plan: RefreshPlan
) -> pd.DataFrame:
    """Return a symbol's whole history again, from its first stored bar (one request)."""
    if plan.what == "ADJUSTED_LAST":
        return _ask(
            source, connection, request.symbol, "", plans.refetch_duration(request, plan.end_day)
        )
    chunked = IBHistorySource(
        source.cfg,
        [request.symbol],
        request.first,
        plan.through,
        plan.what,
        source.cache_dir,
        source.pacer,
    )
    frames = chunked.fetch_symbol(connection, request.symbol)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _stored_overlap(
    warehouse: Warehouse, dataset: str, requests: tuple[SymbolRequest, ...]
) -> pd.DataFrame:
    """Return the stored bar of each request's last session: ``symbol, date, close``."""
    lasts = [r.last for r in requests]
    bars = warehouse.read_bars(
        dataset, [r.symbol for r in requests], min(lasts), max(lasts), fields=("close",)
    )
    wanted = pd.DataFrame({"symbol": [r.symbol for r in requests], "date": pd.to_datetime(lasts)})
    merged: pd.DataFrame = wanted.merge(bars, on=["symbol", "date"], how="inner")
    return merged


def _data_end(warehouse: Warehouse, dataset: str) -> dt.date | None:
    per_session = warehouse.bars_per_session(dataset)
    return None if per_session.empty else pd.Timestamp(per_session.index.max()).date()


def _recompute(
    warehouse: Warehouse,
    dataset: str,
    names: list[str],
    first_new: dt.date | None,
    data_end: dt.date | None,
    progress: ProgressFn,
) -> list[str]:
    """Recompute ``names`` where the bars grew (grouped by first date: one panel read each)."""
    last = {name: warehouse.factor_store.last_date(dataset, name) for name in names}
    starts = plans.factor_starts(last, first_new, data_end)
    groups: dict[dt.date | None, list[str]] = {}
    for name, start in starts.items():
        groups.setdefault(start, []).append(name)
    done, total = 0, len(starts)
    progress("factors", 0, total)
    for start, group in groups.items():
        offset = done

        def step(task: str, n: int, of: int, offset: int = offset) -> None:
            progress("factors", offset + n, total)

        compute_factors(warehouse, dataset, group, start, start is not None, step)
        done += len(group)
    return list(starts)


def _clear_cache(data_dir: Path, dataset: str) -> None:
    """Drop the answers kept for a retry: the refresh they were for has succeeded."""
    folder = data_dir / "cache" / REFRESH_CACHE / dataset
    for path in folder.iterdir() if folder.is_dir() else ():
        if path.suffix in {".parquet", ".partial"}:  # .partial: a write a kill cut short
            path.unlink(missing_ok=True)
