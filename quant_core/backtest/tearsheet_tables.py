"""The figures behind the tearsheet's tables: drawdown periods, calendar returns, turnover, costs.

Each is computed from a stored run's equity curve and trades with the formulas of
:mod:`quant_core.backtest.metrics`, so a table never disagrees with the run's metrics:

* a **drawdown period** starts at a peak (the last session at the running maximum before the
  curve falls below it), reaches its trough (the deepest ``equity / peak - 1``) and ends at the
  recovery, the first session back at the peak (none while it is still under water); its
  length in sessions runs from the peak to the recovery, or to the last session, as
  :func:`quant_core.backtest.metrics.max_drawdown` counts it, so the worst period's depth and
  length are the run's ``max_drawdown`` and ``max_drawdown_sessions``;
* **calendar returns**: :func:`quant_core.backtest.metrics.period_returns` by month and by year;
* **turnover** of a period: one-sided, ``(bought + sold) / 2`` over the period's mean equity
  (the run's ``turnover`` per year, not annualised here);
* **costs** of a period: commissions and slippage (dollars), their sum, in basis points of the
  dollars traded and in percent of the mean equity.
"""

from __future__ import annotations

import calendar

import numpy as np
import pandas as pd

from quant_core.backtest import metrics as m

MONTHS = [calendar.month_abbr[i] for i in range(1, 13)]
DRAWDOWN_COLUMNS = ("peak", "trough", "recovery", "depth", "depth_usd", "sessions")


def drawdown_periods(equity: pd.Series, worst: int = 5) -> pd.DataFrame:
    """Return the ``worst`` drawdown periods of an equity curve, deepest first.

    Columns: ``peak``, ``trough``, ``recovery`` (NaT while under water), ``depth`` (fraction,
    <= 0), ``depth_usd`` (trough minus peak equity, dollars) and ``sessions`` (module docstring).
    """
    values = equity.to_numpy(dtype=float)
    dates = pd.DatetimeIndex(equity.index)
    dd = m.drawdown(equity).to_numpy()
    under = dd < 0
    starts = np.flatnonzero(under & ~np.r_[False, under[:-1]])
    ends = np.flatnonzero(under & ~np.r_[under[1:], False])
    rows = []
    for first, last in zip(starts, ends, strict=True):  # one row per period, not per session
        peak = int(first) - 1  # dd is 0 at the first session, so a period never starts there
        trough = peak + 1 + int(dd[first : last + 1].argmin())
        end = int(last) + 1  # the recovery, when there is one
        recovered = end < len(values)
        rows.append(
            {
                "peak": dates[peak],
                "trough": dates[trough],
                "recovery": dates[end] if recovered else pd.NaT,
                "depth": float(dd[trough]),
                "depth_usd": float(values[trough] - values[peak]),
                "sessions": (end if recovered else len(values) - 1) - peak,
            }
        )
    frame = pd.DataFrame(rows, columns=list(DRAWDOWN_COLUMNS))
    return frame.sort_values("depth", kind="stable").head(worst).reset_index(drop=True)


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Return the curve's monthly returns as a year x month table, with the year's return.

    Rows are years, columns ``Jan`` .. ``Dec`` (NaN for a month without data) and ``Total``,
    the year's return.
    """
    months = m.period_returns(equity, "month")
    table = pd.DataFrame(
        {"year": months.index.get_level_values(0), "month": months.index.get_level_values(1)}
    ).assign(value=months.to_numpy())
    wide = table.pivot_table(
        index="year", columns="month", values="value", aggfunc="first", dropna=False
    ).reindex(columns=range(1, 13))
    wide.columns = pd.Index(MONTHS)
    wide["Total"] = m.period_returns(equity, "year").reindex(wide.index)
    wide.index.name = "Year"
    return wide


def yearly_returns(equity: pd.Series, benchmark: pd.Series | None) -> pd.DataFrame:
    """Return each calendar year's return of the run and, when given, of the benchmark.

    Columns: ``strategy``, and with a benchmark ``benchmark`` and ``excess`` (the difference).
    """
    out = pd.DataFrame({"strategy": m.period_returns(equity, "year")})
    if benchmark is not None:
        out["benchmark"] = m.period_returns(benchmark, "year")
        out["excess"] = out["strategy"] - out["benchmark"]
    out.index.name = "Year"
    return out


def _by_period(trades: pd.DataFrame, equity: pd.Series, freq: str) -> pd.DataFrame:
    # Traded dollars, commissions and slippage summed per period; the period's mean equity.
    dates = pd.DatetimeIndex(equity.index)
    key = dates.to_period(freq)
    frame = pd.DataFrame({"mean_equity": equity.groupby(key).mean()})
    if len(trades):
        when = pd.DatetimeIndex(trades["date"]).to_period(freq)
        sums = trades[["notional", "commission", "slippage"]].astype(float).groupby(when).sum()
        frame = frame.join(sums)
    for column in ("notional", "commission", "slippage"):
        if column not in frame:
            frame[column] = 0.0
    return frame.fillna({"notional": 0.0, "commission": 0.0, "slippage": 0.0})


def turnover_by_month(trades: pd.DataFrame, equity: pd.Series) -> pd.Series:
    """Return each month's one-sided turnover: ``notional / 2 / mean equity`` (a fraction)."""
    frame = _by_period(trades, equity, "M")
    out = frame["notional"] / 2 / frame["mean_equity"]
    out.index = pd.PeriodIndex(out.index).to_timestamp()
    return out.rename("turnover")


def costs_by_year(trades: pd.DataFrame, equity: pd.Series) -> pd.DataFrame:
    """Return each year's traded dollars, turnover and costs (module docstring).

    Columns: ``traded`` (dollars bought and sold), ``turnover`` (one-sided, fraction of the
    mean equity), ``commission``, ``slippage``, ``costs`` (dollars), ``costs_bps`` (of the
    traded dollars; NaN without a trade) and ``costs_pct`` (of the mean equity).
    """
    frame = _by_period(trades, equity, "Y")
    costs = frame["commission"] + frame["slippage"]
    traded = frame["notional"]
    out = pd.DataFrame(
        {
            "traded": traded,
            "turnover": traded / 2 / frame["mean_equity"],
            "commission": frame["commission"],
            "slippage": frame["slippage"],
            "costs": costs,
            "costs_bps": (costs / traded.where(traded > 0)) * 1e4,
            "costs_pct": costs / frame["mean_equity"],
        }
    )
    out.index = pd.Index(pd.PeriodIndex(out.index).year, name="Year")
    return out


def cumulative_costs(trades: pd.DataFrame, equity: pd.Series) -> pd.DataFrame:
    """Return commissions and slippage paid to date at every session of the curve (dollars)."""
    dates = pd.DatetimeIndex(equity.index)
    if not len(trades):
        return pd.DataFrame({"commission": 0.0, "slippage": 0.0}, index=dates)
    daily = trades.groupby(pd.DatetimeIndex(trades["date"]))[["commission", "slippage"]].sum()
    daily.index = pd.DatetimeIndex(daily.index).as_unit(dates.unit)
    return daily.astype(float).reindex(dates, fill_value=0.0).cumsum()
