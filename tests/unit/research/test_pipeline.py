"""fit_model end to end on synthetic panels: a planted signal is found, noise is rejected.

The panels (``planted.py``): reversal_5 predicts fwd_open_5 when ``beta > 0``; volatility_20
is noise. 120 symbols x 900 sessions; factors from row 20 (volatility_20's window is 21), so
walk-forward fold 0 tests from row 20 + 252 + 5 = 277 and the last labelled row is
900 - 1 - 6 = 893 (fwd_open_5 reads 6 rows ahead).
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from quant_core.errors import DataError
from quant_core.factors.base import make_factor
from quant_core.factors.ic import information_coefficient, newey_west_t
from quant_core.factors.quantiles import quantile_returns
from quant_core.research.labels import label_panel
from quant_core.research.model import ACCEPTED, REJECTED, ModelNotReady
from quant_core.research.pipeline import fit_model
from quant_core.research.result import (
    BASELINE_COLUMNS,
    COEFFICIENT_COLUMNS,
    DAILY_COLUMNS,
    FOLD_COLUMNS,
    QUANTILE_COLUMNS,
    FitResult,
)
from quant_core.research.spec import ModelSpec

from .planted import planted_bars

FACTORS = ["reversal_5", "volatility_20"]
R0, TRAIN, TEST, EMBARGO, SPAN = 20, 252, 63, 5, 6
SESSIONS = 900


def spec_of(**changes: object) -> ModelSpec:
    base: dict[str, object] = {
        "name": "planted",
        "factors": FACTORS,
        "target": "fwd_open_5",
        "estimator": "ridge",
        "validation": {"scheme": "walk_forward", "train": TRAIN, "test": TEST, "embargo": EMBARGO},
        "bootstrap": 50,
    }
    return ModelSpec.model_validate(base | changes)


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    return planted_bars(beta=0.3, seed=1, sessions=SESSIONS)


@pytest.fixture(scope="module")
def fitted(bars: dict[str, pd.DataFrame]) -> FitResult:
    return fit_model(spec_of(), bars, "planted-1")


def features_at(bars: dict[str, pd.DataFrame], row: int) -> dict[str, pd.Series]:
    return {name: make_factor(name).compute(bars).iloc[row] for name in FACTORS}


def truncated(bars: dict[str, pd.DataFrame], row: int) -> dict[str, pd.DataFrame]:
    return {field: panel.iloc[: row + 1] for field, panel in bars.items()}


def row_of(bars: dict[str, pd.DataFrame], day: dt.date) -> int:
    return int(np.flatnonzero(bars["close"].index == pd.Timestamp(day))[0])


# ------------------------------------------------------------------- planted signal, noise


def test_planted_signal_is_found(fitted: FitResult) -> None:
    assert fitted.status == ACCEPTED
    assert fitted.model.status == ACCEPTED
    assert fitted.oos_rank_ic > fitted.spec.min_oos_rank_ic
    assert fitted.oos_t > 3.0
    coef = fitted.coefficients.set_index("factor")
    low, mid, high = coef.loc["reversal_5", ["ci_low", "coef", "ci_high"]].to_numpy(dtype=float)
    assert 0 < low <= mid <= high  # the interval excludes 0
    assert (coef["std"] > 0).all()
    assert (fitted.folds["coef_reversal_5"] > 0).all()
    assert (fitted.folds["oos_rank_ic"] > 0).all()
    assert (fitted.folds["spread"] > 0).all()
    assert fitted.quantiles["mean_label"].is_monotonic_increasing


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_is_rejected(seed: int) -> None:
    result = fit_model(spec_of(bootstrap=0), planted_bars(beta=0.0, seed=seed), "noise-1")
    assert result.status == REJECTED
    assert result.oos_rank_ic <= result.spec.min_oos_rank_ic
    assert abs(result.oos_rank_ic) < 0.02


# ------------------------------------------------------------------------------ the frames


def test_frames_have_the_pinned_columns(fitted: FitResult, bars: dict[str, pd.DataFrame]) -> None:
    assert list(fitted.folds.columns) == [*FOLD_COLUMNS, "coef_reversal_5", "coef_volatility_20"]
    assert tuple(fitted.coefficients.columns) == COEFFICIENT_COLUMNS
    assert list(fitted.coefficients["factor"]) == FACTORS
    assert tuple(fitted.oos_daily.columns) == DAILY_COLUMNS
    assert tuple(fitted.baselines.columns) == BASELINE_COLUMNS
    assert list(fitted.baselines["name"]) == ["model", "equal_weight", "ic_weight"]
    assert tuple(fitted.quantiles.columns) == QUANTILE_COLUMNS
    assert list(fitted.quantiles["quantile"]) == [1, 2, 3, 4, 5]
    assert fitted.composite.index.equals(bars["close"].index)
    assert fitted.composite.columns.equals(bars["close"].columns)
    assert fitted.data_through == bars["close"].index[-1].date()


def test_walk_forward_folds_and_oos_series_cover_exactly_the_test_rows(
    fitted: FitResult, bars: dict[str, pd.DataFrame]
) -> None:
    dates = bars["close"].index
    folds = fitted.folds
    last = SESSIONS - 1 - SPAN
    starts = [R0 + TRAIN + EMBARGO + k * TEST for k in range(len(folds))]
    assert list(folds["fold"]) == list(range(len(folds)))
    assert list(folds["test_start"]) == list(dates[starts])
    assert list(folds["test_end"]) == [dates[min(a + TEST - 1, last)] for a in starts]
    assert starts[-1] + TEST - 1 >= last  # nothing labelled is left untested
    assert list(folds["train_start"]) == list(dates[[a - EMBARGO - TRAIN for a in starts]])
    assert list(folds["train_end"]) == list(dates[[a - EMBARGO - 1 for a in starts]])
    assert list(folds["train_rows"]) == [TRAIN * 120] * len(folds)
    lengths = [min(a + TEST - 1, last) - a + 1 for a in starts]
    assert list(folds["test_rows"]) == [n * 120 for n in lengths]
    # one daily row per test session, no more, no less
    assert list(fitted.oos_daily["date"]) == list(dates[starts[0] : last + 1])


def test_scores_agree_with_the_factor_analytics(
    fitted: FitResult, bars: dict[str, pd.DataFrame]
) -> None:
    label = label_panel("fwd_open_5", bars)
    daily = fitted.oos_daily.set_index("date")
    # walk-forward with the default schedule: the composite is the folds' predictions
    oos = fitted.composite.loc[daily.index]
    rank_ic = information_coefficient(oos, label, "spearman")
    ic = information_coefficient(oos, label, "pearson")
    np.testing.assert_allclose(daily["rank_ic"], rank_ic, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(daily["ic"], ic, rtol=1e-10, atol=1e-12)
    assert fitted.oos_rank_ic == pytest.approx(rank_ic.mean())
    assert fitted.oos_ic == pytest.approx(ic.mean())
    assert fitted.oos_t == pytest.approx(newey_west_t(rank_ic.to_numpy(), 4))
    for _, fold in fitted.folds.iterrows():
        window = daily.loc[fold["test_start"] : fold["test_end"], "rank_ic"]
        assert fold["oos_rank_ic"] == pytest.approx(window.mean())
        q = quantile_returns(oos.loc[window.index], label, 5)
        assert fold["spread"] == pytest.approx(q.spread)
    whole = quantile_returns(fitted.composite.dropna(how="all"), label, 5)
    np.testing.assert_allclose(fitted.quantiles["mean_label"], whole.mean.to_numpy())
    model = fitted.baselines.set_index("name").loc["model"]
    assert model["oos_rank_ic"] == fitted.oos_rank_ic
    assert model["spread"] == pytest.approx(quantile_returns(oos, label, 5).spread)


def test_in_sample_ic_and_coefficient_stability(
    fitted: FitResult, bars: dict[str, pd.DataFrame]
) -> None:
    label = label_panel("fwd_open_5", bars)
    factors = {name: make_factor(name).compute(bars) for name in FACTORS}
    full = fitted.coefficients["coef"].to_numpy()
    for (_, fold), refit in zip(fitted.folds.iterrows(), fitted.model.refits, strict=False):
        coef = fold[["coef_reversal_5", "coef_volatility_20"]].to_numpy(dtype=float)
        assert tuple(coef) == refit.coef  # the validation folds are the refits here
        cosine = coef @ full / np.linalg.norm(coef) / np.linalg.norm(full)
        assert fold["coef_cosine"] == pytest.approx(cosine)
        rows = bars["close"].index[
            (bars["close"].index >= fold["train_start"])
            & (bars["close"].index <= fold["train_end"])
        ]
        preds = pd.DataFrame(
            [refit_predict(refit, {n: factors[n].loc[d] for n in FACTORS}) for d in rows],
            index=rows,
        )
        ic = information_coefficient(preds, label, "spearman")
        assert fold["is_rank_ic"] == pytest.approx(ic.mean())


def refit_predict(refit: object, features: dict[str, pd.Series]) -> pd.Series:
    from quant_core.research.design import standardise_series

    z = standardise_series(features, FACTORS)
    return pd.Series(refit.predict(z.to_numpy()), index=z.index)  # type: ignore[attr-defined]


def test_improvement_is_the_model_minus_each_baseline(fitted: FitResult) -> None:
    frame = fitted.baselines.set_index("name")["oos_rank_ic"]
    assert fitted.improvement == {
        "equal_weight": pytest.approx(fitted.oos_rank_ic - frame["equal_weight"]),
        "ic_weight": pytest.approx(fitted.oos_rank_ic - frame["ic_weight"]),
    }
    # equal weights add the noise factor at full weight: the model beats them here
    assert fitted.improvement["equal_weight"] > 0.01


# ------------------------------------------------------------- refits, predict, truncation


def test_predict_gives_exactly_the_composite(
    fitted: FitResult, bars: dict[str, pd.DataFrame]
) -> None:
    refits = fitted.model.refits
    assert [r.valid_from for r in refits] == [
        bars["close"].index[R0 + TRAIN + EMBARGO + k * TEST].date() for k in range(len(refits))
    ]
    for refit in refits:
        assert refit.coef is not None
        assert refit.intercept is not None
        assert refit.estimator is not None
        assert refit.samples == TRAIN * 120
        assert refit.train_last < refit.valid_from
    first = row_of(bars, refits[0].valid_from)
    assert fitted.composite.iloc[:first].isna().all().all()
    assert fitted.composite.iloc[first:].notna().all().all()  # every symbol has both factors
    rows = {row_of(bars, r.valid_from) + k for r in refits for k in (-1, 0, 1)} | {SESSIONS - 1}
    for row in sorted(r for r in rows if r >= first):
        day = bars["close"].index[row].date()
        predicted = fitted.model.predict(features_at(bars, row), day)
        np.testing.assert_array_equal(predicted.to_numpy(), fitted.composite.iloc[row].to_numpy())
    with pytest.raises(ModelNotReady, match="no refit"):
        fitted.model.predict(features_at(bars, first - 1), bars["close"].index[first - 1].date())


def test_the_composite_does_not_look_ahead(
    fitted: FitResult, bars: dict[str, pd.DataFrame]
) -> None:
    a = [row_of(bars, r.valid_from) for r in fitted.model.refits]
    for row in (a[1] - 1, a[1], a[2], a[2] + 30, a[-1]):
        cut = truncated(bars, row)
        short = fit_model(spec_of(bootstrap=0), cut, "planted-cut")
        np.testing.assert_array_equal(
            short.composite.iloc[row].to_numpy(), fitted.composite.iloc[row].to_numpy()
        )
        day = bars["close"].index[row].date()
        np.testing.assert_array_equal(
            short.model.predict(features_at(cut, row), day).to_numpy(),
            fitted.composite.iloc[row].to_numpy(),
        )
        # every refit the short history made is the full history's, unchanged
        for mine, theirs in zip(short.model.refits, fitted.model.refits, strict=False):
            assert mine == theirs
        assert short.model.refits[-1].valid_from <= day


# ------------------------------------------------------------------------ other schemes


def test_purged_kfold_validates_every_labelled_session(bars: dict[str, pd.DataFrame]) -> None:
    spec = spec_of(validation={"scheme": "purged_kfold", "folds": 5, "embargo": EMBARGO})
    result = fit_model(spec, bars, "planted-kfold")
    dates = bars["close"].index
    assert list(result.folds["fold"]) == [0, 1, 2, 3, 4]
    assert list(result.oos_daily["date"]) == list(dates[R0 : SESSIONS - SPAN])
    assert result.folds["test_rows"].sum() == (SESSIONS - SPAN - R0) * 120
    assert result.status == ACCEPTED
    assert (result.folds["coef_reversal_5"] > 0).all()
    # the composite still walks forward, on the default schedule (504 / 63)
    assert result.model.refits[0].valid_from == dates[R0 + 504 + EMBARGO].date()
    # k-fold trains on both sides: a middle fold's training rows straddle its test rows
    middle = result.folds.iloc[2]
    assert middle["train_start"] < middle["test_start"] < middle["test_end"] < middle["train_end"]


def test_kfold_baselines_and_model_are_scored_on_the_same_sessions(
    bars: dict[str, pd.DataFrame],
) -> None:
    # The IC-weighted blend has nothing trained before k-fold's first test fold: the model
    # was scored over every session and the blend over the later folds only (a reported
    # improvement of 0.0014 was 0.0160 on the same sessions, for sp500-2010).
    spec = spec_of(validation={"scheme": "purged_kfold", "folds": 5, "embargo": EMBARGO})
    result = fit_model(spec, bars, "planted-kfold")
    daily = result.oos_daily
    later = daily["date"] > result.folds.iloc[0]["test_end"]
    table = result.baselines.set_index("name")["oos_rank_ic"]

    assert table["model"] == pytest.approx(daily.loc[later, "rank_ic"].mean(), rel=1e-12)
    assert table["model"] != pytest.approx(result.oos_rank_ic, rel=1e-6)  # all its sessions
    assert result.improvement == {
        "equal_weight": pytest.approx(table["model"] - table["equal_weight"]),
        "ic_weight": pytest.approx(table["model"] - table["ic_weight"]),
    }


def test_gbr_runs_without_coefficients_or_intervals() -> None:
    bars = planted_bars(symbols=60, sessions=420, beta=0.3, seed=4)
    spec = spec_of(
        estimator="gbr",
        validation={"scheme": "walk_forward", "train": 126, "test": 126, "embargo": EMBARGO},
    )
    with threadpool_limits(limits=1):  # OpenMP threads spin on a busy machine: 30x slower
        result = fit_model(spec, bars, "planted-gbr")
    assert result.coefficients[["coef", "ci_low", "ci_high", "std"]].isna().all().all()
    assert result.folds[["coef_cosine", "coef_reversal_5"]].isna().all().all()
    assert result.folds["oos_rank_ic"].notna().all()
    assert result.oos_rank_ic > 0
    for refit in result.model.refits:
        assert refit.coef is None
        assert refit.intercept is None
        assert refit.estimator is not None
    row = len(bars["close"]) - 1
    predicted = result.model.predict(features_at(bars, row), bars["close"].index[row].date())
    np.testing.assert_array_equal(predicted.to_numpy(), result.composite.iloc[row].to_numpy())


# ------------------------------------------------------------------- progress, timings, errors


def test_progress_and_timings_count_every_step(bars: dict[str, pd.DataFrame]) -> None:
    ticks = itertools.count()
    calls: list[tuple[str, int, int]] = []
    result = fit_model(
        spec_of(bootstrap=0),
        bars,
        "planted-1",
        progress=lambda task, done, total: calls.append((task, done, total)),
        timer=lambda: float(next(ticks)),
    )
    folds, refits = len(result.folds), len(result.model.refits)
    total = 4 + folds + refits
    assert [c[1] for c in calls] == list(range(1, total + 1))
    assert {c[2] for c in calls} == {total}
    assert [c[0] for c in calls] == [
        "factors",
        "design",
        "bootstrap",
        *["validation"] * folds,
        *["composite"] * refits,
        "baselines",
    ]
    # the fake clock ticks once a step: each step's seconds count its own ticks
    assert result.timings["validation"] == folds
    assert result.timings["composite"] == refits
    assert result.timings["total"] == total
    assert fit_model(spec_of(bootstrap=0), bars, "x").timings == {}


def test_bad_bars_are_refused(bars: dict[str, pd.DataFrame]) -> None:
    no_close = {k: v for k, v in bars.items() if k != "close"}
    with pytest.raises(DataError, match="close"):
        fit_model(spec_of(), no_close, "x")
    no_open = {k: v for k, v in bars.items() if k != "open"}
    with pytest.raises(DataError, match="open"):
        fit_model(spec_of(), no_open, "x")
    backwards = {k: v.iloc[::-1] for k, v in bars.items()}
    with pytest.raises(DataError, match="increasing"):
        fit_model(spec_of(), backwards, "x")
    with pytest.raises(DataError, match="too few to validate"):
        fit_model(spec_of(), truncated(bars, 250), "x")
    kfold = spec_of(validation={"scheme": "purged_kfold", "folds": 5, "embargo": EMBARGO})
    with pytest.raises(DataError, match="first refit"):  # the default refit trains on 504
        fit_model(kfold, truncated(bars, 400), "x")
