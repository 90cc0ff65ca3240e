"""Comparing runs that share one session only: said plainly, not a one-point chart of zeros.

One common session holds no return: rebased curves of one point and metrics of 0 sessions
(NaN Sharpe, a total return of 0) would read as "these runs did the same". The warning says
there is nothing to compare, and the Explorer draws no chart and no table for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from quant_core.cockpit.models import run_compare


def _curve(start: str, n: int) -> pd.DataFrame:
    dates = pd.bdate_range(start, periods=n, name="date")
    return pd.DataFrame({"equity": np.linspace(100.0, 110.0, n)}, index=dates)


def test_runs_that_share_one_session_are_said_to_share_nothing_to_compare() -> None:
    curves = {"a": _curve("2020-01-01", 5), "b": _curve("2020-01-07", 5)}  # share 2020-01-07
    aligned = run_compare.align(curves)
    assert (str(aligned.start.date()), aligned.sessions) == ("2020-01-07", 0)  # type: ignore[union-attr]
    periods = {k: run_compare.period(c) for k, c in curves.items()}
    (line,) = run_compare.differences(periods, {"a": 1e6, "b": 1e6}, aligned)
    assert line.startswith("Period differs: a 2020-01-01 to 2020-01-07; b 2020-01-07 to ")
    assert line.endswith(
        "The runs share one session only, 2020-01-07: no return to compare over it."
    )
    assert "Compared over" not in line


def test_two_common_sessions_still_compare() -> None:
    curves = {"a": _curve("2020-01-01", 5), "b": _curve("2020-01-06", 5)}
    aligned = run_compare.align(curves)
    assert aligned.sessions == 1
    periods = {k: run_compare.period(c) for k, c in curves.items()}
    (line,) = run_compare.differences(periods, {"a": 1e6, "b": 1e6}, aligned)
    assert "Compared over their common period 2020-01-06 to 2020-01-07" in line


SCRIPT = """
import numpy as np
import pandas as pd
from unittest import mock

from quant_core.cockpit.views import explorer_compare


class Run:
    def __init__(self, start):
        dates = pd.bdate_range(start, periods=5, name="date")
        equity = np.linspace(1e6, 1.1e6, 5)
        self.curve = pd.DataFrame(
            {"equity": equity, "cash": 0.0, "long_value": equity, "short_value": 0.0},
            index=dates,
        )
        self.trades = pd.DataFrame({"date": pd.to_datetime([])})
        self.metrics = {}


RUNS = {"r1": Run("2020-01-01"), "r2": Run("2020-01-07")}
ROWS = {
    i: {"run_id": i, "strategy": "momentum", "dataset": "d", "initial_cash": 1e6}
    for i in RUNS
}
with mock.patch.object(explorer_compare, "load", lambda root, i: RUNS[i]):
    explorer_compare.render(None, ROWS)
"""


def test_the_explorer_draws_nothing_for_one_common_session() -> None:
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    at.session_state["compare_runs"] = ["r1", "r2"]
    at.run()
    assert not at.exception, at.exception
    (warning,) = at.warning
    assert "share one session only, 2020-01-07" in warning.value
    assert not at.dataframe  # no metrics table of 0-session figures
    assert not at.get("plotly_chart")  # no one-point chart
