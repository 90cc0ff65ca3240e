"""Factor analytics against hand-computed small panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_core.errors import ConfigError
from quant_core.factors.analysis import analyze_factor
from quant_core.factors.ic import (
    factor_correlation,
    forward_returns,
    information_coefficient,
    newey_west_t,
    summarize_ic,
)
from quant_core.factors.profile import (
    coverage,
    profile_factor,
    rank_turnover,
    top_quantile_turnover,
)
from quant_core.factors.quantiles import quantile_buckets, quantile_returns

NAN = np.nan


def panel(rows: list[list[float]], symbols: str = "ABCDEFGHIJ") -> pd.DataFrame:
    dates = pd.bdate_range("2010-01-04", periods=len(rows), name="date")
    columns = pd.Index(list(symbols[: len(rows[0])]), name="symbol")
    return pd.DataFrame(rows, index=dates, columns=columns, dtype=float)


# ------------------------------------------------------------------------- forward returns


def test_forward_returns_run_from_close_t_to_close_t_plus_h() -> None:
    close = panel([[10, 20], [11, 20], [12.1, 30], [NAN, 33]])

    one = forward_returns(close, 1)
    two = forward_returns(close, 2)

    assert one.iloc[0].tolist() == pytest.approx([0.1, 0.0])
    assert one.iloc[1].tolist() == pytest.approx([0.1, 0.5])
    assert np.isnan(one.to_numpy()[2, 0])  # no close at T+1
    assert one.iloc[2, 1] == pytest.approx(0.1)
    assert one.iloc[3].isna().all()  # the last session has no future
    assert two.iloc[0].tolist() == pytest.approx([0.21, 0.5])
    assert two.iloc[2:].isna().all().all()


def test_horizon_and_quantiles_must_be_positive() -> None:
    close = panel([[10, 20], [11, 20]])
    with pytest.raises(ConfigError, match="horizon must be >= 1"):
        forward_returns(close, 0)
    with pytest.raises(ConfigError, match="quantiles must be >= 1"):
        quantile_returns(close, close, quantiles=0)


# ------------------------------------------------------------------------------- IC


def test_ic_and_rank_ic_on_one_session() -> None:
    factor = panel([[1, 2, 3, 4]])
    forward = panel([[0.1, 0.2, 0.3, 1.0]])

    ic = information_coefficient(factor, forward, "pearson", min_pairs=2)
    rank_ic = information_coefficient(factor, forward, "spearman", min_pairs=2)

    # Pearson: cov 1.4 over sqrt(5 * 0.5); Spearman: the orders agree exactly.
    assert ic.iloc[0] == pytest.approx(1.4 / np.sqrt(2.5))
    assert rank_ic.iloc[0] == pytest.approx(1.0)


def test_rank_ic_averages_tied_ranks() -> None:
    factor = panel([[1, 1, 2, 3]])
    forward = panel([[1, 2, 3, 4]])

    rank_ic = information_coefficient(factor, forward, "spearman", min_pairs=2)

    # Ranks 1.5, 1.5, 3, 4 against 1..4: cov 4.5 over sqrt(4.5 * 5).
    assert rank_ic.iloc[0] == pytest.approx(4.5 / np.sqrt(22.5))


def test_ic_uses_only_symbols_valid_in_both() -> None:
    factor = panel([[1, 2, NAN, 4, 5], [1, 2, 3, 4, 5]])
    forward = panel([[0.3, 0.1, 0.2, NAN, 0.5], [0.3, 0.1, 0.2, 0.4, 0.5]])

    ic = information_coefficient(factor, forward, "pearson", min_pairs=3)
    rank_ic = information_coefficient(factor, forward, "spearman", min_pairs=3)

    # Session 0: only A, B and E count (C lacks a factor value, D a return).
    kept = ["A", "B", "E"]
    expected = information_coefficient(
        factor.iloc[[0]][kept], forward.iloc[[0]][kept], "pearson", min_pairs=3
    )
    assert ic.iloc[0] == pytest.approx(expected.iloc[0])
    assert ic.iloc[0] == pytest.approx(np.corrcoef([1, 2, 5], [0.3, 0.1, 0.5])[0, 1])
    # Ranked among A, B, E only: (1, 2, 3) against (2, 1, 3).
    assert rank_ic.iloc[0] == pytest.approx(0.5)


def test_a_session_with_too_few_pairs_or_no_spread_gets_no_ic() -> None:
    factor = panel([[1, 2, NAN, NAN], [1, 2, 3, 4], [7, 7, 7, 7]])
    forward = panel([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]])

    ic = information_coefficient(factor, forward, "pearson", min_pairs=3)

    assert np.isnan(ic.iloc[0])  # two pairs < 3
    assert ic.iloc[1] == pytest.approx(1.0)
    assert np.isnan(ic.iloc[2])  # a constant factor has no correlation, not 0


def test_ic_aligns_sessions_and_symbols() -> None:
    factor = panel([[1, 2, 3, 4]] * 2).iloc[1:]  # starts a session later
    forward = panel([[0.4, 0.3, 0.2, 0.1]] * 2)[["D", "C", "B", "A"]]  # other column order

    ic = information_coefficient(factor, forward, "pearson", min_pairs=2)

    assert list(ic.index) == list(factor.index)
    assert ic.iloc[0] == pytest.approx(-1.0)


# ------------------------------------------------------------------------- IC summary


def test_summary_mean_hit_rate_and_t_stat_by_hand() -> None:
    ic = pd.Series([0.1, -0.2, 0.3, NAN, 0.4])

    one = summarize_ic(ic, horizon=1)
    two = summarize_ic(ic, horizon=2)

    assert one.mean == pytest.approx(0.15)
    assert one.sessions == 4
    assert one.hit_rate == pytest.approx(0.75)
    # No lag: 0.15 / sqrt(g0 / 4), g0 = 0.21 / 4.
    assert one.t_lags == 0
    assert one.t_stat == pytest.approx(0.15 / np.sqrt(0.0525 / 4))
    # One lag, weight 1/2: g1 = (0.0175 - 0.0525 + 0.0375) / 4.
    assert two.t_lags == 1
    assert two.t_stat == pytest.approx(0.15 / np.sqrt((0.0525 + 0.000625) / 4))


def test_hit_rate_counts_strictly_positive_ics() -> None:
    assert summarize_ic(pd.Series([0.0, 0.1, -0.1, 0.2]), 1).hit_rate == pytest.approx(0.5)


def test_newey_west_is_below_the_naive_t_on_overlapping_ics() -> None:
    rng = np.random.default_rng(3)
    shocks = rng.normal(0.01, 0.05, 400)
    overlapping = np.convolve(shocks, np.ones(21) / 21, mode="valid")  # as 21-day horizons do

    naive = newey_west_t(overlapping, 0)
    adjusted = newey_west_t(overlapping, 20)

    assert naive > 2 * adjusted > 0


def test_summary_of_no_ic() -> None:
    summary = summarize_ic(pd.Series([NAN, NAN]), 21)
    assert summary.sessions == 0
    assert np.isnan(summary.mean)
    assert np.isnan(summary.t_stat)
    assert np.isnan(summarize_ic(pd.Series([0.2]), 21).t_stat)  # one session: no t


# -------------------------------------------------------------------------- quantiles


def test_quantile_buckets_are_equal_sized_and_ties_share_one() -> None:
    factor = panel(
        [
            list(range(1, 11)),
            [1, 1, 1, 1, 2, 3, 4, 5, 6, 7],
            [1, 2, 3, 4, 5, 6, 7, NAN, NAN, NAN],
        ]
    )

    buckets = quantile_buckets(factor, quantiles=5, min_pairs=2)

    assert buckets.iloc[0].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert buckets.iloc[1].tolist()[:4] == [1, 1, 1, 1]
    # Seven values: floor((r - 1) * 5 / 7) + 1.
    assert buckets.iloc[2].tolist()[:7] == [1, 1, 2, 3, 3, 4, 5]
    assert buckets.iloc[2].iloc[7:].isna().all()


def test_quantile_mean_returns_and_spread_by_hand() -> None:
    values = [float(v) for v in range(1, 11)]
    factor = panel([values, values, [1, 2, 3] + [NAN] * 7])
    forward = panel([[v / 100 for v in values], [0.01] * 10, [0.5] * 10])

    result = quantile_returns(factor, forward, quantiles=5, min_pairs=4)

    # Session 0: Q1 = (0.01 + 0.02) / 2 ... Q5 = 0.095; session 1: 0.01 everywhere;
    # session 2 has three values only and is left out.
    assert result.sessions == 2
    assert result.mean.tolist() == pytest.approx([0.0125, 0.0225, 0.0325, 0.0425, 0.0525])
    assert result.spread == pytest.approx(0.04)
    assert list(result.mean.index) == [1, 2, 3, 4, 5]
    assert result.per_session.iloc[2].isna().all()


def test_quantiles_bucket_only_symbols_with_a_forward_return() -> None:
    factor = panel([[1, 2, 3, 4, 5]])
    forward = panel([[0.1, 0.2, 0.3, 0.4, NAN]])  # E (the highest value) has no return

    result = quantile_returns(factor, forward, quantiles=2, min_pairs=2)

    # A, B | C, D: E does not push D into the lower half.
    assert result.mean.tolist() == pytest.approx([0.15, 0.35])


# --------------------------------------------------------------------------- turnover


def test_rank_turnover_is_one_minus_rank_autocorrelation() -> None:
    factor = panel([[1, 2, 3, 4], [10, 20, 30, 40], [4, 3, 2, 1], [1, 3, 2, 4]])

    turnover = rank_turnover(factor, min_pairs=3)

    assert np.isnan(turnover.iloc[0])  # no previous session
    assert turnover.iloc[1] == pytest.approx(0.0)  # same order
    assert turnover.iloc[2] == pytest.approx(2.0)  # reversed
    assert turnover.iloc[3] == pytest.approx(1 + 0.8)  # (1, 3, 2, 4) vs (4, 3, 2, 1): -0.8


def test_top_quantile_turnover_counts_new_members() -> None:
    factor = panel([[1, 2, 3, 4], [1, 3, 2, 4], [1, 3, 2, 4], [NAN, NAN, NAN, NAN]])

    turnover = top_quantile_turnover(factor, quantiles=2, min_pairs=2)

    assert np.isnan(turnover.iloc[0])
    assert turnover.iloc[1] == pytest.approx(0.5)  # {C, D} -> {B, D}
    assert turnover.iloc[2] == pytest.approx(0.0)
    assert np.isnan(turnover.iloc[3])


# ------------------------------------------------------------------------ correlation


def test_factor_correlation_is_the_mean_daily_rank_correlation() -> None:
    a = panel([[1, 2, 3, 4], [1, 2, 3, 4]])
    b = -a
    c = panel([[1, 2, 3, 4], [4, 3, 2, 1]])

    matrix = factor_correlation({"a": a, "b": b, "c": c}, min_pairs=3)

    assert list(matrix.index) == ["a", "b", "c"]
    assert np.diag(matrix.to_numpy()).tolist() == [1.0, 1.0, 1.0]
    assert matrix.loc["a", "b"] == pytest.approx(-1.0)
    assert matrix.loc["a", "c"] == pytest.approx(0.0)  # +1 then -1
    assert matrix.to_numpy()[2, 0] == matrix.to_numpy()[0, 2]
    assert matrix.loc["b", "c"] == pytest.approx(0.0)


# --------------------------------------------------------------------------- coverage


def test_coverage_counts_symbols_with_a_bar_that_session() -> None:
    factor = panel([[1, NAN, 3]]).reindex(panel([[0, 0, 0]] * 2).index)
    close = panel([[1, 1, NAN], [1, 1, 1]])

    against_bars = coverage(factor, close)
    plain = coverage(factor)

    # Session 0: A and B have bars, A has a value (C's value has no bar under it).
    assert against_bars.tolist() == pytest.approx([0.5, 0.0])
    assert plain.tolist() == pytest.approx([2 / 3, 0.0])


# ------------------------------------------------------------------------- look-ahead


def test_changing_the_future_never_changes_past_statistics() -> None:
    rng = np.random.default_rng(11)
    sessions, symbols, horizon, cut = 60, 30, 5, 40
    close = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, (sessions, symbols)), axis=0)),
        index=pd.bdate_range("2010-01-04", periods=sessions),
    )
    factor = pd.DataFrame(rng.normal(size=(sessions, symbols)), index=close.index)
    close2, factor2 = close.copy(), factor.copy()
    close2.iloc[cut:] *= rng.uniform(0.5, 1.5, (sessions - cut, symbols))
    factor2.iloc[cut:] = rng.normal(size=(sessions - cut, symbols))

    before = analyze_factor("f", factor, close, horizon, 3, min_pairs=10)
    after = analyze_factor("f", factor2, close2, horizon, 3, min_pairs=10)

    # IC(T) reads closes through T + horizon: sessions T < cut - horizon are settled.
    settled = slice(0, cut - horizon)
    assert before.ic.iloc[settled].notna().all()
    pd.testing.assert_series_equal(before.ic.iloc[settled], after.ic.iloc[settled])
    pd.testing.assert_series_equal(before.rank_ic.iloc[settled], after.rank_ic.iloc[settled])
    pd.testing.assert_frame_equal(
        before.quantiles.per_session.iloc[settled], after.quantiles.per_session.iloc[settled]
    )
    pd.testing.assert_series_equal(before.turnover.iloc[:cut], after.turnover.iloc[:cut])
    # ...and the change does reach the later sessions, so the check above could fail.
    assert not np.allclose(before.ic.iloc[cut - horizon : cut], after.ic.iloc[cut - horizon : cut])
    assert before.ic.iloc[-horizon:].isna().all()


def test_analyze_factor_puts_the_parts_together() -> None:
    rng = np.random.default_rng(5)
    close = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, (50, 25)), axis=0)),
        index=pd.bdate_range("2010-01-04", periods=50),
    )
    factor = close.pct_change(5).iloc[5:]

    result = analyze_factor("momentum_5", factor, close, horizon=3, quantiles=4, min_pairs=10)

    forward = forward_returns(close, 3)
    pd.testing.assert_series_equal(
        result.ic, information_coefficient(factor, forward, "pearson", 10)
    )
    pd.testing.assert_series_equal(
        result.rank_ic, information_coefficient(factor, forward, "spearman", 10)
    )
    expected = quantile_returns(factor, forward, 4, 10)
    pd.testing.assert_frame_equal(result.quantiles.per_session, expected.per_session)
    pd.testing.assert_series_equal(result.turnover, rank_turnover(factor, 10))
    pd.testing.assert_series_equal(result.top_turnover, top_quantile_turnover(factor, 4, 10))
    # A profile computed once is reused as it is, whatever the horizon.
    profile = profile_factor(factor, close, 4, 10)
    reused = analyze_factor("momentum_5", factor, close, 7, 4, 10, profile=profile)
    assert reused.turnover is profile.turnover
    pd.testing.assert_series_equal(reused.coverage, result.coverage)
    assert result.ic_summary == summarize_ic(result.ic, 3)
    assert list(result.coverage.index) == list(close.index)
    assert result.coverage.iloc[:5].eq(0).all()
    assert result.coverage.iloc[5:].eq(1).all()
    assert len(result.quantiles.mean) == 4
    assert result.quantiles.sessions == 50 - 5 - 3
