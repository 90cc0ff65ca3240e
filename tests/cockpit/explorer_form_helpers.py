"""Helpers of the run form's AppTests (issue 14): find widgets, submit, read what was stored."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from quant_core.backtest.results import StoredRun, catalog, load_run
from tests.model_factories import refit, store_model

Opener = Callable[[str], AppTest]
DATASET = "sp500-2010"


def run_ids(data_dir: Path) -> set[str]:
    """Return the ids of the runs stored under ``data_dir``."""
    runs = catalog(data_dir / "backtests")
    return set(runs["run_id"]) if len(runs) else set()


def widget(at: AppTest, key: str) -> Any:
    """Return the one widget (of any kind) with ``key``."""
    kinds = ("number_input", "selectbox", "multiselect", "text_input", "date_input")
    found = [w for kind in kinds for w in at.get(kind) if w.key == key]
    assert len(found) == 1, (key, len(found))
    return found[0]


def has_widget(at: AppTest, key: str) -> bool:
    """Return whether a widget with ``key`` is on the page."""
    kinds = ("number_input", "selectbox", "multiselect", "text_input")
    return any(w.key == key for kind in kinds for w in at.get(kind))


def submit(at: AppTest) -> None:
    """Click Run backtest; the page must not raise."""
    at.button(key="run_backtest").click().run()
    assert not at.exception, at.exception


def stored_run(at: AppTest, data_dir: Path, before: set[str]) -> StoredRun:
    """Return the one run the last submit stored (the page shows no error)."""
    assert not at.error, [e.value for e in at.error]
    (run_id,) = run_ids(data_dir) - before
    assert at.selectbox(key="explorer_run").value == run_id
    return load_run(data_dir / "backtests", run_id)


def refused(at: AppTest, data_dir: Path, before: set[str]) -> list[str]:
    """Return the errors of a refused submit: nothing stored, no progress, no success."""
    assert run_ids(data_dir) == before
    assert not at.success
    assert not at.get("progress")
    errors = [e.value for e in at.error]
    assert errors, "nothing was named"
    assert all(e.startswith("Not run: ") for e in errors), errors
    return errors


def store_model_of(data_dir: Path, dataset: str, factors: list[str], status: str) -> str:
    """Store a hand-built model fitted on ``dataset`` (its model.json says so); return its id."""
    coef = [0.5 - 0.2 * i for i in range(len(factors))]
    model_id = store_model(data_dir, factors, [refit(dt.date(2009, 9, 1), coef)], status=status)
    meta = data_dir / "models" / model_id / "model.json"
    data = json.loads(meta.read_text())
    data["dataset"] = dataset
    meta.write_text(json.dumps(data, indent=1))
    return model_id
