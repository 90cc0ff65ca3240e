"""How far to trust a sweep's best configuration: its deflated Sharpe ratio and the sweep's PBO.

Over every configuration's daily returns on the sessions all of them traded (their curves from
the catalogue, aligned on the common span; a configuration that never moved, e.g. no trade, or
whose equity reached zero, is left out: it carries no return to rank):

- ``deflated_sharpe``: the probability that the best configuration's Sharpe ratio beats what the
  best of the sweep's trials would reach by luck (Bailey & Lopez de Prado 2014), the trials
  counted as ``effective_trials`` from their average correlation
  (:func:`quant_core.analytics.overfit.effective_trials`), their Sharpe ratios' variance taken
  over all of them;
- ``pbo``: the probability of backtest overfitting by combinatorially symmetric cross-validation
  (:func:`quant_core.analytics.overfit.pbo`) with 16 blocks (fewer, even, for a short span:
  each half needs 2 sessions per block at least), over the ``distinct_curves`` configurations
  whose daily returns differ: configurations that traded alike are one return series, counted
  once (else their ties out of sample would land the best on the median, counted overfit, and
  identical configurations would score a PBO of 1). None with fewer than two distinct.

``best`` is the key of the best configuration by the sweep's objective. Both are None with fewer
than two configurations that moved. The PBO is the sweep's, over the configurations that moved:
a best one that never moved (e.g. no trade, "best" by drawdown) leaves only its deflated Sharpe
None, having no return to deflate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quant_core.analytics.overfit import deflated_sharpe, effective_trials, is_constant, pbo

PARTITIONS = 16


def overfitting(curves: pd.DataFrame, best: str) -> dict[str, Any]:
    """Return the overfitting measures of ``curves`` (module docstring), ``best`` the best's key.

    Keys: ``deflated_sharpe``, ``pbo``, ``trials``, ``effective_trials``, ``distinct_curves``.
    """
    empty: dict[str, Any] = {
        "deflated_sharpe": None,
        "pbo": None,
        "trials": float(curves.shape[1]),
        "effective_trials": None,
        "distinct_curves": None,
    }
    common = curves.dropna()
    returns = common.pct_change().iloc[1:]
    keep = [  # a curve that never moved, or reached zero, has no return to rank
        c
        for c in returns.columns
        if np.isfinite(returns[c]).all() and not is_constant(returns[c].to_numpy(dtype=float))
    ]
    moving = returns[keep]
    if moving.shape[1] < 2 or len(moving) < 8:
        return empty
    matrix = moving.to_numpy(dtype=float)
    trial_sharpes = matrix.mean(axis=0) / matrix.std(axis=0, ddof=1)
    n_eff = effective_trials(matrix)
    dsr = None
    if best in moving.columns:
        dsr = deflated_sharpe(moving[best].to_numpy(dtype=float), trial_sharpes, trials=n_eff).dsr
    distinct = matrix[:, sorted(np.unique(matrix, axis=1, return_index=True)[1])]
    value = None
    if distinct.shape[1] >= 2:
        partitions = min(PARTITIONS, (len(moving) // 4) // 2 * 2)
        value = float(pbo(distinct, partitions=max(partitions, 2)).pbo)
    return {
        "deflated_sharpe": None if dsr is None else float(dsr),
        "pbo": value,
        "trials": float(moving.shape[1]),
        "effective_trials": float(n_eff),
        "distinct_curves": float(distinct.shape[1]),
    }


__all__ = ["PARTITIONS", "overfitting"]
