"""The dataset store: a dataset's folder, its manifest, the lock on it and atomic commits.

Layout under ``<data_dir>/warehouse/``::

    <dataset>/
        manifest.json          the only source of truth: which Parquet files make up the dataset
        bars/<year>-<id>.parquet
        factors/<name>/<year>-<id>.parquet
        symbols-<id>.parquet   optional symbol metadata (name, sector, industry)
        syncs.jsonl            one line per sync: what was written, rejected, repaired
        syncs/<sync_id>-issues.csv   every rejected or repaired row of that sync, with its rule

Writes are atomic. New partition files get fresh names and stay invisible until the manifest is
replaced atomically (:mod:`quant_core.atomic`); a writer killed at any point leaves the old
manifest, hence the old data, readable. Writers of one dataset are serialised with
:func:`quant_core.atomic.file_lock`. Values are partitioned by calendar year, so a daily append
rewrites one year's file. Readers take the files the manifest names, never a folder listing.

What the files hold is the callers' business: the bars (:mod:`quant_core.data.warehouse`), the
factor values (:mod:`quant_core.data.factor_store`) and the sync log
(:mod:`quant_core.data.sync_log`) all go through this store.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from typing_extensions import override

from quant_core.atomic import atomic_write_json, file_lock, fsync_path
from quant_core.data.store_read import MANIFEST_FORMAT as MANIFEST_FORMAT
from quant_core.data.store_read import NAME as NAME
from quant_core.data.store_read import Manifest as Manifest
from quant_core.data.store_read import StoreReader, check_name
from quant_core.types import ProgressFn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of one write (``write_bars``, ``FactorStore.write``)."""

    rows_written: int
    rows_replaced: int
    partitions: tuple[str, ...]
    version: int


class DatasetStore(StoreReader):
    """The folders of named datasets under ``root``: manifests, locks, commits, reads.

    Parameters
    ----------
    root
        The warehouse folder, normally ``<paths.data_dir>/warehouse``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    @override
    def datasets(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/manifest.json"))

    @override
    def exists(self, dataset: str) -> bool:
        return (self.folder(dataset) / "manifest.json").is_file()

    @override
    def manifest_text(self, dataset: str) -> str | None:
        path = self.folder(dataset) / "manifest.json"
        return path.read_text(encoding="utf-8") if path.is_file() else None

    @override
    def file(self, dataset: str, name: str) -> str:
        return str(self.folder(dataset) / name)

    @override
    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect()

    @override
    def folder(self, dataset: str) -> Path:
        return self.root / check_name(dataset)

    @override
    @contextmanager
    def lock(self, dataset: str) -> Iterator[None]:
        """Hold the writers' lock of ``dataset`` (creating its folder) for the ``with`` block."""
        with file_lock(self.folder(dataset) / ".lock"):
            yield

    @override
    def commit(self, dataset: str, manifest: Manifest) -> None:
        """Bump the version and replace the manifest atomically; call it holding the lock.

        ``bars_version`` becomes the new version when the bar partitions or the reference data
        differ from those of the manifest on disk (or there is none yet).
        """
        before = self.load(dataset, required=False)
        manifest.version += 1
        moved = (before.partitions, before.symbols_file) != (
            manifest.partitions,
            manifest.symbols_file,
        )
        if moved or not before.version:
            manifest.bars_version = manifest.version
        manifest.updated_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        atomic_write_json(self.folder(dataset) / "manifest.json", manifest.to_json())

    @override
    def remove_orphans(self, dataset: str, manifest: Manifest) -> None:
        """Delete the files ``manifest`` does not name; call it holding the lock."""
        # Files no manifest names, and temporary files, were left by a writer that crashed; we
        # hold the lock, so no live writer can own them.
        folder = self.folder(dataset)
        live = manifest.files()
        candidates = [*folder.glob("bars/*.parquet"), *folder.glob("symbols-*.parquet")]
        candidates += [*folder.glob("factors/*/*.parquet")]
        candidates += [*folder.glob(".*.tmp"), *folder.glob("syncs/.*.tmp")]
        for path in candidates:
            if path.relative_to(folder).as_posix() not in live:
                logger.warning("Removing orphan file %s left by an interrupted write", path)
                path.unlink(missing_ok=True)


def years(table: pa.Table) -> list[int]:
    """Return the calendar years of ``table``'s ``date`` column, sorted."""
    return sorted({int(y) for y in pc.unique(pc.year(table["date"])).to_pylist()})


def upsert(
    folder: Path,
    subdir: str,
    table: pa.Table,
    previous: dict[str, str],
    progress: ProgressFn | None,
) -> tuple[dict[str, str], int, int, dt.date | None]:
    """Write each year of ``table`` merged into ``previous`` (year -> file) under a fresh name.

    Rows of ``table`` replace those of the same ``(symbol, date)``. Nothing is visible until
    the caller commits the returned map.

    Returns
    -------
    tuple[dict[str, str], int, int, dt.date | None]
        The new year -> file map (to commit), how many rows replaced existing ones, how many of
        those changed, and the first date of a row that was not there before (None: none).
    """
    (folder / subdir).mkdir(parents=True, exist_ok=True)
    year_of = pc.year(table["date"])
    touched = years(table)
    parts, replaced, changed = dict(previous), 0, 0
    first_new: dt.date | None = None
    con = duckdb.connect()
    try:
        for done, year in enumerate(touched, start=1):
            old = previous.get(str(year))
            name = f"{subdir}/{year}-{uuid.uuid4().hex[:12]}.parquet"
            part = table.filter(pc.equal(year_of, year))
            counts = _write_partition(con, part, folder / old if old else None, folder / name)
            replaced, changed = replaced + counts[0], changed + counts[1]
            if first_new is None and counts[2] is not None:  # the years go in order
                first_new = counts[2]
            parts[str(year)] = name
            if progress is not None:
                progress(f"write {subdir}", done, len(touched))
    finally:
        con.close()
    fsync_path(folder / subdir)
    return parts, replaced, changed, first_new


def _write_partition(
    con: duckdb.DuckDBPyConnection, new: pa.Table, old: Path | None, target: Path
) -> tuple[int, int, dt.date | None]:
    # Paths travel as arguments of the relation API, never inside SQL text.
    con.register("new_bars", new)
    replaced = changed = 0
    merged = "SELECT * FROM new_bars ORDER BY symbol, date"
    inserted = "SELECT min(date) FROM new_bars"
    if old is not None:
        con.register("old_bars", con.read_parquet(str(old)))
        count = con.sql("SELECT count(*) FROM old_bars SEMI JOIN new_bars USING (symbol, date)")
        replaced = int(count.fetchall()[0][0])
        # Rows of the new batch not already present to the last field, less the new keys.
        differ = con.sql(
            "SELECT count(*) FROM (SELECT * FROM new_bars EXCEPT SELECT * FROM old_bars)"
        )
        fresh = con.sql("SELECT count(*) FROM new_bars ANTI JOIN old_bars USING (symbol, date)")
        changed = int(differ.fetchall()[0][0]) - int(fresh.fetchall()[0][0])
        inserted = "SELECT min(date) FROM new_bars ANTI JOIN old_bars USING (symbol, date)"
        merged = (
            "SELECT * FROM old_bars ANTI JOIN new_bars USING (symbol, date) "
            "UNION ALL SELECT * FROM new_bars ORDER BY symbol, date"
        )
    first = con.sql(inserted).fetchall()[0][0]
    con.sql(merged).write_parquet(str(target), compression="zstd", row_group_size=122_880)
    con.unregister("new_bars")
    if old is not None:
        con.unregister("old_bars")
    fsync_path(target)
    return replaced, changed, first.date() if isinstance(first, dt.datetime) else first
