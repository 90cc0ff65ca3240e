"""A stored model's ``model.json``: written from a fit, read back and checked before it trades.

No I/O: :mod:`quant_core.research.store` reads the files and hands their contents here. A model
folder can be damaged (edited by hand, half copied, written by another version), so nothing in
``model.json`` is trusted: every field a fitted model needs is checked, and a bad one raises
``DataError`` naming the model, the file and the field (:func:`damaged`), which both drivers
treat as a refusal (exit 4 in the backtest, HALTED with the reason in the worker). A refit is
usable when its dates are ISO dates with ``train_first <= train_last < valid_from`` (no
look-ahead), ``valid_from`` strictly increasing across refits, ``samples`` a non-negative
integer, and either ``coef`` (one finite number per factor of the spec) with a finite
``intercept``, or a fitted estimator (``estimators.joblib``) taking exactly as many features
(``n_features_in_``) and giving one finite prediction per row of a trial input.

The listing (:func:`list_row`) is lenient instead: a field it cannot read is shown empty (NaT,
None, NaN) and reported, so that one damaged folder never hides the others.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from quant_core.errors import ConfigError, DataError
from quant_core.research.model import ACCEPTED, REJECTED, FittedModel, RefitRecord
from quant_core.research.result import FitResult
from quant_core.research.spec import ModelSpec


def sklearn_version() -> str:
    """Return the installed scikit-learn's version, without importing it (~1 s at start)."""
    return importlib.metadata.version("scikit-learn")


FORMAT = 1
LIST_COLUMNS = (
    "model_id",
    "name",
    "status",
    "target",
    "estimator",
    "oos_ic",
    "oos_rank_ic",
    "oos_t",
    "dataset",
    "data_through",
    "created_at",
)
TEXT_COLUMNS = ("name", "status", "target", "estimator", "dataset")
FLOAT_COLUMNS = ("oos_ic", "oos_rank_ic", "oos_t")
REFIT_DATES = ("valid_from", "train_first", "train_last")
AGAIN = "fit the model again with run_factor_computation.py --fit"


def damaged(where: str, what: str) -> DataError:
    """Return the refusal for a damaged model file: ``<where> is damaged: <what>; fit again``.

    ``where`` names the model and the file (``model <id>: <path>``).
    """
    return DataError(f"{where} is damaged: {what}; {AGAIN}")


# ----------------------------------------------------------------------------------- writing


def meta_json(
    result: FitResult,
    model: FittedModel,
    dataset: str,
    created_at: dt.datetime,
    composite: str,
) -> dict[str, Any]:
    """Return ``model.json`` of a fit (``created_at`` in UTC; ``composite`` its factor name)."""
    spec = result.spec
    return {
        "format": FORMAT,
        "model_id": model.model_id,
        "name": spec.name,
        "spec": spec.model_dump(mode="json"),
        "status": result.status,
        "oos_ic": float(result.oos_ic),
        "oos_rank_ic": float(result.oos_rank_ic),
        "oos_t": float(result.oos_t),
        "improvement": result.improvement,
        "dataset": dataset,
        "data_through": result.data_through.isoformat(),
        "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "factors": list(spec.factors),
        "target": spec.target,
        "estimator": spec.estimator,
        "composite_factor": composite,
        "refits": [refit_json(r) for r in model.refits],
        "timings": {str(k): float(v) for k, v in result.timings.items()},
        "sklearn_version": sklearn_version(),
    }


def refit_json(refit: RefitRecord) -> dict[str, Any]:
    """Return one refit as ``model.json`` keeps it (gbr: ``coef`` and ``intercept`` null)."""
    return {
        "valid_from": refit.valid_from.isoformat(),
        "train_first": refit.train_first.isoformat(),
        "train_last": refit.train_last.isoformat(),
        "samples": int(refit.samples),
        "coef": None if refit.coef is None else [float(c) for c in refit.coef],
        "intercept": None if refit.intercept is None else float(refit.intercept),
    }


# ----------------------------------------------------------------------------------- reading


def number(value: Any) -> float:
    """Return ``value`` as a float if it is a JSON number, else NaN (null, text, bool, list)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def parse_spec(meta: dict[str, Any], where: str) -> ModelSpec:
    """Return the model's spec (``meta["spec"]``), or raise :func:`damaged`."""
    raw = meta.get("spec")
    if not isinstance(raw, dict):
        raise damaged(where, f"its spec is {_shown(raw)}, not an object")
    try:
        return ModelSpec.model_validate(raw)
    except (ConfigError, ValueError) as exc:  # pydantic's ValidationError: a ValueError
        raise damaged(where, f"its spec is invalid ({_one_line(exc)})") from exc


def parse_status(meta: dict[str, Any], where: str) -> str:
    """Return ``accepted`` or ``rejected`` (``meta["status"]``), or raise :func:`damaged`."""
    status = meta.get("status")
    if status not in (ACCEPTED, REJECTED):
        raise damaged(where, f"status is {_shown(status)}, not {ACCEPTED!r} or {REJECTED!r}")
    return str(status)


def check_earned(meta: dict[str, Any], spec: ModelSpec, status: str, where: str) -> None:
    """Refuse ``accepted`` when the stored rank IC is not above the spec's floor.

    A fit stores such a model as rejected (``oos_rank_ic > min_oos_rank_ic`` or not); a model
    whose status says otherwise was edited by hand, and a hand edit cannot make it trade.
    """
    rank_ic = number(meta.get("oos_rank_ic"))
    if status == ACCEPTED and not rank_ic > spec.min_oos_rank_ic:
        raise damaged(
            where,
            f"status is 'accepted', but its out-of-sample rank IC {rank_ic:.4g} is not above its "
            f"floor {spec.min_oos_rank_ic:g} (a fit stores that model as rejected)",
        )


def raw_refits(meta: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Return ``meta["refits"]``: a non-empty list of objects, or raise :func:`damaged`."""
    raw = meta.get("refits")
    if not isinstance(raw, list) or not raw:
        raise damaged(where, f"refits is {_shown(raw)}, not a non-empty list")
    for k, item in enumerate(raw):
        if not isinstance(item, dict):
            raise damaged(where, f"refits[{k}] is {_shown(item)}, not an object")
    return raw


def needs_estimators(raw: Sequence[dict[str, Any]]) -> bool:
    """Return whether a refit has no coefficients: only the pickled estimators predict (gbr)."""
    return any(r.get("coef") is None for r in raw)


def parse_refits(
    raw: Sequence[dict[str, Any]],
    estimators: Sequence[Any],
    factors: int,
    where: str,
    estimators_where: str,
) -> tuple[RefitRecord, ...]:
    """Return the refits of ``raw`` (from :func:`raw_refits`), each checked (module docstring).

    ``estimators[k]`` is refit k's fitted estimator (None when not loaded: linear refits only);
    ``factors`` the spec's factor count; ``where`` and ``estimators_where`` name the model and
    its ``model.json`` and ``estimators.joblib`` in the errors.

    Raises
    ------
    DataError
        A refit is damaged (:func:`damaged`), or ``estimators`` has another length.
    """
    if len(estimators) != len(raw):
        raise damaged(
            estimators_where, f"it holds {len(estimators)} estimators for {len(raw)} refits"
        )
    refits: list[RefitRecord] = []
    for k, (item, estimator) in enumerate(zip(raw, estimators, strict=True)):
        refit = _refit(item, estimator, factors, f"refits[{k}]", where, estimators_where)
        if refits and refit.valid_from <= refits[-1].valid_from:
            raise damaged(
                where,
                f"refits[{k}].valid_from {refit.valid_from} is not after the previous refit's "
                f"{refits[-1].valid_from} (refits are stored oldest first)",
            )
        refits.append(refit)
    return tuple(refits)


def rejection(model_id: str, meta: dict[str, Any]) -> str:
    """Return why a rejected model cannot trade: its out-of-sample rank IC and the floor.

    ``model X was rejected: out-of-sample rank IC 0.004 <= floor 0.02``; a rank IC that is not
    a number (NaN is stored as null: no out-of-sample session) reads as unknown, and so does a
    floor missing from a damaged spec.
    """
    rank_ic = number(meta.get("oos_rank_ic"))
    spec = meta.get("spec")
    floor = number(spec.get("min_oos_rank_ic")) if isinstance(spec, dict) else math.nan
    floor_text = f"floor {floor:g}" if math.isfinite(floor) else "floor unknown"
    head = f"model {model_id} was rejected: out-of-sample rank IC"
    if not math.isfinite(rank_ic):
        return f"{head} unknown (no out-of-sample session), {floor_text}"
    if not math.isfinite(floor):
        return f"{head} {rank_ic:.4g}, {floor_text}"
    return f"{head} {rank_ic:.4g} <= {floor_text}"


def list_row(model_id: str, meta: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return one row of the listing (columns ``LIST_COLUMNS``) and the fields it could not read.

    ``created_at`` as a UTC ``Timestamp`` (NaT if not a date-time), ``data_through`` as a
    ``date`` (None if not an ISO date), the scores as floats (NaN if not numbers), the texts as
    ``str`` (None if not text). A missing field is empty, not reported; a present one of the
    wrong kind is reported by name and value.
    """
    bad: list[str] = []
    row: dict[str, Any] = {"model_id": model_id}
    for column in TEXT_COLUMNS:
        value = meta.get(column)
        row[column] = value if isinstance(value, str) else None
        if value is not None and not isinstance(value, str):
            bad.append(f"{column}={_shown(value)}")
    for column in FLOAT_COLUMNS:
        value = meta.get(column)
        row[column] = number(value)
        if value is not None and not math.isfinite(row[column]):
            bad.append(f"{column}={_shown(value)}")
    row["created_at"] = _timestamp(meta.get("created_at"))
    if meta.get("created_at") is not None and row["created_at"] is pd.NaT:
        bad.append(f"created_at={_shown(meta.get('created_at'))}")
    row["data_through"] = _date(meta.get("data_through"))
    if meta.get("data_through") is not None and row["data_through"] is None:
        bad.append(f"data_through={_shown(meta.get('data_through'))}")
    return row, bad


# ----------------------------------------------------------------------------------- helpers


def _refit(
    item: dict[str, Any],
    estimator: Any,
    factors: int,
    name: str,
    where: str,
    estimators_where: str,
) -> RefitRecord:
    valid_from, first, last = (_refit_date(item, key, name, where) for key in REFIT_DATES)
    if not first <= last < valid_from:
        raise damaged(
            where,
            f"{name} was trained from {first} to {last} but predicts from {valid_from}: "
            "expected train_first <= train_last < valid_from",
        )
    samples = item.get("samples")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        shown = _shown(samples) if "samples" in item else "missing"
        raise damaged(where, f"{name}.samples is {shown}, not a count")
    coef = item.get("coef")
    if coef is None:
        _check_estimator(estimator, factors, name, estimators_where)
        return RefitRecord(valid_from, first, last, samples, None, None, estimator)
    values = [number(c) for c in coef] if isinstance(coef, list) else []
    if len(values) != factors or not all(math.isfinite(v) for v in values):
        raise damaged(
            where,
            f"{name}.coef is {_shown(coef)}: expected {factors} finite numbers, one per factor "
            "of the spec",
        )
    intercept = number(item.get("intercept"))
    if not math.isfinite(intercept):
        raise damaged(
            where, f"{name}.intercept is {_shown(item.get('intercept'))}, not a finite number"
        )
    return RefitRecord(valid_from, first, last, samples, tuple(values), intercept)


def _check_estimator(estimator: Any, factors: int, name: str, where: str) -> None:
    """Refuse an estimator that does not take ``factors`` features or predict finite values."""
    width = getattr(estimator, "n_features_in_", None)
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or width != factors:
        raise damaged(
            where,
            f"the estimator of {name} ({type(estimator).__name__}) takes {_shown(width)} "
            f"features, not the spec's {factors}",
        )
    trial = np.zeros((2, factors))  # standardised factors: zero is the cross-sectional mean
    try:
        out = np.asarray(estimator.predict(trial), dtype=float)
    except (AttributeError, TypeError, ValueError) as exc:
        raise damaged(where, f"the estimator of {name} cannot predict ({_one_line(exc)})") from exc
    if out.shape != (2,) or not np.isfinite(out).all():
        raise damaged(
            where,
            f"the estimator of {name} predicts {_shown(out.tolist())} for two rows of zeros, "
            "not one finite value per row",
        )


def _refit_date(item: dict[str, Any], key: str, name: str, where: str) -> dt.date:
    day = _date(item.get(key))
    if day is None:
        shown = _shown(item[key]) if key in item else "missing"
        raise damaged(where, f"{name}.{key} is {shown}, not an ISO date")
    return day


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _timestamp(value: Any) -> Any:
    """Return ``value`` (ISO text) as a UTC Timestamp (naive: taken as UTC), else NaT."""
    if not isinstance(value, str):
        return pd.NaT
    try:
        stamp = pd.Timestamp(dt.datetime.fromisoformat(value))
    except (ValueError, OverflowError):  # pandas' OutOfBoundsDatetime: a ValueError
        return pd.NaT
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
