"""Long bars to wide panels: a date x symbol array per field, filled by scatter (no sort).

:func:`pivot` turns one long table (date, symbol, value) into a wide frame. :func:`Scatter`
fills the panels of several fields from long tables that come one part at a time (a dataset's
year files, read one after the other), into arrays allocated once: a read holds the panels and
one part, not the whole long table. A 10,000-symbol x 7,560-session panel set read as five
whole long tables (one per field) peaked at 8.3 GiB on DuckDB 1.5.5, which keeps the
buffers of a 75.6M-row result; read a year at a time it peaks near the panels' own 3 GiB
(``benchmarks/scale.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _days(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy()).astype("datetime64[D]")


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    # Each row's code into the names (the symbols of the column, as str, in the order met).
    encoded = pc.dictionary_encode(column).combine_chunks()
    names = encoded.dictionary.to_numpy(zero_copy_only=False).astype(str)
    return names, encoded.indices.to_numpy()


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        index=pd.DatetimeIndex([], name="date"), columns=pd.Index([], name="symbol")
    )


def pivot(table: pa.Table, field: str) -> pd.DataFrame:
    """Return ``field`` of the long ``table`` as a wide frame (dates x sorted symbols).

    Rows are the dates with at least one row, columns the symbols, sorted; a symbol without a
    row on a date holds NaN there.
    """
    if table.num_rows == 0:
        return _empty()
    days = _days(table["date"]).astype(np.int64)
    lo = int(days.min())
    present = np.zeros(int(days.max()) - lo + 1, dtype=bool)
    present[days - lo] = True
    row_of_day = np.cumsum(present) - 1
    rows = row_of_day[days - lo]
    names, codes = _codes(table["symbol"])
    order = np.argsort(names, kind="stable")
    col_of_code = np.empty_like(order)
    col_of_code[order] = np.arange(len(order))
    values = np.full((int(present.sum()), len(names)), np.nan)
    values[rows, col_of_code[codes]] = table[field].to_numpy()
    index = pd.DatetimeIndex((np.flatnonzero(present) + lo).astype("datetime64[D]"), name="date")
    return pd.DataFrame(values, index=index, columns=pd.Index(names[order], name="symbol"))


def _positions(axis: np.ndarray, keys: np.ndarray, what: str) -> np.ndarray:
    # Where each key sits on the sorted axis; a key not on it is an error (never a neighbour).
    where = np.searchsorted(axis, keys)
    found = where < len(axis)
    found[found] = axis[where[found]] == keys[found]
    if not found.all():
        raise ValueError(f"a part holds a {what} outside the panels' axes: {keys[~found][0]}")
    return where


class Scatter:
    """Wide panels of ``fields`` over known axes, filled one long part at a time.

    ``dates`` and ``symbols``: every date and symbol the parts hold (in any order; kept
    sorted). Each :meth:`add` scatters a part's rows into the panels; :meth:`frames` returns
    them, as :func:`pivot` of the whole long table would (the same rows, columns and values).
    """

    def __init__(self, dates: np.ndarray, symbols: np.ndarray, fields: Sequence[str]) -> None:
        self.dates = np.unique(np.asarray(dates).astype("datetime64[D]"))
        self.symbols = np.unique(np.asarray(symbols).astype(str))
        shape = (len(self.dates), len(self.symbols))
        # Column-major, as a frame built from a pivoted array holds it (each symbol's series
        # contiguous): the panels' layout, hence every reduction's order, is what it was.
        self.values = {f: np.full(shape, np.nan, order="F") for f in fields}

    def add(self, part: pa.Table) -> None:
        """Scatter ``part`` (date, symbol and every field) into the panels."""
        if part.num_rows == 0:
            return
        days = _days(part["date"])
        names, codes = _codes(part["symbol"])
        rows = _positions(self.dates, days, "date")
        cols = _positions(self.symbols, names, "symbol")[codes]
        for field, values in self.values.items():
            values[rows, cols] = part[field].to_numpy()

    def frames(self) -> dict[str, pd.DataFrame]:
        """Return each field's panel as a wide frame (no copy)."""
        if len(self.dates) == 0:
            return {f: _empty() for f in self.values}
        # Axes of their own per frame (one renamed leaves the others), over the shared labels.
        return {
            f: pd.DataFrame(
                v,
                index=pd.DatetimeIndex(self.dates, name="date"),
                columns=pd.Index(self.symbols, name="symbol"),
                copy=False,
            )
            for f, v in self.values.items()
        }


__all__ = ["Scatter", "pivot"]
