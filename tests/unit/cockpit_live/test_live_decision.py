"""The Live Dashboard's "Last rebalance" block and realised against target volatility."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from quant_core.cockpit.tables import live_daily
from quant_core.cockpit.tables import live_tables as tables
from quant_core.live.state import DashboardState
from tests.unit.cockpit_live.test_live_model import _doc


def _state(**extra: Any) -> DashboardState:
    return DashboardState.from_json(_doc() | extra)


def test_the_last_rebalance_block_lists_bindings_left_out_and_warns_of_a_fallback() -> None:
    state = _state(
        last_decision={
            "session": "2026-03-02",
            "bindings": [
                {"constraint": "max_weight", "detail": "12 name(s) clipped to 0.50%"},
                {"constraint": "max_gross", "detail": "gross scaled 1.10 -> 1.00"},
            ],
            "left_out": 12,
            "left_out_names": ["A", "B"],
            "fallback": "min_variance: solver failed",
        }
    )
    lines, warning = tables.last_rebalance_lines(state)
    assert lines == [
        "Session 2026-03-02",
        "Binding: max_weight: 12 name(s) clipped to 0.50%",
        "Binding: max_gross: gross scaled 1.10 -> 1.00",
        "Left out: 12 name(s): A, B and 10 more",
    ]
    assert warning == "Construction fell back to inverse_vol: min_variance: solver failed"


def test_a_rebalance_with_nothing_binding_and_an_older_state_without_the_field() -> None:
    quiet = _state(last_decision={"session": "2026-03-02"})  # defaults: an added field's
    assert tables.last_rebalance_lines(quiet) == (
        ["Session 2026-03-02", "No constraint bound"],
        None,
    )
    assert tables.last_rebalance_lines(_state()) == (["No rebalance on record yet."], None)
    assert tables.last_rebalance_lines(None) == (["No rebalance on record yet."], None)


def _equity(values: list[float], start: dt.date = dt.date(2026, 1, 2)) -> list[list[Any]]:
    # Two samples a day, the later one at the close: only the last of each day counts.
    points = []
    for i, value in enumerate(values):
        day = start + dt.timedelta(days=i)
        noon = dt.datetime.combine(day, dt.time(15), dt.UTC)
        close = dt.datetime.combine(day, dt.time(21), dt.UTC)
        points.append([close.isoformat(), value])
        points.append([noon.isoformat(), value * 0.5])  # out of order, earlier: ignored
    return points


def test_realised_vol_is_63_daily_returns_sample_deviation_annualised() -> None:
    rng = np.random.default_rng(7)
    closes = list(100_000 * np.cumprod(1 + rng.normal(0, 0.01, 80)))
    state = _state(equity=_equity(closes))
    # Independently: pandas' sample deviation of the last 63 simple returns.
    expected = pd.Series(closes).pct_change().iloc[-63:].std() * math.sqrt(252)
    realised = tables.realised_vol(state)
    assert realised is not None
    assert math.isclose(realised, expected, rel_tol=1e-12)
    line = tables.vol_line(state, 0.10)
    assert line.startswith(f"Realised volatility (63 sessions, annualised): {expected:.2%};")
    assert "target (portfolio.vol_target): 10.00%" in line
    assert line.endswith("book ex-ante: -")


def test_replay_session_dates_count_and_too_short_a_history_says_so() -> None:
    days = [dt.date(2026, 1, 2) + dt.timedelta(days=i) for i in range(64)]
    values = [100.0 + (i % 3) for i in range(64)]
    state = _state(equity=[[d.isoformat(), v] for d, v in zip(days, values, strict=True)])
    expected = np.std(np.diff(values) / values[:-1], ddof=1) * math.sqrt(252)
    realised = tables.realised_vol(state)
    assert realised is not None
    assert math.isclose(realised, expected, rel_tol=1e-12)
    short = _state(equity=[[d.isoformat(), v] for d, v in zip(days[1:], values[1:], strict=True)])
    assert tables.realised_vol(short) is None
    assert "not enough history (needs 64 session closes)" in tables.vol_line(short, None)
    assert "target (portfolio.vol_target): none" in tables.vol_line(short, None)


def _daily(values: list[float | None], sectors: list[dict[str, Any]] | None = None) -> list[Any]:
    days = pd.bdate_range("2026-01-02", periods=len(values))
    return [
        {"session": d.date().isoformat(), "equity": v, "gross": 0.0, "sectors": sectors or []}
        for d, v in zip(days, values, strict=True)
    ]


def test_the_recorded_closes_win_over_the_equity_points_and_a_gap_says_so() -> None:
    rng = np.random.default_rng(11)
    closes = list(100_000 * np.cumprod(1 + rng.normal(0, 0.012, 70)))
    sampled = list(100_000 * np.cumprod(1 + rng.normal(0, 0.03, 70)))  # a different path
    state = _state(equity=_equity(sampled), daily=_daily(closes))
    expected = pd.Series(closes).pct_change().iloc[-63:].std() * math.sqrt(252)
    realised = tables.realised_vol(state)
    assert realised is not None
    assert math.isclose(realised, expected, rel_tol=1e-12)
    # The daily frame the chart draws: the run's own rolling formula, the same last figure.
    vol = live_daily.daily_vol(state, 0.12)
    assert math.isclose(vol["realised"].iloc[-1], expected, rel_tol=1e-12)
    assert vol["realised"].iloc[:63].isna().all()
    assert (vol["target"] == 0.12).all()
    assert vol["ex_ante"].isna().all()  # no book report in this state
    # A close recorded without an equity figure inside the window: no figure, not a wrong one.
    gap = _state(daily=_daily([*closes[:-10], None, *closes[-9:]]))
    assert tables.realised_vol(gap) is None


def test_the_sector_rows_become_the_runs_exposure_frame() -> None:
    tech = {"sector": "Tech", "long": 0.5, "short": -0.1, "gross": 0.6, "net": 0.4}
    energy = {"sector": "Energy", "long": 0.2, "short": 0.0, "gross": 0.2, "net": 0.2}
    state = _state(daily=_daily([100.0, 101.0], [tech, energy]))
    frame = live_daily.daily_exposure(state)
    assert list(frame.columns) == ["date", "sector", "long", "short", "gross", "net"]
    assert list(frame["sector"]) == ["Tech", "Energy", "Tech", "Energy"]
    assert frame["date"].iloc[2] == pd.Timestamp("2026-01-05")
    assert list(frame["gross"]) == [0.6, 0.2, 0.6, 0.2]
    equity = live_daily.daily_equity_series(state)
    assert list(equity) == [100.0, 101.0]
    assert live_daily.daily_exposure(None).empty
    assert live_daily.daily_equity_series(_state()).empty
