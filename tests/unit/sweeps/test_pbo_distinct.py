"""The PBO of a sweep is taken over distinct return series: identical ones count once.

Identical configurations (a ``top_quantile`` too small to change the one name held) tie out of
sample on every split, so the best in-sample lands on the median (logit 0, counted overfit) and
the PBO was 1.0 for a sweep with nothing to choose. Their curves are one series: with fewer than
two distinct the PBO is None, and the table says why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_core.analytics.overfit import pbo
from quant_core.sweeps.overfitting import overfitting
from quant_core.sweeps.report import overfitting_caption

DAYS = pd.bdate_range("2010-01-04", periods=200)


def _curve(seed: int) -> pd.Series:
    steps = np.random.default_rng(seed).normal(0.0005, 0.01, len(DAYS))
    return pd.Series(1e6 * np.cumprod(1 + steps), index=DAYS)


def test_identical_configurations_have_no_pbo_not_one() -> None:
    same = _curve(1)
    curves = pd.DataFrame({"a": same, "b": same, "c": same})
    judged = overfitting(curves, "a")
    assert judged["pbo"] is None
    assert judged["distinct_curves"] == 1.0
    assert judged["trials"] == 3.0  # the trials are still three (the deflated Sharpe's)
    line = overfitting_caption(judged)
    assert line is not None
    assert "(CSCV): - (fewer than 2 distinct return series" in line


def test_a_duplicated_curve_counts_once_in_the_pbo() -> None:
    a, b, c = _curve(1), _curve(2), _curve(3)
    judged = overfitting(pd.DataFrame({"a": a, "a2": a, "b": b, "c": c, "c2": c}), "a")
    returns = pd.DataFrame({"a": a, "b": b, "c": c}).pct_change().iloc[1:].to_numpy()
    assert judged["distinct_curves"] == 3.0
    assert judged["pbo"] == pbo(returns, partitions=16).pbo
