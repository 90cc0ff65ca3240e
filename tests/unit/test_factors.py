from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.calendar import get_calendar
from quant_core.data.sources.synthetic import generate_bars
from quant_core.errors import ConfigError
from quant_core.factors import DEFAULT_FACTORS, make_factor


@pytest.fixture(scope="module")
def panels() -> dict[str, pd.DataFrame]:
    bars = generate_bars(get_calendar("XNYS"), 12, 400, seed=9, missing_frac=0.01)
    return {
        f: bars.pivot(index="date", columns="symbol", values=f)
        for f in ("open", "high", "low", "close", "volume")
    }


def test_names_round_trip() -> None:
    assert make_factor("momentum_126").name == "momentum_126"
    assert make_factor("momentum_252_21").name == "momentum_252_21"
    assert make_factor("momentum_252_21").window == 274
    assert make_factor("ma_ratio_50_200").window == 200
    assert make_factor("ma_ratio_50_200").name == "ma_ratio_50_200"
    assert make_factor("ma_ratio").name == "ma_ratio_50_200"
    assert make_factor("momentum_126_0").name == "momentum_126"
    assert make_factor("rsi").name == "rsi_14"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("momentum_1", "lookback must be >= 2"),
        ("ma_ratio_50_20", "fast must be < slow"),
        ("volatility_x", "integers"),
        ("magic_3", "unknown factor"),
    ],
)
def test_bad_factor_parameters(name, message) -> None:
    with pytest.raises(ConfigError, match=message):
        make_factor(name)


def test_momentum_values() -> None:
    close = pd.DataFrame({"A": [10.0, 11, 12.1, 12.1], "B": [20.0, np.nan, 22, 24.2]})
    value = make_factor("momentum_2").compute({"close": close})
    assert value["A"].round(6).tolist()[2:] == [0.21, 0.1]
    assert value["B"].iloc[2] == pytest.approx(
        0.1
    )  # the end points exist; the gap between is skipped
    assert np.isnan(value["B"].iloc[3])  # its start point, row 1, is missing


def test_rsi_and_distance_bounds(panels) -> None:
    rsi = make_factor("rsi_14").compute(panels)
    values = rsi.stack().dropna()
    assert ((values >= 0) & (values <= 100)).all()
    dist = make_factor("dist_high_252").compute(panels).stack().dropna()
    assert (dist <= 0).all()
    assert len(dist) > 1000


def test_rsi_is_nan_with_too_few_changes_known_and_50_on_a_flat_price() -> None:
    # 12 of 15 closes (enough closes), but 8 of 14 daily changes: too few for the means.
    # Before, the NaN means became 50.0, an invented value (310 cells of sp500-2010).
    index = pd.bdate_range("2010-01-04", periods=15)
    rng = np.random.default_rng(0)
    walk = 100 * np.cumprod(1 + rng.normal(0, 0.02, 15))
    close = pd.DataFrame({"GAPS": walk, "FLAT": 100.0}, index=index)
    close.iloc[[2, 6, 10], 0] = np.nan
    factor = make_factor("rsi_14")

    last = factor.compute({"close": close}).iloc[-1]
    latest = factor.latest({"close": close})

    assert np.isnan(last["GAPS"])
    assert np.isnan(latest["GAPS"])
    assert last["FLAT"] == 50.0
    assert latest["FLAT"] == 50.0


def test_a_missing_bar_does_not_blank_a_rolling_window() -> None:
    close = pd.DataFrame({"A": [10.0 + i for i in range(30)]})
    close.iloc[15, 0] = np.nan
    vol = make_factor("volatility_20").compute({"close": close})["A"]
    assert vol.iloc[25:].notna().all()  # 18 of 20 returns present: enough
    assert np.isnan(vol.iloc[15])  # no bar today, no value today


@pytest.mark.parametrize("name", DEFAULT_FACTORS)
def test_value_from_its_window_equals_value_from_full_history(panels, name) -> None:
    factor = make_factor(name)
    full = factor.compute(panels)
    assert full.shape == panels["close"].shape
    assert full.iloc[0].isna().all()  # no history, no value
    for t in (factor.window, 330, 399):
        window = {k: v.iloc[t - factor.window + 1 : t + 1] for k, v in panels.items()}
        pd.testing.assert_series_equal(
            factor.compute(window).iloc[-1], full.iloc[t], check_names=False
        )
        truncated = {k: v.iloc[: t + 1] for k, v in panels.items()}
        pd.testing.assert_series_equal(
            factor.compute(truncated).iloc[-1], full.iloc[t], check_names=False
        )
    assert full.iloc[factor.window :].notna().to_numpy().mean() > 0.5


@pytest.mark.parametrize(
    "name",
    [*DEFAULT_FACTORS, "momentum_2", "momentum_20_5", "reversal_2", "reversal_21", "ma_ratio"],
)
def test_the_last_row_alone_is_the_computed_last_row_to_the_bit(panels, name) -> None:
    # DataView.factor reads factor.latest at each decision: the same bits as the frame's last row,
    # on windows shorter and longer than the factor's, with a zero close and a missing one.
    factor = make_factor(name)
    close = panels["close"].copy()
    close.iloc[200, 0] = 0.0  # a zero close: inf or NaN, as pandas gives
    close.iloc[250, 1] = np.nan
    data = {**panels, "close": close}
    for end in (1, 2, factor.window - 1, factor.window, 201, 202, 230, 251, 400):
        for rows in (factor.window, factor.window + 7, end):
            window = {k: v.iloc[max(0, end - rows) : end] for k, v in data.items()}
            with np.errstate(divide="ignore", invalid="ignore"):  # log(0): volatility's own
                expected = factor.compute(window).iloc[-1]
                got = factor.latest(window)
            assert got.index.equals(expected.index)
            assert got.name == expected.name
            np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy(), strict=True)


def test_a_factor_window_beyond_any_history_is_refused_by_name() -> None:
    # Before: pandas' OverflowError inside compute, a traceback and exit 3.
    with pytest.raises(ConfigError, match=r"factor momentum: lookback must be <= 100,000"):
        make_factor("momentum_99999999999999999999")
    with pytest.raises(ConfigError, match=r"skip must be <= 100,000 sessions, got 100001"):
        make_factor("momentum_126_100001")
