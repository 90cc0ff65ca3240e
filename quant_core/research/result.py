"""What fitting a model gives: the model, its validation and its composite (one value type).

Pure (a dataclass). Made by ``research/pipeline.py``'s ``fit_model``, stored and read back by
``research/store.py``, shown by the cockpit's Models view and ``run_factor_computation.py``.
Frames and their columns (pinned: the store, the CLI's ``--json`` and the cockpit read them):

- ``folds``: fold, train_start, train_end, test_start, test_end (dates), train_rows, test_rows
  (samples), is_ic, is_rank_ic, oos_ic, oos_rank_ic, spread, coef_cosine, then one
  ``coef_<factor>`` column per factor (NaN for gbr).
- ``coefficients``: factor, coef, ci_low, ci_high, std (the full-sample fit and its bootstrap by
  dates; the intervals NaN without a bootstrap or for gbr).
- ``oos_daily``: date, ic, rank_ic (every out-of-sample session of the validation).
- ``composite``: wide (sessions x symbols), the walk-forward predictions, NaN before the first
  refit.
- ``baselines``: name (model, equal_weight, ic_weight), oos_ic, oos_rank_ic, spread.
- ``quantiles``: quantile (1 = lowest prediction), mean_label (the composite's buckets over the
  out-of-sample sessions).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from quant_core.research.model import FittedModel
from quant_core.research.spec import ModelSpec

FOLD_COLUMNS = (
    "fold",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "train_rows",
    "test_rows",
    "is_ic",
    "is_rank_ic",
    "oos_ic",
    "oos_rank_ic",
    "spread",
    "coef_cosine",
)
COEFFICIENT_COLUMNS = ("factor", "coef", "ci_low", "ci_high", "std")
DAILY_COLUMNS = ("date", "ic", "rank_ic")
BASELINE_COLUMNS = ("name", "oos_ic", "oos_rank_ic", "spread")
QUANTILE_COLUMNS = ("quantile", "mean_label")


@dataclass(frozen=True, slots=True)
class FitResult:
    """A fitted, validated model (module docstring for the frames)."""

    spec: ModelSpec
    model: FittedModel
    status: str  # model.ACCEPTED or model.REJECTED
    oos_ic: float
    oos_rank_ic: float
    oos_t: float  # Newey-West t of the daily out-of-sample rank IC, horizon - 1 lags
    folds: pd.DataFrame
    coefficients: pd.DataFrame
    oos_daily: pd.DataFrame
    composite: pd.DataFrame
    baselines: pd.DataFrame
    quantiles: pd.DataFrame
    data_through: dt.date
    timings: dict[str, float] = field(default_factory=dict)  # seconds by step

    @property
    def improvement(self) -> dict[str, float]:
        """Return the model's out-of-sample rank IC minus each baseline's, by baseline name.

        Both as the baselines table has them: on the sessions the model and every baseline
        score (``pipeline._baselines``), not the model's over all of its own.
        """
        frame = self.baselines.set_index("name")["oos_rank_ic"]
        model = float(frame.get("model", self.oos_rank_ic))
        return {str(name): float(model - value) for name, value in frame.items() if name != "model"}
