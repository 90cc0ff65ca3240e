"""The baselines: equal and IC-weighted z-score blends, the IC weights from train rows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.factors.base import make_factor
from quant_core.factors.ic import information_coefficient
from quant_core.research.design import Design, build_design
from quant_core.research.ensemble import blends, factor_rank_ic, ic_weights
from quant_core.research.labels import label_panel
from quant_core.research.splits import Fold, anchor_row, refit_schedule

from .planted import planted_bars

FACTORS = ["reversal_5", "volatility_20"]
TRAIN, EVERY, EMBARGO, SPAN = 126, 42, 5, 6


def setup(bars: dict[str, pd.DataFrame]) -> tuple[Design, np.ndarray, list[Fold]]:
    factors = {name: make_factor(name).compute(bars) for name in FACTORS}
    label = label_panel("fwd_open_5", bars)
    design = build_design(factors, label, FACTORS)
    anchor = anchor_row(factors, FACTORS)
    folds = refit_schedule(len(label), anchor, TRAIN, EVERY, EMBARGO, SPAN, expanding=False)
    return design, label.to_numpy(dtype=float), folds


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    return planted_bars(symbols=60, sessions=500, beta=0.3, seed=5)


def z_panel(design: Design, j: int) -> pd.DataFrame:
    out = np.full((len(design.dates), len(design.symbols)), np.nan)
    out[design.row, design.col] = design.x[:, j]
    return pd.DataFrame(out, index=design.dates, columns=design.symbols)


def test_ic_weights_are_the_mean_rank_ic_over_the_train_rows(bars: dict[str, pd.DataFrame]) -> None:
    design, label, folds = setup(bars)
    label_frame = pd.DataFrame(label, index=design.dates, columns=design.symbols)
    daily = factor_rank_ic(design, label)
    for j in range(len(FACTORS)):
        expected = information_coefficient(z_panel(design, j), label_frame, "spearman")
        np.testing.assert_allclose(daily[:, j], expected.to_numpy(), rtol=1e-10, atol=1e-12)
    fold = folds[2]
    weights = ic_weights(daily, fold.train)
    assert weights == pytest.approx(np.nanmean(daily[fold.train], axis=0))
    assert weights[0] > 0.05  # reversal_5 predicts the label in this panel
    assert abs(weights[1]) < weights[0]


def test_blends_on_the_test_rows(bars: dict[str, pd.DataFrame]) -> None:
    design, label, folds = setup(bars)
    daily = factor_rank_ic(design, label)
    out = blends(design, label, folds, daily)
    first = int(folds[0].test[0])
    assert np.isnan(out["equal_weight"][:first]).all()
    assert np.isnan(out["ic_weight"][:first]).all()
    row = int(folds[1].test[3])
    z = np.column_stack([z_panel(design, j).to_numpy()[row] for j in range(len(FACTORS))])
    np.testing.assert_allclose(out["equal_weight"][row], z.mean(axis=1))
    w = ic_weights(daily, folds[1].train)
    np.testing.assert_allclose(out["ic_weight"][row], z @ (w / np.abs(w).sum()))


def test_blends_do_not_look_ahead(bars: dict[str, pd.DataFrame]) -> None:
    design, label, folds = setup(bars)
    full = blends(design, label, folds)
    starts = [int(f.test[0]) for f in folds]
    for row in (starts[1] - 1, starts[1], starts[2], starts[-1] + 10):
        cut = {field: panel.iloc[: row + 1] for field, panel in bars.items()}
        d2, l2, f2 = setup(cut)
        assert [f.train.tolist() for f in f2] == [f.train.tolist() for f in folds[: len(f2)]]
        short = blends(d2, l2, f2)
        for name in ("equal_weight", "ic_weight"):
            np.testing.assert_array_equal(short[name][row], full[name][row])


def test_a_fold_without_any_rank_ic_gets_no_ic_weighted_value(
    bars: dict[str, pd.DataFrame],
) -> None:
    design, label, folds = setup(bars)
    nothing = np.full_like(label, np.nan)  # no label known: no IC, every weight 0
    out = blends(design, nothing, folds[:1])
    assert np.isnan(out["ic_weight"]).all()
    assert np.isfinite(out["equal_weight"][folds[0].test]).all()


def test_k_fold_ic_weights_read_no_session_after_the_test(bars: dict[str, pd.DataFrame]) -> None:
    from quant_core.research.splits import purged_kfold

    design, label, _ = setup(bars)
    rows = np.unique(design.row[np.isfinite(design.y)])
    folds = purged_kfold(rows, 4, EMBARGO, SPAN)
    daily = factor_rank_ic(design, label)
    middle = folds[1]
    assert (middle.train > middle.test[-1]).any()  # k-fold trains after the test too
    later = daily.copy()
    later[middle.test[0] :] = np.random.default_rng(3).normal(size=later[middle.test[0] :].shape)
    before = blends(design, label, [middle], daily)["ic_weight"]
    after = blends(design, label, [middle], later)["ic_weight"]
    np.testing.assert_array_equal(before, after)  # sessions from the test on: never read
    assert np.isfinite(before[middle.test]).any()
    # The first fold has no training session before it: no IC-weighted value, not a guess.
    assert np.isnan(blends(design, label, [folds[0]], daily)["ic_weight"]).all()
