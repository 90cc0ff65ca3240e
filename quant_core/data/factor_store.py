"""Factor values stored beside the bars they were computed from, one Parquet set per factor.

Each factor's values (``date, symbol, value``) live under ``<dataset>/factors/<name>/``,
partitioned by year and named in the dataset's manifest like the bars, so they share its lock,
its atomic commits and its version: a dataset rebuilt with ``replace=True``, or whose bars
change, drops its factors in the same commit (:meth:`Warehouse.write_bars`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa

from quant_core.data.store import NAME, WriteResult, upsert, years
from quant_core.data.store_read import StoreReader
from quant_core.errors import ConfigError, DataError
from quant_core.types import ProgressFn

logger = logging.getLogger(__name__)


class FactorStore:
    """The stored factor values of every dataset of a :class:`StoreReader`.

    Parameters
    ----------
    store
        The datasets the factors belong to.
    """

    def __init__(self, store: StoreReader) -> None:
        self.store = store

    def write(
        self,
        dataset: str,
        name: str,
        values: pd.DataFrame,
        progress: ProgressFn | None = None,
        replace: bool = False,
        bars_version: int | None = None,
    ) -> WriteResult:
        """Upsert one factor's values (columns ``date, symbol, value``) into ``dataset``.

        Factors live beside the bars they were computed from, in the same manifest, so a
        dataset rebuilt with ``replace=True`` drops them with its bars. NaN values are not
        stored. ``replace``: ``values`` are the whole factor; its stored files are not read
        (a damaged one is dropped), and replaced. ``bars_version``: the bars' version the values
        were computed from; if a sync has changed the bars since, nothing is written.

        Raises
        ------
        DataError
            The bars are no longer of ``bars_version``: the values are stale.
        """
        if not NAME.match(name):
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
        store = self.store
        folder = store.folder(dataset)
        with store.lock(dataset):
            manifest = store.load(dataset, required=True)
            if bars_version is not None and manifest.bars_version != bars_version:
                raise DataError(
                    f"the bars of {dataset} changed while factor {name} was computed (a sync "
                    "ran meanwhile): nothing written; run run_factor_computation.py again"
                )
            if table.num_rows == 0:
                return WriteResult(0, 0, (), manifest.version)
            store.remove_orphans(dataset, manifest)
            previous = manifest.factors.get(name, {})
            merged = {} if replace else previous
            parts, replaced, _, _ = upsert(folder, f"factors/{name}", table, merged, progress)
            manifest.factors[name] = parts
            store.commit(dataset, manifest)
            for old in set(previous.values()) - set(parts.values()):
                (folder / old).unlink(missing_ok=True)
        logger.info("Wrote %d values of factor %s to dataset %s", table.num_rows, name, dataset)
        return WriteResult(
            table.num_rows, replaced, tuple(map(str, years(table))), manifest.version
        )

    def names(self, dataset: str) -> list[str]:
        """Return the names of the factors stored with ``dataset``, sorted."""
        return sorted(self.store.load(dataset, required=True).factors)

    def panel(
        self,
        dataset: str,
        name: str,
        symbols: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> pd.DataFrame:
        """Return a stored factor as a wide frame (dates x symbols).

        Raises
        ------
        DataError
            No factor ``name`` is stored for ``dataset``.
        """
        if name not in self.store.load(dataset, required=True).factors:
            raise DataError(
                f"no factor {name!r} stored for {dataset}; run run_factor_computation.py"
            )
        return self.store.panel(dataset, "value", symbols, start, end, factor=name)

    def reaches(self, dataset: str, day: dt.date | None) -> bool:
        """Return whether a stored factor of ``dataset`` has values on or after ``day``."""
        if day is None:
            return False
        names = self.store.load(dataset, required=False).factors  # the manifest, read once
        return any((last := self._last(dataset, n)) is not None and day <= last for n in names)

    def last_date(self, dataset: str, name: str) -> dt.date | None:
        """Return the last date stored for factor ``name``, or None."""
        if name not in self.store.load(dataset, required=True).factors:
            return None
        return self._last(dataset, name)

    def _last(self, dataset: str, name: str) -> dt.date | None:
        # The last date stored for ``name``, a factor of the manifest (not checked again).
        table = self.store.query(dataset, "max(date) AS last", None, None, None, "", factor=name)
        last = table["last"][0].as_py()
        return last if isinstance(last, dt.date) else None
