"""The vol target after the caps, in units of equity; a band that never freezes entries or exits."""

from __future__ import annotations

import numpy as np
import pytest

from config.schema import AppConfig
from quant_core.portfolio.constraints import apply_constraints
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.policy import ConstraintSettings, PortfolioPolicy
from quant_core.portfolio.sizing import target_shares

LOOKBACK = 20


def hedged_closes() -> np.ndarray:
    """A long leg A and two shorts B, C that track A closely: a hedged book's names."""
    rng = np.random.default_rng(7)
    common = rng.normal(0.0, 0.01, LOOKBACK)
    returns = np.column_stack([common + rng.normal(0.0, 0.002, LOOKBACK) for _ in range(3)])
    return np.vstack([np.full(3, 100.0), 100.0 * np.cumprod(1.0 + returns, axis=0)])


def by_hand_vol(weights: np.ndarray, closes: np.ndarray) -> float:
    returns = closes[1:] / closes[:-1] - 1.0
    sigma = np.cov(returns, rowvar=False, ddof=1)
    return float(np.sqrt(252 * weights @ sigma @ weights))


def constrain(weights, closes, current=None, sectors=None, **limits):
    policy = PortfolioPolicy(
        ConstructionSettings("as_is", LOOKBACK, "sample"), ConstraintSettings(**limits)
    )
    w = np.asarray(weights, dtype=float)
    now = np.zeros_like(w) if current is None else np.asarray(current, dtype=float)
    labels = None if sectors is None else np.array(sectors, dtype=object)
    return apply_constraints(w, now, labels, closes, policy)


def test_the_caps_cannot_leave_the_book_above_the_vol_target() -> None:
    closes = hedged_closes()
    weights = np.array([0.4, -0.2, -0.2])
    sectors = ["Tech", "Energy", "Health"]
    target, cap = 0.03, 0.5

    result = constrain(
        weights, closes, sectors=sectors, vol_target=target, sector_cap=cap, max_gross=2.0
    )

    # By hand: step 1 scales to the target, the Tech cap then cuts the long leg only.
    step1 = weights * target / by_hand_vol(weights, closes)
    capped = step1.copy()
    capped[0] = cap
    assert step1[0] > cap
    assert by_hand_vol(capped, closes) > target * 1.1
    np.testing.assert_allclose(result.weights, capped * target / by_hand_vol(capped, closes))
    assert by_hand_vol(result.weights, closes) == pytest.approx(target, rel=1e-9)
    assert abs(result.weights[0]) <= cap  # scaling down kept the sector cap
    names = [b.constraint for b in result.binding]
    assert names == ["vol_target", "sector_cap"]
    assert "after the caps" in result.binding[0].detail


def test_the_sized_book_has_the_vol_target_as_a_fraction_of_equity() -> None:
    closes = hedged_closes()
    equity, cash_buffer, target = 1_000_000.0, 0.02, 0.08

    result = constrain(
        [0.3, 0.2, 0.1], closes, vol_target=target, cash_buffer=cash_buffer, max_gross=2.0
    )
    marks = closes[-1]
    shares = target_shares(result.weights, equity, marks, cash_buffer, fractional=True)

    sized = shares * marks / equity  # signed fractions of equity
    assert by_hand_vol(sized, closes) == pytest.approx(target, rel=1e-9)  # not 0.0784


def test_the_policy_reads_the_cash_buffer_from_the_config() -> None:
    cfg = AppConfig.model_validate({"portfolio": {"cash_buffer": 0.05, "vol_target": 0.1}})

    limits = PortfolioPolicy.from_config(cfg).constraints

    assert (limits.cash_buffer, limits.vol_target) == (0.05, 0.1)


def test_the_band_does_not_freeze_entries_from_an_all_cash_book() -> None:
    n = 60
    weights = np.full(n, 1.0 / n)  # each 1.67%, under the 2% band

    result = constrain(weights, np.full((1, n), 100.0), no_trade_band=0.02)

    np.testing.assert_array_equal(result.weights, weights)
    assert result.binding == ()


def test_the_band_does_not_freeze_exits_or_a_change_of_side() -> None:
    # An exit (target 0), a flip from long to short and a drift, each within the 5% band.
    result = constrain(
        [0.0, -0.01, 0.31], np.full((1, 3), 100.0), current=[0.02, 0.01, 0.3], no_trade_band=0.05
    )

    np.testing.assert_array_equal(result.weights, [0.0, -0.01, 0.3])  # only the drift held
    assert [b.constraint for b in result.binding] == ["no_trade_band"]
    assert result.binding[0].detail.startswith("1 name(s)")


def test_a_band_that_would_lift_the_vol_above_the_target_is_waived() -> None:
    closes = hedged_closes()
    weights = np.array([0.4, -0.2, -0.2])
    target = 0.03
    goal_book = constrain(weights, closes, vol_target=target, max_gross=2.0).weights
    current = goal_book + np.array([0.04, -0.04, -0.04])  # within the band, wider

    result = constrain(
        weights, closes, current=current, vol_target=target, max_gross=2.0, no_trade_band=0.05
    )

    assert by_hand_vol(current, closes) > target * 1.1
    np.testing.assert_allclose(result.weights, goal_book, rtol=1e-12)
    band = [b for b in result.binding if b.constraint == "no_trade_band"]
    assert len(band) == 1
    assert band[0].detail.startswith("waived")
