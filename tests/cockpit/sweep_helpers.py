"""The Sweeps page tests' data and probes: sweeps written with the real ``Catalogue``, AppTest.

The sweeps are the real expansions of their specs (``config.sweep.configurations``) with made-up
metrics (:func:`fake_metrics`), so what the page should show follows from a formula; a sweep's
driver, as far as the catalogue's lock goes, is :func:`hold_catalogue`. A walk-forward is written
as ``quant_core.sweeps.walk_forward._record`` writes one (:func:`write_walk_forward`).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from config.sweep import Configuration, SweepConfig, configurations, subject, sweep_digest
from quant_core.cockpit.models import sweep_data as sd
from quant_core.sweeps.catalogue import Catalogue, Result
from quant_core.sweeps.walk_forward import Window, stitch, stitched_metrics, windows
from tests.cockpit.conftest import APP, ROOT, VIEWS

CREATED = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
MOM_GRID: dict[str, Any] = {
    "name": "mom_grid",
    "strategy": "momentum",
    "grid": {"lookback": [20, 60, 126], "top_quantile": [0.1, 0.2]},
    "set": {"strategy.rebalance": 21},
    "objective": "sharpe",
    "period": {"start": "2010-03-01", "end": "2010-08-20"},
    "keep": 3,
}
# Three parameters: the heatmap folds the third.
REVERSION: dict[str, Any] = {
    "name": "reversion",
    "strategy": "mean_reversion",
    "grid": {"lookback": [3, 5], "bottom_quantile": [0.1, 0.2, 0.3], "hold_sessions": [2, 5]},
    "objective": "sharpe",
}


def fake_sharpe(params: dict[str, Any]) -> float:
    """Return the made-up Sharpe ratio of a configuration (every parameter counts)."""
    quantile = params.get("top_quantile", params.get("bottom_quantile", 0.0))
    lookback = params.get("lookback", params.get("mom.lookback", 0))  # a book's: <sleeve>.<param>
    return float(lookback) / 100 + quantile - params.get("hold_sessions", 0) / 10


def fake_metrics(params: dict[str, Any]) -> dict[str, Any]:
    """Return a configuration's made-up metrics: the keys of a single run's metrics."""
    sharpe = fake_sharpe(params)
    return {"sharpe": sharpe, "cagr": sharpe / 10, "max_drawdown": -sharpe / 20, "trades": 7}


def fake_curve(params: dict[str, Any]) -> pd.Series:
    """Return a made-up equity curve: 20 sessions growing with the Sharpe ratio."""
    days = pd.bdate_range("2010-03-01", periods=20)
    growth = (1 + fake_sharpe(params) / 100) ** np.arange(len(days))
    return pd.Series(100_000.0 * growth, index=days)


def write_sweep(
    data_dir: Path,
    spec_fields: dict[str, Any],
    created: dt.datetime = CREATED,
    *,
    done: int | None = None,
    metrics: Callable[[dict[str, Any]], dict[str, Any]] = fake_metrics,
    extra: tuple[str, ...] = (),
) -> str:
    """Record a sweep in ``data_dir``'s catalogue (all or the first ``done`` configurations).

    ``extra``: the command line's ``--set`` values the sweep ran with (as the runner records).
    """
    spec = SweepConfig.model_validate(spec_fields)
    every = configurations(spec)
    sweep_id = sweep_digest(spec, extra)[:16]
    catalogue = Catalogue(sd.catalogue_path(data_dir))
    try:
        catalogue.start(
            sweep_id,
            spec.name,
            subject(spec),
            spec.objective,
            spec.maximize,
            spec.model_dump(mode="json", by_alias=True),
            len(every),
            created,
            extra,
        )
        chosen = every if done is None else every[:done]
        results = [
            Result(c.key, c.params, metrics(c.params), 1.0 + i, f"w{i % 2}", fake_curve(c.params))
            for i, c in enumerate(chosen)
        ]
        at = created + dt.timedelta(minutes=1)
        catalogue.record(sweep_id, results, spec.objective, spec.maximize, spec.keep, at)
        if len(chosen) == len(every):
            catalogue.finish(sweep_id, created + dt.timedelta(minutes=2))
    finally:
        catalogue.close()
    return sweep_id


def expected_best(spec_fields: dict[str, Any], x: str, y: str) -> dict[tuple[str, str], float]:
    """Return the max made-up Sharpe for each (y value, x value): the fold done by brute force."""
    out: dict[tuple[str, str], float] = {}
    for c in configurations(SweepConfig.model_validate(spec_fields)):
        cell = (f"{c.params[y]:g}", f"{c.params[x]:g}")
        out[cell] = max(out.get(cell, -np.inf), fake_sharpe(c.params))
    return out


def open_sweeps() -> AppTest:
    """Return the app run once, then switched to the Sweeps page."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    at.switch_page(f"{VIEWS}/sweeps.py").run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, title: str) -> dict[str, Any]:
    """Return the plotly spec of the chart whose title starts with ``title``."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    found = [s for s in specs if s["layout"]["title"]["text"].startswith(title)]
    assert len(found) == 1, [s["layout"]["title"]["text"] for s in specs]
    spec: dict[str, Any] = found[0]
    return spec


def texts(at: AppTest) -> str:
    """Return every markdown, caption, info, warning and error text of the page, joined."""
    kinds = (at.markdown, at.caption, at.info, at.warning, at.error, at.success)
    return "\n".join(str(e.value) for kind in kinds for e in kind)


def best_rows(at: AppTest) -> pd.DataFrame:
    """Return the best configurations table."""
    (table,) = [d.value for d in at.dataframe if "worker" in d.value.columns]
    frame: pd.DataFrame = table
    return frame


def select(at: AppTest, sweep_id: str, *rows: int) -> AppTest:
    """Select rows of the best table (as a click on their checkboxes would), then rerun."""
    at.session_state[f"sweeps_best__{sweep_id}"] = {
        "selection": {"rows": list(rows), "columns": [], "cells": []}
    }
    return at.run()


# A sweep's driver, as far as the lock goes: it opens the catalogue read-write, records the
# sweep's row (sweep id argv[2]), then holds the file until its stdin closes.
DRIVER = (
    "import sys, datetime as dt; from pathlib import Path;"
    "from quant_core.sweeps.catalogue import Catalogue;"
    "c = Catalogue(Path(sys.argv[1]));"
    "c.start(sys.argv[2], 'mom_next', 'momentum', 'sharpe', True, {}, 8, dt.datetime.now(dt.UTC));"
    "print('locked', flush=True); sys.stdin.read(); c.close()"
)


def hold_catalogue(data_dir: Path, sweep_id: str) -> subprocess.Popen[str]:
    """Start :data:`DRIVER` on ``data_dir``'s catalogue; return once it holds the file."""
    path = sd.catalogue_path(data_dir)
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(path), sweep_id],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


# ------------------------------------------------------------------------------ walk-forwards

INITIAL_CASH = 100_000.0
SESSIONS = pd.bdate_range("2009-10-01", "2010-08-20")  # stands in for the warehouse's sessions
MOM_WF: dict[str, Any] = {
    "name": "mom_wf",
    "strategy": "momentum",
    "grid": {"lookback": [20, 60, 126], "top_quantile": [0.1, 0.2]},
    "set": {"strategy.rebalance": 21},
    "objective": "sharpe",
    "period": {"start": "2010-01-04", "end": "2010-06-30"},
    "walk_forward": {"train": 40, "test": 25, "embargo": 2},
}
ANCHORED: dict[str, Any] = {
    **MOM_WF,
    "name": "mom_wf_anchored",
    "walk_forward": {"train": 60, "test": 30, "scheme": "anchored"},
}


@dataclass(frozen=True)
class Recorded:
    """A walk-forward as written: its id, folds' windows and choices, segments, curve, metrics."""

    wf_id: str
    windows: list[Window]
    chosen: list[Configuration]
    segments: list[pd.Series]
    curve: pd.Series
    metrics: dict[str, Any]


def daily_return(fold: int) -> float:
    """Return fold ``fold``'s made-up daily return on its test window (folds alternate)."""
    return 0.002 if fold % 2 == 0 else -0.001


def write_walk_forward(
    data_dir: Path, spec_fields: dict[str, Any], created: dt.datetime = CREATED
) -> Recorded:
    """Record a walk-forward in ``data_dir``'s catalogue, as ``walk_forward._record`` does.

    Fold ``k`` chooses configuration ``(5k + 1) mod n`` of the grid (so both parameters move),
    its made-up Sharpe ratio the train objective; its test segment grows by
    :func:`daily_return` a session from the initial cash over the fold's test window.
    """
    spec = SweepConfig.model_validate(spec_fields)
    every = configurations(spec)
    folds = windows(SESSIONS, spec)
    chosen = [every[(5 * w.fold + 1) % len(every)] for w in folds]
    segments = []
    for w in folds:
        days = SESSIONS[
            SESSIONS.slice_indexer(pd.Timestamp(w.test_start), pd.Timestamp(w.test_end))
        ]
        growth = (1 + daily_return(w.fold)) ** np.arange(len(days))
        segments.append(pd.Series(INITIAL_CASH * growth, index=days))
    curve = stitch(segments, INITIAL_CASH)
    metrics = stitched_metrics(curve)
    header = {
        "name": spec.name,
        "strategy": spec.strategy,
        "objective": spec.objective,
        "spec": spec.model_dump(mode="json", by_alias=True),
        "created_at": created,
    }
    rows = [
        {
            "fold": w.fold,
            "train_start": w.train_start,
            "train_end": w.train_end,
            "test_start": w.test_start,
            "test_end": w.test_end,
            "key": c.key,
            "params": c.params,
            "train_objective": fake_sharpe(c.params),
            "test_metrics": {
                "total_return": float(s.iloc[-1] / s.iloc[0] - 1),
                "sharpe": 1.5 if w.fold % 2 == 0 else float("nan"),
                "trades": 4,
            },
        }
        for w, c, s in zip(folds, chosen, segments, strict=True)
    ]
    wf_id = "wf-" + sweep_digest(spec)[:16]
    catalogue = Catalogue(sd.catalogue_path(data_dir))
    try:
        catalogue.record_walk_forward(wf_id, header, rows, metrics, curve)
    finally:
        catalogue.close()
    return Recorded(wf_id, folds, chosen, segments, curve, metrics)
