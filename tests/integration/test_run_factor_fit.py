"""run_factor_computation.py --fit / --models as a user runs them, on the bundled sp500-2010."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.factors import make_factor
from quant_core.research.result import (
    BASELINE_COLUMNS,
    COEFFICIENT_COLUMNS,
    FOLD_COLUMNS,
    QUANTILE_COLUMNS,
)
from quant_core.research.store import ModelStore, check_model_id

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "run_factor_computation.py"
SHORT = ROOT / "research" / "value_mom_short.yaml"
LONG = ROOT / "research" / "value_mom.yaml"
DATASET = "sp500-2010"


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir), "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset", DATASET, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar) -> Path:
    root = tmp_path_factory.mktemp("fit")
    sync(SampleSource(DATASET), Warehouse(root / "warehouse"), calendar, DATASET, "repair")
    return root


@pytest.fixture(scope="module")
def fitted(data_dir: Path) -> dict[str, Any]:
    result = run(data_dir, "--fit", str(SHORT), "--json")
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)  # ONE JSON object, nothing else on stdout
    return out


def test_fit_json_has_the_scores_and_the_tables(fitted: dict[str, Any]) -> None:
    model_id = fitted["model_id"]
    assert check_model_id(model_id).startswith("value_mom_short-")
    assert fitted["status"] in {"accepted", "rejected"}
    assert (fitted["status"] == "accepted") == (fitted["oos_rank_ic"] > 0.02)
    for key in ("oos_ic", "oos_rank_ic", "oos_t"):
        assert isinstance(fitted[key], float)
        assert -1 <= fitted[key] <= 1 or key == "oos_t"
    assert fitted["composite_factor"] == f"model_{model_id}"
    assert dt.date.fromisoformat(fitted["data_through"]) <= dt.date(2010, 8, 20)

    folds = fitted["folds"]
    assert isinstance(folds, list)
    assert len(folds) >= 2
    for row in folds:
        assert set(FOLD_COLUMNS) <= set(row)
        assert dt.date.fromisoformat(row["train_end"]) < dt.date.fromisoformat(row["test_start"])
        assert row["test_rows"] > 0
        assert row["train_rows"] > row["test_rows"]
    tests = [(row["test_start"], row["test_end"]) for row in folds]
    assert all(a[1] < b[0] for a, b in itertools.pairwise(tests))
    assert [c["factor"] for c in fitted["coefficients"]] == [
        "momentum_126",
        "reversal_5",
        "volatility_20",
    ]
    for c in fitted["coefficients"]:
        assert set(COEFFICIENT_COLUMNS) <= set(c)
        assert c["ci_low"] <= c["coef"] <= c["ci_high"]
    names = {b["name"] for b in fitted["baselines"]}
    assert names == {"model", "equal_weight", "ic_weight"}
    assert all(set(BASELINE_COLUMNS) <= set(b) for b in fitted["baselines"])
    model_rank_ic = next(b for b in fitted["baselines"] if b["name"] == "model")["oos_rank_ic"]
    assert model_rank_ic == pytest.approx(fitted["oos_rank_ic"])
    assert set(fitted["improvement"]) == {"equal_weight", "ic_weight"}
    assert all(set(QUANTILE_COLUMNS) <= set(q) for q in fitted["quantiles"])


def test_models_lists_the_stored_model(data_dir: Path, fitted: dict[str, Any]) -> None:
    listed = run(data_dir, "--models", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    row = next(r for r in rows if r["model_id"] == fitted["model_id"])
    assert row["status"] == fitted["status"]
    assert row["oos_rank_ic"] == pytest.approx(fitted["oos_rank_ic"])
    assert row["dataset"] == DATASET
    assert row["data_through"] == fitted["data_through"]

    table = run(data_dir, "--models")
    assert table.returncode == 0, table.stderr
    assert fitted["model_id"] in table.stdout


def test_the_composite_is_in_the_warehouse_and_matches_the_stored_model(
    data_dir: Path, fitted: dict[str, Any]
) -> None:
    warehouse = Warehouse(data_dir / "warehouse")
    name = fitted["composite_factor"]
    assert name in warehouse.factor_store.names(DATASET)
    composite = warehouse.factor_store.panel(DATASET, name)
    assert composite.notna().to_numpy().sum() > 1000

    # The last stored prediction is what the stored model predicts from that session's factors.
    model = ModelStore(data_dir / "models").load(fitted["model_id"]).model
    bars = {f: warehouse.panel(DATASET, f) for f in ("open", "high", "low", "close", "volume")}
    day = composite.index[-1]
    features = {f: make_factor(f).compute(bars).loc[day] for f in model.factors}
    predicted = model.predict(features, day.date()).reindex(composite.columns)
    np.testing.assert_allclose(composite.loc[day].to_numpy(), predicted.to_numpy(), rtol=1e-9)


def test_a_bad_spec_exits_2_naming_the_file_and_the_field(data_dir: Path, tmp_path: Path) -> None:
    spec = SHORT.read_text()
    cases = {
        "train": (spec.replace("train: 40", "train: 10"), "model.validation.train"),
        "factor": (spec.replace("reversal_5", "magic_3"), "model.factors[1]"),
        "key": (spec.replace("seed:", "sede:"), "model.sede"),
        "embargo": (spec.replace("embargo: 5", "embargo: 2"), "horizon"),
    }
    for case, (text, field) in cases.items():
        path = tmp_path / f"{case}.yaml"
        path.write_text(text)
        assert text != spec, case
        result = run(data_dir, "--fit", str(path), "--json")
        assert result.returncode == 2, (case, result.stderr)
        assert str(path) in result.stderr, case
        assert field in result.stderr, case
        assert result.stdout == "", case


def test_a_history_too_short_for_the_spec_is_refused_clearly(data_dir: Path) -> None:
    result = run(data_dir, "--fit", str(LONG), "--json")

    assert result.returncode in {1, 2}, result.stderr
    # The message says how many sessions the dataset has (245) and that they are too few.
    assert re.search(r"\b245 sessions are too few|not enough sessions.*have 245", result.stderr)
    assert result.stdout == ""
    assert not any((data_dir / "models").glob("value_mom-*"))
