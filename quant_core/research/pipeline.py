"""Fit, validate and ensemble one model spec on wide bar panels: :func:`fit_model`.

Pure: bar panels in, a :class:`~quant_core.research.result.FitResult` out; no I/O and no clock
(the caller may pass ``timer``, e.g. ``time.perf_counter``, to have the steps timed).

The steps, in order:

1. **Factors** from the bars (``factors.base.make_factor(name).compute``), **label**
   (``labels.label_panel``), **design** (``design.build_design``: per-session z-scores).
2. **Validation folds** (``spec.validation``): walk-forward from the anchor row ``r0``
   (``splits.anchor_row``), test windows cut at the last labelled row; or purged k-fold over
   the labelled rows. Each fold is fitted and scored (``research/validate.py``).
3. **Full-sample fit** on every labelled sample, and its **bootstrap by dates**
   (``estimators.bootstrap_by_dates``: ``spec.bootstrap`` draws of whole sessions, in blocks of
   ``span`` consecutive sessions (h + 1 for ``fwd_open_h``), since such labels overlap and
   neighbouring sessions are not independent; the 2.5% and 97.5% percentiles and the standard
   deviation of each coefficient).
4. **Composite**: the walk-forward refits on ``spec.schedule`` (``research/ensemble.py``).
5. **Baselines**: the equal- and IC-weighted z-score blends on the validation folds (the IC
   weights from each fold's training rows, the very rows the model's fold was fitted on),
   scored on the same out-of-sample sessions as the model.

Overall scores: ``oos_ic`` and ``oos_rank_ic`` are the means of the daily out-of-sample IC and
rank IC over every test session of every fold (sessions without an IC skipped); ``oos_t`` the
Newey-West t of the daily rank IC with ``horizon - 1`` lags (``factors.ic.summarize_ic``).
Status: ``accepted`` iff ``oos_rank_ic > spec.min_oos_rank_ic`` (NaN: rejected).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from quant_core.errors import DataError
from quant_core.factors.base import make_factor
from quant_core.factors.ic import summarize_ic
from quant_core.research.design import MIN_NAMES, Design, build_design
from quant_core.research.ensemble import blends, walk_forward_composite
from quant_core.research.estimators import LINEAR, bootstrap_by_dates, fit_refit
from quant_core.research.labels import label_panel, parse_label
from quant_core.research.model import ACCEPTED, REJECTED, FittedModel
from quant_core.research.result import (
    BASELINE_COLUMNS,
    COEFFICIENT_COLUMNS,
    DAILY_COLUMNS,
    QUANTILE_COLUMNS,
    FitResult,
)
from quant_core.research.spec import ModelSpec, WalkForward
from quant_core.research.splits import Fold, anchor_row, purged_kfold, refit_schedule, walk_forward
from quant_core.research.validate import (
    Array,
    Validation,
    bucket_means,
    daily_ic,
    finite_mean,
    spread,
    validate,
)
from quant_core.types import ProgressFn

FIXED_STEPS = 4  # factors, label and design, full fit and bootstrap, baselines


class _Steps:
    """Progress (``progress(task, done, total)``) and timings (seconds by step).

    The total is known once the folds are planned (:meth:`plan`); steps done before that are
    reported then, so the callback never sees the total change.
    """

    def __init__(self, progress: ProgressFn | None, timer: Callable[[], float] | None) -> None:
        self.progress, self.timer = progress, timer
        self.total: int | None = None
        self.done: list[str] = []
        self.timings: dict[str, float] = {}
        self.start = self.last = timer() if timer is not None else 0.0

    def __call__(self, task: str) -> None:
        self.done.append(task)
        if self.timer is not None:
            now = self.timer()
            self.timings[task] = self.timings.get(task, 0.0) + now - self.last
            self.last = now
        if self.progress is not None and self.total is not None:
            self.progress(task, len(self.done), self.total)

    def plan(self, total: int) -> None:
        self.total = total
        if self.progress is not None:
            for done, task in enumerate(self.done, start=1):
                self.progress(task, done, total)

    def finish(self) -> dict[str, float]:
        if self.timer is not None:
            self.timings["total"] = self.last - self.start
        return self.timings


def _panels(bars: Mapping[str, pd.DataFrame], fields: set[str]) -> dict[str, pd.DataFrame]:
    """Return the bar panels on the ``close`` panel's sessions and symbols, checked."""
    missing = sorted(fields - set(bars))
    if missing:
        raise DataError(f"fit_model: the bars lack the {missing} panel(s); got {sorted(bars)}")
    close = bars["close"]
    index = close.index
    if not isinstance(index, pd.DatetimeIndex) or not index.is_monotonic_increasing:
        raise DataError("fit_model: the bars' index must be increasing session dates")
    if not index.is_unique:
        raise DataError("fit_model: the bars' index repeats a session")
    if len(index) == 0 or len(close.columns) == 0:
        raise DataError("fit_model: the bars are empty")
    return {f: p.reindex(index=index, columns=close.columns) for f, p in bars.items()}


def _validation_folds(spec: ModelSpec, design: Design, anchor: int, span: int) -> list[Fold]:
    labelled = np.flatnonzero(np.isfinite(design.y))
    if labelled.size == 0:
        raise DataError(f"model {spec.name}: no session has the label {spec.target} and factors")
    rows = np.unique(design.row[labelled])
    v = spec.validation
    if isinstance(v, WalkForward):
        folds = walk_forward(
            len(design.dates), anchor, v.train, v.test, v.embargo, span, v.expanding, rows[-1]
        )
    else:
        folds = purged_kfold(rows, v.folds, v.embargo, span)
    if not folds:
        first = anchor + v.embargo + getattr(v, "train", 0)
        raise DataError(
            f"model {spec.name}: {len(design.dates)} sessions are too few to validate: the "
            f"first test session would be row {first} (factors from row {anchor}), the last "
            f"labelled one is row {rows[-1]}; it needs at least {first + span + 1} sessions: "
            "use a longer dataset or a shorter validation.train (research/value_mom_short.yaml "
            "fits the bundled one-year sp500-2010)"
        )
    return folds


def _coefficients(spec: ModelSpec, design: Design) -> tuple[pd.DataFrame, tuple[float, ...] | None]:
    """Return the full-sample coefficients frame (with the bootstrap) and the coefficients."""
    p = len(design.factors)
    nan = np.full(p, np.nan)
    coef, low, high, std = nan, nan, nan, nan
    full: tuple[float, ...] | None = None
    if spec.estimator in LINEAR:
        full, _, _ = fit_refit(spec.estimator, design.x, design.y, spec.alpha, spec.seed)
        coef = np.asarray(full)
        alpha = spec.alpha if spec.estimator == "ridge" else 0.0
        # Blocks of `span` consecutive sessions (the rows a label reads after its own: h + 1
        # for fwd_open_h): labels of one block overlap, those of two blocks' same rows do not.
        blocks = design.row // parse_label(spec.target).span
        boot = bootstrap_by_dates(
            design.x, design.y, blocks, spec.bootstrap, alpha, spec.seed, linear=True
        )
        if boot is not None:
            low, high, std = boot.low, boot.high, boot.std
    frame = pd.DataFrame(
        {"factor": list(design.factors), "coef": coef, "ci_low": low, "ci_high": high, "std": std}
    )
    return frame[list(COEFFICIENT_COLUMNS)], full


def _baselines(
    design: Design, label: Array, folds: list[Fold], checked: Validation, quantiles: int
) -> pd.DataFrame:
    # The model and every baseline on the same sessions: those each of them scores (a blend
    # fitted on earlier folds has nothing in the first test fold of a k-fold split).
    rows = checked.rows
    scored = {"model": (checked.predictions[rows], checked.ic, checked.rank_ic)}
    for name, values in blends(design, label, folds).items():
        scored[name] = (values[rows], *daily_ic(values[rows], label[rows]))
    same = np.logical_and.reduce([np.isfinite(rank_ic) for _, _, rank_ic in scored.values()])
    truth = label[rows][same]
    table = [
        (
            name,
            finite_mean(ic[same]),
            finite_mean(rank_ic[same]),
            spread(values[same], truth, quantiles),
        )
        for name, (values, ic, rank_ic) in scored.items()
    ]
    return pd.DataFrame(table, columns=list(BASELINE_COLUMNS))


def fit_model(
    spec: ModelSpec,
    bars: Mapping[str, pd.DataFrame],
    model_id: str,
    sectors: pd.Series | None = None,
    progress: ProgressFn | None = None,
    timer: Callable[[], float] | None = None,
) -> FitResult:
    """Fit, validate and ensemble ``spec`` on ``bars`` (module docstring).

    Parameters
    ----------
    spec
        The model spec.
    bars
        Wide bar panels (sessions x symbols) keyed ``open``, ``high``, ``low``, ``close``,
        ``volume``: those the factors and the label read; all are read on the ``close``
        panel's sessions and symbols.
    model_id
        The id the fitted model carries (``research/store.py`` makes one).
    sectors
        Symbol -> sector; not used by the fit (the design standardises over every symbol),
        accepted so that every caller passes the same arguments.
    progress
        ``progress(task, done, total)`` after each step (tasks ``factors``, ``design``,
        ``validation`` per fold, ``bootstrap``, ``composite`` per refit, ``baselines``).
    timer
        A clock in seconds (``time.perf_counter``); when given, ``timings`` holds the seconds
        of each task and the ``total``.

    Raises
    ------
    ConfigError
        The panel is too short for the spec's splits (``research/splits.py``).
    DataError
        A bar panel is missing or unusable, no session has the factors and the label, or
        the panel is too short for one validation fold or one refit.
    """
    del sectors  # the signature is shared with the callers that use it
    label_info = parse_label(spec.target)
    makers = [make_factor(name) for name in spec.factors]
    fields = {"close"} | {f for maker in makers for f in maker.inputs}
    steps = _Steps(progress, timer)
    panels = _panels(bars, fields)
    factors = {m.name: m.compute({f: panels[f] for f in m.inputs}) for m in makers}
    steps("factors")
    label = label_panel(spec.target, panels)
    design = build_design(factors, label, spec.factors)
    if design.row.size == 0:
        raise DataError(
            f"model {spec.name}: no session has {MIN_NAMES} symbols with every factor of "
            f"{list(spec.factors)}"
        )
    label_values = label.to_numpy(dtype=float)
    anchor = anchor_row(factors, spec.factors)
    folds = _validation_folds(spec, design, anchor, label_info.span)
    plan = spec.schedule
    refits = refit_schedule(
        len(design.dates),
        anchor,
        plan.train,
        plan.every,
        spec.validation.embargo,
        label_info.span,
        plan.expanding,
    )
    if not refits:
        raise DataError(
            f"model {spec.name}: {len(design.dates)} sessions are too few for the composite's "
            f"first refit (row {anchor + plan.train + spec.validation.embargo}); shorten "
            "refit.train"
        )
    steps("design")
    steps.plan(FIXED_STEPS + len(folds) + len(refits))
    coefficients, full = _coefficients(spec, design)
    steps("bootstrap")
    checked = validate(design, label_values, folds, spec, full, steps)
    composite = walk_forward_composite(design, refits, spec, steps)
    baselines = _baselines(design, label_values, folds, checked, spec.quantiles)
    steps("baselines")
    oos_rank_ic = finite_mean(checked.rank_ic)
    status = ACCEPTED if oos_rank_ic > spec.min_oos_rank_ic else REJECTED
    predicted = np.flatnonzero(np.isfinite(composite.predictions).any(axis=1))
    means = bucket_means(composite.predictions[predicted], label_values[predicted], spec.quantiles)
    return FitResult(
        spec=spec,
        model=FittedModel(model_id, spec, status, composite.refits),
        status=status,
        oos_ic=finite_mean(checked.ic),
        oos_rank_ic=oos_rank_ic,
        oos_t=summarize_ic(pd.Series(checked.rank_ic), label_info.horizon).t_stat,
        folds=checked.table,
        coefficients=coefficients,
        oos_daily=pd.DataFrame(
            {
                "date": design.dates[checked.rows],
                "ic": checked.ic,
                "rank_ic": checked.rank_ic,
            },
            columns=list(DAILY_COLUMNS),
        ),
        composite=pd.DataFrame(composite.predictions, index=label.index, columns=label.columns),
        baselines=baselines,
        quantiles=pd.DataFrame(
            {"quantile": means.index.to_numpy(), "mean_label": means.to_numpy(dtype=float)},
            columns=list(QUANTILE_COLUMNS),
        ),
        data_through=pd.Timestamp(label.index[-1]).date(),
        timings=steps.finish(),
    )
