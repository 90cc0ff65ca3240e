"""The Sweeps page's walk-forward part: the catalogue's walk-forwards, read briefly, as frames.

``run_backtest.py --walk-forward FILE`` records into the sweeps' catalogue
(:mod:`quant_core.sweeps.catalogue_wf`): one row per walk-forward (its name, strategy,
objective, spec, when, the stitched out-of-sample curve's metrics) and one per fold (its train
and test windows, the configuration chosen on train with its train objective, and its test
run's metrics). The catalogue is opened read-only for one read and closed at once, as
:func:`quant_core.cockpit.models.sweep_data.open_catalogue` does (a busy file raises
:class:`~quant_core.sweeps.catalogue.CatalogueBusy`); a catalogue written before walk-forwards
were recorded has no such tables and lists none.

The frames, without Streamlit: the picker's label (:func:`wf_label`), the headline metrics
(:func:`headline`), each curve session's fold (:func:`fold_of`), the parameter path
(:func:`parameter_path`) and the fold table (:func:`fold_table`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_core.cockpit.models import sweep_data as sd
from quant_core.cockpit.models.sweep_progress import finite_number

WF_TABLES = ("walk_forwards", "wf_folds")
# The stitched curve's figures the page shows first (quant_core.sweeps.walk_forward's names).
HEADLINE = ("total_return", "sharpe", "max_drawdown", "cagr")
FOLD_COLUMNS = (
    "fold",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "train_objective",
    "test_return",
    "test_sharpe",
)


@dataclass(frozen=True, slots=True)
class WalkForwardView:
    """One walk-forward as recorded: its folds (``Catalogue.walk_forward``), curve and metrics."""

    folds: pd.DataFrame
    curve: pd.Series
    metrics: dict[str, Any]


def _has_tables(catalogue: Any) -> bool:
    rows = catalogue.con.execute(
        "SELECT count(DISTINCT table_name) FROM information_schema.tables "
        "WHERE table_name IN (?, ?)",
        list(WF_TABLES),
    ).fetchall()
    return int(rows[0][0]) == len(WF_TABLES)


def list_walk_forwards(path: Path) -> pd.DataFrame:
    """Return every walk-forward (no curves), the latest first; none in an older catalogue."""
    catalogue = sd.open_catalogue(path)
    try:
        if not _has_tables(catalogue):
            return pd.DataFrame({"wf_id": pd.Series(dtype=str)})
        return catalogue.walk_forwards()
    finally:
        catalogue.close()


def load_walk_forward(path: Path, wf_id: str) -> WalkForwardView:
    """Return the walk-forward ``wf_id``: its folds (fold order), stitched curve and metrics."""
    catalogue = sd.open_catalogue(path)
    try:
        folds, curve, metrics = catalogue.walk_forward(wf_id)
    finally:
        catalogue.close()
    return WalkForwardView(folds, curve, metrics)


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {}


def windows_text(spec_json: Any) -> str:
    """Return the spec's fold rule: ``rolling: train 63, test 42 sessions[, embargo 5]``."""
    wf = _json(spec_json).get("walk_forward")
    if not isinstance(wf, dict):
        return "folds unknown"
    embargo = int(wf.get("embargo") or 0)
    text = f"{wf.get('scheme', 'rolling')}: train {wf.get('train')}, test {wf.get('test')} sessions"
    return text + (f", embargo {embargo}" if embargo else "")


def headline(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Return the stitched curve's :data:`HEADLINE` figures (None: missing or not finite)."""
    return {name: finite_number(metrics.get(name)) for name in HEADLINE}


def wf_label(row: dict[str, Any]) -> str:
    """Return a walk-forward as the picker shows it: name, strategy, objective, folds, return."""
    best = "max" if _json(row.get("spec")).get("maximize", True) else "min"
    total = finite_number(_json(row.get("metrics")).get("total_return"))
    result = "out-of-sample return -" if total is None else f"out-of-sample return {total:.2%}"
    created = sd.when_text(row.get("created_at"))
    return (
        f"{row['name']} · {row['strategy']} · {best} {row['objective']} · "
        f"{windows_text(row.get('spec'))} · {result} · created {created}"
    )


def param_names(folds: pd.DataFrame, spec_json: Any) -> list[str]:
    """Return the parameters chosen per fold: the spec's order, then any other met."""
    return sd.param_names(folds, spec_json if isinstance(spec_json, str) else None)


def fold_of(dates: pd.DatetimeIndex, folds: pd.DataFrame) -> np.ndarray:
    """Return each date's fold: the last fold whose test window starts on or before it.

    The stitched curve's first session is the first fold's test start; every later session lies
    in one test window (the windows follow one another), so ``searchsorted`` over the starts
    finds it. Vectorised: one search for all dates.
    """
    starts = pd.DatetimeIndex(pd.to_datetime(folds["test_start"])).to_numpy()
    at = np.searchsorted(starts, dates.to_numpy(), side="right") - 1
    numbers = folds["fold"].to_numpy(dtype=np.int64)
    return numbers[np.clip(at, 0, len(numbers) - 1)]


@dataclass(frozen=True, slots=True)
class ParameterPath:
    """The parameters chosen per fold, with each fold's test window (fold order)."""

    fold: np.ndarray  # fold numbers
    test_start: pd.DatetimeIndex
    test_end: pd.DatetimeIndex
    chosen: pd.DataFrame  # one column per parameter, one row per fold


def parameter_path(folds: pd.DataFrame, names: list[str]) -> ParameterPath:
    """Return each fold's test window and the parameters chosen on its train window.

    Numbers stay numbers; lists and mappings are JSON text
    (:func:`quant_core.cockpit.models.sweep_data.params_frame`).
    """
    return ParameterPath(
        folds["fold"].to_numpy(dtype=np.int64),
        pd.DatetimeIndex(pd.to_datetime(folds["test_start"])),
        pd.DatetimeIndex(pd.to_datetime(folds["test_end"])),
        sd.params_frame(folds, names),
    )


def _test(metrics: Any, name: str) -> float:
    value = finite_number(metrics.get(name)) if isinstance(metrics, dict) else None
    return float("nan") if value is None else value


def fold_table(folds: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Return the fold table: windows, one column per parameter, train objective, test figures.

    Columns: fold, train_start, train_end, test_start, test_end (dates), the parameters (a name
    clashing with those columns shows as ``<name> (param)``), train_objective, test_return and
    test_sharpe (the test run's ``total_return`` and ``sharpe``; NaN when not finite).
    """
    table = pd.DataFrame({"fold": folds["fold"].to_numpy(dtype=np.int64)})
    for column in FOLD_COLUMNS[1:5]:
        table[column] = [pd.Timestamp(d).date() for d in folds[column]]
    params = sd.params_frame(folds, names)
    for name in names:
        table[f"{name} (param)" if name in FOLD_COLUMNS else name] = params[name].to_numpy()
    table["train_objective"] = pd.to_numeric(folds["train_objective"], errors="coerce").to_numpy(
        dtype=float
    )
    table["test_return"] = [_test(m, "total_return") for m in folds["test_metrics"]]
    table["test_sharpe"] = [_test(m, "sharpe") for m in folds["test_metrics"]]
    return table


def fold_params_text(folds: pd.DataFrame) -> list[str]:
    """Return each fold's chosen parameters as ``name=value, ...`` (fold order)."""
    return [sd.params_text(dict(p)) for p in folds["params"]]


__all__ = [
    "HEADLINE",
    "ParameterPath",
    "WalkForwardView",
    "fold_of",
    "fold_params_text",
    "fold_table",
    "headline",
    "list_walk_forwards",
    "load_walk_forward",
    "param_names",
    "parameter_path",
    "wf_label",
    "windows_text",
]
