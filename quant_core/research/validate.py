"""Validation: fit each fold, score its predictions out of sample, tabulate the folds.

Pure: a :class:`~quant_core.research.design.Design`, a wide label array and folds in; arrays
and a frame out; no I/O, no clock.

Scores (pinned; ``p`` a prediction, ``y`` the label, both per symbol on a session ``t``):

``IC_t``, ``rank IC_t``
    The Pearson correlation over symbols of ``p`` and ``y`` on ``t`` (rank IC: of their ranks,
    ties averaged), over the symbols with both (``factors.cross_section.rowwise_corr``); NaN
    with fewer than ``MIN_PAIRS`` (20) of them or no spread.
``is_ic``, ``is_rank_ic``
    The mean of ``IC_t`` over the fold's training sessions, ``p`` from the fold's own fit (in
    sample: how well it fits what it saw).
``oos_ic``, ``oos_rank_ic``
    The same over the fold's test sessions (out of sample: rows the fit never saw, purged and
    embargoed, ``research/splits.py``).
``spread``
    Top-minus-bottom: on each test session the symbols are split into ``q`` quantiles of ``p``
    (``factors.quantiles.buckets_of``: bucket ``floor((rank - 1) q / n) + 1``); the mean label
    of bucket ``q`` minus that of bucket 1, averaged over the sessions where every bucket has a
    member. In the label's units (a fraction over its horizon for ``fwd_open_<h>``).
``coef_cosine``
    ``c_k . c / (|c_k| |c|)``: the cosine of fold ``k``'s coefficients with the full-sample
    fit's, 1 when the fold weighs the factors in the same proportions; NaN for ``gbr``.

Means skip NaN sessions; a fold without one finite value gives NaN.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from quant_core.errors import DataError
from quant_core.factors.cross_section import MIN_PAIRS, rank_rows, rowwise_corr
from quant_core.factors.quantiles import buckets_of, quantile_means
from quant_core.research.design import Design
from quant_core.research.estimators import fit_refit
from quant_core.research.model import RefitRecord
from quant_core.research.result import FOLD_COLUMNS
from quant_core.research.spec import ModelSpec
from quant_core.research.splits import Fold

Array = npt.NDArray[np.float64]
Positions = npt.NDArray[np.intp]


def samples_in(design: Design, rows: npt.ArrayLike, labelled: bool) -> Positions:
    """Return the positions of the design's samples on the session ``rows``, in order.

    ``labelled``: only those whose label is known (finite ``y``), the ones a fit may use.
    """
    mark = np.zeros(len(design.dates), dtype=bool)
    mark[np.asarray(rows, dtype=np.intp)] = True
    keep = mark[design.row]
    if labelled:
        keep &= np.isfinite(design.y)
    return np.flatnonzero(keep)


def to_wide(design: Design, positions: Positions, values: Array) -> Array:
    """Return ``values`` (one per sample of ``positions``) as a sessions x symbols array.

    Every session row of the design's panels; NaN where no sample is given.
    """
    out = np.full((len(design.dates), len(design.symbols)), np.nan)
    out[design.row[positions], design.col[positions]] = values
    return out


def daily_ic(pred: Array, label: Array) -> tuple[Array, Array]:
    """Return ``IC_t`` and ``rank IC_t`` (module docstring) of each row of two wide arrays."""
    ic = rowwise_corr(pred, label, "pearson", MIN_PAIRS)
    rank_ic = rowwise_corr(pred, label, "spearman", MIN_PAIRS)
    return ic, rank_ic


def finite_mean(values: Array) -> float:
    """Return the mean of the finite ``values`` (NaN if none)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def bucket_means(pred: Array, label: Array, quantiles: int) -> pd.Series:
    """Return the mean label of each prediction quantile (1 = lowest) over the rows given.

    Symbols are bucketed per row among those with both a prediction and a label; a row
    counts where every bucket has a member (``factors.quantiles.quantile_means``).
    """
    valid = np.isfinite(pred) & np.isfinite(label)
    ranks = rank_rows(np.where(valid, pred, np.nan))
    buckets = buckets_of(ranks, quantiles, MIN_PAIRS)
    return quantile_means(buckets, label, pd.RangeIndex(len(pred)), quantiles).mean


def spread(pred: Array, label: Array, quantiles: int) -> float:
    """Return the top-minus-bottom quantile mean label (module docstring) over the rows given."""
    means = bucket_means(pred, label, quantiles).to_numpy(dtype=float)
    return float(means[-1] - means[0])


def cosine(a: Sequence[float] | None, b: Sequence[float] | None) -> float:
    """Return ``a . b / (|a| |b|)``; NaN if either is None or zero."""
    if a is None or b is None:
        return float("nan")
    va, vb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb / norm) if norm > 0 else float("nan")


def _date(stamp: Any) -> dt.date:
    return pd.Timestamp(stamp).date()


def fit_record(design: Design, train: Positions, first_row: int, spec: ModelSpec) -> RefitRecord:
    """Fit the spec's estimator on the samples ``train`` (labelled); it predicts from ``first_row``.

    ``valid_from`` is the date of ``first_row``; ``train_first`` and ``train_last`` the dates
    of the first and last session of ``train``; ``samples`` how many there are.

    Raises
    ------
    DataError
        Fewer than ``factors + 2`` labelled samples (``estimators.fit_refit``).
    """
    if train.size == 0:
        raise DataError(
            f"model {spec.name}: no labelled sample to fit the refit predicting from "
            f"{_date(design.dates[first_row])}: the label {spec.target} is missing on every "
            "training session"
        )
    coef, intercept, estimator = fit_refit(
        spec.estimator, design.x[train], design.y[train], spec.alpha, spec.seed
    )
    rows = design.row[train]
    return RefitRecord(
        valid_from=_date(design.dates[first_row]),
        train_first=_date(design.dates[rows[0]]),
        train_last=_date(design.dates[rows[-1]]),
        samples=int(train.size),
        coef=coef,
        intercept=intercept,
        estimator=estimator,
    )


@dataclass(frozen=True, slots=True)
class Validation:
    """The folds scored: the fold table and the out-of-sample predictions and daily ICs.

    ``predictions`` is sessions x symbols (each test row from its fold's fit, NaN elsewhere);
    ``rows`` the test rows of every fold, sorted; ``ic`` and ``rank_ic`` the daily ICs on them.
    """

    table: pd.DataFrame
    predictions: Array
    rows: npt.NDArray[np.int64]
    ic: Array
    rank_ic: Array


def validate(
    design: Design,
    label: Array,
    folds: Sequence[Fold],
    spec: ModelSpec,
    full_coef: Sequence[float] | None,
    step: Callable[[str], None] | None = None,
) -> Validation:
    """Fit every fold on its training rows and score it (module docstring).

    Parameters
    ----------
    design
        The model's samples; ``label`` its label as a wide array (sessions x symbols).
    folds
        Disjoint test windows (walk-forward or purged k-fold).
    full_coef
        The full-sample fit's coefficients (None for gbr): ``coef_cosine``.
    step
        Called with ``"validation"`` after each fold (progress).
    """
    predictions = np.full(label.shape, np.nan)
    rows = np.unique(np.concatenate([f.test for f in folds])) if folds else np.array([], int)
    records = []
    for fold in folds:
        train = samples_in(design, fold.train, labelled=True)
        record = fit_record(design, train, int(fold.test[0]), spec)
        in_sample = to_wide(design, train, record.predict(design.x[train]))
        train_rows = np.unique(design.row[train])
        is_ic, is_rank_ic = daily_ic(in_sample[train_rows], label[train_rows])
        test = samples_in(design, fold.test, labelled=False)
        predictions[design.row[test], design.col[test]] = record.predict(design.x[test])
        records.append((fold, record, finite_mean(is_ic), finite_mean(is_rank_ic)))
        if step is not None:
            step("validation")
    ic, rank_ic = daily_ic(predictions[rows], label[rows])
    table = []
    for fold, record, is_ic_mean, is_rank_mean in records:
        where = np.isin(rows, fold.test)
        tested = samples_in(design, fold.test, labelled=True)
        coef = record.coef if record.coef is not None else (np.nan,) * len(design.factors)
        table.append(
            [
                fold.number,
                pd.Timestamp(record.train_first),
                pd.Timestamp(record.train_last),
                design.dates[fold.test[0]],
                design.dates[fold.test[-1]],
                record.samples,
                int(tested.size),
                is_ic_mean,
                is_rank_mean,
                finite_mean(ic[where]),
                finite_mean(rank_ic[where]),
                spread(predictions[fold.test], label[fold.test], spec.quantiles),
                cosine(record.coef, full_coef),
                *coef,
            ]
        )
    columns = [*FOLD_COLUMNS, *(f"coef_{name}" for name in design.factors)]
    return Validation(pd.DataFrame(table, columns=columns), predictions, rows, ic, rank_ic)
