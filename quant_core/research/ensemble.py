"""The walk-forward composite, and the two z-score blends it is measured against.

Pure: a :class:`~quant_core.research.design.Design`, a wide label array and folds in; wide
arrays and refit records out; no I/O, no clock.

**Composite.** For each refit of the schedule (``research/splits.py``'s
:func:`~quant_core.research.splits.refit_schedule`) the spec's estimator is fitted on the
refit's training rows (labels all complete by its first predicted row ``a_k``) and predicts
every sample of the rows ``a_k .. a_{k+1} - 1`` (the last refit: to the end). So each
prediction comes from a model that saw only earlier data, and the value at row ``d`` does not
change when the rows after ``d`` are removed. NaN before the first refit and where a symbol
lacks a factor. The refits are kept as :class:`~quant_core.research.model.RefitRecord`s:
``FittedModel.predict`` gives exactly these values from the factors of a session.

**Baselines** (no fitting beyond one number per factor), on the test rows of given folds:

``equal_weight``
    ``(1 / p) sum_j z_j``: the mean of the standardised factors.
``ic_weight``
    ``sum_j w_j z_j / sum_j |w_j|`` with ``w_j`` factor ``j``'s mean daily rank IC (its z-score
    against the label) over the fold's training sessions only (NaN ICs skipped, a factor
    without any weighs 0); NaN when every weight is 0. A factor that predicted the label
    inversely gets a negative weight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant_core.factors.cross_section import MIN_PAIRS, pearson_rows, rank_rows
from quant_core.research.design import Design
from quant_core.research.model import RefitRecord
from quant_core.research.spec import ModelSpec
from quant_core.research.splits import Fold
from quant_core.research.validate import Array, finite_mean, fit_record, samples_in, to_wide

BASELINES = ("equal_weight", "ic_weight")


@dataclass(frozen=True, slots=True)
class Composite:
    """The walk-forward predictions (sessions x symbols) and the refits that made them."""

    predictions: Array
    refits: tuple[RefitRecord, ...]


def walk_forward_composite(
    design: Design,
    refits: Sequence[Fold],
    spec: ModelSpec,
    step: Callable[[str], None] | None = None,
) -> Composite:
    """Return the composite (module docstring) on the refit schedule ``refits``.

    ``step`` is called with ``"composite"`` after each refit (progress).

    Raises
    ------
    DataError
        A refit without enough labelled samples (``validate.fit_record``).
    """
    values = np.full((len(design.dates), len(design.symbols)), np.nan)
    records = []
    for fold in refits:
        train = samples_in(design, fold.train, labelled=True)
        record = fit_record(design, train, int(fold.test[0]), spec)
        test = samples_in(design, fold.test, labelled=False)
        values[design.row[test], design.col[test]] = record.predict(design.x[test])
        records.append(record)
        if step is not None:
            step("composite")
    return Composite(values, tuple(records))


def factor_rank_ic(design: Design, label: Array) -> Array:
    """Return each factor's daily rank IC against the label: sessions x factors.

    Row ``t`` is the Spearman correlation over the design's samples on ``t`` with a label of
    the z-score ``z_j`` and the label (ties averaged; NaN under ``MIN_PAIRS`` samples): it
    reads labels of row ``t`` only (through ``t + span``). The label is ranked once, every
    factor sharing the same samples.
    """
    every = np.arange(design.row.size)
    valid = np.isfinite(to_wide(design, every, np.zeros(design.row.size))) & np.isfinite(label)
    label_ranks = rank_rows(np.where(valid, label, np.nan))
    columns = [
        pearson_rows(
            rank_rows(np.where(valid, to_wide(design, every, design.x[:, j]), np.nan)),
            label_ranks,
            valid,
            MIN_PAIRS,
        )
        for j in range(design.x.shape[1])
    ]
    return np.column_stack(columns)


def ic_weights(daily: Array, rows: npt.ArrayLike) -> Array:
    """Return each factor's mean daily rank IC over the session ``rows`` (0 where none)."""
    picked = daily[np.asarray(rows, dtype=np.intp)]
    weights = np.array([finite_mean(picked[:, j]) for j in range(daily.shape[1])])
    return np.where(np.isfinite(weights), weights, 0.0)


def blends(
    design: Design, label: Array, folds: Sequence[Fold], daily: Array | None = None
) -> dict[str, Array]:
    """Return the baselines (module docstring) on the test rows of ``folds``, sessions x symbols.

    ``daily`` is :func:`factor_rank_ic` of ``design`` and ``label`` (computed when not given);
    only its rows in each fold's ``train`` before the fold's first test session are read for
    that fold's weights (purged k-fold's first fold has none: no IC-weighted blend there).
    """
    if daily is None:
        daily = factor_rank_ic(design, label)
    shape = (len(design.dates), len(design.symbols))
    equal, weighted = np.full(shape, np.nan), np.full(shape, np.nan)
    for fold in folds:
        test = samples_in(design, fold.test, labelled=False)
        rows, cols, x = design.row[test], design.col[test], design.x[test]
        equal[rows, cols] = x.mean(axis=1)
        # Training sessions before the test only: purged k-fold also trains after it.
        weights = ic_weights(daily, fold.train[fold.train < fold.test[0]])
        scale = float(np.abs(weights).sum())
        if scale > 0:
            weighted[rows, cols] = x @ (weights / scale)
    return {"equal_weight": equal, "ic_weight": weighted}
