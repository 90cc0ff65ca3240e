"""What every dataset store reads: its manifests, the Parquet files they name, and wide panels.

A store is a local folder (:class:`quant_core.data.store.DatasetStore`, which also writes) or a
published copy in object storage or behind HTTP (:class:`quant_core.data.remote.RemoteStore`,
read-only, through DuckDB's httpfs). Both read the same way: the manifest first, then only the
files it names (never a listing), so a reader sees one committed version or the next.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from quant_core.data.pivot import Scatter, pivot
from quant_core.errors import ConfigError, DataError

logger = logging.getLogger(__name__)
T = TypeVar("T")

MANIFEST_FORMAT = 1
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # dataset and factor names
# A read whose partition a writer replaced is tried again while the manifest keeps changing
# (back-to-back writes can beat a slow reader more than three times: seen under load), at most
# this many times; a file missing from an unchanged manifest is an error at once.
_READ_RETRIES = 50


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

    def files(self) -> set[str]:
        """Return every file the manifest names (bars, reference data, factor values)."""
        names = {*self.partitions.values(), *([self.symbols_file] if self.symbols_file else [])}
        return names | {name for parts in self.factors.values() for name in parts.values()}


def parse_manifest(text: str, where: str) -> Manifest:
    """Return the manifest in ``text`` (read from ``where``, named in errors)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not a manifest (invalid JSON: {exc.msg})") from exc
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise DataError(f"{where}: unsupported manifest format {found!r}")
    return _manifest(raw)


def _manifest(raw: dict[str, Any]) -> Manifest:
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


def check_name(dataset: str) -> str:
    """Return ``dataset``; ``ConfigError`` for a name that is not safe in a path or a URL."""
    if not NAME.match(dataset):
        raise ConfigError(
            f"invalid dataset name {dataset!r}: use letters, digits, '.', '_' and '-'"
        )
    return dataset


class StoreReader(ABC):
    """The reads of a dataset store; subclasses say where the files are and how to reach them.

    ``location`` names the store in messages: a folder, or a URL for a published copy.
    """

    location: str
    remote: bool = False

    @abstractmethod
    def datasets(self) -> list[str]:
        """Return the names of the datasets that hold data, sorted."""

    @abstractmethod
    def exists(self, dataset: str) -> bool:
        """Return whether ``dataset`` has been written."""

    @abstractmethod
    def manifest_text(self, dataset: str) -> str | None:
        """Return the text of the manifest of ``dataset``, or None when it has none."""

    @abstractmethod
    def file(self, dataset: str, name: str) -> str:
        """Return where DuckDB reads the file ``name`` (relative to the dataset's folder)."""

    @abstractmethod
    def connect(self) -> duckdb.DuckDBPyConnection:
        """Return a DuckDB connection that can read this store's files."""

    @abstractmethod
    def folder(self, dataset: str) -> Path:
        """Return the local folder of ``dataset`` (a writer's: a remote store refuses)."""

    @abstractmethod
    def lock(self, dataset: str) -> AbstractContextManager[None]:
        """Hold the writers' lock of ``dataset`` (a remote store refuses: it is read-only)."""

    @abstractmethod
    def commit(self, dataset: str, manifest: Manifest) -> None:
        """Replace the manifest of ``dataset`` (a remote store refuses)."""

    @abstractmethod
    def remove_orphans(self, dataset: str, manifest: Manifest) -> None:
        """Delete the files ``manifest`` does not name (a remote store refuses)."""

    def load(self, dataset: str, *, required: bool) -> Manifest:
        """Return the manifest of ``dataset``; an empty one if it is new and not ``required``.

        Raises
        ------
        DataError
            ``required`` and no such dataset, or a manifest of an unknown format.
        """
        text = self.manifest_text(check_name(dataset))
        if text is None:
            if required:
                known = ", ".join(self.datasets()) or "(none: run run_data_sync.py first)"
                raise DataError(f"no dataset {dataset!r} in {self.location}; present: {known}")
            return Manifest()
        return parse_manifest(text, f"{self.location}/{dataset}/manifest.json")

    def read_table(self, dataset: str, name: str) -> pa.Table:
        """Return the whole Parquet file ``name`` of ``dataset``."""
        con = self.connect()
        try:
            sql = "SELECT * FROM read_parquet(?)"
            return con.execute(sql, [self.file(dataset, name)]).to_arrow_table()
        except (duckdb.IOException, duckdb.HTTPException) as exc:
            if self.remote:
                raise self._unreadable(dataset, exc) from None
            raise
        finally:
            con.close()

    def with_reference(
        self, dataset: str, read: Callable[[], tuple[T, Manifest]]
    ) -> tuple[T, Manifest, pa.Table | None]:
        """Return ``read()`` and the reference table its manifest names (None without one).

        A sync that replaces the reference data deletes the old file once it has committed: a
        reader that loaded the manifest before reads again, so bars and reference are of one
        version (a worker reading while a sync runs).
        """
        for attempt in range(_READ_RETRIES):
            value, manifest = read()
            if manifest.symbols_file is None:
                return value, manifest, None
            try:
                return value, manifest, self.read_table(dataset, manifest.symbols_file)
            except (duckdb.IOException, duckdb.HTTPException, FileNotFoundError, DataError):
                now = self.load(dataset, required=True).symbols_file
                if attempt == _READ_RETRIES - 1 or now == manifest.symbols_file:
                    raise
                logger.debug("Reference data of %s replaced during a read; retrying", dataset)
        raise AssertionError("unreachable")  # pragma: no cover

    def _damaged(self, dataset: str, factor: str | None, exc: BaseException) -> DataError:
        """Return the ``DataError`` of a file the manifest names that is missing or damaged."""
        if self.remote:
            return self._unreadable(dataset, exc)
        what, mend = (
            (f"factor {factor!r}", f"run_factor_computation.py --full --factors {factor}")
            if factor is not None
            else ("bars", "run_data_sync.py --replace")
        )
        return DataError(
            f"cannot read the {what} of {dataset!r} in {self.location}: {first_line(exc)}; "
            f"{mend} writes them again"
        )

    def _unreadable(self, dataset: str, exc: BaseException) -> DataError:
        """Return the ``DataError`` of a remote file that cannot be read, naming the URL."""
        return DataError(f"cannot read {dataset!r} at {self.location}: {first_line(exc)}")

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
        return self.read(dataset, select, symbols, start, end, tail, factor)[0]

    def read(
        self,
        dataset: str,
        select: str,
        symbols: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        tail: str = "",
        factor: str | None = None,
    ) -> tuple[pa.Table, Manifest]:
        """Return what :meth:`query` returns, and the manifest whose files it read."""
        scan = functools.partial(self._scan, select=select, symbols=symbols, start=start, end=end)
        return self._of_one_manifest(dataset, factor, lambda files: scan(files, tail=tail))

    def pivots(
        self, dataset: str, columns: Sequence[str]
    ) -> tuple[dict[str, pd.DataFrame], Manifest]:
        """Return each bar column as :meth:`panel` does, all read from the files of one manifest.

        The axes first (the distinct dates and symbols), then one file at a time scattered into
        panels allocated once (:class:`quant_core.data.pivot.Scatter`): a read holds the panels
        and one year's rows, not a long table of every row (a 10,000 x 7,560 panel set).
        """
        columns = list(dict.fromkeys(columns))  # a field asked twice is read once

        def scan(files: list[str]) -> dict[str, pd.DataFrame]:
            days = self._scan(files, "DISTINCT date", None, None, None, "")["date"]
            names = self._scan(files, "DISTINCT symbol", None, None, None, "")["symbol"]
            panels = Scatter(
                np.asarray(days.to_numpy()), names.to_numpy(zero_copy_only=False), columns
            )
            select = ", ".join(["date", "symbol", *columns])
            for one in files:
                panels.add(self._scan([one], select, None, None, None, ""))
            return panels.frames()

        return self._of_one_manifest(dataset, None, scan)

    def _of_one_manifest(
        self, dataset: str, factor: str | None, scan: Callable[[list[str]], T]
    ) -> tuple[T, Manifest]:
        """Return ``scan`` of the files of the current manifest, and that manifest."""
        # A concurrent writer may delete a partition between our manifest read and the scan;
        # the manifest then names its replacement, so read it again.
        for attempt in range(_READ_RETRIES):
            manifest = self.load(dataset, required=True)
            parts = _parts(manifest, factor)
            files = [self.file(dataset, name) for name in parts.values()]
            try:
                return scan(files), manifest
            except (duckdb.IOException, duckdb.HTTPException, FileNotFoundError) as exc:
                now = _parts(self.load(dataset, required=True), factor)
                if attempt == _READ_RETRIES - 1 or now == parts:
                    # Retried enough, or no writer replaced it: the file is missing.
                    raise self._damaged(dataset, factor, exc) from None
                logger.debug("Partition replaced during read of %s; retrying", dataset)
            except duckdb.InvalidInputException as exc:  # a file that is no Parquet (damaged)
                raise self._damaged(dataset, factor, exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

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
        return pivot(table, column)

    def _scan(
        self,
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
        con = self.connect()
        try:
            # execute(), not sql(): on DuckDB 1.5 a relation with parameters converts to Arrow
            # row by row (measured: 1.4 s, not 0.03 s, for 756,000 rows); every query with
            # parameters here and in the journal and the catalogue takes this path.
            return con.execute(sql, params).to_arrow_table()
        finally:
            con.close()


def first_line(exc: BaseException) -> str:
    """Return the first line of an error's message (a DuckDB or Arrow error runs on)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _parts(manifest: Manifest, factor: str | None) -> dict[str, str]:
    return dict(manifest.partitions if factor is None else manifest.factors.get(factor, {}))


__all__ = [
    "MANIFEST_FORMAT",
    "NAME",
    "Manifest",
    "StoreReader",
    "check_name",
    "first_line",
    "parse_manifest",
]
