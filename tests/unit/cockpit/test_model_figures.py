"""The Models view's pure builders: its tables and figures from a stored model's frames."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_core.cockpit.charts import model_figures as figures
from quant_core.cockpit.tables import model_tables as tables
from quant_core.cockpit.theme import DOWN, UP
from quant_core.research.result import FOLD_COLUMNS
from tests.cockpit import fit_results


def test_models_view_puts_the_newest_first_and_labels_the_status() -> None:
    listing = pd.DataFrame(
        {
            "model_id": ["a-1", "b-2"],
            "name": ["a", "b"],
            "status": ["rejected", "accepted"],
            "oos_rank_ic": [0.001, 0.04],
            "created_at": pd.to_datetime(["2024-01-01", "2024-02-01"], utc=True),
            "extra": [1, 2],
        }
    )

    shown = tables.models_view(listing)

    assert shown["model_id"].tolist() == ["b-2", "a-1"]
    assert shown["status"].tolist() == ["ACCEPTED", "REJECTED"]
    assert "extra" not in shown.columns
    assert shown.columns[:2].tolist() == ["model_id", "status"]
    styled = tables.models_styler(shown).to_html()
    assert "rgba(0, 158, 115, 0.22)" in styled  # accepted: green
    assert "rgba(213, 94, 0, 0.22)" in styled  # rejected: vermilion
    assert ">0.0400<" in styled


def test_fold_view_keeps_the_pinned_columns_then_the_coefficients_in_spec_order() -> None:
    folds = fit_results.folds()
    shuffled = folds[list(reversed(folds.columns))]

    shown = tables.fold_view(shuffled, ["reversal_5", "momentum_126", "absent_3"])

    assert shown.columns.tolist() == [*FOLD_COLUMNS, "coef_reversal_5", "coef_momentum_126"]
    assert shown["test_start"].tolist()[0] == dt.date(2020, 3, 30)
    np.testing.assert_allclose(shown["oos_rank_ic"], folds["oos_rank_ic"])


def test_coefficient_view_marks_intervals_that_exclude_zero() -> None:
    coefs = pd.concat(
        [
            fit_results.coefficients(),
            pd.DataFrame(
                {"factor": ["x"], "coef": [-0.5], "ci_low": [-0.9], "ci_high": [-0.1], "std": [1]}
            ),
            pd.DataFrame(
                {"factor": ["y"], "coef": [0.1], "ci_low": [np.nan], "ci_high": [np.nan]}
            ).assign(std=np.nan),
        ]
    )

    shown = tables.coefficient_view(coefs)

    assert shown["excludes_zero"].tolist() == [True, False, True, False]
    assert tables.has_intervals(coefs)
    assert not tables.has_intervals(coefs.assign(ci_low=np.nan))


def test_baselines_carry_the_models_improvement_over_each() -> None:
    baselines = fit_results.result(rank_ic=0.031).baselines

    shown = tables.baseline_view(baselines, 0.031)
    gains = tables.improvements(baselines, 0.031)

    assert shown["name"].tolist() == ["model", "equal-weight blend", "IC-weight blend"]
    assert np.isnan(shown["improvement"].iloc[0])
    np.testing.assert_allclose(shown["improvement"].iloc[1:], [0.031 - 0.012, 0.031 - 0.019])
    assert gains == pytest.approx({"equal-weight blend": 0.019, "IC-weight blend": 0.012})


def test_rolling_rank_ic_is_the_mean_of_the_last_window_sessions() -> None:
    daily = fit_results.oos_daily(0.03).sample(frac=1.0, random_state=1)  # any row order

    rolling = tables.rolling_rank_ic(daily, 63)

    ordered = daily.sort_values("date")["rank_ic"].to_numpy()
    assert rolling.iloc[:62].isna().all()
    assert rolling.iloc[62] == pytest.approx(ordered[:63].mean())
    assert rolling.iloc[-1] == pytest.approx(ordered[-63:].mean())
    assert rolling.index.is_monotonic_increasing


def test_oos_ic_figure_draws_daily_rolling_and_overall_with_the_t_in_the_subtitle() -> None:
    daily = fit_results.oos_daily(0.031)

    fig = figures.oos_ic_figure(daily, "value_mom-x", 0.031, 2.37)

    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"daily rank IC", "rolling 63-session mean", "overall 0.031"}
    np.testing.assert_allclose(traces["daily rank IC"].y, daily["rank_ic"])
    rolling = traces["rolling 63-session mean"].y
    assert np.isnan(rolling[61])
    assert rolling[62] == pytest.approx(daily["rank_ic"][:63].mean())
    assert fig.layout.title.text == "Out-of-sample rank IC: value_mom-x"
    assert "overall 0.031, Newey-West t 2.37 over 120 sessions" in fig.layout.title.subtitle.text
    assert fig.layout.xaxis.tickformat == "%Y-%m-%d"


def test_coefficient_figure_draws_the_intervals_as_error_bars() -> None:
    coefs = fit_results.coefficients()

    fig = figures.coefficient_figure(coefs, "fwd_open_5")

    marks = fig.data[0]
    assert list(marks.x) == ["momentum_126", "reversal_5"]
    np.testing.assert_allclose(marks.y + marks.error_y.array, coefs["ci_high"])
    np.testing.assert_allclose(marks.y - marks.error_y.arrayminus, coefs["ci_low"])
    assert list(marks.marker.color) == [UP, DOWN]
    assert fig.layout.yaxis.tickformat == ".2%"  # a return label: in percent
    assert fig.layout.yaxis.title.text == "fwd_open_5 per 1 sd of the factor (%)"


def test_quantile_figure_bars_the_mean_label_in_the_labels_unit() -> None:
    quantiles = fit_results.result().quantiles

    returns = figures.quantile_label_figure(quantiles, "fwd_open_5")
    ranks = figures.quantile_label_figure(quantiles, "fwd_open_5_rank")

    bars = returns.data[0]
    assert list(bars.x) == ["Q1 (low)", "Q2", "Q3", "Q4", "Q5 (high)"]
    np.testing.assert_allclose(bars.y, quantiles["mean_label"])
    assert list(bars.marker.color) == [DOWN, DOWN, UP, UP, UP]
    assert returns.layout.title.text == "Mean fwd_open_5 by quintile of the composite"
    assert "Q5 - Q1: +0.90%" in returns.layout.title.subtitle.text
    assert returns.layout.yaxis.tickformat == ".2%"
    assert ranks.layout.yaxis.tickformat == ".2f"  # a rank is not a return
    assert "Q5 - Q1: +0.009" in ranks.layout.title.subtitle.text


@pytest.mark.parametrize(
    ("target", "unit"),
    [
        ("fwd_open_5", "pct"),
        ("fwd_close_10", "pct"),
        ("fwd_open_5_demeaned", "pct"),
        ("fwd_open_5_rank", "ratio"),
        ("fwd_open_5_volnorm", "ratio"),
        ("sign_fwd_open_5", "ratio"),
        ("triple_barrier_10", "ratio"),
    ],
)
def test_label_unit_follows_the_labels_kind(target: str, unit: str) -> None:
    assert figures.label_unit(target) == unit


def test_every_model_figure_names_its_axes() -> None:
    r = fit_results.result()
    built = [
        figures.oos_ic_figure(r.oos_daily, "m", r.oos_rank_ic, r.oos_t),
        figures.coefficient_figure(r.coefficients, "fwd_open_5"),
        figures.quantile_label_figure(r.quantiles, "fwd_open_5"),
    ]
    for fig in built:
        assert fig.layout.xaxis.title.text
        assert fig.layout.yaxis.title.text


def test_a_model_without_intervals_draws_no_error_bars() -> None:
    coefs = fit_results.coefficients().assign(ci_low=np.nan, ci_high=np.nan, std=np.nan)

    fig = figures.coefficient_figure(coefs, "fwd_open_5_rank")

    np.testing.assert_array_equal(fig.data[0].error_y.array, [0.0, 0.0])
    np.testing.assert_array_equal(fig.data[0].error_y.arrayminus, [0.0, 0.0])
    assert fig.layout.yaxis.tickformat == ".2f"  # a rank label: no percent


def test_an_empty_out_of_sample_series_still_draws() -> None:
    empty = fit_results.oos_daily(0.0).iloc[:0]

    fig = figures.oos_ic_figure(empty, "m", float("nan"), float("nan"))

    assert "overall n/a, Newey-West t n/a over 0 sessions" in fig.layout.title.subtitle.text
    assert len(fig.data) == 2  # no overall line without a value
