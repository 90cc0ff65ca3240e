"""The Data page's tables: datasets, symbols, gaps, syncs and the last sync's issues.

Built from a :class:`~quant_core.cockpit.models.dataset_snapshot.DatasetSnapshot` (or one of
its sync summaries) without I/O or Streamlit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from quant_core.cockpit.format import count, fmt_age, fmt_time
from quant_core.cockpit.models.dataset_snapshot import DatasetSnapshot, date_range
from quant_core.data.reference import UNKNOWN, is_pinned
from quant_core.data.schema import ISSUE_COLUMNS
from quant_core.data.sync import Gaps
from quant_core.live.state_fields import parse_time


def overview_table(snapshots: Sequence[DatasetSnapshot]) -> pd.DataFrame:
    """Return one row per dataset: kind, source, size, dates, gaps and the last sync."""
    rows = [
        {
            "dataset": s.name,
            "kind": "SYNTHETIC" if s.meta.synthetic else "real",
            "source": s.meta.source,
            "symbols": len(s.coverage),
            "bars": int(s.coverage["rows"].sum()),
            "first session": date_range(s)[0],
            "last session": date_range(s)[1],
            "missing sessions": len(s.gaps.missing),
            "partial sessions": len(s.gaps.partial),
            "factors": len(s.factors),
            "last sync (UTC)": _when(s.last_sync),
        }
        for s in snapshots
    ]
    return pd.DataFrame(rows)


def symbols_table(snap: DatasetSnapshot) -> pd.DataFrame:
    """Return one row per symbol: its reference data if known, first/last date, rows, gaps."""
    table = snap.coverage.rename(
        columns={
            "first_date": "first date",
            "last_date": "last date",
            "missing_sessions": "missing sessions",
        }
    )
    info = snap.symbol_info
    extra = [c for c in ("name", "sector", "industry", "delisted") if c in info.columns]
    source = ["source"] if "source" in info.columns else []
    if extra or source:
        table = table.merge(info[["symbol", *extra, *source]], on="symbol", how="left")
    columns = ["symbol", *extra, "first date", "last date", "rows", "missing sessions", *source]
    out = table[columns].copy()
    for column in [*extra, *source]:  # a symbol the metadata does not know: blank, not "None"
        if column in ("sector", "industry"):
            out[column] = out[column].fillna(UNKNOWN)
        elif column != "delisted":
            out[column] = out[column].fillna("")
    out["first date"] = out["first date"].dt.date
    out["last date"] = out["last date"].dt.date
    return out


def unknown_sectors_line(snap: DatasetSnapshot) -> str:
    """Return how many symbols of the dataset have no sector, or that it has no reference data."""
    if not is_pinned(snap.symbol_info):
        return (
            f"No reference data of the current schema: every sector reads {UNKNOWN}. "
            "Run run_data_sync.py for this dataset again to fill it."
        )
    known = snap.symbol_info.loc[snap.symbol_info["sector"] != UNKNOWN, "symbol"]
    unknown = int((~snap.coverage["symbol"].isin(known)).sum())
    return (
        f"{unknown:,} of {len(snap.coverage):,} symbols with sector {UNKNOWN} "
        "(the source gave no sector for them)."
    )


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
    ago = ""
    finished = parse_time(sync.get("finished_at"))
    if finished is not None:
        ago = f" ({fmt_age((now - finished).total_seconds(), coarse=True)} ago)"
    return (
        f"{_when(sync)} UTC{ago} from `{sync.get('source', '?')}`: "
        f"{count(sync.get('rows_in'))} rows in, {count(sync.get('rows_written'))} written "
        f"({count(sync.get('rows_replaced'))} replaced existing rows), "
        f"{count(sync.get('rejected'))} rejected, {count(sync.get('repaired'))} repaired."
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


def _when(sync: dict[str, Any] | None) -> str:
    return fmt_time(parse_time((sync or {}).get("finished_at")), suffix=False)
