"""A fitted model as a factor: the stored composite, predict, no look-ahead, the registry.

The panels (``planted.py``): reversal_5 predicts fwd_open_5; 60 symbols x 420 sessions. The
factors start at row 20 (volatility_20), so the refits predict from rows 20 + 126 + 5 = 151,
193, 235, ... (every 42 sessions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import ConfigError
from quant_core.factors.base import (
    forget_named_factor,
    make_factor,
    named_factors,
    register_named_factor,
)
from quant_core.research.model import ACCEPTED, REJECTED, ModelNotReady
from quant_core.research.model_factor import ModelFactor, register_model_factor
from quant_core.research.model_factors import model_factor_names
from quant_core.research.pipeline import fit_model
from quant_core.research.result import FitResult
from quant_core.research.spec import ModelSpec

from .planted import planted_bars

FACTORS = ["reversal_5", "volatility_20"]
MODEL_ID = "planted-20240105T143000Z-1a2b"
FIRST, EVERY = 20 + 126 + 5, 42

Bars = dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def bars() -> Bars:
    return planted_bars(symbols=60, sessions=420, beta=0.3, seed=3)


@pytest.fixture(scope="module")
def fitted(bars: Bars) -> FitResult:
    spec = ModelSpec.model_validate(
        {
            "name": "planted",
            "factors": FACTORS,
            "target": "fwd_open_5",
            "validation": {"scheme": "walk_forward", "train": 126, "test": EVERY, "embargo": 5},
            "bootstrap": 0,
        }
    )
    return fit_model(spec, bars, MODEL_ID)


@pytest.fixture(scope="module")
def values(fitted: FitResult, bars: Bars) -> pd.DataFrame:
    return ModelFactor(fitted.model).compute(bars)


@pytest.fixture
def registry() -> Iterator[None]:
    before = set(named_factors())
    yield
    for name in set(named_factors()) - before:
        forget_named_factor(name)


def _features(bars: Bars, row: int) -> dict[str, pd.Series]:
    return {name: make_factor(name).compute(bars).iloc[row] for name in FACTORS}


def test_shape_of_the_factor(fitted: FitResult) -> None:
    factor = ModelFactor(fitted.model)
    assert factor.name == f"model_{MODEL_ID}"
    assert factor.inputs == ("close",)
    assert factor.window == max(make_factor(n).window for n in FACTORS) == 21
    assert [r.valid_from for r in fitted.model.refits][:2] == [
        fitted.composite.index[FIRST].date(),
        fitted.composite.index[FIRST + EVERY].date(),
    ]


def test_it_is_the_stored_composite_bit_for_bit(values: pd.DataFrame, fitted: FitResult) -> None:
    assert values.index.equals(fitted.composite.index)
    assert values.columns.equals(fitted.composite.columns)
    np.testing.assert_array_equal(values.to_numpy(), fitted.composite.to_numpy())
    assert values.iloc[FIRST:].notna().all().all()  # every symbol has both factors there


def test_nan_before_the_first_refit(values: pd.DataFrame, fitted: FitResult) -> None:
    assert values.iloc[:FIRST].isna().all().all()
    # a model whose first refit is after the panel's end predicts nothing on it
    late = dataclasses.replace(fitted.model, refits=fitted.model.refits[-1:])
    last = fitted.composite.index.get_loc(pd.Timestamp(late.refits[0].valid_from))
    shown = ModelFactor(late).compute({"close": values.iloc[:last]})
    assert shown.shape == (last, values.shape[1])
    assert shown.isna().all().all()


def test_it_equals_predict_at_any_date(values: pd.DataFrame, fitted: FitResult, bars: Bars) -> None:
    last = len(values) - 1
    rows = {FIRST + k * EVERY + s for k in range(6) for s in (-1, 0, 1)} | {FIRST + 17, last}
    for row in sorted(r for r in rows if FIRST <= r <= last):
        day = values.index[row].date()
        predicted = fitted.model.predict(_features(bars, row), day)
        np.testing.assert_array_equal(predicted.to_numpy(), values.iloc[row].to_numpy())
    # a refit's coefficients, not the next one's: the rows of two segments differ by model
    assert fitted.model.refit_for(values.index[FIRST + EVERY - 1].date()) is not (
        fitted.model.refit_for(values.index[FIRST + EVERY].date())
    )


def test_cutting_later_rows_leaves_each_row_unchanged(
    values: pd.DataFrame, fitted: FitResult, bars: Bars
) -> None:
    factor = ModelFactor(fitted.model)
    for row in (FIRST - 1, FIRST, FIRST + EVERY - 1, FIRST + EVERY, FIRST + 3 * EVERY + 7):
        cut = {field: panel.iloc[: row + 1] for field, panel in bars.items()}
        np.testing.assert_array_equal(
            factor.compute(cut).iloc[-1].to_numpy(), values.iloc[row].to_numpy()
        )
        # what DataView.factor gives: the window rows ending at the row only
        window = {f: p.iloc[row + 1 - factor.window : row + 1] for f, p in bars.items()}
        np.testing.assert_allclose(
            factor.compute(window).iloc[-1].to_numpy(),
            values.iloc[row].to_numpy(),
            rtol=1e-12,
            atol=1e-15,
        )


def test_a_changed_later_bar_changes_nothing_before_it(
    values: pd.DataFrame, fitted: FitResult, bars: Bars
) -> None:
    row = FIRST + 2 * EVERY
    shocked = {f: p.copy() for f, p in bars.items()}
    shocked["close"].iloc[row + 1 :] *= 1.5
    moved = ModelFactor(fitted.model).compute(shocked)
    np.testing.assert_array_equal(moved.iloc[: row + 1].to_numpy(), values.iloc[: row + 1])
    assert not np.allclose(moved.iloc[row + 1 :].to_numpy(), values.iloc[row + 1 :].to_numpy())


def test_registered_it_is_a_factor_by_name(fitted: FitResult, registry: None) -> None:
    name = f"model_{MODEL_ID}"
    with pytest.raises(ConfigError) as caught:
        make_factor(name)
    assert str(caught.value) == (
        f"model factor {name} is not loaded: the drivers load stored models named in "
        "strategy.params (run_factor_computation.py --models lists them), by an id of the "
        "stored form model_<name>-<YYYYmmddTHHMMSSZ>-<4 hex>"
    )
    assert register_model_factor(fitted.model) == name
    factor = make_factor(name)
    assert isinstance(factor, ModelFactor)
    assert factor.model is fitted.model
    register_model_factor(fitted.model)  # loading it again replaces it
    assert list(named_factors()).count(name) == 1
    # the computed kinds are untouched, and so are their errors
    assert make_factor("momentum_20").name == "momentum_20"
    with pytest.raises(ConfigError, match="unknown factor 'foo_3'"):
        make_factor("foo_3")
    with pytest.raises(ConfigError, match="must be integers"):
        make_factor("momentum_x")


def test_the_registry_refuses_what_cannot_be_a_factor(fitted: FitResult, registry: None) -> None:
    rejected = dataclasses.replace(fitted.model, status=REJECTED)
    with pytest.raises(ModelNotReady, match=f"model {MODEL_ID} is rejected"):
        register_model_factor(rejected)
    assert f"model_{MODEL_ID}" not in named_factors()
    factor = ModelFactor(fitted.model)
    with pytest.raises(ConfigError, match="calls itself"):
        register_named_factor("model_other", factor)
    with pytest.raises(ConfigError, match="would shadow the computed kind 'momentum'"):
        register_named_factor("momentum_20", make_factor("momentum_20"))
    assert fitted.model.status == ACCEPTED


def test_model_factor_names_walks_nested_params() -> None:
    a, b = "model_a-20240105T143000Z-1a2b", "model_b_c-20240105T143000Z-00ff"
    params = {
        "factors": {a: 1.0, "momentum_20": 0.5},
        "nested": [{"x": (b, a)}, "model_not-an-id", "model_", 3],
        b: {"deeper": {a}},
    }
    assert model_factor_names(params) == [a, b]
    assert model_factor_names({"model": "value_mom-20240105T143000Z-1a2b"}) == []
    assert model_factor_names({}) == []
