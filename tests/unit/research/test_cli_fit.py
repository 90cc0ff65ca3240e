"""The --fit helpers: spec errors naming the file and field, the wiring of fit/store, the JSON."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quant_core.data.sources.synthetic import generate_bars, generate_sectors
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.errors import ConfigError, DataError
from quant_core.research import cli_fit
from quant_core.research.result import FOLD_COLUMNS
from quant_core.research.store import ModelStore
from tests.unit.research.test_store import _result

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "research" / "value_mom.yaml"


def _spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_the_bundled_specs_load() -> None:
    spec = cli_fit.load_spec(SPEC)
    assert spec.name == "value_mom"
    assert spec.factors == ["momentum_126", "reversal_5", "volatility_20"]
    assert (spec.target, spec.estimator, spec.bootstrap) == ("fwd_open_5", "ridge", 200)
    assert (spec.validation.train, spec.validation.test, spec.validation.embargo) == (504, 63, 5)  # type: ignore[union-attr]
    assert spec.min_oos_rank_ic == 0.02
    short = cli_fit.load_spec(ROOT / "research" / "value_mom_short.yaml")
    assert short.factors == spec.factors


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("train: 504", "train: 5"), "model.validation.train = 5: Input should be greater"),
        (("reversal_5", "magic_3"), "model.factors[1] = 'magic_3': unknown factor 'magic_3'"),
        (("target: fwd_open_5", "target: fwd_opn_5"), "model.target = 'fwd_opn_5': unknown label"),
        (("seed: 7", "sede: 7"), "model.sede = 7: Extra inputs are not permitted"),
        (("estimator: ridge", "estimator: lasso"), "model.estimator = 'lasso'"),
        (("  name: value_mom ", "  nam: value_mom "), "model.name: Field required"),
        (
            ("test: 63, embargo: 5}", "test: 63, embargo: 3}"),
            "validation.embargo 3 is shorter than the label",
        ),
        (("name: value_mom ", f"name: {'m' * 37} "), "is too long (37 characters)"),
        (("\nmodel:", "\nmodle:"), "a model spec is a mapping under a top-level `model:` key"),
        (("volatility_20]", "volatility_20"), "not valid YAML"),
    ],
)
def test_a_bad_spec_names_the_file_and_the_field(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    text = SPEC.read_text()
    assert edit[0] in text
    path = _spec_file(tmp_path, text.replace(edit[0], edit[1], 1))

    with pytest.raises(ConfigError) as info:
        cli_fit.load_spec(path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_other_top_level_keys_and_missing_files_are_refused(tmp_path: Path) -> None:
    path = _spec_file(tmp_path, SPEC.read_text() + "extra: 1\n")
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) \['extra'\]"):
        cli_fit.load_spec(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        cli_fit.load_spec(tmp_path / "missing.yaml")


@pytest.fixture
def warehouse(tmp_path: Path, calendar) -> Warehouse:
    store = Warehouse(tmp_path / "warehouse")
    bars = generate_bars(calendar, symbols=25, days=40, seed=2, missing_frac=0.01)
    store.write_bars(
        "syn", bars.assign(adj_factor=1.0, flags=0), DatasetMeta("test", "synthetic:t", True)
    )
    sectors = generate_sectors(25, seed=2)
    reference = sectors.assign(name=None, industry="Unknown", source="synthetic", delisted=None)
    store.write_symbols("syn", reference)
    return store


def test_load_bars_gives_five_panels_on_one_grid(warehouse: Warehouse) -> None:
    bars = cli_fit.load_bars(warehouse, "syn")
    assert sorted(bars) == ["close", "high", "low", "open", "volume"]
    shapes = {p.shape for p in bars.values()}
    assert shapes == {(40, 25)}
    assert all(p.index.equals(bars["close"].index) for p in bars.values())
    with pytest.raises(DataError, match=r"no dataset 'nope'.*datasets: syn"):
        cli_fit.load_bars(warehouse, "nope")


def test_fit_and_store_stores_the_model_and_the_composite(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    calls: list[dict[str, Any]] = []
    close = warehouse.panel("syn", "close")

    def fake_fit(spec, bars, model_id, **kwargs):
        calls.append({"spec": spec, "bars": bars, "model_id": model_id, **kwargs})
        made = _result()
        composite = close.apply(np.log).diff()
        return replace(made, model=replace(made.model, model_id=model_id), composite=composite)

    models = ModelStore(tmp_path / "models")
    spec = _result().spec
    fitted = cli_fit.fit_and_store(fake_fit, spec, warehouse, "syn", models)

    (call,) = calls
    assert call["model_id"] == fitted.model_id
    assert call["spec"] == spec
    assert sorted(call["bars"]) == ["close", "high", "low", "open", "volume"]
    assert call["sectors"] is not None
    assert call["sectors"].str.startswith("Synthetic").all()
    assert callable(call["timer"])
    assert list(models.list_models()["model_id"]) == [fitted.model_id]
    assert models.load(fitted.model_id).meta["dataset"] == "syn"
    stored = warehouse.factor_store.panel("syn", f"model_{fitted.model_id}")
    expected = close.apply(np.log).diff().dropna(how="all")
    pd.testing.assert_frame_equal(stored, expected, check_names=False, check_freq=False)
    assert fitted.seconds >= 0

    out = cli_fit.fit_json(fitted)
    json.dumps(out, allow_nan=False)  # strict JSON: NaN written as null
    assert out["model_id"] == fitted.model_id
    assert out["composite_factor"] == f"model_{fitted.model_id}"
    assert out["status"] == "accepted"
    assert out["data_through"] == "2020-04-24"
    assert out["folds"][0]["train_start"] == "2020-01-02"
    assert set(FOLD_COLUMNS) <= set(out["folds"][0])
    assert out["oos_rank_ic"] == pytest.approx(0.031)
    assert out["improvement"] == pytest.approx({"equal_weight": 0.02, "ic_weight": 0.012})
    assert out["coefficients"][0]["factor"] == "momentum_126"


def test_records_make_plain_json_values() -> None:
    frame = pd.DataFrame(
        {
            "day": [pd.Timestamp("2020-01-02"), pd.NaT],
            "at": pd.to_datetime(["2020-01-02T10:00:00Z", "2020-01-03T00:00:00Z"]),
            "d": [dt.date(2020, 1, 2), None],
            "n": np.array([1, 2], dtype=np.int64),
            "x": [0.5, np.nan],
        }
    )
    rows = json.loads(json.dumps(cli_fit.models_json(frame), allow_nan=False))
    assert rows == [
        {"day": "2020-01-02", "at": "2020-01-02T10:00:00Z", "d": "2020-01-02", "n": 1, "x": 0.5},
        {"day": None, "at": "2020-01-03T00:00:00Z", "d": None, "n": 2, "x": None},
    ]
