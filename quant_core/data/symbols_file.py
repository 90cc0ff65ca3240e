"""A dataset's reference data file (``symbols-<id>.parquet``): written under a fresh name.

The manifest names the file; a write that would store the rows already stored keeps the file it
names, so the dataset's ``bars_version`` (what a sweep's id and a worker's panels are keyed by)
does not move for it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from quant_core.atomic import fsync_path
from quant_core.data.reference import check_table
from quant_core.errors import DataError


def same_rows(reference: pa.Table, stored: pd.DataFrame | None, dataset: str) -> bool:
    """Return whether ``reference`` (to store) holds the rows of ``stored`` (order aside).

    None stored, or a table an older release stored that no longer passes ``check_table``:
    False (the file is written anew).
    """
    try:
        same = stored is not None and check_table(dataset, stored).sort_by("symbol").equals(
            reference.sort_by("symbol")
        )
    except DataError:  # stored by an older release: written anew
        return False
    return bool(same)


def write_symbols_file(folder: Path, table: pa.Table) -> str:
    """Write ``table`` under a fresh name in ``folder``; return the name.

    Invisible until the caller commits a manifest that names it.
    """
    name = f"symbols-{uuid.uuid4().hex[:12]}.parquet"
    con = duckdb.connect()
    try:
        con.from_arrow(table).write_parquet(str(folder / name))
    finally:
        con.close()
    fsync_path(folder / name)
    return name


def symbol_frame(table: pa.Table | None) -> pd.DataFrame:
    """Return a dataset's reference table as a frame; without one, no rows (none was given)."""
    if table is None:
        return pd.DataFrame({"symbol": pd.Series([], dtype="str")})
    frame: pd.DataFrame = table.to_pandas()
    return frame


__all__ = ["same_rows", "symbol_frame", "write_symbols_file"]
