"""The walk-forward's folds over the sessions: a last test window the data cuts short is said."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from config.sweep import SweepConfig
from quant_core.sweeps.walk_forward import windows


def _spec(train: int, test: int, **period: str) -> SweepConfig:
    return SweepConfig(
        name="wf",
        strategy="momentum",
        grid={"lookback": [20]},
        objective="sharpe",
        walk_forward={"train": train, "test": test},
        period=period,
    )


def test_a_last_test_window_cut_short_by_the_data_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dates = pd.bdate_range("2024-01-01", periods=300)
    with caplog.at_level(logging.WARNING, logger="quant_core.sweeps.walk_forward"):
        folds = windows(dates, _spec(200, 252), "wf.yaml")
    assert len(folds) == 1
    assert (folds[0].test_start, folds[0].test_end) == (dates[200].date(), dates[-1].date())
    assert "wf.yaml: the last walk-forward fold (0) tests 100 session(s)" in caplog.text
    assert "not 252: the data ends there" in caplog.text


def test_a_period_end_is_named_as_what_cuts_the_window(caplog: pytest.LogCaptureFixture) -> None:
    dates = pd.bdate_range("2024-01-01", periods=300)
    end = str(dates[249].date())
    with caplog.at_level(logging.WARNING, logger="quant_core.sweeps.walk_forward"):
        folds = windows(dates, _spec(100, 100, end=end), "wf.yaml")
    assert [f.test_end for f in folds] == [dates[199].date(), dates[249].date()]
    assert "tests 50 session(s)" in caplog.text
    assert "the period ends there" in caplog.text


def test_whole_test_windows_are_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    dates = pd.bdate_range("2024-01-01", periods=300)
    with caplog.at_level(logging.WARNING, logger="quant_core.sweeps.walk_forward"):
        folds = windows(dates, _spec(100, 100), "wf.yaml")
    assert len(folds) == 2
    assert caplog.text == ""
