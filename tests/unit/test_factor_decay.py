"""IC decay over horizons and IC by sector (quant_core/factors/decay.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import ConfigError, DataError
from quant_core.factors.analysis import analyze_factor
from quant_core.factors.cross_section import Method
from quant_core.factors.decay import DECAY_COLUMNS, SECTOR_COLUMNS, ic_by_sector, ic_decay
from quant_core.factors.ic import forward_returns, information_coefficient, newey_west_t

DATES = pd.bdate_range("2024-01-01", periods=4)


def _hand_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    # Three symbols, four sessions; the forward returns at h=1 are chosen so the ICs are known:
    # T0: factor (1, 2, 3), returns (1%, 3%, 2%) -> centred x (-1, 0, 1), y (-1%, 1%, 0):
    #     cov 0.01, |x| |y| = sqrt(2) sqrt(0.0002) = 0.02 -> IC 0.5; ranks (1, 3, 2): rank IC 0.5.
    # T1: factor (3, 2, 1), returns (1%, 2%, 3%) -> IC -1, rank IC -1.
    # T2: factor (1, 2, 3), returns (0, 0, 1%) -> centred y (-1/3, -1/3, 2/3)%: IC
    #     = 1 / (sqrt(2) sqrt(2/3)) = sqrt(3)/2; ranks (1.5, 1.5, 3): rank IC sqrt(3)/2.
    # T3: no forward return at h=1 (the last session).
    factor = pd.DataFrame(
        [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]],
        index=DATES,
        columns=["A", "B", "C"],
    )
    c0 = np.array([100.0, 100.0, 100.0])
    c1 = c0 * [1.01, 1.03, 1.02]
    c2 = c1 * [1.01, 1.02, 1.03]
    c3 = c2 * [1.0, 1.0, 1.01]
    close = pd.DataFrame([c0, c1, c2, c3], index=DATES, columns=["A", "B", "C"])
    return factor, close


def _random_panel(seed: int = 3, days: int = 160, names: int = 36):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2023-01-02", periods=days)
    symbols = [f"S{i:02d}" for i in range(names)]
    signal = rng.normal(size=(days, names))
    noise = rng.normal(0.0, 0.01, (days, names))
    # Returns load on yesterday's factor, so the IC is positive and decays with the horizon.
    returns = np.vstack([noise[:1], 0.004 * signal[:-1] + noise[1:]])
    close = pd.DataFrame(100 * np.exp(np.cumsum(returns, axis=0)), dates, symbols)
    # Ties in the factor (rounded), gaps in both panels, and factor values whose symbol has no
    # close some sessions later (the rows the decay must rank again).
    factor = pd.DataFrame(np.round(signal, 1), dates, symbols)
    factor = factor.mask(rng.random((days, names)) < 0.08)
    close = close.mask(rng.random((days, names)) < 0.03)
    close.iloc[100:, :3] = np.nan  # three names delisted
    return factor, close


def test_hand_computed_ic_at_h1() -> None:
    factor, close = _hand_panel()
    out = ic_decay(factor, close, horizons=[1], min_pairs=3)
    assert list(out.columns) == DECAY_COLUMNS
    row = out.iloc[0]
    half_root3 = np.sqrt(3) / 2
    assert row["horizon"] == 1
    assert row["sessions"] == 3
    assert row["ic_mean"] == pytest.approx((0.5 - 1.0 + half_root3) / 3, abs=1e-12)
    assert row["rank_ic_mean"] == pytest.approx((0.5 - 1.0 + half_root3) / 3, abs=1e-12)
    # h = 1: no lags, the plain t of the three daily rank ICs.
    daily = np.array([0.5, -1.0, half_root3])
    assert row["t"] == pytest.approx(newey_west_t(daily, 0), abs=1e-12)


def test_hand_panel_min_pairs_leaves_sessions_out() -> None:
    factor, close = _hand_panel()
    out = ic_decay(factor, close, horizons=[1, 2], min_pairs=4)
    assert out["sessions"].tolist() == [0, 0]
    assert out[["ic_mean", "rank_ic_mean", "t"]].isna().all().all()


def test_h1_equals_information_coefficient() -> None:
    factor, close = _random_panel()
    out = ic_decay(factor, close, horizons=[1])
    forward = forward_returns(close, 1)
    pairs: tuple[tuple[Method, str], ...] = (("pearson", "ic_mean"), ("spearman", "rank_ic_mean"))
    for method, column in pairs:
        daily = information_coefficient(factor, forward, method)
        assert out[column].iloc[0] == pytest.approx(daily.mean(), abs=1e-14)
    assert out["sessions"].iloc[0] == information_coefficient(factor, forward).notna().sum()


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_every_horizon_equals_the_single_horizon_analysis(method: str) -> None:
    factor, close = _random_panel()
    horizons = [1, 2, 5, 10, 21]
    out = ic_decay(factor, close, horizons=horizons, method=method, min_pairs=10)
    assert out["horizon"].tolist() == horizons
    for h, row in zip(horizons, out.itertuples(), strict=True):
        single = analyze_factor("f", factor, close, horizon=h, min_pairs=10)
        chosen = single.rank_ic_summary if method == "spearman" else single.ic_summary
        assert row.ic_mean == pytest.approx(single.ic_summary.mean, abs=1e-15)
        assert row.rank_ic_mean == pytest.approx(single.rank_ic_summary.mean, abs=1e-15)
        assert row.sessions == chosen.sessions
        assert row.t == pytest.approx(chosen.t_stat, abs=1e-12)


@pytest.mark.parametrize("cut", ["ends_early", "skips_a_session"])
def test_a_factor_shorter_than_the_closes_equals_the_single_horizon_analysis(cut: str) -> None:
    # The decay cut the closes to the factor's sessions before the forward returns: a factor
    # computed before the latest sync lost its last h sessions' ICs, and one with a session
    # missing got returns over h + 1 sessions; analyze_factor reads the whole close panel.
    factor, close = _random_panel()
    factor = factor.iloc[:-30] if cut == "ends_early" else factor.drop(factor.index[80])
    out = ic_decay(factor, close, horizons=[5], min_pairs=10)
    single = analyze_factor("f", factor, close, horizon=5, min_pairs=10)
    assert out["rank_ic_mean"].iloc[0] == pytest.approx(single.rank_ic_summary.mean, abs=1e-15)
    assert out["ic_mean"].iloc[0] == pytest.approx(single.ic_summary.mean, abs=1e-15)
    assert out["sessions"].iloc[0] == single.rank_ic_summary.sessions


def test_planted_signal_decays() -> None:
    factor, close = _random_panel(days=300)
    out = ic_decay(factor, close, horizons=[1, 21], min_pairs=10)
    # The factor predicts only the next session's return: its IC is largest at h=1 and about
    # sqrt(21) times smaller over 21 sessions (the other 20 returns are noise).
    assert out["rank_ic_mean"].iloc[0] > 0.2
    assert out["rank_ic_mean"].iloc[1] < out["rank_ic_mean"].iloc[0] / 2
    assert out["t"].iloc[0] > 10


def test_decay_refuses_bad_arguments() -> None:
    factor, close = _hand_panel()
    with pytest.raises(ConfigError, match="at least one horizon"):
        ic_decay(factor, close, horizons=[])
    with pytest.raises(ConfigError, match="horizon must be >= 1"):
        ic_decay(factor, close, horizons=[1, 0])
    with pytest.raises(ConfigError, match="method"):
        ic_decay(factor, close, method="kendall")


def test_by_sector_equals_the_sector_sub_panel() -> None:
    factor, close = _random_panel()
    symbols = list(factor.columns)
    sectors = pd.Series({s: ("Tech" if i % 3 == 0 else "Energy") for i, s in enumerate(symbols)})
    del sectors[symbols[1]]  # no entry: Unknown
    sectors[symbols[2]] = None  # no sector: Unknown
    sectors["ZZZ"] = "Tech"  # not in the panel: ignored
    out = ic_by_sector(factor, close, sectors, horizon=5, min_pairs=2)
    assert list(out.columns) == SECTOR_COLUMNS
    assert out["sector"].tolist() == ["Energy", "Tech", "Unknown"]
    members = {
        "Tech": [s for i, s in enumerate(symbols) if i % 3 == 0],
        "Energy": [s for i, s in enumerate(symbols) if i % 3 and i not in (1, 2)],
        "Unknown": symbols[1:3],
    }
    for row in out.itertuples():
        names = members[str(row.sector)]
        assert row.names == len(names)
        single = analyze_factor("f", factor[names], close[names], horizon=5, min_pairs=2)
        assert row.ic_mean == pytest.approx(single.ic_summary.mean, abs=1e-15)
        assert row.rank_ic_mean == pytest.approx(single.rank_ic_summary.mean, abs=1e-15)
        assert row.sessions == single.rank_ic_summary.sessions
        assert row.t == pytest.approx(single.rank_ic_summary.t_stat, abs=1e-12)
    # Within-sector ICs differ from the pooled one: the sub-panels are really used.
    pooled = ic_decay(factor, close, horizons=[5], min_pairs=2)["rank_ic_mean"].iloc[0]
    assert not np.isclose(out["rank_ic_mean"].iloc[0], pooled)


def test_small_sector_gets_nan_below_min_pairs() -> None:
    factor, close = _random_panel()
    symbols = list(factor.columns)
    sectors = pd.Series("Big", index=symbols)
    sectors[symbols[:5]] = "Small"
    out = ic_by_sector(factor, close, sectors, horizon=1, min_pairs=10)
    rows = {row["sector"]: row for row in out.to_dict("records")}
    assert rows["Small"]["names"] == 5
    assert rows["Small"]["sessions"] == 0
    assert np.isnan(rows["Small"]["rank_ic_mean"])
    assert np.isnan(rows["Small"]["t"])
    assert rows["Big"]["sessions"] > 100


def test_by_sector_refuses_a_symbol_listed_twice() -> None:
    factor, close = _hand_panel()
    sectors = pd.Series(["Tech", "Energy", "Tech"], index=["A", "A", "B"])
    with pytest.raises(DataError, match=r"\['A'\] more than once"):
        ic_by_sector(factor, close, sectors, horizon=1)
