"""Stored models: one folder per fitted model, written whole or not at all; the composite factor.

The one research module that reads and writes (the others are pure). A model lives in
``<data_dir>/models/<model_id>/``, ``model_id = <name>-<YYYYmmddTHHMMSSZ>-<4 hex>`` (the spec's
name, the UTC moment it was stored, random hex digits so that two fits in one second never
collide). The folder holds:

- ``model.json``: the spec (as a dict), status, oos_ic, oos_rank_ic, oos_t, improvement (the
  model's out-of-sample rank IC minus each baseline's), dataset, data_through, created_at (ISO,
  UTC), factors, target, estimator, composite_factor, the refits (valid_from, train_first,
  train_last, samples, coef, intercept: all a linear model needs to predict), timings (seconds),
  the scikit-learn version the estimators were pickled with, and ``format`` (1).
- ``folds.parquet``, ``coefficients.parquet``, ``oos_daily.parquet``, ``baselines.parquet``,
  ``quantiles.parquet``: the frames of :class:`~quant_core.research.result.FitResult`.
- ``estimators.joblib``: the refits' fitted scikit-learn estimators, in order (the only form
  of a gbr refit; a linear refit is read back from its JSON coefficients instead).

Everything is written into ``.<model_id>.partial/`` beside it, each file fsynced, and the folder
renamed into place: a process killed mid-save leaves at worst that hidden folder, which
:meth:`ModelStore.list_models` ignores. The composite (the walk-forward predictions) is stored
in the warehouse as factor ``model_<model_id>`` (:func:`write_composite`), beside the others.

Reading trusts nothing in a folder (``research/store_json.py`` checks ``model.json``): a model
whose files are damaged (unreadable JSON, a bad field, a refit whose coefficients do not match
its factors, an ``estimators.joblib`` that cannot be unpickled or does not fit the spec) is
refused with a ``DataError`` naming the model and the file, which the drivers treat as a
refusal like a missing or rejected model (``ModelNotReady``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import pickle
import re
import shutil
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import pandas as pd

from quant_core.atomic import atomic_write_bytes, fsync_path, json_safe
from quant_core.data.store import NAME as FACTOR_NAME
from quant_core.data.store import WriteResult
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError, DataError
from quant_core.factors.compute import to_long
from quant_core.research.model import REJECTED, FittedModel, ModelNotReady
from quant_core.research.result import FitResult
from quant_core.research.store_json import (
    AGAIN,
    check_earned,
    damaged,
    list_row,
    meta_json,
    needs_estimators,
    parse_refits,
    parse_spec,
    parse_status,
    raw_refits,
    rejection,
    sklearn_version,
)
from quant_core.research.store_json import (
    LIST_COLUMNS as LIST_COLUMNS,  # re-exported: the listing's columns are part of this API
)
from quant_core.runs import new_run_id

logger = logging.getLogger(__name__)

MODEL_FILE = "model.json"
ESTIMATORS_FILE = "estimators.joblib"
FRAMES = ("folds", "coefficients", "oos_daily", "baselines", "quantiles")
# <spec name>-<YYYYmmddTHHMMSSZ>-<4 hex>: a safe folder name (no separator, no dot, no "..").
MODEL_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}-\d{8}T\d{6}Z-[0-9a-f]{4}")
COMPOSITE_PREFIX = "model_"
ID_SUFFIX = len("-20240105T143000Z-1a2b")  # what new_model_id adds to the spec's name
# What unpickling a damaged estimators.joblib raises (joblib's own checks, pickle's, zlib's, a
# class that cannot be imported or rebuilt): refused as damage, not let through as a crash.
UNPICKLING_ERRORS = (
    OSError,
    EOFError,
    pickle.UnpicklingError,
    ImportError,
    AttributeError,
    LookupError,
    TypeError,
    ValueError,
    zlib.error,
)
NO_MODEL = "no stored model {}; fit one with run_factor_computation.py --fit"


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A stored model read back: ``model.json`` as ``meta``, its frames, the fitted model."""

    meta: dict[str, Any]
    folds: pd.DataFrame
    coefficients: pd.DataFrame
    oos_daily: pd.DataFrame
    baselines: pd.DataFrame
    quantiles: pd.DataFrame
    model: FittedModel

    @property
    def model_id(self) -> str:
        """Return the model's id."""
        return self.model.model_id


def check_model_id(model_id: str) -> str:
    """Return ``model_id`` if it has the shape of a model id, else raise ``ConfigError``.

    The shape (``<name>-<YYYYmmddTHHMMSSZ>-<4 hex>``) admits no path separator, dot or space,
    so an id can never name a folder outside the store.
    """
    if not isinstance(model_id, str) or MODEL_ID.fullmatch(model_id) is None:
        raise ConfigError(
            f"invalid model id {model_id!r}: expected <name>-<YYYYmmddTHHMMSSZ>-<4 hex>, such "
            "as value_mom-20240105T143000Z-1a2b (run_factor_computation.py --models lists them)"
        )
    return model_id


def new_model_id(name: str, created_at: dt.datetime) -> str:
    """Return a new id ``<name>-<created_at as YYYYmmddTHHMMSSZ, UTC>-<4 random hex>``."""
    return f"{name}-{new_run_id(_utc(created_at), random_hex=4)}"


def composite_factor(model_id: str) -> str:
    """Return the warehouse factor name of a model's composite: ``model_<model_id>``.

    Raises
    ------
    ConfigError
        The id is invalid, or too long for a factor name (at most 64 characters, so a spec
        name of at most ``64 - 6 - 22 = 36`` characters).
    """
    name = COMPOSITE_PREFIX + check_model_id(model_id)
    if FACTOR_NAME.fullmatch(name) is None:
        longest = 64 - len(COMPOSITE_PREFIX) - ID_SUFFIX
        short = model_id[:-ID_SUFFIX]
        raise ConfigError(
            f"model.name {short!r} is too long ({len(short)} characters): its composite factor "
            f"model_<model id> must fit the warehouse's 64-character factor names; use at most "
            f"{longest} characters"
        )
    return name


def write_composite(
    warehouse: Warehouse, dataset: str, model_id: str, composite: pd.DataFrame
) -> WriteResult:
    """Store a model's composite (wide: sessions x symbols) as factor ``model_<model_id>``.

    Long format (``date, symbol, value``, NaN dropped) like every factor, so the Factors page
    and any analysis read it as they read the others. Rewriting the same model upserts.
    """
    return warehouse.factor_store.write(dataset, composite_factor(model_id), to_long(composite))


class ModelStore:
    """The stored models under ``root`` (normally ``<paths.data_dir>/models``).

    Parameters
    ----------
    root
        The models folder; created on the first save.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, model_id: str) -> Path:
        """Return the folder of ``model_id`` (refusing an id that is not a model id)."""
        return self.root / check_model_id(model_id)

    def exists(self, model_id: str) -> bool:
        """Return whether ``model_id`` is stored (whole: its ``model.json`` is there)."""
        return (self.folder(model_id) / MODEL_FILE).is_file()

    # ------------------------------------------------------------------------------- writing

    def save(self, result: FitResult, dataset: str, created_at: dt.datetime) -> str:
        """Store ``result`` whole and return its model id.

        The id is the fitted model's own when it has the shape of one (``fit_model`` was
        given it), else a new one from the spec's name and ``created_at`` (:func:`new_model_id`).
        ``created_at`` is written in UTC (a naive datetime is taken to be UTC).

        Raises
        ------
        DataError
            A model with this id is already stored.
        """
        model = result.model
        if MODEL_ID.fullmatch(model.model_id or "") is None:
            model = replace(model, model_id=new_model_id(result.spec.name, created_at))
        model_id = model.model_id
        target = self.root / model_id
        if target.exists():
            raise DataError(f"model {model_id} is already stored in {target}")
        composite = COMPOSITE_PREFIX + model_id
        meta = meta_json(result, model, dataset, _utc(created_at), composite)
        staging = self.root / f".{model_id}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            for name in FRAMES:
                atomic_write_bytes(staging / f"{name}.parquet", _parquet(getattr(result, name)))
            buffer = io.BytesIO()
            joblib.dump([r.estimator for r in model.refits], buffer)
            atomic_write_bytes(staging / ESTIMATORS_FILE, buffer.getvalue())
            text = json.dumps(json_safe(meta), indent=1, default=str, allow_nan=False)
            atomic_write_bytes(staging / MODEL_FILE, text.encode())
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_path(self.root)
        logger.info("Stored model %s (%s) in %s", model_id, result.status, target)
        return model_id

    # ------------------------------------------------------------------------------- reading

    def list_models(self) -> pd.DataFrame:
        """Return one row per stored model, newest first (columns :data:`LIST_COLUMNS`).

        ``created_at`` is a UTC timestamp, ``data_through`` a date. A folder without a readable
        ``model.json`` (not a model) is skipped with a warning, a ``.partial`` one silently. A
        model whose ``model.json`` has a field of the wrong kind (``created_at`` not a
        date-time, ``data_through`` not an ISO date, a score not a number) is still listed,
        with that field empty (NaT, None, NaN) and a warning naming it: one damaged folder
        never hides the others, and loading it says what is wrong. A model without a
        ``created_at`` sorts last.
        """
        rows = []
        folders = sorted(self.root.iterdir()) if self.root.is_dir() else []
        for folder in folders:
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            meta = _read_object(folder / MODEL_FILE)
            if meta is None or MODEL_ID.fullmatch(folder.name) is None:
                # A model's folder whose model.json is there but damaged (a disk that filled,
                # an edit) is said as such, not as a folder that is no model.
                damaged = MODEL_ID.fullmatch(folder.name) and (folder / MODEL_FILE).is_file()
                why = f"{MODEL_FILE} is not a readable JSON object" if damaged else "not a model"
                logger.warning("Skipping %s: %s", folder, why)
                continue
            row, bad = list_row(folder.name, meta)
            if bad:
                logger.warning(
                    "Model %s: %s has unreadable field(s), listed empty: %s",
                    folder.name,
                    folder / MODEL_FILE,
                    ", ".join(bad),
                )
            rows.append(row)
        frame = pd.DataFrame(rows, columns=list(LIST_COLUMNS))
        for column in ("oos_ic", "oos_rank_ic", "oos_t"):
            frame[column] = frame[column].astype(float)
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
        frame = frame.sort_values(["created_at", "model_id"], ascending=False, kind="stable")
        return frame.reset_index(drop=True)

    def load(self, model_id: str) -> StoredModel:
        """Read a stored model back (a rejected one too: for its report).

        Raises
        ------
        ModelNotReady
            No model ``model_id`` is stored.
        DataError
            A file of the folder is unreadable or damaged: the message names the model, the
            file and what is wrong.
        """
        folder = self.folder(model_id)
        meta = self._meta(model_id, folder)
        frames = {}
        for name in FRAMES:
            path = folder / f"{name}.parquet"
            try:
                frames[name] = pd.read_parquet(path)
            except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid: a ValueError
                raise DataError(
                    f"model {model_id}: {path} cannot be read ({_one_line(exc)}); {AGAIN}"
                ) from exc
        return StoredModel(meta=meta, model=self._fitted(model_id, folder, meta), **frames)

    def load_fitted(self, model_id: str) -> FittedModel:
        """Return the stored model ``model_id``, ready to trade.

        Raises
        ------
        ModelNotReady
            None is stored under that id, or it was rejected (its out-of-sample rank IC was not
            above the spec's floor): the message names the id, and for a rejected model its
            rank IC and the floor (the rank IC "unknown" when it had no out-of-sample session).
        DataError
            The model's folder is damaged: its ``model.json`` cannot be read, a field is
            missing or wrong (a refit's coefficients not one finite number per factor, say), or
            its ``estimators.joblib`` cannot be unpickled or does not fit the spec. The message
            names the model and the file. Both drivers refuse on it as on ``ModelNotReady``.
        """
        folder = self.folder(model_id)
        meta = self._meta(model_id, folder)
        if meta.get("status") == REJECTED:
            raise ModelNotReady(rejection(model_id, meta))
        return self._fitted(model_id, folder, meta)

    def _meta(self, model_id: str, folder: Path) -> dict[str, Any]:
        """Return the model's ``model.json``: ModelNotReady if missing, DataError if unreadable."""
        path = folder / MODEL_FILE
        if not path.is_file():
            raise ModelNotReady(NO_MODEL.format(model_id))
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
            reason = f"{path}: {_one_line(exc)}"
            raise DataError(
                f"model {model_id}: its model.json cannot be read ({reason}); {AGAIN}"
            ) from exc
        if not isinstance(meta, dict):
            reason = f"{path} holds a JSON {type(meta).__name__}, not an object"
            raise DataError(f"model {model_id}: its model.json cannot be read ({reason}); {AGAIN}")
        return meta

    def _fitted(self, model_id: str, folder: Path, meta: dict[str, Any]) -> FittedModel:
        """Return the fitted model of ``meta``, every field checked (``store_json``)."""
        where = f"model {model_id}: {folder / MODEL_FILE}"
        spec = parse_spec(meta, where)
        status = parse_status(meta, where)
        check_earned(meta, spec, status, where)
        raw = raw_refits(meta, where)
        estimators: list[Any] = [None] * len(raw)
        path = folder / ESTIMATORS_FILE
        if needs_estimators(raw):  # gbr: only the pickled estimators predict
            stored = meta.get("sklearn_version")
            if stored != sklearn_version():
                logger.warning(
                    "Model %s was stored with scikit-learn %s; reading it with %s",
                    model_id,
                    stored,
                    sklearn_version(),
                )
            estimators = _estimators(model_id, path)
        joblib_where = f"model {model_id}: {path}"
        refits = parse_refits(raw, estimators, len(spec.factors), where, joblib_where)
        return FittedModel(model_id, spec, status, refits)


# ----------------------------------------------------------------------------------- helpers


def _estimators(model_id: str, path: Path) -> list[Any]:
    """Return the pickled estimators in ``path`` (a list), or DataError naming the file."""
    try:
        loaded = joblib.load(path)
    except UNPICKLING_ERRORS as exc:
        missing = isinstance(exc, FileNotFoundError)
        reason = "it is missing" if missing else f"{type(exc).__name__}: {_one_line(exc)}"
        raise DataError(f"model {model_id}: {path} cannot be read ({reason}); {AGAIN}") from exc
    if not isinstance(loaded, list | tuple):
        what = f"it holds a {type(loaded).__name__}, not the list of the refits' estimators"
        raise damaged(f"model {model_id}: {path}", what)
    return list(loaded)


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _read_object(path: Path) -> dict[str, Any] | None:
    """Return the JSON object in ``path``, or None if missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
