"""Labels against hand-computed panels, the triple-barrier tie rule, truncation, properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from quant_core.calendar import get_calendar
from quant_core.data.sources.synthetic import generate_bars
from quant_core.errors import ConfigError, DataError
from quant_core.research.labels import label_panel, parse_label, trailing_vol, triple_barrier
from quant_core.research.spec import ModelSpec

NAN = np.nan
KIND_NAMES = (
    "fwd_open_3",
    "fwd_close_3",
    "fwd_open_3_demeaned",
    "fwd_open_3_rank",
    "fwd_open_3_volnorm",
    "sign_fwd_open_3",
    "triple_barrier_3",
)


def frame(columns: dict[str, list[float]]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.date_range("2024-01-01", periods=n, freq="B"))


def assert_frame(actual: pd.DataFrame, expected: dict[str, list[float]]) -> None:
    np.testing.assert_allclose(actual.to_numpy(), frame(expected).to_numpy(), rtol=1e-12)


# open: A steady, B up and down, C with a missing open on row 2.
OPEN = frame(
    {
        "A": [10, 11, 12, 13, 14, 15],
        "B": [20, 20, 22, 21, 20, 24],
        "C": [50, 40, NAN, 45, 50, 55],
    }
)
CLOSE = frame({"A": [100, 110, 99, 99, NAN, 120]})


def test_fwd_open_from_the_next_open() -> None:
    got = label_panel("fwd_open_1", {"open": OPEN})
    expected = {
        "A": [1 / 11, 1 / 12, 1 / 13, 1 / 14, NAN, NAN],
        "B": [0.1, -1 / 22, -1 / 21, 0.2, NAN, NAN],
        "C": [NAN, NAN, 1 / 9, 0.1, NAN, NAN],
    }
    assert_frame(got, expected)
    assert got.index.equals(OPEN.index)
    assert list(got.columns) == ["A", "B", "C"]
    got2 = label_panel("fwd_open_2", {"open": OPEN})
    expected2 = {
        "A": [2 / 11, 1 / 6, 2 / 13, NAN, NAN, NAN],
        "B": [0.05, -1 / 11, 1 / 7, NAN, NAN, NAN],
        "C": [0.125, NAN, 2 / 9, NAN, NAN, NAN],
    }
    assert_frame(got2, expected2)


def test_fwd_close_from_the_same_close() -> None:
    assert_frame(
        label_panel("fwd_close_1", {"close": CLOSE}), {"A": [0.1, -0.1, 0.0, NAN, NAN, NAN]}
    )
    assert_frame(
        label_panel("fwd_close_2", {"close": CLOSE}), {"A": [-0.01, -0.1, NAN, 7 / 33, NAN, NAN]}
    )


def test_demeaned_and_rank_use_the_valid_cells_of_the_row() -> None:
    demeaned = label_panel("fwd_open_1_demeaned", {"open": OPEN})
    np.testing.assert_allclose(demeaned.iloc[0], [-1 / 220, 1 / 220, NAN], rtol=1e-12)
    np.testing.assert_allclose(demeaned.iloc[3], [-11 / 210, 8 / 105, -1 / 42], rtol=1e-12)
    rank = label_panel("fwd_open_1_rank", {"open": OPEN})
    np.testing.assert_allclose(rank.iloc[0], [0.5, 1.0, NAN])
    np.testing.assert_allclose(rank.iloc[1], [1.0, 0.5, NAN])
    np.testing.assert_allclose(rank.iloc[3], [1 / 3, 1.0, 2 / 3])
    assert rank.iloc[4:].isna().all().all()


def test_ties_share_a_rank_and_sign_keeps_zero() -> None:
    opens = {"open": frame({"X": [10, 10, 10], "Y": [10, 20, 30], "Z": [10, 5, 5]})}
    np.testing.assert_allclose(label_panel("fwd_open_1_rank", opens).iloc[0], [0.5, 1.0, 0.5])
    np.testing.assert_allclose(
        label_panel("fwd_open_1_demeaned", opens).iloc[0], [-1 / 6, 1 / 3, -1 / 6]
    )
    sign = label_panel("sign_fwd_open_1", opens)
    np.testing.assert_array_equal(sign.iloc[0], [0.0, 1.0, 0.0])
    assert sign.iloc[1:].isna().all().all()
    np.testing.assert_array_equal(
        label_panel("sign_fwd_open_1", {"open": OPEN}).iloc[:4],
        [[1, 1, NAN], [1, -1, NAN], [1, -1, 1], [1, 1, 1]],
    )


def alternating_close(n_returns: int) -> np.ndarray:
    # close[0] = 100, then returns +1 %, -1 %, +1 %, ...
    steps = np.where(np.arange(n_returns) % 2 == 0, 1.01, 0.99)
    return 100 * np.concatenate([[1.0], np.cumprod(steps)])


def test_trailing_vol_by_hand() -> None:
    # returns 0.1, -0.1, 0.1, -0.2: the last 4 have mean -0.025 and sample variance 0.0675 / 3.
    close = frame({"A": [100, 110, 99, 108.9, 87.12]})
    sigma = trailing_vol(close, window=4, min_obs=3)["A"].to_numpy()
    np.testing.assert_allclose(sigma, [NAN, NAN, NAN, math.sqrt(12) / 30, 0.15], rtol=1e-9)
    alt = frame({"A": list(alternating_close(20))})
    got = trailing_vol(alt)["A"]
    assert got.iloc[20] == pytest.approx(0.01 * math.sqrt(20 / 19), rel=1e-9)
    assert got.iloc[:16].isna().all()  # at most 15 returns
    assert np.isfinite(got.iloc[16])  # 16 returns


def test_trailing_vol_needs_16_returns_and_a_moving_price() -> None:
    values = alternating_close(20)
    values[[10]] = NAN  # two returns lost: 18 left
    assert np.isfinite(trailing_vol(frame({"A": list(values)}))["A"].iloc[20])
    values[[5, 15]] = NAN  # six lost: 14 left
    assert np.isnan(trailing_vol(frame({"A": list(values)}))["A"].iloc[20])
    flat = trailing_vol(frame({"A": [50.0] * 25}))
    assert flat["A"].isna().all()
    with pytest.raises(ConfigError, match="min_obs"):
        trailing_vol(flat, window=4, min_obs=5)


def test_volnorm_divides_by_sigma_root_h() -> None:
    close = list(alternating_close(20)) + [100.0] * 5
    opens = [100.0] * 21 + [100.0, 101.0, 102.0, 103.0, 104.0]
    bars = {"open": frame({"A": opens}), "close": frame({"A": close})}
    got = label_panel("fwd_open_4_volnorm", bars)["A"]
    # fwd_open_4[20] = 104 / 100 - 1 = 0.04; sigma[20] = 0.01 * sqrt(20/19); sqrt(4) = 2.
    assert got.iloc[20] == pytest.approx(2 * math.sqrt(19 / 20), rel=1e-9)
    assert got.iloc[:16].isna().all()  # no sigma yet
    assert got.iloc[-5:].isna().all()  # span 5


# Triple barrier, h = 3, sigma = 0.125: entry 100 -> barriers 125 and 75 (exact in binary).
# Row 0 is the signal; bars 1..3 are scanned. Each column is one scenario: (open, high, low).
SCENARIOS: dict[str, tuple[list[tuple[float, float, float]], float]] = {
    "up_first": ([(100, 110, 95), (104, 125, 100), (90, 95, 60)], 1.0),
    "down_first": ([(100, 105, 95), (96, 100, 75), (120, 130, 110)], -1.0),
    "neither": ([(100, 124, 76), (110, 124.9, 100), (90, 95, 75.1)], 0.0),
    "tie_in_one_bar": ([(100, 110, 90), (100, 126, 74), (100, 101, 99)], -1.0),
    "tie_on_entry_bar": ([(100, 130, 70), (100, 101, 99), (100, 101, 99)], -1.0),
    "gap_up_beyond_upper": ([(100, 110, 90), (130, 131, 70), (100, 101, 99)], 1.0),
    "gap_down_beyond_lower": ([(100, 110, 90), (70, 130, 60), (100, 101, 99)], -1.0),
    "open_at_upper": ([(100, 110, 90), (125, 126, 74), (100, 101, 99)], 1.0),
    "up_on_last_bar": ([(100, 110, 90), (100, 110, 90), (110, 126, 100)], 1.0),
    "missing_later_bar": ([(100, 130, 95), (100, 101, 99), (NAN, NAN, NAN)], NAN),
    "missing_high": ([(100, 110, 90), (100, NAN, 99), (100, 101, 99)], NAN),
    "tie_unknown_open": ([(100, 110, 90), (NAN, 126, 74), (100, 101, 99)], NAN),
    "single_touch_unknown_open": ([(100, 110, 90), (NAN, 126, 80), (100, 101, 99)], 1.0),
    "missing_entry_open": ([(NAN, 110, 90), (100, 101, 99), (100, 101, 99)], NAN),
}


def scenario_bars(rows: int = 4) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    cols: dict[str, dict[str, list[float]]] = {"open": {}, "high": {}, "low": {}}
    for name, (path, _) in SCENARIOS.items():
        signal_row = [(99.0, 100.0, 98.0)]
        filler = [(100.0, 101.0, 99.0)] * (rows - 1 - len(path))
        for i, key in enumerate(("open", "high", "low")):
            cols[key][name] = [bar[i] for bar in signal_row + path + filler]
    bars = {key: frame(value) for key, value in cols.items()}
    sigma = pd.DataFrame(0.125, index=bars["open"].index, columns=bars["open"].columns)
    return bars, sigma


def test_triple_barrier_scenarios() -> None:
    bars, sigma = scenario_bars()
    got = triple_barrier(bars, sigma, 3)
    expected = pd.Series({name: value for name, (_, value) in SCENARIOS.items()})
    pd.testing.assert_series_equal(got.iloc[0], expected, check_names=False)
    assert got.iloc[1:].isna().all().all()  # the last span = 3 rows


def test_triple_barrier_needs_sigma() -> None:
    bars, sigma = scenario_bars()
    sigma.iloc[0, 0] = NAN
    sigma.iloc[0, 1] = 0.0
    got = triple_barrier(bars, sigma, 3).iloc[0]
    assert got.iloc[:2].isna().all()
    assert got.iloc[2] == 0.0


def test_triple_barrier_horizon_limits_the_scan() -> None:
    bars, sigma = scenario_bars(rows=6)
    got = triple_barrier(bars, sigma, 1).iloc[0]
    assert got["up_first"] == 0.0  # its upper touch is on bar 2
    assert got["tie_on_entry_bar"] == -1.0
    assert got["missing_later_bar"] == 1.0  # bar 3 is not scanned
    assert math.isnan(got["missing_entry_open"])


def test_triple_barrier_through_label_panel() -> None:
    close = list(alternating_close(20)) + [100.0] * 2
    opens = [100.0] * 23
    bars = {
        "open": frame({"U": opens, "D": opens}),
        "close": frame({"U": close, "D": close}),
        # sigma[20] = 0.01 * sqrt(20/19) ~ 0.01026: barriers ~ 102.05 and ~ 97.95.
        "high": frame({"U": [101.0] * 21 + [101.0, 102.1], "D": [101.0] * 23}),
        "low": frame({"U": [99.0] * 23, "D": [99.0] * 21 + [99.0, 97.9]}),
    }
    got = label_panel("triple_barrier_2", bars)
    assert got.loc[got.index[20]].tolist() == [1.0, -1.0]
    assert got.iloc[:16].isna().all().all()  # no sigma yet
    assert got.iloc[-2:].isna().all().all()


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    long = generate_bars(get_calendar("XNYS"), 8, 80, seed=3, missing_frac=0.02)
    return {
        f: long.pivot(index="date", columns="symbol", values=f)
        for f in ("open", "high", "low", "close")
    }


@pytest.mark.parametrize("name", KIND_NAMES)
def test_no_look_ahead_and_a_tight_span(name: str, bars: dict[str, pd.DataFrame]) -> None:
    span = parse_label(name).span
    full = label_panel(name, bars)
    n = len(full)
    assert full.iloc[n - span :].isna().all().all()
    assert full.iloc[n - span - 1].notna().any()
    rng = np.random.default_rng(5)
    for d in (30, 45, 60):
        cut = label_panel(name, {k: v.iloc[: d + span + 1] for k, v in bars.items()})
        pd.testing.assert_series_equal(cut.iloc[d], full.iloc[d])
        # Rows sigma does not read (before d - 20), and open/high/low up to d: never read.
        moved = {k: v.copy() for k, v in bars.items()}
        for k in moved:
            moved[k].iloc[: d - 20] *= rng.uniform(0.5, 2.0, moved[k].iloc[: d - 20].shape)
            if k != "close":
                moved[k].iloc[d - 20 : d + 1] *= 1.37
        pd.testing.assert_series_equal(label_panel(name, moved).iloc[d], full.iloc[d])
        # The label does read row d + span: blank it and row d has no label.
        holed = {k: v.copy() for k, v in bars.items()}
        for v in holed.values():
            v.iloc[d + span] = NAN
        assert label_panel(name, holed).iloc[d].isna().all()


def naive_triple_barrier(o, h, lo, sigma, horizon):
    # The rule read off the docstring, one cell at a time.
    n, m = o.shape
    out = np.full((n, m), NAN)
    for d in range(n - horizon):
        for j in range(m):
            p0, s = o[d + 1, j], sigma[d, j]
            bars = [(o[d + k, j], h[d + k, j], lo[d + k, j]) for k in range(1, horizon + 1)]
            if not (np.isfinite(p0) and s > 0) or any(np.isnan(b[1:]).any() for b in bars):
                continue
            up, dn, value = p0 * (1 + 2 * s), p0 * (1 - 2 * s), 0.0
            for k, (bo, bh, bl) in enumerate(bars, start=1):
                if k > 1 and bo >= up:
                    value = 1.0
                elif k > 1 and bo <= dn:
                    value = -1.0
                elif bh >= up and bl <= dn:
                    value = -1.0 if (k == 1 or np.isfinite(bo)) else NAN
                elif bh >= up or bl <= dn:
                    value = 1.0 if bh >= up else -1.0
                else:
                    continue
                break
            out[d, j] = value
    return out


moves = arrays(np.float64, (12, 3), elements=st.floats(-0.08, 0.08))


@settings(max_examples=60, deadline=None)
@given(moves, moves, moves, st.integers(1, 4), st.floats(0.005, 0.06))
def test_properties(drift, up, down, horizon, vol) -> None:
    open_ = 100 * np.exp(np.cumsum(drift, axis=0))
    high = open_ * (1 + np.abs(up))
    low = open_ * (1 - np.abs(down))
    open_[3, 1] = NAN
    high[7, 2] = NAN
    bars = {k: pd.DataFrame(v) for k, v in (("open", open_), ("high", high), ("low", low))}
    bars["close"] = bars["open"]
    sigma = pd.DataFrame(np.full(open_.shape, vol))
    got = triple_barrier(bars, sigma, horizon).to_numpy()
    np.testing.assert_array_equal(
        got, naive_triple_barrier(open_, high, low, sigma.to_numpy(), horizon)
    )
    assert set(np.unique(got[np.isfinite(got)])) <= {-1.0, 0.0, 1.0}
    fwd = label_panel(f"fwd_open_{horizon}", bars)
    rank = label_panel(f"fwd_open_{horizon}_rank", bars).to_numpy()
    demeaned = label_panel(f"fwd_open_{horizon}_demeaned", bars)
    sign = label_panel(f"sign_fwd_open_{horizon}", bars).to_numpy()
    valid = fwd.notna().to_numpy()
    np.testing.assert_array_equal(np.isfinite(rank), valid)
    assert ((rank[valid] > 0) & (rank[valid] <= 1)).all()
    sums = demeaned.sum(axis=1)[fwd.notna().any(axis=1)]
    np.testing.assert_allclose(sums, 0.0, atol=1e-12)
    np.testing.assert_array_equal(sign[valid], np.sign(fwd.to_numpy()[valid]))


@pytest.mark.parametrize(
    "name", ["foo_5", "fwd_open_0", "fwd_open_253", "fwd_open_5_zscore", "triple_barrier_x", ""]
)
def test_bad_label_names_are_named(name: str) -> None:
    with pytest.raises(ConfigError, match=repr(name).replace("[", r"\[")):
        parse_label(name)
    with pytest.raises(ConfigError):
        label_panel(name, {"open": OPEN})


def test_bad_bars_are_named() -> None:
    with pytest.raises(DataError, match=r"triple_barrier_2.*\['high', 'low', 'close'\]"):
        label_panel("triple_barrier_2", {"open": OPEN})
    with pytest.raises(DataError, match="'close' panel is not aligned"):
        label_panel("fwd_open_2_volnorm", {"open": OPEN, "close": CLOSE})
    bad = OPEN.copy()
    bad.iloc[2, 1] = -3.0
    with pytest.raises(DataError, match=r"open of B on 2024-01-03.*-3\.0"):
        label_panel("fwd_open_1", {"open": bad})


def test_spec_accepts_every_label_kind() -> None:
    spec = ModelSpec(name="m", factors=["momentum_126"], target="triple_barrier_5")
    assert parse_label(spec.target).span == 5
    for name in KIND_NAMES:
        assert ModelSpec(name="m", factors=["momentum_126"], target=name).target == name
    with pytest.raises(ValueError, match="embargo"):
        ModelSpec(name="m", factors=["momentum_126"], target="triple_barrier_9")
