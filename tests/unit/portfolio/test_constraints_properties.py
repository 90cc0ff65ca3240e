"""Hypothesis: every limit holds on the constrained weights, the vol target is met unless capped,
and the turnover cap keeps what it pins (a current breach shrinks by the fraction k)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_core.portfolio.constraints import apply_constraints
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.policy import ConstraintSettings, PortfolioPolicy

TOL = 1e-9
SECTORS = ("Tech", "Energy", "Health", None)


def exposures(weights: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Every limited quantity of ``weights``, computed independently of the code under test."""
    out = {f"name {i}": abs(w) for i, w in enumerate(weights)}
    for sector in set(labels):
        names = [i for i, s in enumerate(labels) if s == sector]
        out[f"sector {sector}"] = float(sum(abs(weights[i]) for i in names))
    out["gross"] = float(np.abs(weights).sum())
    out["net"] = abs(float(weights.sum()))
    return out


def caps(limits: ConstraintSettings, labels: list[str]) -> dict[str, float]:
    inf = float("inf")
    out = {f"name {i}": inf if limits.max_weight is None else limits.max_weight for i in range(99)}
    for sector in set(labels):
        out[f"sector {sector}"] = inf if limits.sector_cap is None else limits.sector_cap
    out["gross"], out["net"] = limits.max_gross, limits.max_net
    return out


def labels_of(sectors: list[str | None] | None, n: int) -> list[str]:
    if sectors is None:
        return ["Unknown"] * n
    return [s if s else "Unknown" for s in sectors]


def by_hand_vol(weights: np.ndarray, closes: np.ndarray, lookback: int) -> float | None:
    window = closes[-(lookback + 1) :]
    returns = window[1:] / window[:-1] - 1.0
    names = [i for i in np.flatnonzero(weights) if np.isfinite(returns[:, i]).all()]
    if len(closes) < lookback + 1 or not names:
        return None
    sigma = np.atleast_2d(np.cov(returns[:, names], rowvar=False, ddof=1))
    gross = np.abs(weights[names]).sum()
    w = weights[names] / gross  # a gross of 1: weights of 1e-160 do not underflow
    return float(gross * np.sqrt(252 * w @ sigma @ w))


@st.composite
def books(draw: st.DrawFn):
    n = draw(st.integers(1, 8))
    signed = st.floats(-0.6, 0.6)
    weight = st.one_of(st.just(0.0), signed, signed)
    weights = np.array([draw(weight) for _ in range(n)])
    current = np.array([draw(weight) for _ in range(n)])
    sectors = draw(st.one_of(st.none(), st.lists(st.sampled_from(SECTORS), min_size=n, max_size=n)))
    exits = np.array([draw(st.booleans()) and draw(st.booleans()) for _ in range(n)])
    lookback = draw(st.integers(2, 6))
    # Mostly enough closes for the returns window; sometimes one too few.
    rows = lookback + draw(st.sampled_from([-1, 1, 1, 1, 2, 3]))
    scale = np.array([draw(st.floats(0.001, 0.05)) for _ in range(n)])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    closes = 50.0 * np.cumprod(1.0 + rng.normal(0.0, scale, (rows, n)), axis=0)
    closes[rng.random((rows, n)) < draw(st.sampled_from([0.0, 0.0, 0.1]))] = np.nan
    return weights, current, sectors, exits, lookback, closes


optional = st.one_of(st.none(), st.floats(0.05, 1.0))
limits_st = st.builds(
    ConstraintSettings,
    max_weight=optional,
    sector_cap=st.one_of(st.none(), st.floats(0.05, 1.0)),
    max_gross=st.floats(0.1, 2.0),
    max_net=st.floats(0.05, 1.0),
    max_turnover=st.none(),
    no_trade_band=st.sampled_from([0.0, 0.0, 0.02, 0.1]),
    vol_target=st.one_of(st.none(), st.floats(0.02, 0.5)),
)


def constrain(book, limits: ConstraintSettings, covariance: str = "ledoit_wolf"):
    weights, current, sectors, exits, lookback, closes = book
    policy = PortfolioPolicy(ConstructionSettings("as_is", lookback, covariance), limits)
    labels = None if sectors is None else np.array(sectors, dtype=object)
    return apply_constraints(weights, current, labels, closes, policy, exits)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(), limits=limits_st)
def test_every_limit_holds_without_a_turnover_cap(book, limits) -> None:
    weights, _, sectors, exits, _, _ = book

    result = constrain(book, limits)

    labels = labels_of(sectors, weights.size)
    allowed = caps(limits, labels)
    for key, value in exposures(result.weights, labels).items():
        assert value <= allowed[key] + TOL, key
    assert (result.weights[exits] == 0).all()
    assert len({b.constraint for b in result.binding}) == len(result.binding)  # once each


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(), limits=limits_st, cap=st.floats(0.01, 1.0))
def test_the_turnover_cap_moves_by_one_fraction_and_shrinks_a_breach(book, limits, cap) -> None:
    weights, current, sectors, exits, _, _ = book
    capped = replace(limits, max_turnover=cap)

    result = constrain(book, capped)
    target = constrain(book, limits).weights  # step 6's book: the same without the cap

    start = np.where(exits, 0.0, current)  # c0: exits sold in full
    total = np.abs(target - current).sum() / 2
    if total <= cap:
        np.testing.assert_array_equal(result.weights, target)
        return
    exit_turnover = np.abs(current[exits]).sum() / 2
    free = total - exit_turnover
    k = 0.0 if free <= 0 else min(max((cap - exit_turnover) / free, 0.0), 1.0)
    np.testing.assert_allclose(result.weights, start + k * (target - start), rtol=0, atol=1e-12)
    after = np.abs(result.weights - current).sum() / 2
    assert after == pytest.approx(max(cap, exit_turnover) if free > 0 else total, abs=1e-9)
    labels = labels_of(sectors, weights.size)
    allowed, before = caps(limits, labels), exposures(start, labels)
    for key, value in exposures(result.weights, labels).items():
        bound = (1 - k) * before[key] + (k * allowed[key] if k > 0 else 0.0)
        assert value <= bound + TOL, key


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(), target=st.floats(0.02, 0.5), max_gross=st.floats(0.1, 1.0))
def test_the_vol_target_is_met_unless_the_gross_cap_stops_it(book, target, max_gross) -> None:
    weights, _, _, exits, lookback, closes = book
    # No other limit can bind: |net| <= gross <= max_gross <= max_net, no band, no turnover.
    limits = ConstraintSettings(max_gross=max_gross, max_net=1.0, vol_target=target)

    result = constrain(book, limits, covariance="sample")

    start = np.where(exits, 0.0, weights)
    scaled = result.weights
    before = by_hand_vol(start, closes, lookback)
    if before is None or before <= 0 or np.abs(start).sum() <= 1e-9:
        # Nothing to measure (or a book of dust): only the gross cap acts.
        gross = np.abs(start).sum()
        np.testing.assert_allclose(scaled, start * min(1.0, max_gross / max(gross, 1e-300)))
        return
    after = by_hand_vol(scaled, closes, lookback)
    assert after is not None
    if np.abs(scaled).sum() < max_gross - 1e-9:
        assert after == pytest.approx(target, rel=1e-9)
    else:  # capped: the gross is at its cap and the volatility at most the target
        assert np.abs(scaled).sum() == pytest.approx(max_gross, rel=1e-9)
        assert after <= target * (1 + 1e-9)
    np.testing.assert_allclose(scaled, start * (after / before), rtol=1e-9)  # one scale for all


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    book=books(),
    limits=limits_st,
    target=st.floats(0.02, 0.5),
    cash_buffer=st.sampled_from([0.0, 0.02, 0.1]),
)
def test_with_every_cap_on_the_vol_ends_at_most_the_target(
    book, limits, target, cash_buffer
) -> None:
    weights, _, sectors, _, lookback, closes = book
    on = replace(limits, vol_target=target, cash_buffer=cash_buffer)

    result = constrain(book, on, covariance="sample")

    after = by_hand_vol(result.weights, closes, lookback)
    if after is not None:  # the sized book (x (1 - cash_buffer)) at most the target
        assert after * (1 - cash_buffer) <= target * (1 + 1e-9)
    labels = labels_of(sectors, weights.size)
    allowed = caps(on, labels)
    for key, value in exposures(result.weights, labels).items():
        assert value <= allowed[key] + TOL, key
