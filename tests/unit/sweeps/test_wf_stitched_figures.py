"""The walk-forward's stitched figures: the curve's, and the folds' trading figures in its terms."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from quant_core.backtest import metrics as m
from quant_core.sweeps.wf_curve import stitch, stitched_metrics


def _segment(start: str, values: list[float]) -> pd.Series:
    index = pd.bdate_range(start, periods=len(values))
    return pd.Series(values, index=index, name="equity")


def _folds() -> list[tuple[pd.Series, dict[str, float | int | None]]]:
    first = _segment("2024-01-01", [100.0, 104.0, 110.0])  # ends on 2024-01-03
    second = _segment("2024-01-03", [100.0, 95.0, 90.0])  # starts where the first ends
    return [
        (first, {"commissions": 2.0, "slippage": 1.0, "total_costs": 3.0, "trades": 4,
                 "truncated": 1, "unfilled": 0, "exposure": 0.5, "turnover": 10.0}),
        (second, {"commissions": 3.0, "slippage": 0.5, "total_costs": 3.5, "trades": 6,
                  "truncated": 0, "unfilled": 2, "exposure": 0.8, "turnover": 20.0}),
    ]  # fmt: skip


def test_dollars_count_at_the_scale_the_stitched_curve_gives_each_fold() -> None:
    folds = _folds()
    curve = stitch([s for s, _ in folds], 100.0)
    assert curve.tolist() == pytest.approx([100.0, 104.0, 110.0, 104.5, 99.0])
    figures = stitched_metrics(curve, folds)
    # The second fold runs on 110 of stitched equity for its 100 of cash: its dollars x 1.1.
    assert figures["commissions"] == pytest.approx(2.0 + 1.1 * 3.0, rel=1e-15)
    assert figures["slippage"] == pytest.approx(1.0 + 1.1 * 0.5, rel=1e-15)
    assert figures["total_costs"] == pytest.approx(3.0 + 1.1 * 3.5, rel=1e-15)
    assert (figures["trades"], figures["truncated"], figures["unfilled"]) == (10, 1, 2)
    assert figures["exposure"] == pytest.approx((2 * 0.5 + 2 * 0.8) / 4)
    first, second = folds[0][0], folds[1][0]
    traded = 10.0 * first.mean() * m.years(first) + 1.1 * 20.0 * second.mean() * m.years(second)
    assert figures["turnover"] == pytest.approx(traded / curve.mean() / m.years(curve))
    assert figures["start_equity"] == 100.0
    assert figures["hit_rate"] == pytest.approx(2 / 4)
    assert figures["sharpe"] == stitched_metrics(curve)["sharpe"]  # the curve's figures alone


def test_a_figure_some_fold_lacks_is_left_out_and_a_stored_null_is_nan() -> None:
    folds = _folds()
    del folds[0][1]["commissions"]
    folds[1][1]["turnover"] = None  # a NaN the catalogue stored as JSON null
    figures = stitched_metrics(stitch([s for s, _ in folds], 100.0), folds)
    assert "commissions" not in figures
    assert figures["slippage"] == pytest.approx(1.55)
    assert math.isnan(figures["turnover"])


def test_without_the_folds_only_the_curve_is_measured() -> None:
    curve = stitch([s for s, _ in _folds()], 100.0)
    assert "trades" not in stitched_metrics(curve)
    assert "total_costs" not in stitched_metrics(curve)
