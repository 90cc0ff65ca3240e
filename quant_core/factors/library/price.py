"""Price and volume factors. All windows are finite: see the contract in ``factors.base``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

import numpy as np
import pandas as pd
from typing_extensions import override

from quant_core.calendar import TRADING_DAYS_PER_YEAR
from quant_core.errors import ConfigError
from quant_core.factors.base import FACTORS, MIN_COVERAGE, Factor

DOLLARS_PER_MILLION = 1e6


def _log(frame: pd.DataFrame) -> pd.DataFrame:
    return cast(pd.DataFrame, np.log(frame))


def _enough(n: int) -> int:
    return max(2, math.ceil(MIN_COVERAGE * n))


def _covered(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    # True where today's bar is present, the data has a whole window of rows before it, and
    # enough of them hold a value (min_periods counts rows here: the frame has no NaN).
    count = frame.notna().rolling(window, min_periods=window).sum()
    return frame.notna() & (count >= _enough(window))


class _OverReturns(Factor):
    # A statistic of the last `lookback` daily changes: lookback + 1 rows of input.
    @property
    @override
    def window(self) -> int:
        return self.values["lookback"] + 1


@FACTORS.register("momentum")
class Momentum(Factor):
    """Return over ``lookback`` sessions ending ``skip`` sessions ago.

    ``close[t - skip] / close[t - skip - lookback] - 1``.
    """

    kind = "momentum"
    params = (("lookback", 126), ("skip", 0))

    @property
    @override
    def window(self) -> int:
        return self.values["lookback"] + self.values["skip"] + 1

    @override
    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        close = data["close"]
        skip, lookback = self.values["skip"], self.values["lookback"]
        value: pd.DataFrame = close.shift(skip) / close.shift(skip + lookback) - 1
        return value.where(close.notna())

    @override
    def latest(self, data: Mapping[str, pd.DataFrame]) -> pd.Series:
        # The two rows of the last return, not the window's shifted frames.
        close = data["close"]
        skip, lookback = self.values["skip"], self.values["lookback"]
        rows = close.to_numpy(dtype=float)
        value = np.full(rows.shape[1], np.nan)
        if len(rows) > skip + lookback:
            with np.errstate(divide="ignore", invalid="ignore"):  # as pandas: inf, NaN
                value = rows[-1 - skip] / rows[-1 - skip - lookback] - 1
            value[np.isnan(rows[-1])] = np.nan
        return pd.Series(value, index=close.columns, name=close.index[-1])


@FACTORS.register("reversal")
class Reversal(_OverReturns):
    """Short-term reversal: minus the return over ``lookback`` sessions."""

    kind = "reversal"
    params = (("lookback", 5),)

    @override
    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        close = data["close"]
        value: pd.DataFrame = 1 - close / close.shift(self.values["lookback"])
        return value

    @override
    def latest(self, data: Mapping[str, pd.DataFrame]) -> pd.Series:
        close = data["close"]
        lookback = self.values["lookback"]
        rows = close.to_numpy(dtype=float)
        value = np.full(rows.shape[1], np.nan)
        if len(rows) > lookback:
            with np.errstate(divide="ignore", invalid="ignore"):
                value = 1 - rows[-1] / rows[-1 - lookback]
        return pd.Series(value, index=close.columns, name=close.index[-1])


@FACTORS.register("volatility")
class Volatility(_OverReturns):
    """Realised volatility: annualised standard deviation of daily log returns."""

    kind = "volatility"
    params = (("lookback", 20),)

    @override
    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        returns = _log(data["close"] / data["close"].shift())
        n = self.values["lookback"]
        value: pd.DataFrame = returns.rolling(n, min_periods=_enough(n)).std() * np.sqrt(
            TRADING_DAYS_PER_YEAR
        )
        return value.where(_covered(data["close"], self.window))


@FACTORS.register("rsi")
class RSI(_OverReturns):
    """Relative strength index with simple averages (Cutler's RSI), 0..100.

    Wilder's RSI smooths recursively over the whole history, so its value depends on data
    older than any window; Cutler's uses the same ``lookback`` mean for gains and losses.
    """

    kind = "rsi"
    params = (("lookback", 14),)

    @override
    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        change = data["close"].diff()
        n = self.values["lookback"]
        gain = change.clip(lower=0).rolling(n, min_periods=_enough(n)).mean()
        loss = (-change.clip(upper=0)).rolling(n, min_periods=_enough(n)).mean()
        total = gain + loss
        # No gain and no loss (a flat price) is 50; too few changes known is NaN, not 50.
        value = (100 * gain / total.where(total > 0)).mask(total == 0, 50.0)
        return value.where(_covered(data["close"], self.window))


@FACTORS.register("ma_ratio")
class MovingAverageRatio(Factor):
    """Fast over slow simple moving average of the close, minus one."""

    kind = "ma_ratio"
    params = (("fast", 50), ("slow", 200))

    def _validate(self) -> None:
        super()._validate()
        if self.values["fast"] >= self.values["slow"]:
            raise ConfigError(f"factor {self.name}: fast must be < slow")

    @property
    @override
    def window(self) -> int:
        return self.values["slow"]

    @override
    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        close = data["close"]
        fast, slow = self.values["fast"], self.values["slow"]
        value = (
            close.rolling(fast, min_periods=_enough(fast)).mean()
            / close.rolling(slow, min_periods=_enough(slow)).mean()
            - 1
        )
        return value.where(_covered(close, self.window))


@FACTORS.register("volume_z")
class VolumeZScore(Factor):
    """Today's log volume against the mean and deviation of the last ``lookback`` sessions."""

    kind = "volume_z"
    inputs = ("volume",)
    params = (("lookback", 20),)

    @property
    @override
    def window(self) -> int:
        return self.values["lookback"]

    @override
    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        volume = _log(data["volume"] + 1.0)
        n = self.values["lookback"]
        rolling = volume.rolling(n, min_periods=_enough(n))
        std = rolling.std()
        value = (volume - rolling.mean()) / std.where(std > 0)
        return value.where(_covered(data["volume"], self.window))


@FACTORS.register("amihud")
class Amihud(_OverReturns):
    """Amihud illiquidity: mean of |return| per million dollars traded."""

    kind = "amihud"
    inputs = ("close", "volume")
    params = (("lookback", 20),)

    @override
    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        close, volume = data["close"], data["volume"]
        dollars = (close * volume).where(volume > 0)
        ratio = (close / close.shift() - 1).abs() / dollars * DOLLARS_PER_MILLION
        n = self.values["lookback"]
        value = ratio.rolling(n, min_periods=_enough(n)).mean()
        return value.where(_covered(close, self.window) & _covered(volume, self.window))


@FACTORS.register("dist_high")
class DistanceToHigh(Factor):
    """Close over the highest high of the last ``lookback`` sessions, minus one (<= 0)."""

    kind = "dist_high"
    inputs = ("close", "high")
    params = (("lookback", 252),)

    @property
    @override
    def window(self) -> int:
        return self.values["lookback"]

    @override
    def compute(self, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        n = self.values["lookback"]
        highest = data["high"].rolling(n, min_periods=_enough(n)).max()
        value = data["close"] / highest - 1
        return value.where(_covered(data["high"], self.window) & data["close"].notna())
