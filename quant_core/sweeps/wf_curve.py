"""The walk-forward's out-of-sample curve: the test runs' daily returns chained, its figures.

A fold's test run starts from cash at the close of the session before its test window (its
curve's first point) and is marked at the close of every session of the window. Chained, the
folds' test windows give one curve with every session once: :func:`gap` says when a test run's
curve does not cover its window exactly (a session missing, or one outside it), which would
leave sessions out of the stitched curve or count them twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from quant_core.backtest import metrics as m
from quant_core.errors import DataError


def gap(curve: pd.Series, sessions: pd.DatetimeIndex, start: dt.date, end: dt.date) -> str | None:
    """Return why ``curve`` does not cover the test window ``start .. end``, or None if it does.

    Parameters
    ----------
    curve : pandas.Series
        A fold's test run's equity curve (date index).
    sessions : pandas.DatetimeIndex
        Every session of the data, sorted.
    start, end : datetime.date
        The fold's test window (sessions, both included).

    Returns
    -------
    str or None
        None when the curve's dates are the session before ``start`` and then every session
        from ``start`` to ``end``, once each; else what differs.
    """
    days = pd.DatetimeIndex(sessions).normalize()
    first = int(days.searchsorted(pd.Timestamp(start)))
    last = int(days.searchsorted(pd.Timestamp(end), "right"))
    if first == 0:
        return f"no session before its test window's first {start}"
    expected = days[first - 1 : last]
    got = pd.DatetimeIndex(curve.index).normalize()
    if got.equals(expected):
        return None
    missing = expected.difference(got)
    extra = got.difference(expected)
    said = (
        [f"{len(missing)} session(s) missing (first {missing[0].date()})"] if len(missing) else []
    )
    said += [f"{len(extra)} outside its window (first {extra[0].date()})"] if len(extra) else []
    said = said or ["sessions repeated or out of order"]
    return f"its curve does not cover {start}..{end}: " + ", ".join(said)


def stitch(segments: list[pd.Series], initial_cash: float) -> pd.Series:
    """Return the out-of-sample curve: each segment's daily returns chained from ``initial_cash``.

    A segment's first close is its start (cash, before its first fill): its return counts from
    the previous segment's end, so no session is counted twice and none is left out.
    """
    daily = pd.concat([s.pct_change().iloc[1:] for s in segments])
    if daily.index.has_duplicates:
        raise DataError("walk-forward test windows overlap: their sessions repeat")
    start = segments[0].index[0]
    growth = (1.0 + daily).cumprod()
    curve = pd.concat([pd.Series([1.0], index=[start]), growth]) * float(initial_cash)
    return curve.rename("equity")


def stitched_metrics(curve: pd.Series) -> dict[str, Any]:
    """Return the out-of-sample curve's figures (the names of a run's metrics)."""
    daily = m.returns(curve)
    deepest, duration = m.max_drawdown(curve)
    growth = m.cagr(curve)
    return {
        "final_equity": float(curve.iloc[-1]),
        "total_return": m.total_return(curve),
        "cagr": growth,
        "volatility": m.volatility(daily),
        "sharpe": m.sharpe(daily),
        "sortino": m.sortino(daily),
        "max_drawdown": deepest,
        "max_drawdown_sessions": duration,
        "calmar": growth / -deepest if deepest < 0 else float("nan"),
        "sessions": len(curve) - 1,
    }


__all__ = ["gap", "stitch", "stitched_metrics"]
