"""The fold scores against the factor analytics they reuse, and the fold fit's record."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import DataError
from quant_core.factors.ic import information_coefficient
from quant_core.factors.quantiles import quantile_returns
from quant_core.research.design import Design
from quant_core.research.spec import ModelSpec
from quant_core.research.validate import (
    cosine,
    daily_ic,
    finite_mean,
    fit_record,
    samples_in,
    spread,
    to_wide,
)


def panels(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2020-01-01", periods=40)
    values = rng.normal(size=(40, 50))
    values[7, 4] = values[7, 5]  # a tie
    pred = pd.DataFrame(values, index=index)
    label = 0.2 * pred + pd.DataFrame(rng.normal(size=(40, 50)), index=index)
    pred.iloc[3, :40] = np.nan  # too few pairs on a session: NaN
    label.iloc[5, ::3] = np.nan
    return pred, label


def tiny_design() -> Design:
    rows = np.repeat(np.arange(4), 25)
    cols = np.tile(np.arange(25), 4)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 2))
    y = x @ np.array([1.0, -0.5]) + 0.1 * rng.normal(size=100)
    y[rows == 3] = np.nan  # the last session: label not known yet
    return Design(
        x=x,
        y=y,
        row=rows,
        col=cols,
        dates=pd.bdate_range("2021-03-01", periods=5),
        symbols=pd.Index([f"S{i}" for i in range(25)]),
        factors=("a", "b"),
    )


def test_daily_ic_is_the_factor_analytics_ic() -> None:
    pred, label = panels()
    ic, rank_ic = daily_ic(pred.to_numpy(), label.to_numpy())
    np.testing.assert_allclose(ic, information_coefficient(pred, label, "pearson"))
    np.testing.assert_allclose(rank_ic, information_coefficient(pred, label, "spearman"))
    assert np.isnan(ic[3])


def test_spread_is_the_quantile_analysis_spread() -> None:
    pred, label = panels()
    for q in (3, 5):
        expected = quantile_returns(pred, label, q).spread
        assert spread(pred.to_numpy(), label.to_numpy(), q) == pytest.approx(expected)
    assert spread(pred.to_numpy(), label.to_numpy(), 5) > 0


def test_cosine_and_finite_mean() -> None:
    assert cosine((1.0, 0.0), (2.0, 0.0)) == pytest.approx(1.0)
    assert cosine((1.0, 0.0), (0.0, 3.0)) == pytest.approx(0.0)
    assert cosine((1.0, 1.0), (-1.0, -1.0)) == pytest.approx(-1.0)
    assert np.isnan(cosine(None, (1.0,)))
    assert np.isnan(cosine((0.0, 0.0), (1.0, 1.0)))
    assert finite_mean(np.array([1.0, np.nan, 3.0])) == 2.0
    assert np.isnan(finite_mean(np.array([np.nan])))


def test_samples_and_wide_arrays() -> None:
    design = tiny_design()
    every = samples_in(design, np.array([2, 3]), labelled=False)
    assert every.tolist() == list(range(50, 100))
    assert samples_in(design, np.array([2, 3]), labelled=True).tolist() == list(range(50, 75))
    wide = to_wide(design, every, design.x[every, 0])
    assert wide.shape == (5, 25)
    assert np.isnan(wide[:2]).all()
    assert np.isnan(wide[4]).all()
    np.testing.assert_array_equal(wide[3], design.x[75:, 0])


def test_fit_record_dates_and_samples() -> None:
    design = tiny_design()
    spec = ModelSpec(name="t", factors=["reversal_5"], target="fwd_open_1", estimator="ols")
    train = samples_in(design, np.array([0, 1, 2, 3]), labelled=True)
    record = fit_record(design, train, 4, spec)
    assert record.valid_from == dt.date(2021, 3, 5)
    assert (record.train_first, record.train_last) == (dt.date(2021, 3, 1), dt.date(2021, 3, 3))
    assert record.samples == 75
    assert record.coef == pytest.approx((1.0, -0.5), abs=0.05)
    np.testing.assert_allclose(record.predict(design.x[:3]), record.estimator.predict(design.x[:3]))
    with pytest.raises(DataError, match="no labelled sample"):
        fit_record(design, train[:0], 4, spec)
