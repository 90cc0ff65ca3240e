"""Compute factors from the warehouse's bars and store them beside the bars, incrementally.

The computation itself is pure (``factors.base`` and ``factors.library`` do no I/O, a rule the
architecture test enforces); this module is the one place that reads bars and writes values.

Incremental: for each factor, only sessions after its last stored date are written; since a
value depends only on the window of rows ending at its date, those new rows are computed from
the last ``window - 1`` stored sessions plus the new ones, never from the whole history.
``full=True`` recomputes and rewrites every session.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.data.warehouse import Warehouse
from quant_core.factors.base import DEFAULT_FACTORS, Factor, make_factor
from quant_core.types import ProgressFn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FactorReport:
    """What one factor computation wrote."""

    name: str
    rows_written: int
    first: dt.date | None
    last: dt.date | None
    coverage: float  # share of (session, symbol) cells with a value, over the rows written
    note: str = ""  # why nothing was written, when sessions were computed and none had a value


def to_long(values: pd.DataFrame) -> pd.DataFrame:
    """Return a wide factor panel as ``date, symbol, value`` rows, NaN dropped."""
    frame = values.rename_axis(index="date", columns="symbol").reset_index()
    long = frame.melt(id_vars="date", var_name="symbol", value_name="value")
    kept: pd.DataFrame = long[np.isfinite(long["value"].to_numpy(dtype=float))]
    return kept


def compute_factors(
    warehouse: Warehouse,
    dataset: str,
    names: list[str] | None = None,
    start: dt.date | None = None,
    full: bool = False,
    progress: ProgressFn | None = None,
) -> list[FactorReport]:
    """Compute ``names`` (default: every default factor) on ``dataset`` and store them.

    Parameters
    ----------
    start
        Write only sessions on or after this date (any calendar date).
    full
        Rewrite every session instead of only those after the last stored one.
    """
    factors: list[Factor] = [make_factor(n) for n in (names or DEFAULT_FACTORS)]
    fields = sorted({f for factor in factors for f in factor.inputs})
    version = warehouse.bars_version(dataset)  # before the read: a sync after it is seen
    panels = {f: warehouse.panel(dataset, f) for f in fields}
    dates = pd.DatetimeIndex(panels[fields[0]].index)
    reports = []
    for done, factor in enumerate(factors, start=1):
        first_row = _first_row(warehouse, dataset, factor, dates, start, full)
        window_start = max(0, first_row - factor.window + 1)
        values = factor.compute({f: p.iloc[window_start:] for f, p in panels.items()})
        values = values.iloc[first_row - window_start :]
        long = to_long(values)
        # --full from the first session: the whole factor, its stored files replaced unread.
        whole = full and first_row == 0
        written = warehouse.factor_store.write(
            dataset, factor.name, long, replace=whole, bars_version=version
        )
        cells = values.size or 1
        reports.append(
            FactorReport(
                factor.name,
                written.rows_written,
                values.index.min().date() if len(values) else None,
                values.index.max().date() if len(values) else None,
                len(long) / cells,
                _why_empty(factor, len(dates), len(values), len(long)),
            )
        )
        if progress is not None:
            progress("factors", done, len(factors))
    return reports


def _why_empty(factor: Factor, sessions: int, computed: int, values: int) -> str:
    """Return why sessions were computed and none had a value ("" when some had one)."""
    if values or not computed:
        return ""
    if factor.window > sessions:
        return (
            f"needs {factor.window} sessions of history; dataset has {sessions}: no value "
            "(sync a longer history)"
        )
    return f"no value on the {computed} session(s) computed (every input missing)"


def _first_row(
    warehouse: Warehouse,
    dataset: str,
    factor: Factor,
    dates: pd.DatetimeIndex,
    start: dt.date | None,
    full: bool,
) -> int:
    row = 0 if start is None else int(dates.searchsorted(pd.Timestamp(start)))
    last = None if full else warehouse.factor_store.last_date(dataset, factor.name)
    if last is not None:
        row = max(row, int(dates.searchsorted(pd.Timestamp(last), side="right")))
        logger.info(
            "Factor %s is stored through %s; computing later sessions only", factor.name, last
        )
    return row
