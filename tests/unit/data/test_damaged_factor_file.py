"""A factor file damaged or deleted: a clear error naming it, and ``--full`` writes it anew.

A damaged (or missing) factor Parquet file gave DuckDB's own exception (exit 3, "Unexpected
error") on the next factor run, and ``--full`` hit it too: the rewrite merged into the stored
parts, reading them first. Only an edit of ``manifest.json`` by hand helped.
"""

from __future__ import annotations

import pandas as pd
import pytest

from quant_core.data.warehouse import Warehouse
from quant_core.errors import DataError
from quant_core.factors.compute import compute_factors
from tests.factories import META, bars

NAME = "reversal_5"


def _damage(warehouse: Warehouse, how: str) -> None:
    parts = warehouse.store.load("t", required=True).factors[NAME]
    target = warehouse.store.folder("t") / next(iter(parts.values()))
    if how == "garbage":
        target.write_text("garbage\n")
    else:
        target.unlink()


@pytest.mark.parametrize("how", ["garbage", "deleted"])
def test_a_damaged_factor_file_is_named_and_full_writes_it_again(
    warehouse: Warehouse, calendar, how: str
) -> None:
    warehouse.write_bars("t", bars(calendar, symbols=("AAA", "BBB", "CCC"), sessions=30), META)
    compute_factors(warehouse, "t", [NAME])
    good = warehouse.factor_store.panel("t", NAME)
    _damage(warehouse, how)

    with pytest.raises(DataError, match=rf"factor '{NAME}' of 't'.*--full --factors {NAME}"):
        compute_factors(warehouse, "t", [NAME])
    compute_factors(warehouse, "t", [NAME], full=True)

    pd.testing.assert_frame_equal(warehouse.factor_store.panel("t", NAME), good)
