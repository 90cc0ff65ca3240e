"""The risk report of a book against hand-computed and independently computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.covariance import LedoitWolf

from quant_core.data.panels import MarketData
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.risk_report import (
    RiskSettings,
    book_weights,
    ex_ante,
    risk_report,
    sector_exposure,
    sector_names,
)
from quant_core.portfolio.risk_tail import (
    historical_tail,
    min_sessions,
    stress_sessions,
    universe_returns,
    var_es,
)

SAMPLE4 = RiskSettings(lookback=4, covariance="sample")


def closes_from(returns: list[list[float]], start: float = 100.0) -> np.ndarray:
    """Closes (sessions x names) whose simple returns are exactly ``returns`` (per name)."""
    r = np.array(returns, dtype=float).T
    return np.vstack([np.full(r.shape[1], start), start * np.cumprod(1.0 + r, axis=0)])


def data_of(closes: np.ndarray, symbols: list[str], sectors: list[str] | None = None):
    dates = np.datetime64("2010-01-04") + np.arange(closes.shape[0]).astype("timedelta64[D]")
    panels = {"close": closes, "open": closes}
    return MarketData(
        dates,
        np.array(symbols),
        panels,
        sectors=None if sectors is None else np.array(sectors, dtype=object),
    )


# ------------------------------------------------------------------------ ex-ante, by hand


def test_ex_ante_of_two_perfectly_correlated_names_by_hand() -> None:
    # Returns alternating +-a and +-b in phase: mean 0, sample variance 4k^2/3 (ddof=1),
    # covariance 4ab/3. Half in each: w' S w = (4/3)(a/2 + b/2)^2, and name i's contribution
    # is (k_i / 2) / (a/2 + b/2) = k_i / (a + b).
    a, b = 0.01, 0.03
    closes = closes_from([[a, -a, a, -a], [b, -b, b, -b]])
    weights = np.array([0.5, 0.5])

    risk = ex_ante(weights, closes, SAMPLE4)

    assert risk.vol == pytest.approx(math.sqrt(252 * 4 / 3) * (a + b) / 2, rel=1e-12)
    np.testing.assert_allclose(risk.contributions, [a / (a + b), b / (a + b)], rtol=1e-12)
    assert risk.left_out.size == 0


def test_a_perfect_hedge_has_no_ex_ante_volatility() -> None:
    a = 0.02
    closes = closes_from([[a, -a, a, -a], [a, -a, a, -a]])

    risk = ex_ante(np.array([0.5, -0.5]), closes, SAMPLE4)

    assert risk.vol == pytest.approx(0.0, abs=1e-12)


def test_ex_ante_agrees_with_pandas_and_the_euler_decomposition() -> None:
    rng = np.random.default_rng(7)
    closes = 100 * np.cumprod(1 + rng.normal(0, 0.01, (80, 6)), axis=0)
    weights = np.array([0.2, -0.1, 0.0, 0.3, 0.15, -0.05])
    settings = RiskSettings(lookback=60, covariance="sample")

    risk = ex_ante(weights, closes, settings)

    held = [0, 1, 3, 4, 5]
    frame = pd.DataFrame(closes).pct_change().iloc[-60:, held]
    cov = frame.cov().to_numpy()  # pandas: ddof=1
    w = weights[held]
    assert risk.vol == pytest.approx(math.sqrt(252 * w @ cov @ w), rel=1e-10)
    # Euler: w_i d(var)/dw_i / (2 var), var = the sample variance of the book's returns.
    series = frame.to_numpy()
    variance = np.var(series @ w, ddof=1)
    step = 1e-6
    euler = []
    for i in range(len(w)):
        up, down = w.copy(), w.copy()
        up[i] += step
        down[i] -= step
        slope = (np.var(series @ up, ddof=1) - np.var(series @ down, ddof=1)) / (2 * step)
        euler.append(w[i] * slope / (2 * variance))
    np.testing.assert_allclose(risk.contributions, euler, rtol=1e-6)
    assert risk.contributions.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(risk.names, held)


def test_ledoit_wolf_ex_ante_agrees_with_sklearns_estimator_class() -> None:
    rng = np.random.default_rng(3)
    closes = 50 * np.cumprod(1 + rng.normal(0, 0.02, (70, 4)), axis=0)
    weights = np.array([0.25, 0.25, 0.25, 0.25])

    risk = ex_ante(weights, closes, RiskSettings(lookback=60, covariance="ledoit_wolf"))

    returns = closes[-61:][1:] / closes[-61:][:-1] - 1
    cov = LedoitWolf().fit(returns).covariance_
    assert risk.vol == pytest.approx(math.sqrt(252 * weights @ cov @ weights), rel=1e-10)


def test_a_name_without_a_full_lookback_is_left_out_of_the_covariance() -> None:
    a, b = 0.01, 0.03
    closes = closes_from([[a, -a, a, -a], [b, -b, b, -b], [a, a, a, a]])
    closes[2, 2] = np.nan  # name 2 misses a close inside the window
    weights = np.array([0.5, 0.5, 0.2])

    risk = ex_ante(weights, closes, SAMPLE4)

    assert risk.left_out.tolist() == [2]
    assert risk.vol == pytest.approx(math.sqrt(252 * 4 / 3) * (a + b) / 2, rel=1e-12)


def test_an_empty_book_has_no_volatility() -> None:
    risk = ex_ante(np.zeros(2), closes_from([[0.01] * 4, [0.02] * 4]), SAMPLE4)
    assert risk.vol == 0.0
    assert risk.contributions.size == 0


# ------------------------------------------------------------------------ book and sectors


def test_book_weights_are_value_over_equity() -> None:
    weights = book_weights(np.array([10.0, 0.0, -5.0]), np.array([20.0, np.nan, 40.0]), 1000.0)
    np.testing.assert_allclose(weights, [0.2, 0.0, -0.2])
    with pytest.raises(ValueError, match="positive equity"):
        book_weights(np.array([1.0]), np.array([1.0]), 0.0)
    with pytest.raises(ValueError, match="no mark"):
        book_weights(np.array([1.0]), np.array([np.nan]), 10.0)


def test_sector_exposure_by_hand() -> None:
    sectors = np.array(["Tech", "Tech", "Energy", "Tech", "Energy"], dtype=object)
    weights = np.array([0.3, -0.1, 0.2, 0.0, -0.25])

    frame = sector_exposure(weights, sectors)

    assert list(frame.loc["Tech"]) == pytest.approx([0.3, -0.1, 0.4, 0.2])
    assert list(frame.loc["Energy"]) == pytest.approx([0.2, -0.25, 0.45, -0.05])


def test_missing_sectors_are_unknown() -> None:
    closes = closes_from([[0.01] * 4, [0.02] * 4, [0.0] * 4])
    assert sector_names(data_of(closes, ["A", "B", "C"])).tolist() == ["Unknown"] * 3
    named = data_of(closes, ["A", "B", "C"], ["Tech", "", None])  # type: ignore[list-item]
    assert sector_names(named).tolist() == ["Tech", "Unknown", "Unknown"]


# ------------------------------------------------------------------------ VaR and ES


def test_var_and_es_of_an_explicit_sample() -> None:
    # 40 P&Ls: the 5% 'lower' quantile is the floor(0.05 x 39) = 1st from the smallest (from
    # 0): -0.04. ES averages what is at or below it: (-0.05 - 0.04) / 2.
    pnl = np.array([-0.05, -0.04, -0.03, *([0.01] * 37)])

    var, es = var_es(pnl)

    assert var == pytest.approx(0.04)
    assert es == pytest.approx(0.045)


def test_historical_tail_applies_todays_book_to_past_sessions() -> None:
    # One name's returns are r; a 0.5 weight loses 0.5 r. The other name misses a close on
    # the worst day: it counts 0 there, not a NaN that would poison the sum.
    r = [0.01] * 35 + [-0.08, -0.06, -0.02, 0.03, 0.02]  # 40 sessions
    closes = closes_from([r, [0.0] * 40])
    closes[36, 1] = np.nan  # session 36 (r = -0.08) and 37 lack B's return
    weights = np.array([0.5, 0.3])

    tail = historical_tail(weights, closes)

    assert tail.sessions == 40
    # Sorted P&L: 0.5 x (-0.08, -0.06, -0.02, ...): q = the 2nd smallest = -0.03.
    assert tail.var == pytest.approx(0.03, rel=1e-12)
    assert tail.es == pytest.approx((0.04 + 0.03) / 2, rel=1e-12)


def test_the_tail_reads_the_last_252_sessions_only() -> None:
    r = [-0.5] + [0.001 * (i % 7 - 3) for i in range(300)]  # the crash is 301 sessions ago
    closes = closes_from([r])

    tail = historical_tail(np.array([1.0]), closes)

    window = np.array(r[-252:])
    q = np.sort(window)[int(np.floor(0.05 * 251))]
    assert tail.sessions == 252
    assert tail.var == pytest.approx(-q, rel=1e-9)
    assert tail.es == pytest.approx(-window[window <= q + 1e-15].mean(), rel=1e-9)


def test_too_few_sessions_give_no_var() -> None:
    assert min_sessions(0.95) == 20
    tail = historical_tail(np.array([1.0]), closes_from([[0.01] * 19]))
    assert (tail.var, tail.es, tail.sessions) == (None, None, 19)
    assert historical_tail(np.array([1.0]), closes_from([[0.01] * 20])).var is not None


# ------------------------------------------------------------------------ stress


def test_stress_sessions_agree_with_pandas() -> None:
    rng = np.random.default_rng(11)
    closes = 100 * np.cumprod(1 + rng.normal(0, 0.02, (60, 5)), axis=0)
    closes[10, 2] = np.nan  # a missing bar: sessions 10 and 11 have no return for name 2
    weights = np.array([0.4, 0.0, -0.2, 0.3, 0.1])

    rows = stress_sessions(weights, closes, k=5)

    returns = pd.DataFrame(closes).pct_change(fill_method=None)
    universe = returns.mean(axis=1, skipna=True).iloc[1:]
    worst = universe.nsmallest(5, keep="first")
    assert [s.row for s in rows] == worst.index.tolist()
    np.testing.assert_allclose([s.universe_return for s in rows], worst.to_numpy(), rtol=1e-12)
    book = (returns.fillna(0.0) * weights).sum(axis=1).loc[worst.index]
    np.testing.assert_allclose([s.book_return for s in rows], book.to_numpy(), rtol=1e-12)


def test_universe_return_skips_names_without_a_return() -> None:
    closes = np.array([[10.0, 20.0, np.nan], [11.0, 25.0, 5.0], [np.nan, np.nan, np.nan]])
    universe = universe_returns(closes)
    assert universe[0] == pytest.approx((0.1 + 0.25) / 2, rel=1e-12)  # C had no close before
    assert np.isnan(universe[1])  # no name has a return: the session is skipped


# ------------------------------------------------------------------------ the whole report


def _panel() -> tuple[MarketData, np.ndarray]:
    rng = np.random.default_rng(5)
    closes = 100 * np.cumprod(1 + rng.normal(0, 0.015, (300, 5)), axis=0)
    closes[-30, 4] = np.nan  # E misses a close inside the last 60 sessions: left out
    data = data_of(closes, ["A", "B", "C", "D", "E"], ["Tech", "Tech", "Energy", "Health", ""])
    return data, np.array([0.3, 0.2, -0.15, 0.25, 0.05])


def test_the_report_assembles_its_parts() -> None:
    data, weights = _panel()
    settings = RiskSettings(lookback=60, covariance="ledoit_wolf")

    report = risk_report(weights, data, 300, settings)

    assert report.left_out == ("E",)
    assert sum(n.contribution for n in report.names) == pytest.approx(1.0, abs=1e-12)
    contributions = [abs(n.contribution) for n in report.names]
    assert contributions == sorted(contributions, reverse=True)
    sectors = {s.sector: s for s in report.sectors}
    assert sectors["Tech"].long == pytest.approx(0.5)
    assert sectors["Energy"].short == pytest.approx(-0.15)
    assert sectors["Unknown"].gross == pytest.approx(0.05)
    assert sectors["Unknown"].contribution == 0.0  # E is outside the covariance
    tech = sum(n.contribution for n in report.names if n.sector == "Tech")
    assert sectors["Tech"].contribution == pytest.approx(tech)
    assert [s.gross for s in report.sectors] == sorted(
        (s.gross for s in report.sectors), reverse=True
    )
    assert report.var_sessions == 252
    assert report.var is not None
    assert report.es is not None
    assert report.es >= report.var
    assert len(report.stress) == 5
    assert report.stress[0].universe_return <= report.stress[-1].universe_return
    assert report.to_json()["names"][0]["symbol"] == report.names[0].symbol


def test_the_report_reads_no_row_at_or_after_t() -> None:
    data, weights = _panel()
    settings = RiskSettings(lookback=60, covariance="sample")
    changed = data.panels["close"].copy()
    changed[250:] *= 0.5  # a crash from row 250 on
    other = data_of(changed, list(data.symbols), list(data.sectors))  # type: ignore[arg-type]

    assert risk_report(weights, data, 250, settings) == risk_report(weights, other, 250, settings)
    assert risk_report(weights, data, 251, settings) != risk_report(weights, other, 251, settings)


def test_settings_follow_the_construction_config() -> None:
    policy = PortfolioPolicy(ConstructionSettings("equal", lookback=90, covariance="sample"))
    assert RiskSettings.from_policy(policy) == RiskSettings(lookback=90, covariance="sample")
