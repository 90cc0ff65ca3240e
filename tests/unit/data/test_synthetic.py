from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.data.schema import validate_bars
from quant_core.data.sources.synthetic import SyntheticSource, generate_bars
from quant_core.errors import ConfigError


@pytest.fixture(scope="module")
def synthetic(calendar) -> pd.DataFrame:
    return generate_bars(calendar, symbols=200, days=1000, seed=7)


def test_same_seed_same_data(calendar, synthetic) -> None:
    again = generate_bars(calendar, symbols=200, days=1000, seed=7)
    other = generate_bars(calendar, symbols=200, days=1000, seed=8)
    pd.testing.assert_frame_equal(synthetic, again)
    assert not np.allclose(synthetic["close"].to_numpy()[:100], other["close"].to_numpy()[:100])


def test_shape_sessions_and_a_few_missing_bars(calendar, synthetic) -> None:
    assert synthetic["symbol"].nunique() == 200
    assert synthetic["date"].nunique() == 1000
    assert synthetic["date"].max() == pd.Timestamp("2024-12-31")
    missing = 200 * 1000 - len(synthetic)
    assert 0 < missing < 0.002 * 200 * 1000
    assert calendar.is_session(synthetic["date"].to_numpy(dtype="datetime64[D]")).all()


def test_bars_pass_validation(calendar, synthetic) -> None:
    result = validate_bars(synthetic, calendar)
    assert result.issues.empty
    assert len(result.bars) == len(synthetic)


def _returns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    close = frame.pivot(index="date", columns="symbol", values="close")
    opens = frame.pivot(index="date", columns="symbol", values="open")
    overnight = np.log((opens / close.shift()).to_numpy())[1:]
    intraday = np.log((close / opens).to_numpy())[1:]
    return overnight, intraday


def test_overnight_share_of_variance_is_realistic(synthetic) -> None:
    overnight, intraday = _returns(synthetic)
    share = np.nanvar(overnight) / (np.nanvar(overnight) + np.nanvar(intraday))
    assert 0.25 < share < 0.35


def test_annual_volatility_range(synthetic) -> None:
    overnight, intraday = _returns(synthetic)
    vol = np.nanstd(overnight + intraday, axis=0) * np.sqrt(252)
    assert vol.min() > 0.12
    assert vol.max() < 0.70


def test_volume_rises_with_the_size_of_the_move(synthetic) -> None:
    overnight, intraday = _returns(synthetic)
    volume = synthetic.pivot(index="date", columns="symbol", values="volume").to_numpy()[1:]
    size = np.abs(overnight + intraday)
    big = size > np.nanquantile(size, 0.9)
    small = size < np.nanquantile(size, 0.1)
    ratio = volume / np.nanmedian(volume, axis=0)
    assert np.nanmedian(ratio[big]) > np.nanmedian(ratio[small])


def test_source_is_labelled_synthetic(calendar) -> None:
    batch = SyntheticSource(calendar, symbols=3, days=10, seed=1).load()
    assert batch.meta.synthetic is True
    assert batch.meta.label.startswith("SYNTHETIC")
    assert batch.bars["symbol"].str.startswith("SYN").all()
    assert batch.bars.attrs["synthetic"] is True


def test_bad_sizes_are_refused(calendar) -> None:
    with pytest.raises(ConfigError):
        generate_bars(calendar, symbols=0, days=10, seed=1)
