"""The walk-forward's out-of-sample curve: the test runs' daily returns chained, its figures.

A fold's test run starts from cash at the close of the session before its test window (its
curve's first point) and is marked at the close of every session of the window. Chained, the
folds' test windows give one curve with every session once: :func:`gap` says when a test run's
curve does not cover its window exactly (a session missing, or one outside it), which would
leave sessions out of the stitched curve or count them twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
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


def stitched_metrics(
    curve: pd.Series, tests: Sequence[tuple[pd.Series, Mapping[str, Any]]] = ()
) -> dict[str, Any]:
    """Return the out-of-sample curve's figures (the names of a run's metrics).

    ``tests``: each fold's test curve and metrics, in order. With them, the trading figures
    too, in the stitched curve's terms (:func:`_trading`); without, the curve's alone.
    """
    daily = m.returns(curve)
    deepest, duration = m.max_drawdown(curve)
    growth = m.cagr(curve)
    moved = int((daily != 0).sum())
    out: dict[str, Any] = {
        "start_equity": float(curve.iloc[0]),
        "final_equity": float(curve.iloc[-1]),
        "total_return": m.total_return(curve),
        "cagr": growth,
        "volatility": m.volatility(daily),
        "sharpe": m.sharpe(daily),
        "sortino": m.sortino(daily),
        "max_drawdown": deepest,
        "max_drawdown_sessions": duration,
        "calmar": growth / -deepest if deepest < 0 else float("nan"),
        "hit_rate": float((daily > 0).sum() / moved) if moved else float("nan"),
        "sessions": len(curve) - 1,
    }
    return out | _trading(curve, tests) if tests else out


def _trading(
    curve: pd.Series, tests: Sequence[tuple[pd.Series, Mapping[str, Any]]]
) -> dict[str, Any]:
    """Return the folds' trading figures as the stitched curve's.

    A fold's test run starts from the initial cash; in the stitched curve the same segment is
    scaled by ``k`` (the stitched equity where the segment starts over the segment's start), so
    its dollars (commissions, slippage, the notional traded) count ``k`` times. Counts (trades,
    truncated, unfilled) add up; exposure is the folds' mean weighted by their sessions;
    turnover is the notional traded over the stitched curve's mean equity, per year, as a run's.
    A figure some fold lacks (a catalogue from before it existed) is left out.
    """
    out: dict[str, Any] = {}
    scale = [float(curve.loc[: s.index[0]].iloc[-1] / s.iloc[0]) for s, _ in tests]
    every = [metrics for _, metrics in tests]
    for key in ("commissions", "slippage", "total_costs"):
        if all(key in f for f in every):
            out[key] = sum(k * _number(f[key]) for k, f in zip(scale, every, strict=True))
    for key in ("trades", "truncated", "unfilled"):
        if all(key in f for f in every):
            out[key] = sum(int(f[key]) for f in every)
    if all("exposure" in f for f in every):
        weights = [len(s) - 1 for s, _ in tests]
        total = sum(weights)
        exposure = sum(w * _number(f["exposure"]) for w, f in zip(weights, every, strict=True))
        out["exposure"] = exposure / total if total else 0.0
    if all("turnover" in f for f in every):
        # A run's turnover is traded / mean equity / years: its traded notional back, scaled.
        traded = sum(
            k * _number(f["turnover"]) * float(s.mean()) * m.years(s)
            for k, (s, f) in zip(scale, tests, strict=True)
            if m.years(s) > 0
        )
        span = m.years(curve)
        out["turnover"] = traded / float(curve.mean()) / span if span > 0 else float("nan")
    return out


def _number(value: Any) -> float:
    """Return ``value`` as a float; None (a NaN stored as JSON null) as NaN."""
    return float("nan") if value is None else float(value)


__all__ = ["gap", "stitch", "stitched_metrics"]
