"""Hand-built fit results for the Models view's tests: small frames with the pinned columns.

The values are chosen, not fitted, so a test can compare what the page shows with them.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from quant_core.research.model import ACCEPTED, FittedModel, RefitRecord
from quant_core.research.result import FitResult
from quant_core.research.spec import ModelSpec

FACTORS = ["momentum_126", "reversal_5"]
OOS_SESSIONS = 120


def spec(name: str = "value_mom", target: str = "fwd_open_5") -> ModelSpec:
    """Return a two-factor ridge spec on ``target`` (walk-forward, 60/20, embargo 5)."""
    return ModelSpec.model_validate(
        {
            "name": name,
            "factors": FACTORS,
            "target": target,
            "estimator": "ridge",
            "validation": {"scheme": "walk_forward", "train": 60, "test": 20, "embargo": 5},
            "bootstrap": 50,
            "min_oos_rank_ic": 0.02,
        }
    )


def folds() -> pd.DataFrame:
    """Return three folds (every pinned column, then coef_<factor>)."""
    return pd.DataFrame(
        {
            "fold": [0, 1, 2],
            "train_start": [dt.date(2020, 1, 2), dt.date(2020, 2, 3), dt.date(2020, 3, 2)],
            "train_end": [dt.date(2020, 3, 20), dt.date(2020, 4, 17), dt.date(2020, 5, 15)],
            "test_start": [dt.date(2020, 3, 30), dt.date(2020, 4, 27), dt.date(2020, 5, 26)],
            "test_end": [dt.date(2020, 4, 24), dt.date(2020, 5, 22), dt.date(2020, 6, 19)],
            "train_rows": [1800, 1810, 1795],
            "test_rows": [600, 598, 601],
            "is_ic": [0.051, 0.048, 0.055],
            "is_rank_ic": [0.062, 0.057, 0.066],
            "oos_ic": [0.021, 0.035, -0.004],
            "oos_rank_ic": [0.028, 0.041, 0.0123],
            "spread": [0.0031, 0.0042, -0.0005],
            "coef_cosine": [0.97, 0.91, 0.88],
            "coef_momentum_126": [0.0021, 0.0018, 0.0025],
            "coef_reversal_5": [-0.0011, -0.0009, -0.0014],
        }
    )


def coefficients() -> pd.DataFrame:
    """Return the full-sample coefficients and their bootstrap intervals."""
    return pd.DataFrame(
        {
            "factor": FACTORS,
            "coef": [0.0021, -0.0004],
            "ci_low": [0.0012, -0.0013],
            "ci_high": [0.0030, 0.0006],
            "std": [0.00045, 0.0005],
        }
    )


def oos_daily(rank_ic: float, seed: int = 5) -> pd.DataFrame:
    """Return OOS_SESSIONS sessions of daily ICs whose rank IC averages ``rank_ic`` exactly."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.1, OOS_SESSIONS)
    return pd.DataFrame(
        {
            "date": pd.bdate_range("2020-03-30", periods=OOS_SESSIONS),
            "ic": noise * 0.8 + rank_ic,
            "rank_ic": noise - noise.mean() + rank_ic,
        }
    )


def result(
    name: str = "value_mom", status: str = ACCEPTED, rank_ic: float = 0.031, model_id: str = ""
) -> FitResult:
    """Return a whole FitResult with the frames above (``rank_ic``: its OOS rank IC)."""
    the_spec = spec(name)
    refits = tuple(
        RefitRecord(start, dt.date(2020, 1, 2), start - dt.timedelta(days=10), 1800, coef, 0.0)
        for start, coef in (
            (dt.date(2020, 3, 30), (0.002, -0.001)),
            (dt.date(2020, 4, 27), (0.0018, -0.0009)),
        )
    )
    dates = pd.bdate_range("2020-03-30", periods=5)
    composite = pd.DataFrame(
        np.arange(15, dtype=float).reshape(5, 3) / 100, index=dates, columns=["AA", "BB", "CC"]
    )
    return FitResult(
        spec=the_spec,
        model=FittedModel(model_id, the_spec, status, refits),
        status=status,
        oos_ic=rank_ic * 0.8,
        oos_rank_ic=rank_ic,
        oos_t=2.37,
        folds=folds(),
        coefficients=coefficients(),
        oos_daily=oos_daily(rank_ic),
        composite=composite,
        baselines=pd.DataFrame(
            {
                "name": ["model", "equal_weight", "ic_weight"],
                "oos_ic": [rank_ic * 0.8, 0.011, 0.017],
                "oos_rank_ic": [rank_ic, 0.012, 0.019],
                "spread": [0.0031, 0.0012, 0.0020],
            }
        ),
        quantiles=pd.DataFrame(
            {"quantile": [1, 2, 3, 4, 5], "mean_label": [-0.004, -0.001, 0.0005, 0.002, 0.005]}
        ),
        data_through=dt.date(2020, 6, 26),
    )
