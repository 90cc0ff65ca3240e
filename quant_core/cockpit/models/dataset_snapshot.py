"""What the warehouse holds about one dataset, read once per dataset version (Data page).

:func:`snapshot` reads bars coverage, gaps against the exchange calendar, the sync log, the last
sync's issues file and the stored factors into a :class:`DatasetSnapshot`; the tables and the
chart of the Data page are built from it without further I/O. No Streamlit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from quant_core.calendar import TradingCalendar
from quant_core.data.schema import ISSUE_COLUMNS
from quant_core.data.sync import Gaps, dataset_gaps
from quant_core.data.warehouse import DatasetMeta, Warehouse

SYNC_COMMAND = "python run_data_sync.py --source sample --dataset sp500-2010"


@dataclass(frozen=True, slots=True)
class DatasetSnapshot:
    """What the warehouse holds about one dataset, read once per dataset version.

    Attributes
    ----------
    coverage
        Per symbol: ``symbol, first_date, last_date, rows, missing_sessions`` (calendar
        sessions between its first and last bar without one), as ``Warehouse.coverage``.
    symbol_info
        The source's symbol metadata (``symbol`` plus e.g. name, sector); may be empty.
    bars_per_session
        How many symbols have a bar on each date that has any.
    gaps
        Sessions with no bar at all, and partial sessions, against the exchange calendar.
    last_sync
        The summary of the last sync (``SyncLog.last``), or None.
    syncs
        Every sync summary, oldest first.
    issues
        The last sync's rejected and repaired rows (``ISSUE_COLUMNS``); empty if it had none.
    issues_file
        Where those rows were read from, or None when the last sync wrote no issues file.
    factors
        One row per stored factor: ``factor, first_date, last_date, sessions, values, symbols``.
    """

    name: str
    version: int
    meta: DatasetMeta
    coverage: pd.DataFrame
    symbol_info: pd.DataFrame
    bars_per_session: pd.Series
    gaps: Gaps
    last_sync: dict[str, Any] | None
    syncs: tuple[dict[str, Any], ...]
    issues: pd.DataFrame
    issues_file: Path | None
    factors: pd.DataFrame


def empty_message(warehouse: Warehouse) -> str:
    """Return what to say when the warehouse holds no dataset: the command that fills it."""
    return (
        f"The warehouse at `{warehouse.location}` holds no dataset yet. Load the bundled sample "
        f"with `{SYNC_COMMAND}`, then compute its factors with "
        "`python run_factor_computation.py --dataset sp500-2010`."
    )


def snapshot(warehouse: Warehouse, dataset: str, calendar: TradingCalendar) -> DatasetSnapshot:
    """Read everything the Data page shows about ``dataset``."""
    version = warehouse.version(dataset)
    coverage = warehouse.coverage(dataset, calendar)
    per_session = warehouse.bars_per_session(dataset)
    gaps = dataset_gaps(warehouse, dataset, calendar, coverage, per_session)
    last = warehouse.sync_log.last(dataset)
    issues, issues_file = read_issues(warehouse, dataset, last)
    return DatasetSnapshot(
        name=dataset,
        version=version,
        meta=warehouse.meta(dataset),
        coverage=coverage,
        symbol_info=warehouse.symbols(dataset),
        bars_per_session=per_session,
        gaps=gaps,
        last_sync=last,
        syncs=tuple(warehouse.sync_log.entries(dataset)),
        issues=issues,
        issues_file=issues_file,
        factors=_stored_factors(warehouse, dataset),
    )


def read_issues(
    warehouse: Warehouse, dataset: str, sync: dict[str, Any] | None
) -> tuple[pd.DataFrame, Path | None]:
    """Return the rejected/repaired rows that ``sync`` wrote, and the file they came from.

    The file is looked up in the dataset's ``issues_dir`` by the sync id (the absolute path in
    the summary goes stale when a data folder is moved or copied).
    """
    empty = pd.DataFrame({c: pd.Series([], dtype="object") for c in ISSUE_COLUMNS})
    if not sync or not sync.get("issues_file") or warehouse.store.remote:
        return empty, None  # a published warehouse carries no sync issue files
    path = warehouse.sync_log.issues_dir(dataset) / f"{sync['sync_id']}-issues.csv"
    if not path.is_file():
        return empty, None
    issues = pd.read_csv(path, dtype={"line": "Int64"}, keep_default_na=False, na_values=[""])
    return issues, path


def _stored_factors(warehouse: Warehouse, dataset: str) -> pd.DataFrame:
    rows = []
    for name in warehouse.factor_store.names(dataset):
        panel = warehouse.factor_store.panel(dataset, name)
        have = panel.notna()
        rows.append(
            {
                "factor": name,
                "first date": panel.index.min().date() if len(panel) else None,
                "last date": panel.index.max().date() if len(panel) else None,
                "sessions": len(panel),
                "values": int(have.to_numpy().sum()),
                "symbols": int(have.any(axis=0).sum()),
            }
        )
    columns = ["factor", "first date", "last date", "sessions", "values", "symbols"]
    return pd.DataFrame(rows, columns=columns)


def date_range(snap: DatasetSnapshot) -> tuple[dt.date | None, dt.date | None]:
    """Return the dataset's first and last bar date (None, None when it holds no bar)."""
    return _first(snap), _last(snap)


def _first(snap: DatasetSnapshot) -> dt.date | None:
    first = snap.coverage["first_date"]
    return first.min().date() if len(first) else None


def _last(snap: DatasetSnapshot) -> dt.date | None:
    last = snap.coverage["last_date"]
    return last.max().date() if len(last) else None
