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
import json
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from quant_core.atomic import atomic_write_json, file_lock, fsync_path
from quant_core.errors import ConfigError, DataError
from quant_core.types import ProgressFn

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # dataset and factor names
# A read whose partition a writer replaced is tried again while the manifest keeps changing
# (back-to-back writes can beat a slow reader more than three times: seen under load), at most
# this many times; a file missing from an unchanged manifest is an error at once.
_READ_RETRIES = 50


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of one write (``write_bars``, ``FactorStore.write``)."""

    rows_written: int
    rows_replaced: int
    partitions: tuple[str, ...]
    version: int


@dataclass(slots=True)
class Manifest:
    """The content of ``manifest.json``: every file of the dataset, its description, its log.

    ``partitions`` and each ``factors[name]`` map a year to a file name relative to the
    dataset's folder; ``version`` grows with every commit. ``bars_version`` is the version of
    the last commit that changed what the panels are read from (the bar partitions or the
    reference data): a commit of factor values or of a sync's log leaves it, so that what is
    keyed by the panels (a sweep's id, a worker's panels) is not redone for them. A manifest
    written before it existed reads it as ``version``.
    """

    version: int = 0
    bars_version: int = 0
    partitions: dict[str, str] = field(default_factory=dict)
    symbols_file: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    last_sync: dict[str, Any] | None = None
    updated_at: str | None = None
    factors: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the manifest as JSON-ready data, format number included."""
        return {
            "format": MANIFEST_FORMAT,
            "version": self.version,
            "bars_version": self.bars_version,
            "partitions": self.partitions,
            "symbols_file": self.symbols_file,
            "meta": self.meta,
            "last_sync": self.last_sync,
            "updated_at": self.updated_at,
            "factors": self.factors,
        }


class DatasetStore:
    """The folders of named datasets under ``root``: manifests, locks, commits, reads.

    Parameters
    ----------
    root
        The warehouse folder, normally ``<paths.data_dir>/warehouse``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def datasets(self) -> list[str]:
        """Return the names of the datasets that hold data, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/manifest.json"))

    def exists(self, dataset: str) -> bool:
        """Return whether ``dataset`` has been written."""
        return (self.folder(dataset) / "manifest.json").is_file()

    def folder(self, dataset: str) -> Path:
        """Return the folder of ``dataset``; ``ConfigError`` for a name that is not safe."""
        if not NAME.match(dataset):
            raise ConfigError(
                f"invalid dataset name {dataset!r}: use letters, digits, '.', '_' and '-'"
            )
        return self.root / dataset

    @contextmanager
    def lock(self, dataset: str) -> Iterator[None]:
        """Hold the writers' lock of ``dataset`` (creating its folder) for the ``with`` block."""
        with file_lock(self.folder(dataset) / ".lock"):
            yield

    def load(self, dataset: str, *, required: bool) -> Manifest:
        """Return the manifest of ``dataset``; an empty one if it is new and not ``required``.

        Raises
        ------
        DataError
            ``required`` and no such dataset, or a manifest of an unknown format.
        """
        path = self.folder(dataset) / "manifest.json"
        if not path.is_file():
            if required:
                known = ", ".join(self.datasets()) or "(none: run run_data_sync.py first)"
                raise DataError(f"no dataset {dataset!r} in {self.root}; present: {known}")
            return Manifest()
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != MANIFEST_FORMAT:
            raise DataError(f"{path}: unsupported manifest format {raw.get('format')!r}")
        return Manifest(
            version=int(raw["version"]),
            bars_version=int(raw.get("bars_version", raw["version"])),
            partitions=dict(raw["partitions"]),
            symbols_file=raw.get("symbols_file"),
            meta=dict(raw.get("meta") or {}),
            last_sync=raw.get("last_sync"),
            updated_at=raw.get("updated_at"),
            factors={k: dict(v) for k, v in (raw.get("factors") or {}).items()},
        )

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

    def remove_orphans(self, dataset: str, manifest: Manifest) -> None:
        """Delete the files ``manifest`` does not name; call it holding the lock."""
        # Files no manifest names, and temporary files, were left by a writer that crashed; we
        # hold the lock, so no live writer can own them.
        folder = self.folder(dataset)
        live = {*manifest.partitions.values(), manifest.symbols_file}
        live |= {name for parts in manifest.factors.values() for name in parts.values()}
        candidates = [*folder.glob("bars/*.parquet"), *folder.glob("symbols-*.parquet")]
        candidates += [*folder.glob("factors/*/*.parquet")]
        candidates += [*folder.glob(".*.tmp"), *folder.glob("syncs/.*.tmp")]
        for path in candidates:
            if path.relative_to(folder).as_posix() not in live:
                logger.warning("Removing orphan file %s left by an interrupted write", path)
                path.unlink(missing_ok=True)

    def query(
        self,
        dataset: str,
        select: str,
        symbols: Sequence[str] | None,
        start: dt.date | None,
        end: dt.date | None,
        tail: str,
        factor: str | None = None,
    ) -> pa.Table:
        """Run ``SELECT select ... tail`` over the bars (or ``factor``'s values) of ``dataset``.

        ``select`` and ``tail`` are fixed SQL fragments of the callers; ``symbols``, ``start``
        and ``end`` (inclusive) travel as parameters.
        """
        # A concurrent writer may delete a partition between our manifest read and the scan;
        # the manifest then names its replacement, so read it again.
        for attempt in range(_READ_RETRIES):
            parts = self._parts(dataset, factor)
            files = [str(self.folder(dataset) / name) for name in parts.values()]
            try:
                return _scan(files, select, symbols, start, end, tail)
            except (duckdb.IOException, FileNotFoundError):
                if attempt == _READ_RETRIES - 1 or self._parts(dataset, factor) == parts:
                    raise  # retried enough, or no writer replaced it: the file is missing
                logger.debug("Partition replaced during read of %s; retrying", dataset)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parts(self, dataset: str, factor: str | None) -> dict[str, str]:
        manifest = self.load(dataset, required=True)
        return dict(manifest.partitions if factor is None else manifest.factors.get(factor, {}))

    def panel(
        self,
        dataset: str,
        column: str,
        symbols: Sequence[str] | None,
        start: dt.date | None,
        end: dt.date | None,
        factor: str | None = None,
    ) -> pd.DataFrame:
        """Return ``column`` as a wide frame: a ``DatetimeIndex`` of dates x one column per symbol.

        A symbol without a row on a date holds NaN there. Rows are the dates on which at least
        one selected symbol has a row; columns are sorted by symbol.
        """
        table = self.query(dataset, f"date, symbol, {column}", symbols, start, end, "", factor)
        return _pivot(table, column)


def years(table: pa.Table) -> list[int]:
    """Return the calendar years of ``table``'s ``date`` column, sorted."""
    return sorted({int(y) for y in pc.unique(pc.year(table["date"])).to_pylist()})


def upsert(
    folder: Path,
    subdir: str,
    table: pa.Table,
    previous: dict[str, str],
    progress: ProgressFn | None,
) -> tuple[dict[str, str], int, int]:
    """Write each year of ``table`` merged into ``previous`` (year -> file) under a fresh name.

    Rows of ``table`` replace those of the same ``(symbol, date)``. Nothing is visible until
    the caller commits the returned map.

    Returns
    -------
    tuple[dict[str, str], int, int]
        The new year -> file map (to commit), how many rows replaced existing ones, and how
        many of those changed.
    """
    (folder / subdir).mkdir(parents=True, exist_ok=True)
    year_of = pc.year(table["date"])
    touched = years(table)
    parts, replaced, changed = dict(previous), 0, 0
    con = duckdb.connect()
    try:
        for done, year in enumerate(touched, start=1):
            old = previous.get(str(year))
            name = f"{subdir}/{year}-{uuid.uuid4().hex[:12]}.parquet"
            part = table.filter(pc.equal(year_of, year))
            counts = _write_partition(con, part, folder / old if old else None, folder / name)
            replaced, changed = replaced + counts[0], changed + counts[1]
            parts[str(year)] = name
            if progress is not None:
                progress(f"write {subdir}", done, len(touched))
    finally:
        con.close()
    fsync_path(folder / subdir)
    return parts, replaced, changed


def _write_partition(
    con: duckdb.DuckDBPyConnection, new: pa.Table, old: Path | None, target: Path
) -> tuple[int, int]:
    # Paths travel as arguments of the relation API, never inside SQL text.
    con.register("new_bars", new)
    replaced = changed = 0
    merged = "SELECT * FROM new_bars ORDER BY symbol, date"
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
        merged = (
            "SELECT * FROM old_bars ANTI JOIN new_bars USING (symbol, date) "
            "UNION ALL SELECT * FROM new_bars ORDER BY symbol, date"
        )
    con.sql(merged).write_parquet(str(target), compression="zstd", row_group_size=122_880)
    con.unregister("new_bars")
    if old is not None:
        con.unregister("old_bars")
    fsync_path(target)
    return replaced, changed


def _scan(
    files: list[str],
    select: str,
    symbols: Sequence[str] | None,
    start: dt.date | None,
    end: dt.date | None,
    tail: str,
) -> pa.Table:
    where: list[str] = []
    params: list[Any] = [files]
    if symbols is not None:
        where.append("symbol IN (SELECT UNNEST(?))")
        params.append(list(symbols))
    if start is not None:
        where.append("date >= ?")
        params.append(start)
    if end is not None:
        where.append("date <= ?")
        params.append(end)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {select} FROM read_parquet(?) {clause} {tail}"  # noqa: S608 - fixed fragments
    con = duckdb.connect()
    try:
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()


def _pivot(table: pa.Table, field: str) -> pd.DataFrame:
    # A scatter into a preallocated array: O(rows), no sort of the long frame.
    if table.num_rows == 0:
        return pd.DataFrame(
            index=pd.DatetimeIndex([], name="date"), columns=pd.Index([], name="symbol")
        )
    days = table["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    lo = int(days.min())
    present = np.zeros(int(days.max()) - lo + 1, dtype=bool)
    present[days - lo] = True
    row_of_day = np.cumsum(present) - 1
    rows = row_of_day[days - lo]
    encoded = pc.dictionary_encode(table["symbol"]).combine_chunks()
    names = encoded.dictionary.to_numpy(zero_copy_only=False).astype(str)
    order = np.argsort(names, kind="stable")
    col_of_code = np.empty_like(order)
    col_of_code[order] = np.arange(len(order))
    cols = col_of_code[encoded.indices.to_numpy()]
    values = np.full((int(present.sum()), len(names)), np.nan)
    values[rows, cols] = table[field].to_numpy()
    index = pd.DatetimeIndex((np.flatnonzero(present) + lo).astype("datetime64[D]"), name="date")
    return pd.DataFrame(values, index=index, columns=pd.Index(names[order], name="symbol"))
