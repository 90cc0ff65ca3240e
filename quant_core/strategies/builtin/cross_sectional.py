"""Cross-sectional strategies: rank symbols against each other at the T-1 close."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, field_validator
from typing_extensions import override

from quant_core.compiled import compiled
from quant_core.data.panels import MarketData
from quant_core.factors import make_factor
from quant_core.portfolio.schedule import Rule
from quant_core.strategies.base import (
    Picks,
    Strategy,
    StrategyContext,
    StrategyParams,
    register_strategy,
)


def top_k(signal: pd.Series, quantile: float) -> pd.Index:
    """Return the symbols of the top ``quantile`` of valid signals.

    ``k = max(1, floor(quantile x count))``; ties are broken by symbol, ascending.
    """
    index = signal.index
    if index.is_monotonic_increasing:
        chosen: pd.Index = index[top_k_positions(signal.to_numpy(dtype=float), quantile)]
        return chosen
    order = np.argsort(index.to_numpy(dtype=str), kind="stable")  # rank on a sorted copy
    picked = top_k_positions(signal.to_numpy(dtype=float)[order], quantile)
    sorted_pick: pd.Index = index[order[picked]]
    return sorted_pick


def top_k_positions(values: np.ndarray, quantile: float) -> np.ndarray:
    """Return the positions of the top ``quantile`` of finite ``values``.

    ``k = max(1, floor(quantile x count))``; ties go to the lower position (on a sorted symbol
    axis: the symbol first in order).
    """
    valid = np.flatnonzero(np.isfinite(values))
    if valid.size == 0:
        return valid
    k = max(1, int(np.floor(quantile * valid.size)))
    # A stable sort of the descending values keeps tied positions ascending (valid is sorted).
    return np.asarray(valid[np.argsort(-values[valid], kind="stable")][:k])


@compiled
def top_quantile_rows(signal: np.ndarray, quantile: float) -> np.ndarray:
    """Return, row by row of ``signal``, 1/k on :func:`top_k_positions` and 0 elsewhere.

    The same k names without sorting: every value above the k-th largest, then those equal to
    it in position order (the stable sort's ties) until k; each weighs 1/k, in any order.
    """
    out = np.zeros(signal.shape)
    for r in range(signal.shape[0]):
        values = signal[r]
        valid = np.flatnonzero(np.isfinite(values))
        if valid.size == 0:
            continue
        k = max(1, int(np.floor(quantile * valid.size)))
        share = 1.0 / k
        if k >= valid.size:
            out[r, valid] = share
            continue
        kth = -np.partition(-values[valid], k - 1)[k - 1]  # the k-th largest value
        left = k
        for j in valid:
            if values[j] > kth:
                out[r, j] = share
                left -= 1
        for j in valid:
            if left == 0:
                break
            if values[j] == kth:
                out[r, j] = share
                left -= 1
    return out


def equal_weight(symbols: pd.Index, total: float = 1.0) -> pd.Series:
    """Return ``total`` split equally across ``symbols``."""
    if len(symbols) == 0:
        return pd.Series(dtype=float)
    return pd.Series(total / len(symbols), index=symbols)


def quantile_book(score: pd.Series, quantile: float, long_short: bool) -> pd.Series:
    """Return the weights of the top ``quantile`` of ``score`` (:func:`top_k`), 1/k each.

    ``long_short``: also the bottom quantile short (names not already long), longs summing to
    0.5 and shorts to -0.5.
    """
    longs = top_k(score, quantile)
    if not long_short:
        return equal_weight(longs)
    shorts = top_k(-score, quantile).difference(longs)
    both: pd.Series = pd.concat([equal_weight(longs, 0.5), equal_weight(shorts, -0.5)])
    return both


def quantile_weights(score: np.ndarray, quantile: float, long_short: bool) -> np.ndarray:
    """Return :func:`quantile_book` per position of ``score`` (symbols sorted), 0 elsewhere."""
    weights = np.zeros(score.size)
    longs = top_k_positions(score, quantile)
    if longs.size == 0:
        return weights
    if not long_short:
        weights[longs] = 1.0 / longs.size
        return weights
    weights[longs] = 0.5 / longs.size
    shorts = np.setdiff1d(top_k_positions(-score, quantile), longs)
    if shorts.size:
        weights[shorts] = -0.5 / shorts.size
    return weights


def zscore(values: np.ndarray) -> np.ndarray:
    """Return ``(x - mean) / std`` over the values not NaN, as pandas' Series does, bit for bit.

    ``Series.mean()`` and ``Series.std()`` (ddof 1, NaN skipped; pandas' two-pass variance
    with the NaN summed as 0), without a Series: a strategy decides at every session.
    """
    missing = np.isnan(values)
    filled = np.where(missing, 0.0, values)
    count = float(values.size - int(missing.sum()))
    if count <= 1:  # no spread to divide by: NaN, as pandas' std
        return np.full(values.size, np.nan)
    mean = filled.sum() / count
    squares = (mean - filled) ** 2
    squares[missing] = 0.0
    std = np.sqrt(squares.sum() / (count - 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):  # no spread: NaN, silently, as pandas
        out: np.ndarray = (values - mean) / std
    return out


class MomentumParams(StrategyParams):
    """Parameters of ``momentum``."""

    lookback: int = Field(default=126, ge=1, description="Sessions in the return, default 126")
    top_quantile: float = Field(default=0.2, gt=0, le=1, description="Share held, default 0.2")


@register_strategy("momentum")
class Momentum(Strategy[MomentumParams]):
    """Cross-sectional momentum: hold the best performers of the last ``lookback`` sessions.

    signal = close(T-1) / close(T-1-lookback) - 1; long the top ``top_quantile`` of symbols
    with a valid signal (k = max(1, floor(top_quantile x count)), ties by symbol), 1/k each.
    Its scores are the signal (NaN where a close is missing).
    """

    Params = MomentumParams
    gives_scores = True

    @property
    @override
    def warmup(self) -> int:
        return int(self.params.lookback) + 1

    @override
    def target_weights(self, context: StrategyContext) -> pd.Series:
        return self.decide(context).weights

    @override
    def decide(self, context: StrategyContext) -> Picks:
        view = context.view
        if len(view) < self.warmup:
            return Picks(pd.Series(dtype=float))
        # Two rows, not the window between them: a sweep decides thousands of times.
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero close: no signal
            signal = view.row("close", 1) / view.row("close", self.warmup) - 1
        picked = top_k_positions(signal, self.params.top_quantile)  # symbols are sorted
        weights = np.zeros(signal.size)
        weights[picked] = 1.0 / picked.size if picked.size else 0.0  # equal_weight's 1/k
        return Picks.by_position(view.symbols, weights, signal)

    @override
    def weights_at(self, data: MarketData, rows: np.ndarray) -> np.ndarray | None:
        close = data.panels["close"]
        ready = rows[rows >= self.warmup]  # a shorter view decides nothing: no weights
        with np.errstate(divide="ignore", invalid="ignore"):  # as decide
            signal = close[ready - 1] / close[ready - self.warmup] - 1
        out = np.zeros((rows.size, close.shape[1]))
        out[rows >= self.warmup] = top_quantile_rows(signal, float(self.params.top_quantile))
        return out


class MeanReversionParams(StrategyParams):
    """Parameters of ``mean_reversion``."""

    lookback: int = Field(default=5, ge=1, description="Sessions in the loss, default 5")
    bottom_quantile: float = Field(default=0.1, gt=0, le=1, description="Share, default 0.1")
    hold_sessions: int = Field(default=5, ge=1, description="Sessions held, default 5")


@register_strategy("mean_reversion")
class MeanReversion(Strategy[MeanReversionParams]):
    """Buy the worst recent losers and hold each pick for ``hold_sessions`` sessions.

    On each of the last ``hold_sessions`` sessions s (ending at T-1) the losers are the bottom
    ``bottom_quantile`` by the return over ``lookback`` sessions to s; the weights are the
    average of those equal-weight picks (overlapping cohorts), so a pick stays held for
    ``hold_sessions`` sessions. Derived from data alone: a restarted live worker holds the same.
    """

    Params = MeanReversionParams

    @property
    @override
    def warmup(self) -> int:
        p = self.params
        return int(p.lookback + p.hold_sessions)

    @override
    def schedule(self) -> tuple[Rule, str] | None:
        # Its cohorts roll one session at a time: on another schedule a pick is held for the
        # schedule's length, not hold_sessions.
        return 1, f"holds each pick hold_sessions={self.params.hold_sessions} sessions"

    @override
    def target_weights(self, context: StrategyContext) -> pd.Series:
        return self.decide(context).weights

    @override
    def decide(self, context: StrategyContext) -> Picks:
        # Rows, not frames: it decides every session (a book's sleeve, a sweep). Each cohort's
        # 1/hold_sessions / k is added to its picks oldest cohort first: the sums of
        # equal_weight Series added in that order, bit for bit.
        p = self.params
        view = context.view
        weights = np.zeros(len(view.symbols))
        share = 1.0 / p.hold_sessions
        for back in range(p.hold_sessions, 0, -1):  # the session `back` before T, oldest first
            if back + p.lookback > len(view):  # no return to that session yet: no pick
                continue
            with np.errstate(divide="ignore", invalid="ignore"):  # a zero close: no return
                loss = -(view.row("close", back) / view.row("close", back + p.lookback) - 1)
            picked = top_k_positions(loss, p.bottom_quantile)  # symbols are sorted
            if picked.size:
                weights[picked] += share / picked.size
        return Picks.by_position(view.symbols, weights)


class MultiFactorParams(StrategyParams):
    """Parameters of ``multi_factor``."""

    factors: dict[str, float] = Field(
        default_factory=lambda: {"momentum_252_21": 1.0, "volatility_20": -0.5},
        description="Factor name -> weight of its cross-sectional z-score",
    )
    top_quantile: float = Field(default=0.2, gt=0, le=1, description="Share held, default 0.2")
    long_short: bool = Field(
        default=False,
        description="Also short the bottom quantile: longs sum to 0.5, shorts to -0.5",
    )

    @field_validator("factors")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("name at least one factor")
        for name in value:
            make_factor(name)
        return value


@register_strategy("multi_factor")
class MultiFactor(Strategy[MultiFactorParams]):
    """Combine z-scored factors at T-1 with fixed weights; hold the top quantile.

    Each factor is z-scored across the symbols that have it; a symbol needs every factor. Its
    scores are the composite (the weighted sum of z-scores; NaN where a factor is missing).
    """

    Params = MultiFactorParams
    gives_scores = True

    @property
    @override
    def warmup(self) -> int:
        return max(make_factor(n).window for n in self.params.factors)

    @override
    def target_weights(self, context: StrategyContext) -> pd.Series:
        return self.decide(context).weights

    @override
    def decide(self, context: StrategyContext) -> Picks:
        p = self.params
        symbols = context.view.symbols
        score = np.zeros(len(symbols))
        for name, weight in p.factors.items():
            value = context.view.factor(name).reindex(symbols).to_numpy(dtype=float)
            score = score + weight * zscore(value)
        weights = quantile_weights(score, p.top_quantile, p.long_short)  # symbols are sorted
        return Picks.by_position(symbols, weights, score)
