"""The model store: round trips, atomic saves, refusals, and the composite in the warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

import quant_core.research.store as store_module
from quant_core.data.sources.synthetic import generate_bars
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.errors import ConfigError, DataError
from quant_core.research.model import ACCEPTED, REJECTED, FittedModel, ModelNotReady, RefitRecord
from quant_core.research.result import (
    BASELINE_COLUMNS,
    COEFFICIENT_COLUMNS,
    FOLD_COLUMNS,
    FitResult,
)
from quant_core.research.spec import ModelSpec
from quant_core.research.store import (
    LIST_COLUMNS,
    ModelStore,
    check_model_id,
    composite_factor,
    new_model_id,
    write_composite,
)

FACTORS = ["momentum_126", "reversal_5", "volatility_20"]
CREATED = dt.datetime(2024, 1, 5, 14, 30, tzinfo=dt.UTC)
SYMBOLS = [f"S{i:02d}" for i in range(30)]


def _spec(estimator: str = "ridge", name: str = "value_mom") -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": name,
            "factors": FACTORS,
            "target": "fwd_open_5",
            "estimator": estimator,
            "validation": {"scheme": "walk_forward", "train": 60, "test": 20, "embargo": 5},
            "bootstrap": 50,
            "min_oos_rank_ic": 0.02,
        }
    )


def _refits(estimator: str) -> tuple[RefitRecord, ...]:
    rng = np.random.default_rng(3)
    out = []
    for k, start in enumerate((dt.date(2020, 3, 2), dt.date(2020, 4, 1))):
        first, last = dt.date(2020, 1, 2), start - dt.timedelta(days=8)
        if estimator == "gbr":
            x = rng.normal(size=(200, 3))
            y = x[:, 0] * (1 + k) - x[:, 1] ** 2 + rng.normal(scale=0.1, size=200)
            fitted = HistGradientBoostingRegressor(max_iter=30, random_state=7).fit(x, y)
            out.append(RefitRecord(start, first, last, 200, None, None, fitted))
        else:
            coef = tuple(float(c) for c in rng.normal(size=3) * 0.01)
            out.append(RefitRecord(start, first, last, 900 + k, coef, 0.0003 * (k + 1)))
    return tuple(out)


def _result(
    estimator: str = "ridge", status: str = ACCEPTED, rank_ic: float = 0.031, model_id: str = ""
) -> FitResult:
    spec = _spec(estimator)
    dates = pd.bdate_range("2020-03-02", periods=40)
    rng = np.random.default_rng(11)
    folds = pd.DataFrame(
        {
            "fold": [0, 1],
            "train_start": [dt.date(2020, 1, 2), dt.date(2020, 2, 3)],
            "train_end": [dt.date(2020, 2, 21), dt.date(2020, 3, 20)],
            "test_start": [dt.date(2020, 3, 2), dt.date(2020, 3, 30)],
            "test_end": [dt.date(2020, 3, 27), dt.date(2020, 4, 24)],
            "train_rows": [1500, 1510],
            "test_rows": [600, 590],
            **{c: rng.normal(size=2) for c in FOLD_COLUMNS[7:]},
            **{f"coef_{f}": rng.normal(size=2) for f in FACTORS},
        }
    )
    coefficients = pd.DataFrame(
        {
            "factor": FACTORS,
            **{c: rng.normal(size=3) for c in COEFFICIENT_COLUMNS[1:]},
        }
    )
    if estimator == "gbr":
        coefficients.loc[:, ["ci_low", "ci_high", "std"]] = np.nan
    oos_daily = pd.DataFrame({"date": dates, "ic": rng.normal(size=40), "rank_ic": np.nan})
    oos_daily.loc[1:, "rank_ic"] = rng.normal(size=39)
    baselines = pd.DataFrame(
        {
            "name": ["model", "equal_weight", "ic_weight"],
            "oos_ic": [0.02, 0.01, 0.015],
            "oos_rank_ic": [rank_ic, 0.011, 0.019],
            "spread": [0.003, 0.001, 0.002],
        }
    )
    assert tuple(baselines.columns) == BASELINE_COLUMNS
    quantiles = pd.DataFrame({"quantile": [1, 2, 3, 4, 5], "mean_label": rng.normal(size=5)})
    composite = pd.DataFrame(rng.normal(size=(40, len(SYMBOLS))), index=dates, columns=SYMBOLS)
    composite.iloc[:3] = np.nan
    model = FittedModel(model_id, spec, status, _refits(estimator))
    return FitResult(
        spec=spec,
        model=model,
        status=status,
        oos_ic=0.02,
        oos_rank_ic=rank_ic,
        oos_t=2.4,
        folds=folds,
        coefficients=coefficients,
        oos_daily=oos_daily,
        composite=composite,
        baselines=baselines,
        quantiles=quantiles,
        data_through=dt.date(2020, 4, 24),
        timings={"fit": 1.25, "validate": 3.5},
    )


def _features(seed: int = 5) -> dict[str, pd.Series]:
    rng = np.random.default_rng(seed)
    out = {f: pd.Series(rng.normal(size=len(SYMBOLS)), index=SYMBOLS) for f in FACTORS}
    out["reversal_5"].iloc[4] = np.nan  # one name missing a factor: NaN prediction
    return out


@pytest.fixture
def models(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "models")


@pytest.mark.parametrize("estimator", ["ridge", "gbr"])
def test_round_trip_keeps_every_frame_and_the_predictions(
    models: ModelStore, estimator: str
) -> None:
    result = _result(estimator)
    model_id = models.save(result, "sp500-2010", CREATED)

    assert model_id.startswith("value_mom-20240105T143000Z-")
    check_model_id(model_id)
    stored = models.load(model_id)
    for name in ("folds", "coefficients", "oos_daily", "baselines", "quantiles"):
        pd.testing.assert_frame_equal(getattr(stored, name), getattr(result, name))
    meta = stored.meta
    assert meta["status"] == ACCEPTED
    assert meta["created_at"] == "2024-01-05T14:30:00Z"
    assert meta["data_through"] == "2020-04-24"
    assert meta["dataset"] == "sp500-2010"
    assert meta["factors"] == FACTORS
    assert meta["estimator"] == estimator
    assert meta["target"] == "fwd_open_5"
    assert meta["improvement"] == pytest.approx({"equal_weight": 0.02, "ic_weight": 0.012})
    assert meta["composite_factor"] == f"model_{model_id}"
    assert meta["timings"] == {"fit": 1.25, "validate": 3.5}
    assert ModelSpec.model_validate(meta["spec"]) == result.spec

    fitted = models.load_fitted(model_id)
    assert fitted.model_id == model_id
    assert fitted.spec == result.spec
    assert [r.valid_from for r in fitted.refits] == [r.valid_from for r in result.model.refits]
    assert [r.samples for r in fitted.refits] == [r.samples for r in result.model.refits]
    for asof in (dt.date(2020, 3, 10), dt.date(2020, 4, 20), dt.date(2021, 1, 4)):
        before = result.model.predict(_features(), asof)
        after = fitted.predict(_features(), asof)
        pd.testing.assert_series_equal(after, before)
        assert before.notna().sum() == len(SYMBOLS) - 1
    # The two refits differ, so the right one must have been picked after the load too.
    early = fitted.predict(_features(), dt.date(2020, 3, 10))
    late = fitted.predict(_features(), dt.date(2020, 4, 20))
    assert not np.allclose(early.dropna(), late.dropna())


def test_linear_refits_are_read_from_json_and_gbr_from_joblib(models: ModelStore) -> None:
    linear = models.load_fitted(models.save(_result("ridge"), "d", CREATED))
    gbr = models.load_fitted(models.save(_result("gbr"), "d", CREATED))

    assert all(r.estimator is None and r.coef is not None for r in linear.refits)
    assert all(isinstance(r.estimator, HistGradientBoostingRegressor) for r in gbr.refits)
    assert all(r.coef is None for r in gbr.refits)


def test_the_fitted_models_own_id_is_kept(models: ModelStore) -> None:
    given = new_model_id("value_mom", CREATED)
    assert models.save(_result(model_id=given), "d", CREATED) == given
    made = models.save(_result(model_id="not an id"), "d", CREATED)  # replaced by a new one
    assert made != given
    assert made.startswith("value_mom-20240105T143000Z-")
    assert models.load_fitted(made).model_id == made


def test_saving_an_id_twice_is_refused(models: ModelStore) -> None:
    given = new_model_id("value_mom", CREATED)
    models.save(_result(model_id=given), "d", CREATED)
    with pytest.raises(DataError, match="already stored"):
        models.save(_result(model_id=given), "d", CREATED)


def test_list_models_newest_first_with_its_columns(models: ModelStore) -> None:
    assert list(models.list_models().columns) == list(LIST_COLUMNS)
    assert models.list_models().empty
    old = models.save(_result(), "d", CREATED)
    new = models.save(_result(status=REJECTED, rank_ic=0.004), "d", CREATED + dt.timedelta(hours=1))

    listed = models.list_models()
    assert list(listed["model_id"]) == [new, old]
    assert list(listed["status"]) == [REJECTED, ACCEPTED]
    assert listed["oos_rank_ic"].tolist() == pytest.approx([0.004, 0.031])
    assert listed["created_at"].iloc[1] == pd.Timestamp(CREATED)
    assert listed["data_through"].iloc[0] == dt.date(2020, 4, 24)
    assert set(listed["estimator"]) == {"ridge"}


def test_a_crash_mid_save_leaves_no_model(models: ModelStore, monkeypatch) -> None:
    before = models.save(_result(), "d", CREATED)
    written = []
    real = store_module.atomic_write_bytes  # type: ignore[attr-defined]

    def crash_on_third(path: Path, data: bytes) -> None:
        written.append(path.name)
        if len(written) == 3:
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(store_module, "atomic_write_bytes", crash_on_third)
    with pytest.raises(OSError, match="disk full"):
        models.save(_result(), "d", CREATED)

    assert len(written) == 3
    assert [p.name for p in models.root.iterdir()] == [before]
    assert list(models.list_models()["model_id"]) == [before]


def test_a_killed_save_leaves_only_a_hidden_partial_folder_that_is_ignored(
    models: ModelStore,
) -> None:
    kept = models.save(_result(), "d", CREATED)
    partial = models.root / ".value_mom-20240105T150000Z-dead.partial"
    partial.mkdir()
    (partial / "folds.parquet").write_bytes(b"half")
    (models.root / "notes").mkdir()  # a stray folder: warned about and skipped

    assert list(models.list_models()["model_id"]) == [kept]
    with pytest.raises(ModelNotReady, match="no stored model"):
        models.load_fitted("value_mom-20240105T150000Z-dead")


def test_missing_and_rejected_models_are_not_ready(models: ModelStore) -> None:
    missing = "value_mom-20240105T143000Z-beef"
    with pytest.raises(ModelNotReady) as info:
        models.load_fitted(missing)
    assert str(info.value) == (
        f"no stored model {missing}; fit one with run_factor_computation.py --fit"
    )
    with pytest.raises(ModelNotReady, match=f"no stored model {missing}"):
        models.load(missing)

    rejected = models.save(_result(status=REJECTED, rank_ic=0.004), "d", CREATED)
    with pytest.raises(ModelNotReady) as info:
        models.load_fitted(rejected)
    assert str(info.value) == (
        f"model {rejected} was rejected: out-of-sample rank IC 0.004 <= floor 0.02"
    )
    # A rejected model can still be read for its report.
    assert models.load(rejected).model.status == REJECTED


@pytest.mark.parametrize(
    "bad",
    [
        "../value_mom-20240105T143000Z-beef",
        "value_mom-20240105T143000Z-beef/..",
        "/etc/passwd",
        "..",
        "",
        "value_mom-20240105T143000Z-beef\n",
        "value_mom-20240105T143000Z-BEEF",
        "value mom-20240105T143000Z-beef",
        "value_mom",
    ],
)
def test_unsafe_ids_are_refused(models: ModelStore, bad: str) -> None:
    for call in (models.load, models.load_fitted, models.folder, composite_factor):
        with pytest.raises(ConfigError, match="invalid model id"):
            call(bad)


def test_a_name_too_long_for_a_factor_is_refused_clearly() -> None:
    assert composite_factor(new_model_id("a" * 36, CREATED)).startswith("model_aaaa")
    with pytest.raises(ConfigError, match=r"model\.name 'a{37}' is too long"):
        composite_factor(new_model_id("a" * 37, CREATED))


def test_new_model_id_is_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    local = dt.datetime(2024, 1, 5, 15, 30, tzinfo=paris)
    assert new_model_id("m", local).startswith("m-20240105T143000Z-")


def test_write_composite_stores_a_factor_beside_the_others(tmp_path: Path, calendar) -> None:
    warehouse = Warehouse(tmp_path / "warehouse")
    bars = generate_bars(calendar, symbols=25, days=30, seed=1, missing_frac=0.0)
    bars = bars.assign(adj_factor=1.0, flags=0)
    warehouse.write_bars("syn", bars, DatasetMeta("synthetic test", "synthetic:test", True))
    close = warehouse.panel("syn", "close")
    composite = close.apply(np.log).diff()
    composite.iloc[:5] = np.nan  # before the first refit

    model_id = new_model_id("value_mom", CREATED)
    written = write_composite(warehouse, "syn", model_id, composite)

    name = f"model_{model_id}"
    assert written.rows_written == int(composite.notna().to_numpy().sum())
    assert name in warehouse.factor_store.names("syn")
    stored = warehouse.factor_store.panel("syn", name)
    expected = composite.dropna(how="all")
    pd.testing.assert_frame_equal(stored, expected, check_names=False, check_freq=False)
