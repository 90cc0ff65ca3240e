"""The warehouse: daily bars of named datasets, what every caller reads and writes them through.

A dataset is one consistent price history (one source, one adjustment basis): real and
synthetic data, or differently adjusted copies of a symbol, never mix in one panel.

``write_bars`` upserts on ``(symbol, date)``: re-syncing a range never duplicates rows, and where
old and new rows overlap the new one wins. The files, the manifest, the lock and the atomic
commits are the store's (:mod:`quant_core.data.store`); the factor values and the sync log of a
dataset have their own modules (:mod:`quant_core.data.factor_store`,
:mod:`quant_core.data.sync_log`): callers reach them as ``warehouse.factor_store`` and
``warehouse.sync_log``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from quant_core.calendar import TradingCalendar
from quant_core.data.factor_store import FactorStore
from quant_core.data.reference import check_table
from quant_core.data.remote import RemoteStore, is_remote
from quant_core.data.store import DatasetStore, Manifest, WriteResult, upsert, years
from quant_core.data.store_read import StoreReader
from quant_core.data.symbol_rule import check_symbols
from quant_core.data.symbols_file import same_rows, symbol_frame, write_symbols_file
from quant_core.data.sync_log import SyncLog
from quant_core.errors import ConfigError, DataError
from quant_core.types import ProgressFn

logger = logging.getLogger(__name__)

# The reference table a write stores, made from the table stored when the write holds the
# writers' lock (None: a new dataset, or one being replaced): see ``write_bars``.
SymbolsFor = Callable[[pd.DataFrame | None], pd.DataFrame]

PRICE_FIELDS = ("open", "high", "low", "close")
# The value columns of a bar (BAR_COLUMNS without date and symbol): what read_bars and panel read.
BAR_FIELDS = (*PRICE_FIELDS, "volume", "adj_factor", "flags")
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


class Warehouse:
    """Daily bars of named datasets, stored as Parquet and read through DuckDB.

    Parameters
    ----------
    root
        The warehouse folder, normally ``<paths.data_dir>/warehouse``, or the URL of a
        published copy, read-only (``s3://``, ``http(s)://``: :mod:`quant_core.data.remote`).

    Attributes
    ----------
    store, factor_store, sync_log
        The dataset files, the factor values and the sync log under ``root``.
    """

    def __init__(self, root: Path | str) -> None:
        self.store: StoreReader = RemoteStore(root) if is_remote(root) else DatasetStore(Path(root))
        self.location = self.store.location
        self.factor_store = FactorStore(self.store)
        self.sync_log = SyncLog(self.store)

    @property
    def root(self) -> Path:
        """Return the local folder; ``DataError`` for a published warehouse (read-only)."""
        store = self.store
        if not isinstance(store, DatasetStore):
            raise DataError(f"the warehouse at {self.location} is a URL, not a local folder")
        return store.root

    # ---------------------------------------------------------------- datasets and metadata

    def datasets(self) -> list[str]:
        """Return the names of the datasets that hold data, sorted."""
        return self.store.datasets()

    def exists(self, dataset: str) -> bool:
        """Return whether ``dataset`` has been written."""
        return self.store.exists(dataset)

    def version(self, dataset: str) -> int:
        """Return the dataset's manifest version: it grows with every write (cheap to poll)."""
        return self.store.load(dataset, required=True).version

    def bars_version(self, dataset: str) -> int:
        """Return the version of the dataset's last change of bars or reference data.

        What is read into panels (:func:`quant_core.data.market.load_market`) changed then; a
        write of factor values or of a sync's log since does not move it.
        """
        return self.store.load(dataset, required=True).bars_version

    def meta(self, dataset: str) -> DatasetMeta:
        """Return the description stored with ``dataset``."""
        raw = self.store.load(dataset, required=True).meta
        return DatasetMeta(
            label=str(raw.get("label", "")),
            source=str(raw.get("source", "")),
            synthetic=bool(raw.get("synthetic", False)),
        )

    def check_source(self, dataset: str, meta: DatasetMeta, replace: bool = False) -> None:
        """Raise ``DataError`` if writing ``meta.source`` data would mix it into another source."""
        # A new dataset loads as an empty manifest (version 0), which any source may start.
        _check_same_source(dataset, self.store.load(dataset, required=False), meta, replace)

    # ---------------------------------------------------------------------------- writing

    def write_bars(
        self,
        dataset: str,
        bars: pd.DataFrame,
        meta: DatasetMeta | None = None,
        progress: ProgressFn | None = None,
        *,
        replace: bool = False,
        symbols: SymbolsFor | None = None,
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
        symbols
            Makes the dataset's reference data to store in the same commit (as
            ``write_symbols``), so that a writer killed mid-sync never leaves new bars with old
            reference data. It is given the reference table stored when the lock is taken (None:
            new, or replaced by another source) and returns the table to store: a table merged with
            what is stored must be made under the lock, or a sync running beside it loses its
            rows. None: the stored reference data is kept as it is.

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
        touched = years(table)
        store = self.store
        folder = store.folder(dataset)
        with store.lock(dataset):
            manifest = store.load(dataset, required=False)
            if manifest.version == 0 and meta is None:
                raise DataError(f"dataset {dataset!r} is new: describe it with a DatasetMeta")
            _check_same_source(dataset, manifest, meta, replace)
            reference = None
            if symbols is not None:
                other = replace and meta is not None and manifest.meta.get("source") != meta.source
                fresh = manifest.version == 0 or other  # nothing of this source's stored
                stored = None if fresh else self._symbols(manifest, dataset)
                reference = check_table(dataset, symbols(stored))
            store.remove_orphans(dataset, manifest)
            previous = {} if replace else manifest.partitions
            new_parts, replaced, changed, first_new = upsert(
                folder, "bars", table, previous, progress
            )
            if not replace and not changed and replaced == table.num_rows:
                # The same rows again: the files already named stay (bars_version does not move).
                written = [n for n in new_parts.values() if n not in manifest.partitions.values()]
                new_parts = dict(manifest.partitions)
            else:
                written = []
            stale = written + [
                name for name in manifest.partitions.values() if name not in new_parts.values()
            ]
            if manifest.factors and (
                replace or changed or self.factor_store.reaches(dataset, first_new)
            ):
                # Bars changed or added on covered sessions: incremental runs only add later ones.
                logger.warning(
                    "Bars of %s changed or were added on sessions its stored factors cover: "
                    "dropping them (%s); run run_factor_computation.py again",
                    dataset,
                    ", ".join(sorted(manifest.factors)),
                )
                stale += [name for parts in manifest.factors.values() for name in parts.values()]
                manifest.factors = {}
            manifest.partitions = new_parts
            if reference is not None and not same_rows(reference, stored, dataset):
                if manifest.symbols_file:
                    stale.append(manifest.symbols_file)
                manifest.symbols_file = write_symbols_file(folder, reference)
            if meta is not None:
                manifest.meta = {
                    "label": meta.label,
                    "source": meta.source,
                    "synthetic": meta.synthetic,
                }
            store.commit(dataset, manifest)
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

    def write_symbols(self, dataset: str, symbols: pd.DataFrame) -> None:
        """Replace the reference data of ``dataset``: the columns of ``reference.SCHEMA``.

        Raises
        ------
        DataError
            A value breaks the schema (:func:`quant_core.data.reference.check_table`).
        """
        table = check_table(dataset, symbols)
        folder = self.store.folder(dataset)
        with self.store.lock(dataset):
            manifest = self.store.load(dataset, required=True)
            name = write_symbols_file(folder, table)
            old, manifest.symbols_file = manifest.symbols_file, name
            self.store.commit(dataset, manifest)
            if old:
                (folder / old).unlink(missing_ok=True)

    # ---------------------------------------------------------------------------- reading

    def read_bars(
        self,
        dataset: str,
        symbols: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        fields: Sequence[str] = BAR_FIELDS,
    ) -> pd.DataFrame:
        """Return bars as a long frame sorted by ``(symbol, date)``.

        Columns are ``date`` (``datetime64``), ``symbol`` and the requested ``fields``.
        ``start`` and ``end`` are inclusive.
        """
        unknown = sorted(set(fields) - set(BAR_FIELDS))
        if unknown:
            raise ConfigError(f"unknown bar field(s) {unknown}; valid: {', '.join(BAR_FIELDS)}")
        columns = ", ".join(["date", "symbol", *fields])
        table = self.store.query(dataset, columns, symbols, start, end, "ORDER BY symbol, date")
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
        if field not in BAR_FIELDS:
            raise ConfigError(f"unknown bar field {field!r}; valid: {', '.join(BAR_FIELDS)}")
        return self.store.panel(dataset, field, symbols, start, end)

    def panels(
        self, dataset: str, fields: Sequence[str]
    ) -> tuple[int, dict[str, pd.DataFrame], pd.DataFrame]:
        """Return the bars' version, ``fields`` as wide frames, and the reference data.

        All of that one version (one manifest read; the files read one at a time, as
        :meth:`StoreReader.pivots` does: the frames are :meth:`panel`'s).
        """
        unknown = sorted(set(fields) - set(BAR_FIELDS))
        if unknown:
            raise ConfigError(f"unknown bar field(s) {unknown}; valid: {', '.join(BAR_FIELDS)}")
        frames, manifest, table = self.store.with_reference(
            dataset, lambda: self.store.pivots(dataset, fields)
        )
        return manifest.bars_version, frames, symbol_frame(table)

    def symbols(self, dataset: str) -> pd.DataFrame:
        """Return the symbol metadata of ``dataset`` (empty if the source had none)."""
        now = self.store.with_reference(
            dataset, lambda: (None, self.store.load(dataset, required=True))
        )
        return symbol_frame(now[2])

    def _symbols(self, manifest: Manifest, dataset: str) -> pd.DataFrame:
        # The reference data of ``manifest`` (a writer's, under the dataset's lock).
        name = manifest.symbols_file
        return symbol_frame(None if name is None else self.store.read_table(dataset, name))

    def coverage(self, dataset: str, calendar: TradingCalendar) -> pd.DataFrame:
        """Return one row per symbol: first and last date, rows, and missing sessions.

        ``missing_sessions`` counts the calendar sessions between the symbol's first and last
        bar on which it has no bar.
        """
        sql = "min(date) AS first_date, max(date) AS last_date, count(*) AS rows"
        table = self.store.query(
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
        table = self.store.query(
            dataset, "date, count(*) AS n", None, None, None, "GROUP BY date ORDER BY date"
        )
        frame = table.to_pandas()
        return pd.Series(frame["n"].to_numpy(), index=pd.to_datetime(frame["date"]), name="bars")


def _check_same_source(
    dataset: str, manifest: Manifest, meta: DatasetMeta | None, replace: bool
) -> None:
    stored = manifest.meta.get("source")
    if replace or meta is None or manifest.version == 0 or stored == meta.source:
        return
    raise DataError(
        f"dataset {dataset!r} holds {stored} data; writing {meta.source} data into it would mix "
        "two sources in one price history. Sync into another dataset (--dataset NAME), or "
        "rebuild this one from the new source (--replace)"
    )


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
