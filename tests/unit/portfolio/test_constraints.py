"""Constraints and volatility targeting: a hand-computed case per step, and their order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf

from quant_core.portfolio.constraints import apply_constraints, ex_ante_vol
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.drift import turnover
from quant_core.portfolio.policy import Binding, ConstraintSettings, PortfolioPolicy


def policy(lookback: int = 4, covariance: str = "sample", **limits: Any) -> PortfolioPolicy:
    return PortfolioPolicy(
        ConstructionSettings("as_is", lookback, covariance), ConstraintSettings(**limits)
    )


def run(
    weights: list[float],
    current: list[float] | None = None,
    sectors: list[str | None] | None = None,
    closes: np.ndarray | None = None,
    exits: list[bool] | None = None,
    **kwargs: Any,
):
    w = np.array(weights, dtype=float)
    c = np.zeros_like(w) if current is None else np.array(current, dtype=float)
    s = None if sectors is None else np.array(sectors, dtype=object)
    panel = np.full((1, w.size), 100.0) if closes is None else closes
    gone = None if exits is None else np.array(exits)
    return apply_constraints(w, c, s, panel, policy(**kwargs), gone)


def closes_from(returns: list[list[float]], start: float = 100.0) -> np.ndarray:
    """Closes (sessions x names) whose simple returns are exactly ``returns`` (per name)."""
    r = np.array(returns, dtype=float).T
    return np.vstack([np.full(r.shape[1], start), start * np.cumprod(1.0 + r, axis=0)])


# Four returns each, through T-1.
RETURNS = [
    [0.01, -0.02, 0.015, 0.003],
    [0.02, 0.01, -0.03, 0.012],
    [-0.01, 0.02, 0.005, -0.004],
]
CLOSES = closes_from(RETURNS)


def by_hand_vol(weights: np.ndarray, returns: list[list[float]]) -> float:
    sigma = np.cov(np.array(returns), ddof=1)  # names x names, sample
    return float(np.sqrt(252 * weights @ sigma @ weights))


# ---------------------------------------------------------------------------- 1. vol_target


def test_vol_target_scales_the_book_to_the_target_ex_ante_vol() -> None:
    weights = np.array([0.3, -0.2, 0.1])
    vol = by_hand_vol(weights, RETURNS)

    result = run(list(weights), closes=CLOSES, vol_target=vol / 2)

    np.testing.assert_allclose(result.weights, weights / 2, rtol=1e-12)
    assert by_hand_vol(result.weights, RETURNS) == pytest.approx(vol / 2, rel=1e-12)
    assert result.binding == (
        Binding(
            "vol_target",
            f"gross scaled 0.60 -> 0.30 (ex-ante vol {vol:.1%} -> {vol / 2:.1%})",
        ),
    )


def test_vol_target_scales_up_but_no_further_than_max_gross() -> None:
    weights = np.array([0.1, 0.1, 0.0])
    vol = by_hand_vol(weights, RETURNS)

    up = run(list(weights), closes=CLOSES, vol_target=vol * 3)
    capped = run(list(weights), closes=CLOSES, vol_target=vol * 10, max_gross=0.8)

    np.testing.assert_allclose(up.weights, weights * 3, rtol=1e-12)
    np.testing.assert_allclose(capped.weights, [0.4, 0.4, 0.0], rtol=1e-12)
    assert "capped by max_gross 0.80" in capped.binding[0].detail


def test_vol_target_leaves_a_name_without_full_history_out_of_the_estimate() -> None:
    closes = np.column_stack([CLOSES, [100.0, np.nan, 100.0, 101.0, 102.0]])
    weights = np.array([0.3, -0.2, 0.1, 0.2])
    vol = by_hand_vol(weights[:3], RETURNS)  # the fourth name is not in Sigma

    result = run(list(weights), closes=closes, vol_target=vol / 2)

    np.testing.assert_allclose(result.weights, weights / 2, rtol=1e-12)  # but it is scaled
    assert "1 name(s) without 4 returns left out of the estimate" in result.binding[0].detail


def test_vol_target_reads_the_ledoit_wolf_covariance_when_configured() -> None:
    weights = np.array([0.3, -0.2, 0.1])
    shrunk = LedoitWolf().fit(np.array(RETURNS).T).covariance_
    vol = float(np.sqrt(252 * weights @ shrunk @ weights))

    measured, missing = ex_ante_vol(weights, CLOSES, 4, "ledoit_wolf")

    assert measured == pytest.approx(vol, rel=1e-12)
    assert missing == 0


def test_vol_target_does_nothing_without_any_name_with_the_returns() -> None:
    result = run([0.5, 0.5, 0.0], closes=CLOSES[:3], vol_target=0.1)

    np.testing.assert_array_equal(result.weights, [0.5, 0.5, 0.0])
    assert result.binding == ()


# ---------------------------------------------------------------------------- 2. max_weight


def test_max_weight_clips_each_name_and_leaves_the_excess_in_cash() -> None:
    result = run([0.4, -0.3, 0.1, 0.0], max_weight=0.25)

    np.testing.assert_allclose(result.weights, [0.25, -0.25, 0.1, 0.0], rtol=0, atol=0)
    assert result.binding == (Binding("max_weight", "2 name(s) clipped to 25.00%"),)


def test_three_names_of_a_third_are_clipped_to_a_quarter() -> None:
    result = run([1 / 3, 1 / 3, 1 / 3], max_weight=0.25)

    np.testing.assert_array_equal(result.weights, [0.25, 0.25, 0.25])


# ---------------------------------------------------------------------------- 3. sector_cap


def test_sector_cap_scales_a_sector_down_to_the_cap() -> None:
    sectors = ["Tech", "Tech", "Energy", None]

    result = run([0.3, -0.2, 0.2, 0.3], sectors=sectors, sector_cap=0.4)

    # Tech's gross 0.5 -> 0.4: both names x 0.8; Energy 0.2 and Unknown 0.3 are within.
    np.testing.assert_allclose(result.weights, [0.24, -0.16, 0.2, 0.3], rtol=1e-12)
    assert result.binding == (Binding("sector_cap", "1 sector(s) scaled to 40.00%: Tech 50.00%"),)


def test_a_missing_label_and_no_sector_data_make_one_unknown_sector() -> None:
    labelled = run([0.3, 0.2, 0.3], sectors=[None, "", "Energy"], sector_cap=0.25)
    without = run([0.3, 0.2, 0.3], sector_cap=0.5)

    np.testing.assert_allclose(labelled.weights, [0.15, 0.1, 0.25], rtol=1e-12)
    assert labelled.binding[0].detail.startswith("2 sector(s) scaled to 25.00%: Unknown 50.00%")
    np.testing.assert_allclose(without.weights, [0.1875, 0.125, 0.1875], rtol=1e-12)
    assert without.binding[0].detail.endswith("(no sector data: every name Unknown)")


# ---------------------------------------------------------------------------- 4-5. gross, net


def test_max_gross_scales_every_weight_down() -> None:
    result = run([0.6, -0.6, 0.3], max_gross=1.0)

    np.testing.assert_allclose(result.weights, [0.4, -0.4, 0.2], rtol=1e-12)
    assert result.binding == (Binding("max_gross", "gross scaled 1.50 -> 1.00"),)


def test_max_net_scales_the_dominant_side() -> None:
    long_heavy = run([0.5, 0.3, -0.1], max_net=0.5)
    short_heavy = run([0.1, -0.4, -0.4], max_net=0.5)

    # Longs 0.8 to 0.6 (x 0.75) against shorts -0.1: net 0.5. Shorts -0.8 to -0.6.
    np.testing.assert_allclose(long_heavy.weights, [0.375, 0.225, -0.1], rtol=1e-12)
    assert long_heavy.binding == (
        Binding("max_net", "net +0.70 -> +0.50 (long side scaled by 0.75)"),
    )
    np.testing.assert_allclose(short_heavy.weights, [0.1, -0.3, -0.3], rtol=1e-12)


def test_the_steps_run_in_the_pinned_order() -> None:
    # max_weight first (0.6 -> 0.5), then the sector (Tech 0.5 + 0.3 -> 0.6), then the gross.
    result = run(
        [0.6, 0.3, 0.4],
        sectors=["Tech", "Tech", "Energy"],
        max_weight=0.5,
        sector_cap=0.6,
        max_gross=0.8,
    )

    tech = np.array([0.5, 0.3]) * 0.6 / 0.8
    expected = np.array([*tech, 0.4]) * 0.8 / (0.6 + 0.4)
    np.testing.assert_allclose(result.weights, expected, rtol=1e-12)
    assert [b.constraint for b in result.binding] == ["max_weight", "sector_cap", "max_gross"]


# ---------------------------------------------------------------------------- 6. no_trade_band


def test_a_name_within_the_band_keeps_its_current_weight() -> None:
    result = run([0.21, 0.25, 0.1], current=[0.2, 0.3, 0.0], no_trade_band=0.02)

    assert result.weights[0] == 0.2  # exactly its current weight: no trade
    np.testing.assert_array_equal(result.weights[1:], [0.25, 0.1])
    assert result.binding == (
        Binding("no_trade_band", "1 name(s) within 2.00% of their current weight not traded"),
    )


def test_the_band_does_not_keep_a_name_above_max_weight() -> None:
    result = run([0.3, 0.1], current=[0.27, 0.1], max_weight=0.25, no_trade_band=0.05)

    np.testing.assert_array_equal(result.weights, [0.25, 0.1])


def test_the_band_trades_the_names_that_would_break_a_sector_cap() -> None:
    # Tech's target is at its cap 0.4; keeping both current weights would make it 0.42. The
    # first adds 0.03 to it, enough to trade alone; the second stays (Tech 0.39).
    result = run(
        [0.2, 0.2, 0.1],
        current=[0.23, 0.19, 0.09],
        sectors=["Tech", "Tech", "Energy"],
        sector_cap=0.4,
        no_trade_band=0.05,
    )

    np.testing.assert_array_equal(result.weights, [0.2, 0.19, 0.09])
    assert result.binding[-1].detail == (
        "2 name(s) within 5.00% of their current weight not traded (1 to keep sector_cap traded)"
    )


def test_the_band_trades_the_names_that_would_break_the_gross_and_the_net() -> None:
    gross = run([0.5, 0.5], current=[0.53, 0.49], max_gross=1.0, no_trade_band=0.05)
    # The target's net is at its cap 0.5: keeping the short at -0.08 would make it 0.52.
    net = run([0.6, -0.1], current=[0.6, -0.08], max_net=0.5, no_trade_band=0.05)

    np.testing.assert_array_equal(gross.weights, [0.5, 0.49])
    assert "1 to keep max_gross traded" in gross.binding[-1].detail
    np.testing.assert_array_equal(net.weights, [0.6, -0.1])
    assert net.binding == ()  # the band kept nothing


def test_an_exit_is_sold_whatever_the_band() -> None:
    result = run([0.01, 0.3], current=[0.01, 0.3], exits=[True, False], no_trade_band=0.05)

    np.testing.assert_array_equal(result.weights, [0.0, 0.3])


# ---------------------------------------------------------------------------- 7. max_turnover


def test_turnover_is_one_sided() -> None:
    assert turnover(np.array([0.0, 0.5, 0.5]), np.array([0.5, 0.5, 0.0])) == 0.5


def test_max_turnover_moves_every_name_by_the_same_fraction() -> None:
    result = run([0.0, 0.5, 0.5], current=[0.5, 0.5, 0.0], max_turnover=0.2)

    np.testing.assert_allclose(result.weights, [0.3, 0.5, 0.2], rtol=1e-12)  # k = 0.4
    assert result.binding == (Binding("max_turnover", "turnover 0.50 -> 0.20"),)


def test_exits_are_sold_in_full_and_take_their_turnover_first() -> None:
    some = run([0.5, 0.5, 0.4], [0.3, 0.3, 0.4], exits=[False, False, True], max_turnover=0.3)
    none = run([0.5, 0.5, 0.4], [0.3, 0.3, 0.4], exits=[False, False, True], max_turnover=0.1)

    # Exits 0.2 of the cap 0.3; the rest 0.2 of turnover gets 0.1: k = 0.5.
    np.testing.assert_allclose(some.weights, [0.4, 0.4, 0.0], rtol=1e-12)
    assert some.binding[-1].detail == "turnover 0.40 -> 0.30 (exits of gone names 0.20 in full)"
    np.testing.assert_allclose(none.weights, [0.3, 0.3, 0.0], rtol=1e-12)  # k = 0


def test_a_current_breach_shrinks_by_the_fraction_k_under_a_turnover_cap() -> None:
    # Current 0.40 above max_weight 0.25; target (0.25, 0.25), turnover 0.20, cap 0.10: k = 0.5.
    result = run([0.3, 0.25], current=[0.4, 0.0], max_weight=0.25, max_turnover=0.1)

    np.testing.assert_allclose(result.weights, [0.325, 0.125], rtol=1e-12)
    assert abs(result.weights[0]) <= (1 - 0.5) * 0.4 + 0.5 * 0.25 + 1e-15  # as pinned
    assert [b.constraint for b in result.binding] == ["max_weight", "max_turnover"]


def test_nothing_binds_within_every_limit() -> None:
    result = run(
        [0.2, -0.1, 0.0],
        current=[0.2, -0.1, 0.05],
        sectors=["A", "B", "A"],
        max_weight=0.25,
        sector_cap=0.5,
        max_turnover=0.5,
        no_trade_band=0.01,
    )

    np.testing.assert_array_equal(result.weights, [0.2, -0.1, 0.0])
    assert result.binding == ()
