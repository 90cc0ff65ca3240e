"""Reference data of a dataset: one row per symbol with its name, sector, industry and delisting.

Every source fills the table (the sync completes it), the warehouse validates it on write, and
the drivers load its sectors into :class:`~quant_core.data.panels.MarketData`. The pinned schema
(:data:`SCHEMA`)::

    symbol    text   the symbol rule (quant_core.data.symbol_rule), unique in the table
    name      text   or null where the source gives none
    sector    text   never empty: "Unknown" where the source gives none
    industry  text   never empty: "Unknown" where the source gives none
    source    text   where the row's facts came from (the bar source, for a symbol it listed
                     without reference data)
    delisted  date   the delisting date where the source gives one, else null

For example (sp500-2010)::

    symbol  name               sector                  industry           source      delisted
    AAPL    Apple Inc.         Information Technology  Computer Hardware  ...SP_500.xml  null
    ACS     null               Unknown                 Unknown            sample:...  null
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from quant_core.data.panels import MarketData
from quant_core.data.symbol_rule import SYMBOL_RULE, is_valid_symbol
from quant_core.errors import DataError

if TYPE_CHECKING:
    from quant_core.data.warehouse import Warehouse

logger = logging.getLogger(__name__)

UNKNOWN = "Unknown"
SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("name", pa.string()),
        ("sector", pa.string()),
        ("industry", pa.string()),
        ("source", pa.string()),
        ("delisted", pa.date32()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
_TEXT_REQUIRED = ("sector", "industry", "source")  # never empty; sector and industry Unknown


def check_table(dataset: str, table: pd.DataFrame) -> pa.Table:
    """Return ``table`` as an Arrow table of :data:`SCHEMA`, or raise on the first bad value.

    Raises
    ------
    DataError
        A column missing or not in the schema, a symbol that breaks the symbol rule or appears
        twice, an empty sector, industry or source, a name that is not text, or a delisting
        that is not a date; the message names the dataset, the column and the value.
    """
    where = f"symbols of dataset {dataset!r}"
    missing = [c for c in COLUMNS if c not in table.columns]
    extra = [str(c) for c in table.columns if c not in COLUMNS]
    if missing or extra:
        wrong = (f"missing column(s) {', '.join(missing)}; " if missing else "") + (
            f"column(s) {', '.join(extra)} not in the schema; " if extra else ""
        )
        raise DataError(f"{where}: {wrong}the columns are {', '.join(COLUMNS)}")
    symbols = table["symbol"].tolist()
    for symbol in symbols:
        if not (isinstance(symbol, str) and is_valid_symbol(symbol)):
            raise DataError(f"{where}: column symbol: {symbol!r} is not a symbol ({SYMBOL_RULE})")
    _refuse_duplicates(where, symbols)
    for column in _TEXT_REQUIRED:
        for symbol, value in zip(symbols, table[column].tolist(), strict=True):
            if not (isinstance(value, str) and value.strip()):
                hint = (
                    f"; write {UNKNOWN!r} where the source gives none" if column != "source" else ""
                )
                raise DataError(
                    f"{where}: column {column}: {_shown(value)} (symbol {symbol}) is empty{hint}"
                )
    for symbol, value in zip(symbols, table["name"].tolist(), strict=True):
        if not (_is_null(value) or isinstance(value, str)):
            raise DataError(f"{where}: column name: {value!r} (symbol {symbol}) is not text")
    delisted = [
        _date(where, s, v) for s, v in zip(symbols, table["delisted"].tolist(), strict=True)
    ]
    names = [None if _is_null(v) or not str(v).strip() else str(v) for v in table["name"]]
    arrays = [
        pa.array(symbols, pa.string()),
        pa.array(names, pa.string()),
        *(pa.array(table[c].astype(str).tolist(), pa.string()) for c in COLUMNS[2:5]),
        pa.array(delisted, pa.date32()),
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def complete(
    given: pd.DataFrame | None, symbols: Iterable[str], source: str, dataset: str
) -> pd.DataFrame:
    """Return the table of ``symbols``: the source's rows, ``Unknown`` rows for the others.

    Parameters
    ----------
    given
        The source's rows (a ``symbol`` column and any of the other columns), or None.
    symbols
        The symbols the table is for (the bars synced); rows of others are left out.
    source
        The ``source`` of a row that does not say where it came from.
    dataset
        Named in errors.

    Raises
    ------
    DataError
        ``given`` lists a symbol twice, or holds a column that is not in the schema.
    """
    wanted = sorted(set(symbols))
    frame = pd.DataFrame({"symbol": pd.Series([], dtype=object)}) if given is None else given
    extra = [str(c) for c in frame.columns if c not in COLUMNS]
    if extra:
        raise DataError(
            f"symbols of dataset {dataset!r}: column(s) {', '.join(extra)} not in the schema; "
            f"the columns are {', '.join(COLUMNS)}"
        )
    _refuse_duplicates(f"symbols of dataset {dataset!r}", frame["symbol"].tolist())
    rows = frame.set_index("symbol").reindex(wanted)
    out = pd.DataFrame({"symbol": pd.Series(wanted, dtype=object)})
    names = rows.get("name", pd.Series(None, index=wanted))
    out["name"] = pd.Series([_text_or_none(v) for v in names], dtype=object)
    for column in ("sector", "industry"):
        values = rows.get(column, pd.Series(None, index=wanted))
        out[column] = [_text_or_none(v) or UNKNOWN for v in values]
    given_source = rows.get("source", pd.Series(None, index=wanted))
    out["source"] = [_text_or_none(v) or source for v in given_source]
    delisted = rows.get("delisted", pd.Series(None, index=wanted))
    out["delisted"] = pd.Series([None if _is_null(v) else v for v in delisted], dtype=object)
    return out


def is_pinned(table: pd.DataFrame) -> bool:
    """Return whether a stored table has the columns of :data:`SCHEMA` (written since it)."""
    return set(COLUMNS) <= set(table.columns)


def merge(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Return ``current`` plus the rows of ``previous`` for symbols ``current`` does not hold.

    A sync that adds symbols to a dataset keeps the reference rows of those it did not touch;
    a ``previous`` table of an older schema is dropped (its symbols then read ``Unknown``).
    """
    if not is_pinned(previous) or previous.empty:
        return current
    kept = previous.loc[~previous["symbol"].isin(current["symbol"]), list(COLUMNS)]
    both = pd.concat([kept.astype(object), current.astype(object)], ignore_index=True)
    return both.sort_values("symbol", kind="stable").reset_index(drop=True)


def for_sync(
    given: pd.DataFrame | None,
    symbols: Iterable[str],
    previous: pd.DataFrame | None,
    source: str,
    dataset: str,
) -> tuple[pd.DataFrame, list[str]]:
    """Return the table a sync stores, and the given symbols it leaves out.

    The table holds the synced ``symbols`` and the ``previous`` (stored) ones. A stored
    symbol's row is updated column by column: a column the source gives (a reference file's,
    or IB's name, sector and industry) overrides the stored value, even where the cell is
    blank; a column it does not give keeps it (IB never gives ``delisted``: a stored delisting
    survives an IB sync). A symbol the source gives no row for keeps its stored row, so a sync
    without reference data never wipes the sectors. The symbols left out are those given that
    are neither synced nor stored (named in the report).

    Parameters
    ----------
    given
        The source's rows, or None (:func:`complete`).
    symbols
        The symbols of the synced bars.
    previous
        The stored table, or None for a new or replaced dataset.
    source, dataset
        As for :func:`complete`.
    """
    stored = previous if previous is not None and is_pinned(previous) else None
    known = set() if stored is None else set(stored["symbol"])
    named = set() if given is None else set(given["symbol"])
    synced = set(symbols)
    current = complete(given, synced | (named & known), source, dataset)
    if stored is not None:
        # Stored facts the source did not restate are kept, rather than replaced by Unknown.
        current = merge(stored, current[~current["symbol"].isin(known - named)])
        _keep_unsupplied(current, stored, named & known, given)
    return current.reset_index(drop=True), sorted(named - synced - known)


def _keep_unsupplied(
    current: pd.DataFrame, stored: pd.DataFrame, restated: set[str], given: pd.DataFrame | None
) -> None:
    """Give ``restated`` symbols the stored value of each column ``given`` lacks (in place)."""
    absent = [
        c for c in ("name", "sector", "industry", "delisted") if given is None or c not in given
    ]
    rows = current["symbol"].isin(restated).to_numpy()
    if not absent or not rows.any():
        return
    by_symbol = stored.drop_duplicates("symbol").set_index("symbol")
    for column in absent:
        values = current.loc[rows, "symbol"].map(by_symbol[column].astype(object))
        current[column] = current[column].astype(object)
        current.loc[rows, column] = values.astype(object).to_numpy()


def unknown_sectors(table: pd.DataFrame) -> int:
    """Return how many symbols of ``table`` have the sector ``Unknown`` (all, if it has none)."""
    if "sector" not in table.columns:
        return len(table)
    return int(table["sector"].fillna(UNKNOWN).eq(UNKNOWN).sum())


def sectors_of(table: pd.DataFrame, symbols: np.ndarray, dataset: str) -> np.ndarray:
    """Return the sector of each of ``symbols`` (``Unknown`` where ``table`` has none).

    A table of an older schema (or none: an empty frame) gives ``Unknown`` for every symbol,
    and one log line says so.
    """
    if not is_pinned(table):
        logger.warning(
            "Dataset %s has no reference data of the current schema (synced before it): every "
            "sector reads %s; run run_data_sync.py for it again to fill them",
            dataset,
            UNKNOWN,
        )
        return np.full(len(symbols), UNKNOWN)
    by_symbol = pd.Series(table["sector"].to_numpy(dtype=object), index=table["symbol"])
    sectors = by_symbol.reindex(pd.Index(symbols, dtype=object)).fillna(UNKNOWN)
    return np.asarray(sectors.to_numpy(dtype=str))


def load_sectors(warehouse: Warehouse, dataset: str, symbols: np.ndarray) -> np.ndarray:
    """Return the stored sector of each of ``symbols`` of ``dataset`` (see :func:`sectors_of`)."""
    return sectors_of(warehouse.symbols(dataset), symbols, dataset)


def with_sectors(data: MarketData, warehouse: Warehouse, dataset: str) -> MarketData:
    """Return ``data`` with ``sectors`` filled from the reference data of ``dataset``."""
    return replace(data, sectors=load_sectors(warehouse, dataset, data.symbols))


def _refuse_duplicates(where: str, symbols: list[Any]) -> None:
    counts = pd.Series(symbols, dtype=object).value_counts()
    twice = sorted(str(s) for s in counts.index[counts.to_numpy() > 1])
    if twice:
        raise DataError(f"{where}: column symbol: {', '.join(twice)} listed more than once")


def _is_null(value: object) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float | np.floating) and bool(np.isnan(value)))
    )


def _shown(value: object) -> str:
    return "null" if _is_null(value) else repr(value)


def _text_or_none(value: object) -> str | None:
    if _is_null(value):
        return None
    text = str(value).strip()
    return text or None


def _date(where: str, symbol: str, value: object) -> dt.date | None:
    if _is_null(value):
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise DataError(
        f"{where}: column delisted: {value!r} (symbol {symbol}) is not a date (YYYY-MM-DD)"
    )
