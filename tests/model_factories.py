"""Hand-built fitted models, stored as ``run_factor_computation.py --fit`` stores them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from quant_core.research.model import ACCEPTED, FittedModel, RefitRecord
from quant_core.research.result import (
    BASELINE_COLUMNS,
    COEFFICIENT_COLUMNS,
    DAILY_COLUMNS,
    FOLD_COLUMNS,
    QUANTILE_COLUMNS,
    FitResult,
)
from quant_core.research.spec import ModelSpec
from quant_core.research.store import ModelStore

CREATED = dt.datetime(2024, 1, 5, 14, 30, tzinfo=dt.UTC)


def refit(valid_from: dt.date, coef: Sequence[float], intercept: float = 0.0) -> RefitRecord:
    """Return a linear refit predicting from ``valid_from`` on (trained on the 60 days before)."""
    first = valid_from - dt.timedelta(days=60)
    last = valid_from - dt.timedelta(days=1)
    return RefitRecord(valid_from, first, last, 1000, tuple(float(c) for c in coef), intercept)


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})


def store_model(
    data_dir: Path,
    factors: Sequence[str],
    refits: Sequence[RefitRecord],
    status: str = ACCEPTED,
    rank_ic: float = 0.05,
    name: str = "hand",
) -> str:
    """Store a model of ``refits`` in ``<data_dir>/models`` (empty validation frames); its id."""
    spec = ModelSpec(name=name, factors=list(factors))
    model = FittedModel("", spec, status, tuple(refits))
    result = FitResult(
        spec=spec,
        model=model,
        status=status,
        oos_ic=rank_ic,
        oos_rank_ic=rank_ic,
        oos_t=1.0,
        folds=_empty(FOLD_COLUMNS),
        coefficients=_empty(COEFFICIENT_COLUMNS),
        oos_daily=_empty(DAILY_COLUMNS),
        composite=pd.DataFrame(),
        baselines=_empty(BASELINE_COLUMNS),
        quantiles=_empty(QUANTILE_COLUMNS),
        data_through=max(r.valid_from for r in refits),
    )
    return ModelStore(data_dir / "models").save(result, "test", CREATED)
