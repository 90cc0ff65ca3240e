"""The quantile analysis of a factor against every target (quant_core/research/targets.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import ConfigError
from quant_core.factors.quantiles import quantile_returns
from quant_core.research.labels import KINDS, label_panel, parse_label
from quant_core.research.targets import (
    DEFAULT_TARGETS,
    TARGET_COLUMNS,
    target_quantiles,
    target_unit,
)


def _bars(seed: int = 5, days: int = 90, names: int = 30):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2024-01-01", periods=days)
    symbols = [f"S{i:02d}" for i in range(names)]
    signal = rng.normal(size=(days, names))
    # The open-to-open return from d+1 to d+2 loads on the factor of d: a planted signal.
    step = np.vstack([np.zeros((2, names)), 0.01 * signal[:-2]]) + rng.normal(
        0, 0.01, (days, names)
    )
    open_ = 50 * np.exp(np.cumsum(step, axis=0))
    close = open_ * np.exp(rng.normal(0, 0.005, (days, names)))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, (days, names)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, (days, names)))
    bars = {
        key: pd.DataFrame(values, dates, symbols)
        for key, values in (("open", open_), ("high", high), ("low", low), ("close", close))
    }
    factor = pd.DataFrame(signal, dates, symbols).mask(rng.random((days, names)) < 0.05)
    return factor, bars


def test_default_targets_are_one_of_each_family_at_h5() -> None:
    labels = [parse_label(name) for name in DEFAULT_TARGETS]
    assert sorted(label.kind for label in labels) == sorted(KINDS)
    assert {label.horizon for label in labels} == {5}


def test_hand_computed_quantiles_of_fwd_close() -> None:
    dates = pd.bdate_range("2024-01-01", periods=3)
    close = pd.DataFrame(
        [[10.0, 20.0, 40.0, 50.0], [11.0, 19.0, 44.0, 50.0], [11.0, 19.0, 44.0, 55.0]],
        dates,
        list("ABCD"),
    )
    bars = {"open": close, "high": close, "low": close, "close": close}
    factor = pd.DataFrame(
        [[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]], dates, list("ABCD")
    )
    # T0 returns (10%, -5%, 10%, 0): halves by factor: low (D, C) = 5%, high (A, B) = 2.5%.
    # T1 returns (0, 0, 0, 10%): low (A, B) = 0, high (C, D) = 5%. T2: no label.
    out = target_quantiles(factor, bars, ["fwd_close_1"], quantiles=2, min_pairs=4)
    assert list(out.columns) == TARGET_COLUMNS
    assert out["quantile"].tolist() == [1, 2]
    assert out["mean"].tolist() == pytest.approx([0.025, 0.0375], abs=1e-12)
    assert out["spread"].tolist() == pytest.approx([0.0125, 0.0125], abs=1e-12)
    assert out["sessions"].tolist() == [2, 2]


def test_every_target_equals_quantile_returns_on_its_label() -> None:
    factor, bars = _bars()
    out = target_quantiles(factor, bars, DEFAULT_TARGETS, quantiles=3, min_pairs=10)
    assert out["target"].tolist() == [t for t in DEFAULT_TARGETS for _ in range(3)]
    for target in DEFAULT_TARGETS:
        rows = out[out["target"] == target]
        expected = quantile_returns(factor, label_panel(target, bars), 3, 10)
        assert rows["mean"].to_numpy() == pytest.approx(expected.mean.to_numpy(), abs=1e-15)
        assert (rows["sessions"] == expected.sessions).all()
        assert rows["spread"].iloc[0] == pytest.approx(expected.spread, abs=1e-15)
        assert expected.sessions > 50


def test_planted_signal_shows_in_the_targets() -> None:
    factor, bars = _bars(days=200)
    out = target_quantiles(
        factor, bars, ["fwd_open_1", "fwd_open_1_rank", "sign_fwd_open_1"], quantiles=5
    )
    means = {t: g["mean"].to_numpy() for t, g in out.groupby("target")}
    spread = dict(zip(out["target"], out["spread"], strict=True))
    # The factor of d drives open(d+2) / open(d+1): top quintile earns more than the bottom.
    assert spread["fwd_open_1"] > 0.01
    ranks = means["fwd_open_1_rank"]
    assert (np.diff(ranks) > 0).all()
    assert 0 < ranks.min() < 0.5 < ranks.max() <= 1
    signs = means["sign_fwd_open_1"]
    assert -1 <= signs.min() < 0 < signs.max() <= 1


def test_refuses_bad_targets() -> None:
    factor, bars = _bars(days=30)
    with pytest.raises(ConfigError, match="at least one target"):
        target_quantiles(factor, bars, [])
    with pytest.raises(ConfigError, match="unknown label 'fwd_high_5'"):
        target_quantiles(factor, bars, ["fwd_open_5", "fwd_high_5"])
    with pytest.raises(ConfigError, match="more than once"):
        target_quantiles(factor, bars, ["fwd_open_5", "fwd_open_5"])
    with pytest.raises(ConfigError, match="quantiles must be >= 1"):
        target_quantiles(factor, bars, ["fwd_open_5"], quantiles=0)


def test_units() -> None:
    assert target_unit("fwd_open_5_demeaned") == "return"
    assert target_unit("fwd_open_5_rank") == "percentile"
    assert target_unit("fwd_open_5_volnorm") == "sigma"
    assert target_unit("triple_barrier_21") == "barrier"
    with pytest.raises(ConfigError):
        target_unit("nope")
