"""The Models view's tables: stored models, folds, coefficients, baselines (pure, no Streamlit).

Built from the frames a stored model keeps (columns pinned in
:mod:`quant_core.research.result`). Numbers stay numbers (an IC of 0.031 is 0.031); the view
gives the columns their formats. The one derived figure is the improvement over a baseline::

    improvement_b = oos_rank_ic(model) - oos_rank_ic(b)

(the model's mean daily out-of-sample rank IC minus the baseline's, on the same sessions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from quant_core.research.model import ACCEPTED, REJECTED
from quant_core.research.result import BASELINE_COLUMNS, COEFFICIENT_COLUMNS, FOLD_COLUMNS
from quant_core.research.store_json import LIST_COLUMNS

ROLLING_SESSIONS = 63  # the rolling mean of the daily out-of-sample rank IC, ~one quarter
STATUS_LABELS = {ACCEPTED: "ACCEPTED", REJECTED: "REJECTED"}
# The status cell's colour: the theme's UP and DOWN (Okabe-Ito green and vermilion), light.
STATUS_STYLES = {
    "ACCEPTED": "background-color: rgba(0, 158, 115, 0.22); font-weight: 600",
    "REJECTED": "background-color: rgba(213, 94, 0, 0.22); font-weight: 600",
}
BASELINE_LABELS = {
    "model": "model",
    "equal_weight": "equal-weight blend",
    "ic_weight": "IC-weight blend",
}
# The store's listing columns, the status moved up beside the id.
LISTING_COLUMNS = (
    "model_id",
    "status",
    *(c for c in LIST_COLUMNS if c not in {"model_id", "status"}),
)
DATE_COLUMNS = ("train_start", "train_end", "test_start", "test_end")


def status_label(status: object) -> str:
    """Return the status as shown: ``ACCEPTED``, ``REJECTED``, else the word itself."""
    return STATUS_LABELS.get(str(status), str(status))


def models_view(listing: pd.DataFrame) -> pd.DataFrame:
    """Return the stored models, newest first, the status labelled (:data:`STATUS_LABELS`).

    ``listing`` is ``ModelStore.list_models()``; columns it lacks are left out, extra ones
    dropped, in the order of :data:`LISTING_COLUMNS`.
    """
    shown = listing[[c for c in LISTING_COLUMNS if c in listing.columns]].copy()
    if "created_at" in shown.columns:
        shown = shown.sort_values("created_at", ascending=False, kind="stable")
    shown["status"] = shown["status"].map(status_label)
    return shown.reset_index(drop=True)


def models_styler(view: pd.DataFrame) -> Styler:
    """Return :func:`models_view`'s table styled: the status cell coloured, numbers formatted."""
    formats: dict[str, Any] = {"oos_ic": "{:.4f}", "oos_rank_ic": "{:.4f}", "oos_t": "{:.2f}"}
    formats["created_at"] = lambda t: f"{t:%Y-%m-%d %H:%M:%S}"
    return view.style.map(lambda s: STATUS_STYLES.get(str(s), ""), subset=["status"]).format(
        {c: f for c, f in formats.items() if c in view}, na_rep="-"
    )


def model_choice(row: pd.Series) -> str:
    """Return one model as the picker shows it: ``<id> · accepted · rank IC 0.031``."""
    rank_ic = float(row["oos_rank_ic"])
    ic_text = f"{rank_ic:.3f}" if np.isfinite(rank_ic) else "n/a"
    return f"{row['model_id']} · {row['status']} · rank IC {ic_text}"


def fold_view(folds: pd.DataFrame, factors: Sequence[str]) -> pd.DataFrame:
    """Return the fold table: :data:`FOLD_COLUMNS`, then ``coef_<factor>`` in ``factors`` order.

    Dates are shown as dates (no time of day); coefficient columns the frame lacks (a gbr
    model keeps them as NaN) are left out.
    """
    coefs = [f"coef_{f}" for f in factors if f"coef_{f}" in folds.columns]
    shown = folds[[*FOLD_COLUMNS, *coefs]].copy()
    for column in DATE_COLUMNS:
        shown[column] = pd.to_datetime(shown[column]).dt.date
    return shown.reset_index(drop=True)


def coefficient_view(coefficients: pd.DataFrame) -> pd.DataFrame:
    """Return the coefficients with ``excludes_zero``: the 95% interval lies on one side of 0.

    ``excludes_zero`` is ``ci_low > 0 or ci_high < 0`` (False where there is no interval).
    """
    shown = coefficients[list(COEFFICIENT_COLUMNS)].copy().reset_index(drop=True)
    low, high = shown["ci_low"].to_numpy(float), shown["ci_high"].to_numpy(float)
    shown["excludes_zero"] = (low > 0) | (high < 0)  # NaN compares False: no interval, no claim
    return shown


def has_intervals(coefficients: pd.DataFrame) -> bool:
    """Return whether any coefficient has a finite bootstrap interval (none for gbr or B=0)."""
    both = coefficients[["ci_low", "ci_high"]].to_numpy(float)
    return bool(np.isfinite(both).all(axis=1).any())


def baseline_view(baselines: pd.DataFrame, model_rank_ic: float) -> pd.DataFrame:
    """Return the model and its baselines on the same sessions, with the improvement.

    ``improvement`` = ``model_rank_ic`` minus the row's ``oos_rank_ic`` (NaN on the model's
    own row); ``name`` is spelt out (:data:`BASELINE_LABELS`).
    """
    shown = baselines[list(BASELINE_COLUMNS)].copy().reset_index(drop=True)
    is_model = shown["name"].astype(str) == "model"
    shown["improvement"] = np.where(
        is_model, np.nan, model_rank_ic - shown["oos_rank_ic"].to_numpy(float)
    )
    shown["name"] = shown["name"].map(lambda n: BASELINE_LABELS.get(str(n), str(n)))
    return shown


def improvements(baselines: pd.DataFrame, model_rank_ic: float) -> dict[str, float]:
    """Return ``{baseline label: model rank IC - baseline rank IC}``, the model's row left out."""
    view = baseline_view(baselines, model_rank_ic)
    rows = view[np.isfinite(view["improvement"].to_numpy(float))]
    return {str(n): float(v) for n, v in zip(rows["name"], rows["improvement"], strict=True)}


def rolling_rank_ic(oos_daily: pd.DataFrame, window: int = ROLLING_SESSIONS) -> pd.Series:
    """Return the rolling mean of the daily out-of-sample rank IC, indexed by date.

    Mean over the last ``window`` out-of-sample sessions having a rank IC (NaN until
    ``window`` of them exist); sessions in the order of ``oos_daily``'s dates.
    """
    daily = daily_rank_ic(oos_daily).dropna()
    return daily.rolling(window, min_periods=window).mean().rename("rolling_rank_ic")


def daily_rank_ic(oos_daily: pd.DataFrame) -> pd.Series:
    """Return the daily out-of-sample rank IC as a Series on a sorted DatetimeIndex."""
    frame = oos_daily.sort_values("date")
    index = pd.DatetimeIndex(pd.to_datetime(frame["date"]), name="date")
    return pd.Series(frame["rank_ic"].to_numpy(float), index=index, name="rank_ic")
