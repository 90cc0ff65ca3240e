"""Damaged model folders are refused (a DataError naming the model and the file), never a crash.

A model folder edited by hand, half copied or written by another version must not crash the
backtest or the worker: ``load_fitted`` refuses it with a ``DataError`` that ``attach_model``
turns into a refusal (exit 4, HALTED). The listing keeps working around a damaged folder.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from quant_core.errors import DataError
from quant_core.research.attach import attach_model
from quant_core.research.cli_fit import models_json
from quant_core.research.model import REJECTED, ModelNotReady, RefitRecord
from quant_core.research.store import ESTIMATORS_FILE, MODEL_FILE, ModelStore
from quant_core.research.store_json import rejection
from quant_core.strategies import build_strategy
from tests.model_factories import refit, store_model

FACTORS = ("momentum_20", "reversal_5", "volatility_20")
DAY = dt.date(2020, 3, 2)
Meta = dict[str, Any]


class NaNPredictor:
    """Looks like a fitted estimator of three features, but predicts NaN."""

    n_features_in_ = 3

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), np.nan)


def _linear(root: Path, **kwargs: Any) -> str:
    refits = [refit(DAY, (0.1, 0.2, 0.3)), refit(DAY + dt.timedelta(days=30), (0.3, 0.2, 0.1))]
    return store_model(root, FACTORS, refits, **kwargs)


def _gbr(root: Path) -> str:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 3))
    fitted = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(x, x[:, 0])
    first, last = DAY - dt.timedelta(days=60), DAY - dt.timedelta(days=1)
    return store_model(root, FACTORS, [RefitRecord(DAY, first, last, 120, None, None, fitted)])


def _edit(root: Path, model_id: str, change: Callable[[Meta], object]) -> Path:
    path = root / "models" / model_id / MODEL_FILE
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))
    return path


def _set(*keys: Any, value: Any) -> Callable[[Meta], None]:
    def change(meta: Meta) -> None:
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def _drop(*keys: Any) -> Callable[[Meta], None]:
    def change(meta: Meta) -> None:
        target = meta
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


def _refused(root: Path, model_id: str, *phrases: str) -> str:
    """Assert that every reader refuses ``model_id`` with a DataError holding ``phrases``."""
    store = ModelStore(root / "models")
    for read in (store.load_fitted, store.load):
        with pytest.raises(DataError) as info:
            read(model_id)
        message = str(info.value)
        assert f"model {model_id}: " in message
        for phrase in phrases:
            assert phrase in message, message
    strategy = build_strategy("fitted", {"model": model_id})
    reason = attach_model(strategy, root)  # a refusal, not an exception
    assert reason is not None
    assert reason.startswith(f"strategy fitted: model {model_id}: ")
    with pytest.raises(ModelNotReady) as refused:  # decide gives the reason, not a ValueError
        strategy.decide(None)  # type: ignore[arg-type]
    assert str(refused.value) == reason
    return message


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (_set("spec", value=None), "its spec is None, not an object"),
        (_set("spec", value=[1, 2]), "its spec is [1, 2], not an object"),
        (_set("spec", "factors", value=["no_such_factor"]), "its spec is invalid"),
        (_set("spec", "estimator", value="magic"), "its spec is invalid"),
        (_set("status", value="maybe"), "status is 'maybe', not 'accepted' or 'rejected'"),
        (_drop("status"), "status is None"),
        # A rejected score with its status edited to accepted traded: refused as damaged.
        (
            _set("oos_rank_ic", value=-0.052),
            "status is 'accepted', but its out-of-sample rank IC -0.052 is not above",
        ),
        (_set("oos_rank_ic", value=0.02), "rank IC 0.02 is not above its floor 0.02"),
        (_set("oos_rank_ic", value=None), "rank IC nan is not above its floor 0.02"),
        (_drop("refits"), "refits is None, not a non-empty list"),
        (_set("refits", value=[]), "refits is [], not a non-empty list"),
        (_set("refits", value={"a": 1}), "refits is {'a': 1}, not a non-empty list"),
        (_set("refits", 1, value="x"), "refits[1] is 'x', not an object"),
        (
            _set("refits", 0, "valid_from", value="2024-13-45"),
            "refits[0].valid_from is '2024-13-45'",
        ),
        (_drop("refits", 0, "valid_from"), "refits[0].valid_from is missing, not an ISO date"),
        (_set("refits", 1, "train_first", value=20200101), "refits[1].train_first is 20200101"),
        (_set("refits", 0, "train_last", value="2020-03-02"), "expected train_first <= train_last"),
        (
            lambda meta: meta["refits"].append(dict(meta["refits"][0])),
            "refits[2].valid_from 2020-03-02 is not after the previous refit's 2020-04-01",
        ),
        (_set("refits", 0, "samples", value="many"), "refits[0].samples is 'many', not a count"),
        (_set("refits", 0, "samples", value=-1), "refits[0].samples is -1, not a count"),
        (_set("refits", 0, "samples", value=True), "refits[0].samples is True, not a count"),
        (_drop("refits", 0, "samples"), "refits[0].samples is missing, not a count"),
        (_set("refits", 1, "coef", value=[0.1, 0.2]), "refits[1].coef is [0.1, 0.2]: expected 3"),
        (_set("refits", 0, "coef", value=[0.1, 0.2, 0.3, 0.4]), "expected 3 finite numbers"),
        (_set("refits", 0, "coef", value=[0.1, None, 0.3]), "expected 3 finite numbers"),
        (_set("refits", 0, "coef", value=[0.1, "x", 0.3]), "expected 3 finite numbers"),
        (_set("refits", 0, "coef", value="0.1 0.2 0.3"), "expected 3 finite numbers"),
        (_set("refits", 0, "intercept", value=None), "refits[0].intercept is None, not a finite"),
        (_set("refits", 0, "intercept", value="0"), "refits[0].intercept is '0', not a finite"),
    ],
)
def test_a_damaged_model_json_is_refused_naming_the_model_the_file_and_the_field(
    tmp_path: Path, change: Callable[[Meta], None], phrase: str
) -> None:
    model_id = _linear(tmp_path)
    path = _edit(tmp_path, model_id, change)

    message = _refused(tmp_path, model_id, f"{path} is damaged: ", phrase)
    assert message.endswith("fit the model again with run_factor_computation.py --fit")


def test_non_finite_numbers_python_json_reads_are_refused(tmp_path: Path) -> None:
    model_id = _linear(tmp_path)
    path = _edit(tmp_path, model_id, _set("refits", 0, "coef", value="@@"))
    path.write_text(path.read_text().replace('"@@"', "[NaN, 0.2, Infinity]"))

    _refused(tmp_path, model_id, "refits[0].coef is [nan, 0.2, inf]: expected 3 finite numbers")


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b'{"status": "accepted", "spec": ', "Expecting value"),  # truncated
        (b"\xff\xfe not text", "can't decode byte"),
        (b"[1, 2]", "holds a JSON list, not an object"),
        (b"", "Expecting value"),
    ],
    ids=["truncated", "not_utf8", "a_list", "empty"],
)
def test_an_unreadable_model_json_is_not_called_missing(
    tmp_path: Path, content: bytes, phrase: str
) -> None:
    model_id = _linear(tmp_path)
    path = tmp_path / "models" / model_id / MODEL_FILE
    path.write_bytes(content)

    message = _refused(tmp_path, model_id, f"its model.json cannot be read ({path}", phrase)
    assert "no stored model" not in message


def test_a_missing_model_is_still_not_ready_with_its_own_message(tmp_path: Path) -> None:
    model_id = _linear(tmp_path)
    (tmp_path / "models" / model_id / MODEL_FILE).unlink()
    with pytest.raises(ModelNotReady) as info:
        ModelStore(tmp_path / "models").load_fitted(model_id)
    assert str(info.value) == (
        f"no stored model {model_id}; fit one with run_factor_computation.py --fit"
    )


def _joblib(folder: Path, value: object) -> None:
    joblib.dump(value, folder / ESTIMATORS_FILE)


def _two_features() -> HistGradientBoostingRegressor:
    x = np.random.default_rng(2).normal(size=(50, 2))
    return HistGradientBoostingRegressor(max_iter=5).fit(x, x[:, 0])


def _truncate(folder: Path) -> None:
    path = folder / ESTIMATORS_FILE
    path.write_bytes(path.read_bytes()[:300])


@pytest.mark.parametrize(
    ("damage", "phrase"),
    [
        (
            lambda f: (f / ESTIMATORS_FILE).unlink(),
            "estimators.joblib cannot be read (it is missing)",
        ),
        (lambda f: (f / ESTIMATORS_FILE).write_bytes(b""), "cannot be read (EOFError"),
        (lambda f: (f / ESTIMATORS_FILE).write_bytes(b"hello world"), "cannot be read (Unpickl"),
        (_truncate, "cannot be read ("),
        (lambda f: _joblib(f, {"a": 1}), "is damaged: it holds a dict, not the list"),
        (lambda f: _joblib(f, []), "is damaged: it holds 0 estimators for 1 refits"),
        (lambda f: _joblib(f, ["not an estimator"]), "(str) takes None features, not the spec's 3"),
        (
            lambda f: _joblib(f, [_two_features()]),
            "(HistGradientBoostingRegressor) takes 2 features, not the spec's 3",
        ),
        (
            lambda f: _joblib(f, [NaNPredictor()]),
            "predicts [nan, nan] for two rows of zeros, not one finite",
        ),
    ],
    ids=[
        "missing",
        "empty",
        "garbage",
        "truncated",
        "a_dict",
        "too_few",
        "a_str",
        "two_features",
        "nan",
    ],
)
def test_a_damaged_estimators_file_is_refused_naming_it(
    tmp_path: Path, damage: Callable[[Path], object], phrase: str
) -> None:
    model_id = _gbr(tmp_path)
    folder = tmp_path / "models" / model_id
    assert ModelStore(tmp_path / "models").load_fitted(model_id).refits[0].estimator is not None
    damage(folder)

    _refused(tmp_path, model_id, f"{folder / ESTIMATORS_FILE}", phrase)


def test_a_damaged_frame_is_refused_by_load_naming_the_file(tmp_path: Path) -> None:
    model_id = _linear(tmp_path)
    path = tmp_path / "models" / model_id / "folds.parquet"
    path.write_bytes(b"PAR1 not really")
    store = ModelStore(tmp_path / "models")
    with pytest.raises(DataError, match=f"model {model_id}: {path} cannot be read"):
        store.load(model_id)
    assert store.load_fitted(model_id).model_id == model_id  # trading needs no frame


def test_a_rejected_model_without_out_of_sample_sessions_says_its_rank_ic_is_unknown(
    tmp_path: Path,
) -> None:
    model_id = _linear(tmp_path, status=REJECTED, rank_ic=float("nan"))
    with pytest.raises(ModelNotReady) as info:
        ModelStore(tmp_path / "models").load_fitted(model_id)
    assert str(info.value) == (
        f"model {model_id} was rejected: out-of-sample rank IC unknown (no out-of-sample "
        "session), floor 0.02"
    )
    _edit(tmp_path, model_id, _set("spec", value=None))  # and a damaged spec: still rejected
    reason = attach_model(build_strategy("fitted", {"model": model_id}), tmp_path)
    assert reason == (
        f"strategy fitted: model {model_id} was rejected: out-of-sample rank IC unknown (no "
        "out-of-sample session), floor unknown"
    )


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"oos_rank_ic": 0.004, "spec": {"min_oos_rank_ic": 0.02}}, "rank IC 0.004 <= floor 0.02"),
        (
            {"oos_rank_ic": None, "spec": {"min_oos_rank_ic": 0.02}},
            "rank IC unknown (no out-of-sample session), floor 0.02",
        ),
        (
            {"oos_rank_ic": "abc", "spec": {}},
            "rank IC unknown (no out-of-sample session), floor unknown",
        ),
        ({"oos_rank_ic": 0.01, "spec": "x"}, "rank IC 0.01, floor unknown"),
    ],
)
def test_rejection_messages(meta: Meta, expected: str) -> None:
    text = rejection("m-20240105T143000Z-1a2b", meta)
    assert text.startswith("model m-20240105T143000Z-1a2b was rejected: out-of-sample ")
    assert text.endswith(expected)


def test_one_damaged_model_json_does_not_break_the_listing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "models"
    good = _linear(tmp_path)
    bad_created = _linear(tmp_path, name="c")
    bad_through = _linear(tmp_path, name="t")
    bad_scores = _linear(tmp_path, name="s")
    corrupt = _linear(tmp_path, name="x")
    _edit(tmp_path, bad_created, _set("created_at", value="yesterday"))
    _edit(tmp_path, bad_through, _set("data_through", value="2024/01/05"))
    _edit(tmp_path, bad_scores, _set("oos_ic", value="high"))
    _edit(tmp_path, bad_scores, _set("status", value=["accepted"]))
    (root / corrupt / MODEL_FILE).write_text("{")
    (root / "notes").mkdir()  # a folder of the user's, no model

    with caplog.at_level(logging.WARNING, logger="quant_core.research.store"):
        listed = ModelStore(root).list_models().set_index("model_id")

    assert set(listed.index) == {good, bad_created, bad_through, bad_scores}  # corrupt: skipped
    assert listed.index[-1] == bad_created  # no creation time: last
    assert listed.loc[bad_created, "created_at"] is pd.NaT
    assert listed.loc[good, "created_at"] == pd.Timestamp("2024-01-05T14:30:00Z")
    assert listed.loc[bad_created, "data_through"] == DAY + dt.timedelta(days=30)
    assert listed.loc[bad_through, "data_through"] is None
    assert listed["oos_ic"].isna().to_dict()[bad_scores]
    assert listed.loc[bad_scores, "oos_rank_ic"] == pytest.approx(0.05)
    assert listed["status"].isna().to_dict()[bad_scores]
    dtype = listed["created_at"].dtype
    assert isinstance(dtype, pd.DatetimeTZDtype)
    assert str(dtype.tz) == "UTC"
    logged = " | ".join(r.getMessage() for r in caplog.records)
    assert f"Model {bad_created}: {root / bad_created / MODEL_FILE} has unreadable" in logged
    assert "created_at='yesterday'" in logged
    assert "data_through='2024/01/05'" in logged
    assert "status=['accepted'], oos_ic='high'" in logged
    # Damaged, said as damaged (not as a folder that is no model); a stray folder is no model.
    assert f"Skipping {root / corrupt}: {MODEL_FILE} is not a readable JSON object" in logged
    assert f"Skipping {root / 'notes'}: not a model" in logged
    rows = json.loads(json.dumps(models_json(listed.reset_index()), allow_nan=False))
    assert {r["model_id"]: r["created_at"] for r in rows}[bad_created] is None  # --models --json


def test_a_created_at_in_another_zone_is_listed_in_utc(tmp_path: Path) -> None:
    model_id = _linear(tmp_path)
    _edit(tmp_path, model_id, _set("created_at", value="2024-01-05T15:30:00+01:00"))
    listed = ModelStore(tmp_path / "models").list_models()
    assert listed["created_at"].iloc[0] == pd.Timestamp("2024-01-05T14:30:00Z")
