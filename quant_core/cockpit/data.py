"""The Data page's numbers, tables and chart (no streamlit: the view only lays them out).

:func:`snapshot` reads what the warehouse holds about one dataset (bars coverage, gaps against
the exchange calendar, the sync log, the last sync's issues file, stored factors); every other
function turns a snapshot into a table, a line of text or a figure, without I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from quant_core.calendar import TradingCalendar
from quant_core.cockpit.theme import COLORS, DOWN, style
from quant_core.data.schema import ISSUE_COLUMNS
from quant_core.data.sync import Gaps, find_gaps
from quant_core.data.warehouse import DatasetMeta, Warehouse

SYNC_COMMAND = "python run_data_sync.py --source sample --dataset sp500-2010"
PARTIAL = "#E69F00"


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
        The summary of the last sync (``Warehouse.last_sync``), or None.
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
        f"The warehouse at `{warehouse.root}` holds no dataset yet. Load the bundled sample "
        f"with `{SYNC_COMMAND}`, then compute its factors with "
        "`python run_factor_computation.py --dataset sp500-2010`."
    )


def snapshot(warehouse: Warehouse, dataset: str, calendar: TradingCalendar) -> DatasetSnapshot:
    """Read everything the Data page shows about ``dataset``."""
    version = warehouse.version(dataset)
    coverage = warehouse.coverage(dataset, calendar)
    per_session = warehouse.bars_per_session(dataset)
    gaps = find_gaps(per_session, coverage["first_date"], coverage["last_date"], calendar)
    last = warehouse.last_sync(dataset)
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
        syncs=tuple(warehouse.syncs(dataset)),
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
    if not sync or not sync.get("issues_file"):
        return empty, None
    path = warehouse.issues_dir(dataset) / f"{sync['sync_id']}-issues.csv"
    if not path.is_file():
        return empty, None
    issues = pd.read_csv(path, dtype={"line": "Int64"}, keep_default_na=False, na_values=[""])
    return issues, path


def overview_table(snapshots: Sequence[DatasetSnapshot]) -> pd.DataFrame:
    """Return one row per dataset: kind, source, size, dates, gaps and the last sync."""
    rows = [
        {
            "dataset": s.name,
            "kind": "SYNTHETIC" if s.meta.synthetic else "real",
            "source": s.meta.source,
            "symbols": len(s.coverage),
            "bars": int(s.coverage["rows"].sum()),
            "first session": _first(s),
            "last session": _last(s),
            "missing sessions": len(s.gaps.missing),
            "partial sessions": len(s.gaps.partial),
            "factors": len(s.factors),
            "last sync (UTC)": _when(s.last_sync),
        }
        for s in snapshots
    ]
    return pd.DataFrame(rows)


def symbols_table(snap: DatasetSnapshot) -> pd.DataFrame:
    """Return one row per symbol: its name and sector if known, first/last date, rows, gaps."""
    table = snap.coverage.rename(
        columns={
            "first_date": "first date",
            "last_date": "last date",
            "missing_sessions": "missing sessions",
        }
    )
    info = snap.symbol_info
    extra = [c for c in ("name", "sector") if c in info.columns]
    if extra:
        table = table.merge(info[["symbol", *extra]], on="symbol", how="left")
    columns = ["symbol", *extra, "first date", "last date", "rows", "missing sessions"]
    out = table[columns].copy()
    for column in extra:  # a symbol the metadata does not know: blank, not "None"
        out[column] = out[column].fillna("")
    out["first date"] = out["first date"].dt.date
    out["last date"] = out["last date"].dt.date
    return out


def gaps_table(gaps: Gaps) -> pd.DataFrame:
    """Return the dataset's missing and partial sessions, one row each, in date order."""
    rows = [
        {"session": d, "kind": "missing", "bars": 0, "symbols listed": None} for d in gaps.missing
    ]
    rows += [
        {"session": d, "kind": "partial", "bars": n, "symbols listed": k}
        for d, n, k in gaps.partial
    ]
    table = pd.DataFrame(rows, columns=["session", "kind", "bars", "symbols listed"])
    return table.sort_values("session", kind="stable").reset_index(drop=True)


def sync_line(sync: dict[str, Any] | None, now: dt.datetime) -> str:
    """Return one sentence about a sync: when, from what source, and what it wrote."""
    if not sync:
        return "No sync recorded for this dataset."
    age = ""
    finished = _timestamp(sync.get("finished_at"))
    if finished is not None:
        age = f" ({_age(now - finished)} ago)"
    return (
        f"{_when(sync)} UTC{age} from `{sync.get('source', '?')}`: "
        f"{_int(sync.get('rows_in'))} rows in, {_int(sync.get('rows_written'))} written "
        f"({_int(sync.get('rows_replaced'))} replaced existing rows), "
        f"{_int(sync.get('rejected'))} rejected, {_int(sync.get('repaired'))} repaired."
    )


def sync_history_table(syncs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Return every sync, newest first."""
    rows = [
        {
            "finished (UTC)": _when(s),
            "sync id": s.get("sync_id"),
            "source": s.get("source"),
            "rows in": s.get("rows_in"),
            "written": s.get("rows_written"),
            "replaced": s.get("rows_replaced"),
            "rejected": s.get("rejected"),
            "repaired": s.get("repaired"),
            "symbols": s.get("symbols"),
            "first date": s.get("first_date"),
            "last date": s.get("last_date"),
        }
        for s in reversed(syncs)
    ]
    columns = ["finished (UTC)", "sync id", "source", "rows in", "written", "replaced"]
    columns += ["rejected", "repaired", "symbols", "first date", "last date"]
    return pd.DataFrame(rows, columns=columns)


def rule_table(sync: dict[str, Any] | None) -> pd.DataFrame:
    """Return the last sync's rejected and repaired row counts per validation rule."""
    by_rule: dict[str, dict[str, int]] = (sync or {}).get("by_rule") or {}
    rows = [
        {"rule": rule, "rejected": counts.get("rejected", 0), "repaired": counts.get("repaired", 0)}
        for rule, counts in sorted(by_rule.items())
    ]
    return pd.DataFrame(rows, columns=["rule", "rejected", "repaired"])


def issue_rows(issues: pd.DataFrame) -> pd.DataFrame:
    """Return the issues file's rows for display: the source file's name, not its full path."""
    out = issues.loc[:, list(ISSUE_COLUMNS)].copy()
    out["source"] = [Path(str(s)).name if isinstance(s, str) else s for s in out["source"]]
    return out


def bars_figure(snap: DatasetSnapshot) -> go.Figure:
    """Return the number of symbols with a bar per session, with gaps marked."""
    per = snap.bars_per_session
    fig = go.Figure()
    fig.add_scatter(
        x=per.index,
        y=per.to_numpy(),
        mode="lines",
        name="symbols with a bar",
        line={"color": COLORS[0]},
        hovertemplate="%{y:,d} symbols",
    )
    for day in snap.gaps.missing:
        fig.add_vline(x=pd.Timestamp(day), line={"color": DOWN, "width": 1, "dash": "dot"})
    if snap.gaps.missing:
        fig.add_scatter(
            x=[pd.Timestamp(d) for d in snap.gaps.missing],
            y=[0] * len(snap.gaps.missing),
            mode="markers",
            name="missing session (no bar at all)",
            marker={"color": DOWN, "symbol": "x", "size": 10},
            hovertemplate="missing session",
        )
    if snap.gaps.partial:
        fig.add_scatter(
            x=[pd.Timestamp(d) for d, _, _ in snap.gaps.partial],
            y=[n for _, n, _ in snap.gaps.partial],
            mode="markers",
            name="partial session",
            marker={"color": PARTIAL, "symbol": "diamond", "size": 10},
            hovertemplate="partial: %{y:,d} symbols",
        )
    style(
        fig,
        f"Symbols with a bar per session: {snap.name}",
        ("Session", "date"),
        ("Symbols", "count"),
        height=380,
    )
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(
        legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0, "xanchor": "left"},
        margin={"b": 100},
    )
    return fig


def _stored_factors(warehouse: Warehouse, dataset: str) -> pd.DataFrame:
    rows = []
    for name in warehouse.factors(dataset):
        panel = warehouse.factor_panel(dataset, name)
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


def _timestamp(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


def _when(sync: dict[str, Any] | None) -> str:
    stamp = _timestamp((sync or {}).get("finished_at"))
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if stamp else "-"


def _age(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _int(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) else "?"
