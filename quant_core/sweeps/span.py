"""The sessions a sweep's configurations are measured over: the same ones for every one.

A configuration starts on its first rebalance: the first session of the period with its
warm-up before it. Configurations of different warm-ups (a momentum lookback of 20 and one of
126) would start months apart, and their objectives (a Sharpe, a CAGR) would measure different
markets: the ranking, the heatmap, the deflated Sharpe and the probability of backtest
overfitting would compare unlike with unlike. So every configuration of a sweep starts on the
latest of their first sessions (:func:`shared_start`), the period's start moved to it
(:func:`aligned`; logged, and said in ``--json`` as ``start``); and every train run of a
walk-forward's fold starts on its own fold's (``sweeps.walk_forward``). A configuration run alone
with ``--set backtest.start=<that session>`` gives exactly the figures the sweep recorded.

An Optuna search's trials are not known before it runs: the corners of its space stand for them
(a warm-up grows with a lookback or a window).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from config.sweep import SweepConfig
from quant_core.portfolio.schedule import session_range

logger = logging.getLogger(__name__)

Span = tuple[dt.date | None, dt.date | None]


def shared_start(dates: np.ndarray | None, warmups: Iterable[int], span: Span) -> dt.date | None:
    """Return the first session every warm-up can trade in ``span``, if some could start earlier.

    ``dates`` are the dataset's sessions (``datetime64[D]``); None (or no warm-up): None. The
    spans were checked before (each warm-up has a session to trade). None when every warm-up
    starts on the same session already.
    """
    if dates is None:
        return None
    firsts = {session_range(dates, w, *span)[0] for w in set(warmups)}
    if len(firsts) < 2:
        return None
    return pd.Timestamp(dates[max(firsts)]).date()


def aligned(
    spec: SweepConfig, dates: np.ndarray | None, warmups: Iterable[int], span: Span
) -> SweepConfig:
    """Return ``spec`` with its period starting on the :func:`shared_start`, if it moves."""
    start = shared_start(dates, warmups, span)
    if start is None:
        return spec
    logger.info(
        "Sweep %s: every configuration starts on %s, the first session the longest warm-up "
        "allows (period start %s), so that all are measured over the same sessions",
        spec.name,
        start,
        span[0] or "the data's first session",
    )
    return spec.model_copy(update={"period": spec.period.model_copy(update={"start": start})})


__all__ = ["aligned", "shared_start"]
