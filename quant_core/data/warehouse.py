"""The warehouse: daily bars as Parquet, queried through DuckDB.

Layout under ``<data_dir>/warehouse/``::

    <dataset>/
        manifest.json          the only source of truth: which Parquet files make up the dataset
        bars/<year>-<id>.parquet
        symbols.parquet        optional symbol metadata (name, sector, industry)
        syncs.jsonl            one line per sync: what was written, rejected, repaired
        syncs/<sync_id>-issues.csv   every rejected or repaired row of that sync, with its rule

A dataset is one consistent price history (one source, one adjustment basis): real and
synthetic data, or differently adjusted copies of a symbol, never mix in one panel.

Writes are atomic. New partition files get fresh names and stay invisible until the manifest is
replaced atomically (:mod:`quant_core.atomic`); a writer killed at any point leaves the old
manifest, hence the old data, readable. Writers of one dataset are serialised with ``flock``.
Bars are partitioned by calendar year, so a daily append rewrites one year's file.

``write_bars`` upserts on ``(symbol, date)``: re-syncing a range never duplicates rows, and where
old and new rows overlap the new one wins.
"""

from __future__ import annotations

import datetime as dt
import fcntl
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

from quant_core.atomic import atomic_write_json, fsync_path
from quant_core.calendar import TradingCalendar
from quant_core.data.symbol_rule import check_symbols
from quant_core.errors import ConfigError, DataError
from quant_core.types import ProgressFn

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
PRICE_FIELDS = ("open", "high", "low", "close")
FIELDS = (*PRICE_FIELDS, "volume", "adj_factor", "flags")
BAR_SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("symbol", pa.string()),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("adj_factor", pa.float64()),
        ("flags", pa.int16()),
    ]
)
BAR_COLUMNS = tuple(BAR_SCHEMA.names)
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_READ_RETRIES = 3


@dataclass(frozen=True, slots=True)
class DatasetMeta:
    """What a dataset is, shown wherever its data appears.

    Attributes
    ----------
    label
        One line for people: "real, unadjusted source, 1 year, known gaps".
    source
        What kind of data the dataset holds: "sample:sp500-2010", "csv",
        "synthetic:seed=7,symbols=500,days=2520". Only data of the same source may be
        merged into a dataset; anything else needs ``replace=True``.
    synthetic
        True for generated data; the cockpit shows a banner for it.
    """

    label: str
    source: str
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of one ``write_bars`` call."""

    rows_written: int
    rows_replaced: int
    partitions: tuple[str, ...]
    version: int


@dataclass(slots=True)
class _Manifest:
    version: int = 0
    partitions: dict[str, str] = field(default_factory=dict)
    symbols_file: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    last_sync: dict[str, Any] | None = None
    updated_at: str | None = None
    factors: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": self.version,
            "partitions": self.partitions,
            "symbols_file": self.symbols_file,
            "meta": self.meta,
            "last_sync": self.last_sync,
            "updated_at": self.updated_at,
            "factors": self.factors,
        }


class Warehouse:
    """Daily bars of named datasets, stored as Parquet and read through DuckDB.

    Parameters
    ----------
    root
        The warehouse folder, normally ``<paths.data_dir>/warehouse``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ---------------------------------------------------------------- datasets and metadata

    def datasets(self) -> list[str]:
        """Return the names of the datasets that hold data, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/manifest.json"))

    def exists(self, dataset: str) -> bool:
        """Return whether ``dataset`` has been written."""
        return (self._dir(dataset) / "manifest.json").is_file()

    def version(self, dataset: str) -> int:
        """Return the dataset's manifest version: it grows with every write (cheap to poll)."""
        return self._load_manifest(dataset, required=True).version

    def meta(self, dataset: str) -> DatasetMeta:
        """Return the description stored with ``dataset``."""
        raw = self._load_manifest(dataset, required=True).meta
        return DatasetMeta(
            label=str(raw.get("label", "")),
            source=str(raw.get("source", "")),
            synthetic=bool(raw.get("synthetic", False)),
        )

    def last_sync(self, dataset: str) -> dict[str, Any] | None:
        """Return the summary of the last sync into ``dataset``, if any."""
        return self._load_manifest(dataset, required=True).last_sync

    def syncs(self, dataset: str) -> list[dict[str, Any]]:
        """Return every recorded sync summary of ``dataset``, oldest first."""
        path = self._dir(dataset) / "syncs.jsonl"
        if not path.is_file():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def record_sync(self, dataset: str, summary: dict[str, Any]) -> None:
        """Append ``summary`` to the sync log and store it as the dataset's last sync."""
        with self._lock(dataset):
            log = self._dir(dataset) / "syncs.jsonl"
            with log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(summary, sort_keys=True, default=str) + "\n")
            manifest = self._load_manifest(dataset, required=True)
            manifest.last_sync = summary
            self._commit(dataset, manifest)

    def check_source(self, dataset: str, meta: DatasetMeta, replace: bool = False) -> None:
        """Raise ``DataError`` if writing ``meta.source`` data would mix it into another source."""
        if self.exists(dataset):
            _check_same_source(dataset, self._load_manifest(dataset, required=True), meta, replace)

    def issues_dir(self, dataset: str) -> Path:
        """Return the folder where syncs write their rejected/repaired rows."""
        return self._dir(dataset) / "syncs"

    # ---------------------------------------------------------------------------- writing

    def write_bars(
        self,
        dataset: str,
        bars: pd.DataFrame,
        meta: DatasetMeta | None = None,
        progress: ProgressFn | None = None,
        *,
        replace: bool = False,
    ) -> WriteResult:
        """Upsert validated bars into ``dataset``, atomically.

        Parameters
        ----------
        dataset
            Dataset name (letters, digits, ``.``, ``_``, ``-``).
        bars
            Validated bars with the columns of ``BAR_COLUMNS`` (see
            :func:`quant_core.data.schema.validate_bars`); one row per ``(symbol, date)``.
        meta
            Description to store; required the first time a dataset is written.
        progress
            Called as ``progress("write", done, total)`` after each partition.
        replace
            Drop everything the dataset held and keep only ``bars`` (one atomic switch).

        Raises
        ------
        DataError
            Nothing to write, a new dataset without ``meta``, or ``meta.source`` differs from
            the dataset's source (real and synthetic data, or two sources, never mix silently).

        Returns
        -------
        WriteResult
            Rows written, rows that replaced existing ones, partitions touched.
        """
        table = _to_arrow(bars)
        if table.num_rows == 0:
            raise DataError(f"dataset {dataset!r}: nothing to write (no valid rows)")
        touched = _years(table)
        folder = self._dir(dataset)
        with self._lock(dataset):
            manifest = self._load_manifest(dataset, required=False)
            if manifest.version == 0 and meta is None:
                raise DataError(f"dataset {dataset!r} is new: describe it with a DatasetMeta")
            _check_same_source(dataset, manifest, meta, replace)
            self._remove_orphans(folder, manifest)
            previous = {} if replace else manifest.partitions
            new_parts, replaced, changed = _upsert(folder, "bars", table, previous, progress)
            stale = [
                name for name in manifest.partitions.values() if name not in new_parts.values()
            ]
            if (replace or changed) and manifest.factors:
                # Factors computed from bars that changed are wrong from then on; incremental
                # runs only add later sessions, so drop them all in this same commit.
                logger.warning(
                    "Bars of %s changed: dropping its stored factors (%s); run "
                    "run_factor_computation.py again",
                    dataset,
                    ", ".join(sorted(manifest.factors)),
                )
                stale += [name for parts in manifest.factors.values() for name in parts.values()]
                manifest.factors = {}
            manifest.partitions = new_parts
            if meta is not None:
                manifest.meta = {
                    "label": meta.label,
                    "source": meta.source,
                    "synthetic": meta.synthetic,
                }
            self._commit(dataset, manifest)
            for name in stale:
                (folder / name).unlink(missing_ok=True)
        logger.info(
            "Wrote %d bars to dataset %s (%d replaced existing rows; partitions %s)",
            table.num_rows,
            dataset,
            replaced,
            ",".join(map(str, touched)),
        )
        return WriteResult(table.num_rows, replaced, tuple(map(str, touched)), manifest.version)

    def write_factor(
        self,
        dataset: str,
        name: str,
        values: pd.DataFrame,
        progress: ProgressFn | None = None,
    ) -> WriteResult:
        """Upsert one factor's values (columns ``date, symbol, value``) into ``dataset``.

        Factors live beside the bars they were computed from, in the same manifest, so a
        dataset rebuilt with ``replace=True`` drops them with its bars.
        """
        if not _DATASET_NAME.match(name):
            raise ConfigError(f"invalid factor name {name!r}")
        frame = values.loc[:, ["date", "symbol", "value"]].dropna(subset=["value"])
        dates = pd.to_datetime(frame["date"]).to_numpy(dtype="datetime64[D]")
        table = pa.Table.from_arrays(
            [
                pa.array(dates, type=pa.date32()),
                pa.array(frame["symbol"].astype(str), pa.string()),
                pa.array(frame["value"].to_numpy(dtype="float64")),
            ],
            names=["date", "symbol", "value"],
        )
        folder = self._dir(dataset)
        with self._lock(dataset):
            manifest = self._load_manifest(dataset, required=True)
            if table.num_rows == 0:
                return WriteResult(0, 0, (), manifest.version)
            self._remove_orphans(folder, manifest)
            previous = manifest.factors.get(name, {})
            parts, replaced, _ = _upsert(folder, f"factors/{name}", table, previous, progress)
            manifest.factors[name] = parts
            self._commit(dataset, manifest)
            for old in set(previous.values()) - set(parts.values()):
                (folder / old).unlink(missing_ok=True)
        logger.info("Wrote %d values of factor %s to dataset %s", table.num_rows, name, dataset)
        return WriteResult(
            table.num_rows, replaced, tuple(map(str, _years(table))), manifest.version
        )

    def factors(self, dataset: str) -> list[str]:
        """Return the names of the factors stored with ``dataset``, sorted."""
        return sorted(self._load_manifest(dataset, required=True).factors)

    def factor_panel(
        self,
        dataset: str,
        name: str,
        symbols: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> pd.DataFrame:
        """Return a stored factor as a wide frame (dates x symbols)."""
        if name not in self._load_manifest(dataset, required=True).factors:
            raise DataError(
                f"no factor {name!r} stored for {dataset}; run run_factor_computation.py"
            )
        table = self._query(dataset, "date, symbol, value", symbols, start, end, "", factor=name)
        return _pivot(table, "value")

    def factor_last_date(self, dataset: str, name: str) -> dt.date | None:
        """Return the last date stored for factor ``name``, or None."""
        if name not in self._load_manifest(dataset, required=True).factors:
            return None
        table = self._query(dataset, "max(date) AS last", None, None, None, "", factor=name)
        last = table["last"][0].as_py()
        return last if isinstance(last, dt.date) else None

    def write_symbols(self, dataset: str, symbols: pd.DataFrame) -> None:
        """Replace the symbol metadata of ``dataset`` (a ``symbol`` column plus any others)."""
        if "symbol" not in symbols.columns:
            raise DataError("symbol metadata needs a 'symbol' column")
        folder = self._dir(dataset)
        with self._lock(dataset):
            manifest = self._load_manifest(dataset, required=True)
            name = f"symbols-{uuid.uuid4().hex[:12]}.parquet"
            con = duckdb.connect()
            try:
                con.from_arrow(pa.Table.from_pandas(symbols, preserve_index=False)).write_parquet(
                    str(folder / name)
                )
            finally:
                con.close()
            fsync_path(folder / name)
            old, manifest.symbols_file = manifest.symbols_file, name
            self._commit(dataset, manifest)
            if old:
                (folder / old).unlink(missing_ok=True)

    # ---------------------------------------------------------------------------- reading

    def read_bars(
        self,
        dataset: str,
        symbols: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        fields: Sequence[str] = FIELDS,
    ) -> pd.DataFrame:
        """Return bars as a long frame sorted by ``(symbol, date)``.

        Columns are ``date`` (``datetime64``), ``symbol`` and the requested ``fields``.
        ``start`` and ``end`` are inclusive.
        """
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise ConfigError(f"unknown bar field(s) {unknown}; valid: {', '.join(FIELDS)}")
        columns = ", ".join(["date", "symbol", *fields])
        table = self._query(dataset, columns, symbols, start, end, "ORDER BY symbol, date")
        frame: pd.DataFrame = table.to_pandas()
        frame["date"] = pd.to_datetime(frame["date"])
        return frame

    def panel(
        self,
        dataset: str,
        field: str = "close",
        symbols: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> pd.DataFrame:
        """Return one field as a wide frame: a ``DatetimeIndex`` of dates x one column per symbol.

        A symbol without a bar on a date holds NaN there. Rows are the dates on which at least
        one selected symbol has a bar; columns are sorted by symbol.
        """
        if field not in FIELDS:
            raise ConfigError(f"unknown bar field {field!r}; valid: {', '.join(FIELDS)}")
        table = self._query(dataset, f"date, symbol, {field}", symbols, start, end, "")
        return _pivot(table, field)

    def symbols(self, dataset: str) -> pd.DataFrame:
        """Return the symbol metadata of ``dataset`` (empty if the source had none)."""
        manifest = self._load_manifest(dataset, required=True)
        if manifest.symbols_file is None:
            return pd.DataFrame({"symbol": pd.Series([], dtype="str")})
        con = duckdb.connect()
        try:
            path = self._dir(dataset) / manifest.symbols_file
            frame: pd.DataFrame = (
                con.sql("SELECT * FROM read_parquet(?)", params=[str(path)])
                .to_arrow_table()
                .to_pandas()
            )
            return frame
        finally:
            con.close()

    def coverage(self, dataset: str, calendar: TradingCalendar) -> pd.DataFrame:
        """Return one row per symbol: first and last date, rows, and missing sessions.

        ``missing_sessions`` counts the calendar sessions between the symbol's first and last
        bar on which it has no bar.
        """
        sql = "min(date) AS first_date, max(date) AS last_date, count(*) AS rows"
        table = self._query(
            dataset, f"symbol, {sql}", None, None, None, "GROUP BY symbol ORDER BY symbol"
        )
        frame: pd.DataFrame = table.to_pandas()
        first = frame["first_date"].to_numpy(dtype="datetime64[D]")
        last = frame["last_date"].to_numpy(dtype="datetime64[D]")
        expected = calendar.count_sessions(first, last)
        frame["missing_sessions"] = expected - frame["rows"].to_numpy()
        frame["first_date"] = pd.to_datetime(frame["first_date"])
        frame["last_date"] = pd.to_datetime(frame["last_date"])
        return frame

    def bars_per_session(self, dataset: str) -> pd.Series:
        """Return how many symbols have a bar on each date of ``dataset``."""
        table = self._query(
            dataset, "date, count(*) AS n", None, None, None, "GROUP BY date ORDER BY date"
        )
        frame = table.to_pandas()
        return pd.Series(frame["n"].to_numpy(), index=pd.to_datetime(frame["date"]), name="bars")

    # ---------------------------------------------------------------------------- internals

    def _dir(self, dataset: str) -> Path:
        if not _DATASET_NAME.match(dataset):
            raise ConfigError(
                f"invalid dataset name {dataset!r}: use letters, digits, '.', '_' and '-'"
            )
        return self.root / dataset

    @contextmanager
    def _lock(self, dataset: str) -> Iterator[None]:
        folder = self._dir(dataset)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load_manifest(self, dataset: str, *, required: bool) -> _Manifest:
        path = self._dir(dataset) / "manifest.json"
        if not path.is_file():
            if required:
                known = ", ".join(self.datasets()) or "(none: run run_data_sync.py first)"
                raise DataError(f"no dataset {dataset!r} in {self.root}; present: {known}")
            return _Manifest()
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != MANIFEST_FORMAT:
            raise DataError(f"{path}: unsupported manifest format {raw.get('format')!r}")
        return _Manifest(
            version=int(raw["version"]),
            partitions=dict(raw["partitions"]),
            symbols_file=raw.get("symbols_file"),
            meta=dict(raw.get("meta") or {}),
            last_sync=raw.get("last_sync"),
            updated_at=raw.get("updated_at"),
            factors={k: dict(v) for k, v in (raw.get("factors") or {}).items()},
        )

    def _commit(self, dataset: str, manifest: _Manifest) -> None:
        manifest.version += 1
        manifest.updated_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        atomic_write_json(self._dir(dataset) / "manifest.json", manifest.to_json())

    def _remove_orphans(self, folder: Path, manifest: _Manifest) -> None:
        # Files no manifest names, and temporary files, were left by a writer that crashed; we
        # hold the lock, so no live writer can own them.
        live = {*manifest.partitions.values(), manifest.symbols_file}
        live |= {name for parts in manifest.factors.values() for name in parts.values()}
        candidates = [*folder.glob("bars/*.parquet"), *folder.glob("symbols-*.parquet")]
        candidates += [*folder.glob("factors/*/*.parquet")]
        candidates += [*folder.glob(".*.tmp"), *folder.glob("syncs/.*.tmp")]
        for path in candidates:
            if path.relative_to(folder).as_posix() not in live:
                logger.warning("Removing orphan file %s left by an interrupted write", path)
                path.unlink(missing_ok=True)

    def _query(
        self,
        dataset: str,
        select: str,
        symbols: Sequence[str] | None,
        start: dt.date | None,
        end: dt.date | None,
        tail: str,
        factor: str | None = None,
    ) -> pa.Table:
        # A concurrent writer may delete a partition between our manifest read and the scan;
        # the manifest then names its replacement, so read it again.
        for attempt in range(_READ_RETRIES):
            manifest = self._load_manifest(dataset, required=True)
            parts = manifest.partitions if factor is None else manifest.factors.get(factor, {})
            files = [str(self._dir(dataset) / name) for name in parts.values()]
            try:
                return _scan(files, select, symbols, start, end, tail)
            except (duckdb.IOException, FileNotFoundError):
                if attempt == _READ_RETRIES - 1:
                    raise
                logger.debug("Partition replaced during read of %s; retrying", dataset)
        raise AssertionError("unreachable")  # pragma: no cover


def _check_same_source(
    dataset: str, manifest: _Manifest, meta: DatasetMeta | None, replace: bool
) -> None:
    stored = manifest.meta.get("source")
    if replace or meta is None or manifest.version == 0 or stored == meta.source:
        return
    raise DataError(
        f"dataset {dataset!r} holds {stored} data; writing {meta.source} data into it would mix "
        "two sources in one price history. Sync into another dataset (--dataset NAME), or "
        "rebuild this one from the new source (--replace)"
    )


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


def _to_arrow(bars: pd.DataFrame) -> pa.Table:
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise DataError(f"bars lack column(s) {missing}; validate them first")
    frame = bars.loc[:, list(BAR_COLUMNS)]
    if frame.duplicated(["symbol", "date"]).any():
        raise DataError("bars hold duplicate (symbol, date) rows; validate them first")
    check_symbols(frame["symbol"].unique(), "bars")  # a guard for callers that skip validation
    dates = pd.to_datetime(frame["date"]).to_numpy(dtype="datetime64[D]")
    arrays = [pa.array(dates, type=pa.date32()), pa.array(frame["symbol"].astype(str), pa.string())]
    arrays += [pa.array(frame[c].to_numpy(dtype="float64")) for c in BAR_COLUMNS[2:-1]]
    arrays.append(pa.array(frame["flags"].to_numpy(dtype="int16")))
    return pa.Table.from_arrays(arrays, schema=BAR_SCHEMA)


def _years(table: pa.Table) -> list[int]:
    return sorted({int(y) for y in pc.unique(pc.year(table["date"])).to_pylist()})


def _upsert(
    folder: Path,
    subdir: str,
    table: pa.Table,
    previous: dict[str, str],
    progress: ProgressFn | None,
) -> tuple[dict[str, str], int, int]:
    # Rewrite each touched year's file under a fresh name; return the new year -> file map
    # (to commit), how many rows replaced existing ones, and how many of those changed.
    (folder / subdir).mkdir(parents=True, exist_ok=True)
    years = pc.year(table["date"])
    touched = _years(table)
    parts, replaced, changed = dict(previous), 0, 0
    con = duckdb.connect()
    try:
        for done, year in enumerate(touched, start=1):
            old = previous.get(str(year))
            name = f"{subdir}/{year}-{uuid.uuid4().hex[:12]}.parquet"
            part = table.filter(pc.equal(years, year))
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
