"""The Live Dashboard's "Last rebalance" block and realised against target volatility."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

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
    assert "not enough history (needs 64 daily equity points)" in tables.vol_line(short, None)
    assert "target (portfolio.vol_target): none" in tables.vol_line(short, None)
