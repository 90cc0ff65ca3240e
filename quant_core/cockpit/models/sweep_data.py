"""The Sweeps page's data: the catalogue read briefly, the page's frames, a configuration's rerun.

The catalogue (``<data_dir>/sweeps/catalogue.duckdb``) is read only through
:class:`quant_core.sweeps.catalogue.Catalogue`, opened read-only for one read and closed at once:
a sweep's driver needs the file to itself, and while it runs, opening it raises the catalogue's
:class:`~quant_core.sweeps.catalogue.CatalogueBusy` (re-exported here). A running sweep's figures
are then in its progress file (:mod:`quant_core.cockpit.models.sweep_progress`).

The frames, without Streamlit: the objective over two parameters (:func:`heatmap`; the other
parameters are folded by the best value, the max when the sweep maximises), its distribution
(:func:`objective_histogram`), the best configurations (:func:`best_table`) and the overrides that
run one configuration again as a stored backtest (:func:`run_overrides`: the configuration's,
then the sweep's own ``--set`` values, then the cockpit's data dir).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from config.book_schema import BookConfig
from config.redact import MASK, is_secret_path
from config.schema import AppConfig
from config.sweep import SweepConfig, base_overrides, configurations
from quant_core.cockpit.models.sweep_progress import finite_number
from quant_core.errors import ConfigError
from quant_core.research.model_factors import load_model_factors
from quant_core.sweeps.catalogue import Catalogue, CatalogueBusy, CatalogueUnreadable
from quant_core.sweeps.runner import CATALOGUE

# Optional columns of the sweeps table (quant_core.sweeps.overfitting): absent in older files.
OVERFIT_KEYS = ("deflated_sharpe", "pbo", "trials", "effective_trials")
TABLE_METRICS = ("sharpe", "cagr", "max_drawdown", "trades")
MAX_LEVELS = 12  # distinct values an axis shows one by one; more (a random search): binned
BINS = 10  # equal-width bins of such an axis
MAX_HIST_BINS = 60


def catalogue_path(data_dir: Path) -> Path:
    """Return the catalogue file under ``data_dir`` (as the sweep runner writes it)."""
    return data_dir / CATALOGUE


def signature(path: Path) -> tuple[int, ...]:
    """Return the catalogue's and its WAL's (mtime ns, size): changes when the file is written."""
    out: list[int] = []
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            stat = file.stat()
        except FileNotFoundError:
            out += [0, 0]
        else:
            out += [stat.st_mtime_ns, stat.st_size]
    return tuple(out)


def open_catalogue(path: Path) -> Catalogue:
    """Open ``path`` read-only.

    Raises
    ------
    CatalogueBusy
        Another process (a running sweep's driver) holds the file: DuckDB's lock.
    """
    return Catalogue(path, read_only=True)


def list_sweeps(path: Path) -> pd.DataFrame:
    """Return every sweep, the latest first, with ``done``: its configurations recorded."""
    catalogue = open_catalogue(path)
    try:
        sweeps = catalogue.sweeps()
        sweeps["done"] = [catalogue.count(str(i)) for i in sweeps["sweep_id"]]
    finally:
        catalogue.close()
    return sweeps


def load_sweep(path: Path, sweep_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the sweep's results (the best first) and kept curves (``Catalogue`` frames)."""
    catalogue = open_catalogue(path)
    try:
        return catalogue.results(sweep_id), catalogue.curves(sweep_id)
    finally:
        catalogue.close()


def when_text(value: Any) -> str:
    """Return a timestamp as ``YYYY-MM-DD HH:MM UTC`` ("" when missing)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{pd.Timestamp(value).tz_convert('UTC'):%Y-%m-%d %H:%M} UTC"


def sweep_label(row: dict[str, Any]) -> str:
    """Return a sweep as the picker shows it: name, strategy, objective, counts, times."""
    best = "max" if row.get("maximize", True) else "min"
    done, total = int(row.get("done", 0)), int(row.get("configurations") or 0)
    finished = when_text(row.get("finished_at"))
    end = f"finished {finished}" if finished else "not finished"
    return (
        f"{row['name']} · {row['strategy']} · {best} {row['objective']} · "
        f"{done:,} of {total:,} done · created {when_text(row.get('created_at'))} · {end}"
    )


def overfitting(row: dict[str, Any]) -> dict[str, float | None]:
    """Return the sweep's optional overfitting figures (None: absent or not a number)."""
    out: dict[str, float | None] = {}
    for key in OVERFIT_KEYS:
        out[key] = finite_number(row.get(key))
    return out


def param_names(results: pd.DataFrame, spec_json: str | None) -> list[str]:
    """Return the swept parameters: the spec's order, else every key met in ``params``."""
    try:
        spec = json.loads(spec_json or "{}")
    except json.JSONDecodeError:
        spec = {}
    space = spec.get("grid") or (spec.get("search") or {}).get("space") or {}
    names = [str(n) for n in space]
    for params in results.get("params", pd.Series(dtype=object)):
        names += [str(k) for k in params if str(k) not in names]
    return names


def params_frame(results: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Return one column per parameter (lists and mappings as JSON text), rows as ``results``."""
    frame = pd.DataFrame.from_records(list(results["params"]), columns=names)
    for name in names:
        if frame[name].map(lambda v: isinstance(v, list | dict)).any():
            frame[name] = frame[name].map(lambda v: json.dumps(v, sort_keys=True, default=str))
    return frame


def axis_levels(values: pd.Series) -> pd.Series:
    """Return ``values`` as ordered categories: numbers in order, many floats binned.

    A numeric parameter with more than :data:`MAX_LEVELS` distinct values (a random search)
    is cut into :data:`BINS` equal-width bins labelled ``lo to hi``; any other keeps its values,
    numbers ascending, text sorted.
    """
    numeric = pd.to_numeric(values, errors="coerce")
    is_number = bool(numeric.notna().all()) and not values.map(lambda v: isinstance(v, bool)).any()
    if is_number and numeric.nunique() > MAX_LEVELS:
        edges = np.linspace(float(numeric.min()), float(numeric.max()), BINS + 1)
        labels = [f"{lo:.4g} to {hi:.4g}" for lo, hi in itertools.pairwise(edges)]
        points = np.asarray(numeric, dtype=np.float64)
        binned = pd.cut(points, list(edges), labels=labels, include_lowest=True)
        return pd.Series(binned, index=values.index)
    if is_number:
        order = [_number_label(v) for v in sorted(numeric.unique())]
        text = numeric.map(_number_label)
        return pd.Series(pd.Categorical(text, order, ordered=True), index=values.index)
    text = values.map(str)
    return pd.Series(pd.Categorical(text, sorted(text.unique()), ordered=True), index=values.index)


def _number_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else format(float(value), ".10g")


@dataclass(frozen=True, slots=True)
class Heatmap:
    """The objective over two parameters: ``best`` and ``count`` per cell (y rows, x columns)."""

    best: pd.DataFrame
    count: pd.DataFrame
    x: str
    y: str | None
    how: str  # "max" or "min": how the other parameters' values are folded


def heatmap(
    results: pd.DataFrame, params: pd.DataFrame, x: str, y: str | None, maximize: bool
) -> Heatmap:
    """Return the best objective for each (``y``, ``x``) pair of values (module docstring).

    ``y=None`` (a sweep of one parameter): one row. Cells with no finite objective are NaN.
    """
    objective = pd.to_numeric(results["objective"], errors="coerce").to_numpy(dtype=float)
    xs = axis_levels(params[x]).reset_index(drop=True)
    ys = (
        axis_levels(params[y]).reset_index(drop=True)
        if y is not None
        else pd.Series(pd.Categorical(["all"] * len(xs)))
    )
    frame = pd.DataFrame({"y": ys, "x": xs, "objective": objective})
    how = "max" if maximize else "min"
    grouped = frame.groupby(["y", "x"], observed=False)["objective"]
    best = grouped.agg(how).unstack("x")  # noqa: PD010 - one value per cell already
    count = grouped.count().unstack("x")  # noqa: PD010 - one value per cell already
    return Heatmap(best, count.reindex_like(best).fillna(0).astype(int), x, y, how)


def objective_histogram(results: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return the objective's histogram (columns ``lo``, ``hi``, ``count``) and the missing.

    Bins: numpy's ``auto`` rule, at most :data:`MAX_HIST_BINS`; missing: configurations without
    a finite objective (a run with no trade, say), left out of the bins.
    """
    values = pd.to_numeric(results["objective"], errors="coerce").to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    missing = int(len(values) - len(finite))
    if not len(finite):
        return pd.DataFrame({"lo": [], "hi": [], "count": []}), missing
    edges = np.histogram_bin_edges(finite, bins="auto")
    if len(edges) - 1 > MAX_HIST_BINS:
        edges = np.histogram_bin_edges(finite, bins=MAX_HIST_BINS)
    counts, edges = np.histogram(finite, bins=edges)
    return pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "count": counts}), missing


def _metric(metrics: Any, name: str) -> float:
    value = metrics.get(name) if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, int | float) else float("nan")


def best_table(results: pd.DataFrame, params: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Return the best ``rows`` configurations: rank, key, one column per parameter, figures.

    Figures: objective, sharpe, cagr, max_drawdown, trades (from ``metrics``), seconds, worker.
    A parameter named like a figure is shown as ``<name> (param)``.
    """
    top = results.head(rows)
    fixed = {"rank", "key", "objective", *TABLE_METRICS, "seconds", "worker"}
    table = pd.DataFrame({"rank": np.arange(1, len(top) + 1), "key": top["key"].to_numpy()})
    for name in params.columns:
        table[f"{name} (param)" if name in fixed else name] = params[name].head(rows).to_numpy()
    table["objective"] = pd.to_numeric(top["objective"], errors="coerce").to_numpy(dtype=float)
    for name in TABLE_METRICS:
        table[name] = [_metric(m, name) for m in top["metrics"]]
    table["seconds"] = top["seconds"].to_numpy(dtype=float)
    table["worker"] = top["worker"].astype(str).to_numpy()
    return table


def params_text(params: dict[str, Any]) -> str:
    """Return a configuration's parameters as ``name=value, ...``."""
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in params.items())


def curve_labels(curves: pd.DataFrame, results: pd.DataFrame) -> dict[str, str]:
    """Return the kept curves' keys in rank order, each with its legend: ``#rank params``."""
    rank = {str(k): i + 1 for i, k in enumerate(results["key"])} if len(results) else {}
    keys = sorted(curves.columns, key=lambda k: (rank.get(str(k), 10**9), str(k)))
    params = dict(zip(results.get("key", []), results.get("params", []), strict=True))
    return {str(k): f"#{rank.get(str(k), '?')} {params_text(params.get(k, {})) or k}" for k in keys}


def stored_extra(name: str, value: Any) -> tuple[str, ...]:
    """Return a sweep's stored ``--set`` values (the sweeps table's ``extra``: a JSON list).

    NULL (a catalogue from before the column, or a sweep recorded without it) reads as none.

    Raises
    ------
    ConfigError
        The value is not a JSON list of strings (the sweep and the value are named).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ()
    try:
        items = json.loads(value) if isinstance(value, str) else None
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(
            f"sweep {name!r}: its stored --set values are not a JSON list of strings: {value!r}"
        )
    return tuple(items)


def extra_text(extra: tuple[str, ...]) -> str:
    """Return ``--set`` values for people: ``a.b=1 c.d=x``, a secret-looking key's value masked."""
    shown = []
    for item in extra:
        dotted, sep, _ = item.partition("=")
        secret = sep and is_secret_path(tuple(dotted.strip().lower().split(".")))
        shown.append(f"{dotted}={MASK}" if secret else item)
    return " ".join(shown)


def _sets_data_dir(item: str) -> bool:
    # As config.load_config reads a --set key: dotted, each part stripped and lower-cased.
    dotted, sep, _ = item.partition("=")
    keys = tuple(part.strip().lower() for part in dotted.split("."))
    return bool(sep) and keys[:2] == ("paths", "data_dir")


@dataclass(frozen=True, slots=True)
class Rerun:
    """One configuration of a sweep run again: its overrides, and its book for a book's sweep."""

    overrides: list[str]
    book: BookConfig | None = None


def run_overrides(
    name: str,
    spec_json: str,
    key: str,
    data_dir: Path,
    extra: tuple[str, ...] = (),
    load: Callable[[list[str]], AppConfig] | None = None,
) -> list[str]:
    """Return the ``--set`` overrides that run configuration ``key`` of the sweep on its own.

    :func:`rerun`'s overrides (a book's sweep runs them with its configuration's book).
    """
    return rerun(name, spec_json, key, data_dir, extra, load).overrides


def rerun(
    name: str,
    spec_json: str,
    key: str,
    data_dir: Path,
    extra: tuple[str, ...] = (),
    load: Callable[[list[str]], AppConfig] | None = None,
) -> Rerun:
    """Return what runs configuration ``key`` of the sweep on its own: overrides and book.

    The sweep's spec (the sweeps table's JSON) expands again into its configurations
    (:func:`config.sweep.configurations`); the one with ``key`` gives its overrides, then come
    ``extra`` (the ``--set`` values the sweep ran with, :func:`stored_extra`; a later override
    wins, as in the sweep's own runs), without any ``paths.data_dir``: the cockpit's data dir
    comes last. ``load`` (``config.load_config`` for a backtest) gives the run config the
    configurations are built over (an unswept parameter is the run's); None: the sweep's set.

    A book's sweep keeps its book in the spec: the configuration's book is that one with the
    configuration's params, whatever the book file holds today.

    Raises
    ------
    ConfigError
        The spec does not validate, or has no configuration ``key`` (both named), or it ran
        with a secret, which the catalogue keeps masked (its key named, never its value).
    """
    try:
        spec = SweepConfig.model_validate(json.loads(spec_json))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ConfigError(f"sweep {name!r}: its stored spec does not validate: {exc}") from None
    kept = [item for item in extra if not _sets_data_dir(item)]
    where = f"paths.data_dir={data_dir}"
    shared = [*base_overrides(spec), *kept]  # a configuration's overrides are these and params
    masked = [o.partition("=")[0] for o in shared if o.endswith(f"={MASK}")]
    if masked:  # a secret the sweep ran with is stored masked: the run would get the mask
        raise ConfigError(
            f"sweep {name!r} ran with a secret ({', '.join(masked)}), stored masked: run it from "
            "the command line with the secret given again"
        )
    # Built over the run config's params when ``load`` gives it (a parameter the sweep does not
    # vary is the run's: config files, QC__ variables), else over the sweep's set.
    base = load([*shared, where]) if load is not None else None
    params = base.strategy.params if base is not None else None
    named = {"spec": spec.model_dump(mode="json"), "params": params}
    load_model_factors(named, data_dir)  # a model_<id> factor validates once loaded
    # Only this configuration is built: another one today's run config refuses blocks nothing.
    match = next(iter(configurations(spec, f"sweep {name}", params, only=key)), None)
    if match is None:
        raise ConfigError(f"sweep {name!r}: no configuration {key} in its spec")
    return Rerun([*match.overrides, *kept, where], match.book)


__all__ = [
    "CatalogueBusy",
    "CatalogueUnreadable",
    "Heatmap",
    "Rerun",
    "axis_levels",
    "best_table",
    "catalogue_path",
    "curve_labels",
    "extra_text",
    "heatmap",
    "list_sweeps",
    "load_sweep",
    "objective_histogram",
    "open_catalogue",
    "overfitting",
    "param_names",
    "params_frame",
    "rerun",
    "run_overrides",
    "signature",
    "stored_extra",
    "sweep_label",
    "when_text",
]
