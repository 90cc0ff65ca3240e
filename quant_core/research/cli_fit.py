"""What ``run_factor_computation.py --fit`` and ``--models`` do: read a spec, fit, store, show.

Not pure (it reads files and the warehouse, and times the fit): the entry point's helpers.

``--fit SPEC.yaml`` reads the YAML's ``model:`` section into a
:class:`~quant_core.research.spec.ModelSpec`, loads the dataset's open, high, low, close and
volume panels (and each symbol's sector, when the dataset has any), fits with
:func:`~quant_core.research.pipeline.fit_model`, stores the model
(:class:`~quant_core.research.store.ModelStore`) and its composite as the warehouse factor
``model_<model_id>``, and shows a summary (or one JSON object: :func:`fit_json`).
"""

from __future__ import annotations

import datetime as dt
import math
import reprlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config.yaml_file import parse_yaml_file
from quant_core.atomic import json_safe
from quant_core.data.reference import UNKNOWN, load_sectors
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError, DataError
from quant_core.factors.base import make_factor
from quant_core.research.labels import parse_label
from quant_core.research.result import COEFFICIENT_COLUMNS, FitResult
from quant_core.research.spec import ModelSpec
from quant_core.research.store import (
    ModelStore,
    composite_factor,
    new_model_id,
    write_composite,
)
from quant_core.types import ProgressFn

BAR_PANELS = ("open", "high", "low", "close", "volume")
FitFn = Callable[..., FitResult]


@dataclass(frozen=True, slots=True)
class Fitted:
    """A fit that was stored: its id, dataset, result and how long it took (seconds)."""

    model_id: str
    dataset: str
    result: FitResult
    created_at: dt.datetime
    seconds: float

    @property
    def composite_factor(self) -> str:
        """Return the warehouse factor holding the model's composite."""
        return composite_factor(self.model_id)


# --------------------------------------------------------------------------------- the spec


def load_spec(path: Path) -> ModelSpec:
    """Return the spec under the ``model:`` key of the YAML file ``path``.

    Raises
    ------
    ConfigError
        The file is missing or not YAML, has no ``model:`` mapping or other top-level keys, or a
        field is invalid: the message names the file and the field (``model.validation.train``).
    """
    try:  # a value that misfits its tag (`seed: 2020-13-45`) is a ConfigError there too
        data = parse_yaml_file(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConfigError(f"{path}: a model spec is a mapping under a top-level `model:` key")
    extra = sorted(str(k) for k in data if k != "model")
    if extra:
        raise ConfigError(f"{path}: unknown top-level key(s) {extra}; the spec lives under model:")
    raw: dict[str, Any] = data["model"]
    _check_names(path, raw)
    try:
        spec = ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(e, raw) for e in exc.errors())
        raise ConfigError(f"{path}: invalid model spec: {problems}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: invalid model spec: {exc}") from None
    try:  # the composite's factor name (model_<model id>) must fit the warehouse's names
        composite_factor(new_model_id(spec.name, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return spec


def _check_names(path: Path, raw: dict[str, Any]) -> None:
    """Check the factor and label names first, so their error names the field."""
    factors = raw.get("factors")
    for i, name in enumerate(factors if isinstance(factors, list) else []):
        if not isinstance(name, str):  # pydantic names it ("a valid string"); str() of a
            continue  # YAML alias bomb would never end
        try:
            make_factor(name)
        except ConfigError as exc:
            raise ConfigError(f"{path}: model.factors[{i}] = {name!r}: {exc}") from None
    target = raw.get("target")
    if isinstance(target, str):
        try:
            parse_label(target)
        except ConfigError as exc:
            raise ConfigError(f"{path}: model.target = {target!r}: {exc}") from None


def _problem(error: Any, raw: dict[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return f"model: {message}"
    if error["type"] == "missing":
        return f"{_field(error['loc'], raw)}: {message}"
    return f"{_field(error['loc'], raw)} = {_shown(error.get('input'))}: {message}"


def _field(loc: tuple[int | str, ...], raw: Any) -> str:
    """Return the dotted field of an error location, without pydantic's union tags."""
    path, node = ["model"], raw
    for n, part in enumerate(loc):
        inside = isinstance(node, dict) and part in node
        inside |= isinstance(node, list) and isinstance(part, int) and part < len(node)
        if inside:
            node = node[part]
        elif n < len(loc) - 1:  # a union member's tag ("walk_forward"), not a key
            continue
        path.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(path)


def _shown(value: Any) -> str:
    # reprlib: bounded however deep or wide the value (YAML aliases can nest 10**9 items)
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 4, 4, 60, 60


# --------------------------------------------------------------------------------- the data


def load_bars(warehouse: Warehouse, dataset: str) -> dict[str, pd.DataFrame]:
    """Return the dataset's open, high, low, close and volume panels on one grid.

    Raises
    ------
    DataError
        The dataset is missing or holds no bars.
    """
    if not warehouse.exists(dataset):
        known = ", ".join(warehouse.datasets()) or "none"
        raise DataError(
            f"no dataset {dataset!r} in the warehouse (datasets: {known}); run run_data_sync.py"
        )
    panels = {field: warehouse.panel(dataset, field) for field in BAR_PANELS}
    index = panels["close"].index
    columns = panels["close"].columns
    for panel in panels.values():
        index, columns = index.union(panel.index), columns.union(panel.columns)
    if len(index) == 0 or len(columns) == 0:
        raise DataError(f"dataset {dataset!r} holds no bars")
    return {f: p.reindex(index=index, columns=columns) for f, p in panels.items()}


def load_sector_series(warehouse: Warehouse, dataset: str, symbols: pd.Index) -> pd.Series | None:
    """Return each symbol's sector, or None when the dataset knows none of them."""
    sectors = load_sectors(warehouse, dataset, np.asarray(symbols, dtype=object))
    if (sectors == UNKNOWN).all():
        return None
    return pd.Series(sectors, index=symbols, name="sector")


# ---------------------------------------------------------------------------- fit and store


def fit_and_store(
    fit: FitFn,
    spec: ModelSpec,
    warehouse: Warehouse,
    dataset: str,
    models: ModelStore,
    progress: ProgressFn | None = None,
) -> Fitted:
    """Fit ``spec`` on ``dataset`` with ``fit`` (``fit_model``), store the model and composite.

    The model is stored first (whole or not at all), then its composite written to the
    warehouse; a failure in between leaves a stored model whose factor a rerun of ``--fit``
    (a new id) or the model's own refits can rebuild.
    """
    started = time.perf_counter()
    created_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    model_id = new_model_id(spec.name, created_at)
    bars = load_bars(warehouse, dataset)
    sectors = load_sector_series(warehouse, dataset, bars["close"].columns)
    result = fit(
        spec,
        bars,
        model_id,
        sectors=sectors,
        progress=progress,
        timer=time.perf_counter,
    )
    stored_id = models.save(result, dataset, created_at)
    write_composite(warehouse, dataset, stored_id, result.composite)
    return Fitted(stored_id, dataset, result, created_at, time.perf_counter() - started)


# --------------------------------------------------------------------------------- showing


def fit_json(fitted: Fitted) -> dict[str, Any]:
    """Return the ``--fit --json`` object (NaN as null, dates as ISO strings)."""
    r = fitted.result
    out: dict[str, Any] = json_safe(
        {
            "model_id": fitted.model_id,
            "name": r.spec.name,
            "status": r.status,
            "dataset": fitted.dataset,
            "target": r.spec.target,
            "estimator": r.spec.estimator,
            "factors": list(r.spec.factors),
            "oos_ic": float(r.oos_ic),
            "oos_rank_ic": float(r.oos_rank_ic),
            "oos_t": float(r.oos_t),
            "min_oos_rank_ic": r.spec.min_oos_rank_ic,
            "folds": records(r.folds),
            "coefficients": records(r.coefficients),
            "baselines": records(r.baselines),
            "improvement": r.improvement,
            "quantiles": records(r.quantiles),
            "oos_sessions": len(r.oos_daily),
            "refits": len(r.model.refits),
            "composite_factor": fitted.composite_factor,
            "data_through": r.data_through.isoformat(),
            "created_at": fitted.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seconds": round(fitted.seconds, 3),
            "timings": {k: round(float(v), 3) for k, v in r.timings.items()},
            "spec": r.spec.model_dump(mode="json"),
        }
    )
    return out


def models_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the ``--models --json`` list (one object per stored model)."""
    rows: list[dict[str, Any]] = json_safe(records(frame))
    return rows


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return ``frame``'s rows as JSON-ready dicts (dates ISO, numpy scalars as Python)."""
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is not None:
            return value.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _num(value: Any, digits: int = 4) -> str:
    number = float(value) if value is not None else math.nan
    return "-" if not math.isfinite(number) else f"{number:.{digits}f}"


def print_fit(console: Console, fitted: Fitted) -> None:
    """Print a stored fit: status and scores, folds, coefficients, baselines."""
    r, spec = fitted.result, fitted.result.spec
    mark = "green" if r.status == "accepted" else "red"
    console.print(
        f"Model [bold]{fitted.model_id}[/] on {fitted.dataset} (data through "
        f"{r.data_through}): [{mark}]{r.status.upper()}[/] (floor: OOS rank IC > "
        f"{spec.min_oos_rank_ic:g})"
    )
    console.print(
        f"Out of sample: IC {_num(r.oos_ic)}, rank IC {_num(r.oos_rank_ic)}, Newey-West t "
        f"{_num(r.oos_t, 2)} over {len(r.oos_daily)} sessions; {spec.estimator} of "
        f"{spec.target} on {', '.join(spec.factors)}; {len(r.model.refits)} refits; "
        f"{fitted.seconds:.1f} s"
    )
    folds = Table(title="Validation folds", title_justify="left")
    heads = ["fold", "train", "test", "train rows", "test rows", "IS IC", "IS rank IC"]
    heads += ["OOS IC", "OOS rank IC", "spread", "coef cos"]
    for head in heads:
        dates = head in {"train", "test"}
        folds.add_column(head, justify="left" if dates else "right", no_wrap=dates)
    for f in r.folds.to_dict("records"):
        folds.add_row(
            str(f["fold"]),
            f"{_plain(f['train_start'])}..{_plain(f['train_end'])}",
            f"{_plain(f['test_start'])}..{_plain(f['test_end'])}",
            f"{int(f['train_rows']):,}",
            f"{int(f['test_rows']):,}",
            *(_num(f[c]) for c in ("is_ic", "is_rank_ic", "oos_ic", "oos_rank_ic")),
            _num(f["spread"], 5),
            _num(f["coef_cosine"], 2),
        )
    console.print(folds)
    coefs = Table(title="Coefficients (full sample; 95% bootstrap by dates)", title_justify="left")
    for head in ("factor", "coef", "ci low", "ci high", "std"):
        coefs.add_column(head, justify="left" if head == "factor" else "right")
    for c in r.coefficients.to_dict("records"):
        coefs.add_row(str(c["factor"]), *(_num(c[k], 5) for k in COEFFICIENT_COLUMNS[1:]))
    console.print(coefs)
    base = Table(title="Model against the baselines (same OOS sessions)", title_justify="left")
    for head in ("name", "OOS IC", "OOS rank IC", "spread", "model's rank IC minus"):
        base.add_column(head, justify="left" if head == "name" else "right")
    improvement = r.improvement
    for b in r.baselines.to_dict("records"):
        gain = improvement.get(str(b["name"]))
        base.add_row(
            str(b["name"]),
            _num(b["oos_ic"]),
            _num(b["oos_rank_ic"]),
            _num(b["spread"], 5),
            "-" if gain is None else f"{gain:+.4f}",
        )
    console.print(base)
    console.print(f"Composite stored as factor {fitted.composite_factor} of {fitted.dataset}")


def print_models(console: Console, frame: pd.DataFrame) -> None:
    """Print the stored models, newest first."""
    if frame.empty:
        console.print("No stored models; fit one with run_factor_computation.py --fit SPEC.yaml")
        return
    table = Table(title="Stored models", title_justify="left")
    heads = ("model id", "status", "target", "estimator", "OOS IC", "OOS rank IC", "NW t")
    for head in (*heads, "dataset", "data through", "created (UTC)"):
        right = "OOS" in head or head == "NW t"
        table.add_column(head, justify="right" if right else "left", no_wrap=head == "model id")
    for m in records(frame):
        table.add_row(
            *(_cell(m[k]) for k in ("model_id", "status", "target", "estimator")),
            _num(m["oos_ic"]),
            _num(m["oos_rank_ic"]),
            _num(m["oos_t"], 2),
            _cell(m["dataset"]),
            _cell(m["data_through"]),
            _cell(m["created_at"])[:16].replace("T", " "),
        )
    console.print(table)


def _cell(value: Any) -> str:
    """Return a listed field as table text: "-" when unreadable (None, NaN), never markup.

    A hand-edited ``model.json`` may hold ``[/x]`` in a text field: rich would read it as a
    closing tag and raise.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return escape(str(value))
