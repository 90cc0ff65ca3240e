"""Tables for people: sync summaries and what the warehouse holds (rich renderables, no output).

The entry point prints them; library code never writes to stdout.
"""

from __future__ import annotations

import datetime as dt

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from quant_core.calendar import TradingCalendar
from quant_core.data.reference import UNKNOWN
from quant_core.data.sync import SyncReport, dataset_gaps
from quant_core.data.warehouse import Warehouse

MAX_LISTED_DATES = 12


def _dates(days: tuple[dt.date, ...]) -> str:
    shown = ", ".join(map(str, days[:MAX_LISTED_DATES]))
    more = len(days) - MAX_LISTED_DATES
    return shown + (f" (+{more} more)" if more > 0 else "") if days else "none"


def sync_summary(report: SyncReport) -> RenderableType:
    """Return the end-of-sync summary: totals, issues by rule, handled flaws and gaps."""
    table = Table(title=f"Sync {report.sync_id}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for what, value in (
        ("dataset", report.dataset),
        ("source", report.source),
        ("symbols", f"{report.symbols:,}, {report.unknown_sectors:,} with sector {UNKNOWN}"),
        ("date range", f"{report.first_date} .. {report.last_date}"),
        ("rows in", f"{report.rows_in:,}"),
        ("rows written", f"{report.rows_written:,} ({report.rows_replaced:,} replaced existing)"),
        ("rows rejected", f"{report.rejected:,}"),
        ("rows repaired", f"{report.repaired:,}"),
    ):
        table.add_row(what, value)
    parts: list[RenderableType] = [table]
    if report.synthetic:
        parts.append(Text(f"SYNTHETIC DATA: {report.label}", style="bold magenta"))
    else:
        parts.append(Text(report.label, style="dim"))
    if report.by_rule:
        rules = Table(title="Rejected / repaired rows by rule", title_justify="left")
        rules.add_column("rule")
        rules.add_column("rejected", justify="right")
        rules.add_column("repaired", justify="right")
        for rule, counts in sorted(report.by_rule.items()):
            rules.add_row(rule, str(counts.get("rejected", 0)), str(counts.get("repaired", 0)))
        parts.append(rules)
        parts.append(Text(f"Every such row, with its line and reason: {report.issues_file}"))
    if report.notes:
        parts.append(Text("Handled:\n" + "\n".join(f"  - {n}" for n in report.notes)))
    partial = ", ".join(f"{d} ({n} of {k})" for d, n, k in report.gaps.partial) or "none"
    parts.append(
        Text(
            f"Sessions with no bar at all: {_dates(report.gaps.missing)}\n"
            f"Partial sessions (bars of listed symbols): {partial}"
        )
    )
    return Group(*parts)


def warehouse_table(warehouse: Warehouse, calendar: TradingCalendar) -> RenderableType:
    """Return one row per dataset: kind, size, dates, gaps and last sync."""
    names = warehouse.datasets()
    if not names:
        return Text(f"The warehouse at {warehouse.location} is empty: run run_data_sync.py")
    table = Table(title=f"Warehouse {warehouse.location}", title_justify="left")
    for name in ("dataset", "kind", "symbols", "rows", "dates", "gaps", "last sync"):
        table.add_column(name, justify="right" if name in {"symbols", "rows"} else "left")
    for name in names:
        meta = warehouse.meta(name)
        coverage = warehouse.coverage(name, calendar)
        gaps = dataset_gaps(warehouse, name, calendar, coverage)
        last = warehouse.sync_log.last(name) or {}
        table.add_row(
            name,
            Text("SYNTHETIC", style="bold magenta") if meta.synthetic else Text("real"),
            f"{len(coverage):,}",
            f"{int(coverage['rows'].sum()):,}",
            f"{coverage['first_date'].min().date()}..{coverage['last_date'].max().date()}",
            f"{len(gaps.missing)} missing, {len(gaps.partial)} partial sessions",
            f"{str(last.get('finished_at', '?'))[:16]}: {last.get('rejected', '?')} rejected, "
            f"{last.get('repaired', '?')} repaired",
        )
    labels = Text("\n".join(f"{n}: {warehouse.meta(n).label}" for n in names), style="dim")
    return Group(table, labels)


def coverage_table(warehouse: Warehouse, dataset: str, calendar: TradingCalendar) -> RenderableType:
    """Return per-symbol coverage of one dataset: first and last date, rows, missing sessions."""
    coverage = warehouse.coverage(dataset, calendar)
    gaps = dataset_gaps(warehouse, dataset, calendar, coverage)
    table = Table(title=f"Coverage of {dataset}", title_justify="left")
    for name in ("symbol", "first", "last", "rows", "missing sessions"):
        table.add_column(name, justify="right" if name in {"rows", "missing sessions"} else "left")
    columns = (
        coverage["symbol"],
        coverage["first_date"].dt.strftime("%Y-%m-%d"),
        coverage["last_date"].dt.strftime("%Y-%m-%d"),
        coverage["rows"].map("{:,}".format),
        coverage["missing_sessions"].astype(str),
    )
    for row in zip(*columns, strict=True):
        table.add_row(*map(str, row))
    partial = ", ".join(f"{d} ({n} of {k})" for d, n, k in gaps.partial) or "none"
    note = Text(
        f"Sessions with no bar at all: {_dates(gaps.missing)}\nPartial sessions: {partial}\n"
        "missing sessions counts, per symbol, sessions between its first and last bar without one"
    )
    return Group(table, note)
