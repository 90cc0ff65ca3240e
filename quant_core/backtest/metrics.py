"""Performance metrics of a daily equity curve, each formula written once.

Conventions: daily simple returns of the equity curve; a zero risk-free rate; volatility,
Sharpe (mean / sample std x sqrt(252)) and Sortino (mean / downside deviation x sqrt(252); the
downside deviation is the root mean square of min(return, 0) over every session, a gain counting
as 0, the usual target-downside deviation at a target of 0) annualise per session; CAGR uses
calendar time (365.25 days a year), so sessions missing from the data do not shorten the year.
Drawdown is measured from the running peak, its duration in sessions from the peak to the
recovery (or the end). Turnover is one-sided:
(bought + sold) / 2 per year, over the average equity. The hit rate is the share of sessions
that moved (return not zero) that went up. Gross exposure is (long - short) / equity, net
exposure (long + short) / equity, with shorts stored negative; a book of positions has its
gross and net in dollars too (:func:`book_exposure`), the Live Dashboard's figures.

The cockpit draws these same numbers over time (rolling Sharpe, drawdown, exposure, monthly
returns): it calls the functions here, so a chart never disagrees with the run's metrics.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd

from quant_core.backtest.frames import TradeTotals, trade_totals
from quant_core.calendar import TRADING_DAYS_PER_YEAR

DAYS_PER_YEAR = 365.25


def returns(equity: pd.Series) -> pd.Series:
    """Return the daily simple returns of an equity curve."""
    return equity.pct_change().dropna()


def total_return(equity: pd.Series) -> float:
    """Return the growth of the curve from its first to its last value."""
    return float(equity.iloc[-1] / equity.iloc[0] - 1)


def years(equity: pd.Series) -> float:
    """Return the calendar time the curve spans, in years of 365.25 days."""
    index = pd.DatetimeIndex(equity.index)
    return float((index[-1] - index[0]).days / DAYS_PER_YEAR)


def cagr(equity: pd.Series) -> float:
    """Return the compound annual growth rate over calendar time."""
    span = years(equity)
    growth = equity.iloc[-1] / equity.iloc[0]
    return float(growth ** (1 / span) - 1) if span > 0 and growth > 0 else float("nan")


def volatility(daily: pd.Series) -> float:
    """Return the annualised standard deviation of daily returns."""
    return float(daily.std() * np.sqrt(TRADING_DAYS_PER_YEAR))


def sharpe(daily: pd.Series) -> float:
    """Return the annualised Sharpe ratio at a zero risk-free rate."""
    std = daily.std()
    return float(daily.mean() / std * np.sqrt(TRADING_DAYS_PER_YEAR)) if std > 0 else float("nan")


def rolling_sharpe(equity: pd.Series, window: int) -> pd.Series:
    """Return the annualised Sharpe ratio of the last ``window`` daily returns at each date.

    Same convention as :func:`sharpe`: mean over sample std of daily simple returns, times the
    square root of 252, zero risk-free rate. Aligned on the curve's dates: NaN until ``window``
    returns exist, and NaN where the window's returns do not vary.
    """
    daily = equity.pct_change()
    rolling = daily.rolling(window, min_periods=window)
    ratio = rolling.mean() / rolling.std() * math.sqrt(TRADING_DAYS_PER_YEAR)
    return ratio.replace([np.inf, -np.inf], np.nan).rename("rolling_sharpe")


def sortino(daily: pd.Series) -> float:
    """Return the annualised Sortino ratio: mean / sqrt(mean(min(r, 0)^2)) x sqrt(252).

    The mean of the squares is over every session (a gain counts as 0), not over the losing
    sessions only.
    """
    downside = np.sqrt((np.minimum(daily, 0.0) ** 2).mean())
    if not downside > 0:
        return float("nan")
    return float(daily.mean() / downside * np.sqrt(TRADING_DAYS_PER_YEAR))


def drawdown(equity: pd.Series) -> pd.Series:
    """Return the drawdown from the running peak at every date (<= 0)."""
    return equity / equity.cummax() - 1


def drawdown_usd(equity: pd.Series) -> pd.Series:
    """Return how far below its running peak the curve is at every date, in USD (its unit)."""
    return equity - equity.cummax()


def growth(equity: pd.Series) -> pd.Series:
    """Return the growth of one unit invested at the curve's first value (1.0 at the start)."""
    out: pd.Series = equity / equity.iloc[0]
    return out


def window_returns(equity: pd.Series, window: int) -> pd.Series:
    """Return the simple return over the last ``window`` sessions at each date (NaN before)."""
    return equity.pct_change(window)


def window_pnl(equity: pd.Series, window: int) -> pd.Series:
    """Return the change over the last ``window`` sessions at each date, in the curve's unit."""
    return equity.diff(window)


def _period_ends(
    equity: pd.Series, period: Literal["month", "year"]
) -> tuple[pd.Series, pd.Series]:
    """Return each period's last value and its base, the previous period's last value.

    The first period's base is the curve's first value.
    """
    index = pd.DatetimeIndex(equity.index)
    keys = [index.year, index.month] if period == "month" else index.year
    last = equity.groupby(keys).last()
    return last, last.shift(1).fillna(equity.iloc[0])


def period_returns(equity: pd.Series, period: Literal["month", "year"]) -> pd.Series:
    """Return the curve's return in each calendar month or year that has data.

    A period's return is its last value over the previous period's last (the curve's first
    value for the first period). Indexed by ``(year, month)`` for months, by year for years.
    """
    last, base = _period_ends(equity, period)
    return last / base - 1


def period_pnl(equity: pd.Series, period: Literal["month", "year"]) -> pd.Series:
    """Return the curve's change in each calendar month or year, in its unit (USD).

    Periods as in :func:`period_returns`: a period's last value less the previous period's
    last (the curve's first value for the first period).
    """
    last, base = _period_ends(equity, period)
    return last - base


def gross_value(curve: pd.DataFrame) -> pd.Series:
    """Return ``long - short`` at every date of a curve: the value invested on both sides."""
    return curve["long_value"] - curve["short_value"]


def gross_exposure(curve: pd.DataFrame) -> pd.Series:
    """Return ``(long - short) / equity`` at every date of a curve (shorts stored negative)."""
    return gross_value(curve) / curve["equity"]


def net_exposure(curve: pd.DataFrame) -> pd.Series:
    """Return ``(long + short) / equity`` at every date of a curve (shorts stored negative)."""
    return (curve["long_value"] + curve["short_value"]) / curve["equity"]


def book_exposure(market_values: pd.Series) -> tuple[float, float]:
    """Return a book's gross and net exposure in its unit (USD), from its positions' values.

    Gross is the sum of the absolute values, net the plain sum (shorts negative); an unknown
    value (NaN) counts nothing. Divide by the equity for the fractions of :func:`gross_exposure`
    and :func:`net_exposure`.
    """
    return float(market_values.abs().sum()), float(market_values.sum())


def max_drawdown(equity: pd.Series) -> tuple[float, int]:
    """Return the deepest drawdown and its duration in sessions, peak to recovery."""
    dd = drawdown(equity).to_numpy()
    if len(dd) == 0 or dd.min() >= 0:
        return 0.0, 0
    trough = int(dd.argmin())
    peak = int(np.flatnonzero(dd[: trough + 1] == 0).max())
    recovered = np.flatnonzero(dd[trough:] == 0)
    end = trough + int(recovered[0]) if recovered.size else len(dd) - 1
    return float(dd[trough]), end - peak


def summary(
    curve: pd.DataFrame, trades: pd.DataFrame | TradeTotals, benchmark: pd.Series | None
) -> dict[str, float | int | None]:
    """Return every metric of a run: the curve, its trades (or their totals), the benchmark."""
    totals = trades if isinstance(trades, TradeTotals) else trade_totals(trades)
    equity = curve["equity"]
    daily = returns(equity)
    deepest, duration = max_drawdown(equity)
    growth = cagr(equity)
    span = years(equity)
    traded = totals.notional / 2
    gross = gross_exposure(curve)
    out: dict[str, float | int | None] = {
        "start_equity": float(equity.iloc[0]),
        "final_equity": float(equity.iloc[-1]),
        "total_return": total_return(equity),
        "cagr": growth,
        "volatility": volatility(daily),
        "sharpe": sharpe(daily),
        "sortino": sortino(daily),
        "max_drawdown": deepest,
        "max_drawdown_sessions": duration,
        "calmar": growth / -deepest if deepest < 0 else float("nan"),
        "turnover": traded / float(equity.mean()) / span if span > 0 else float("nan"),
        "exposure": float(gross.iloc[1:].mean()) if len(gross) > 1 else 0.0,
        "hit_rate": float((daily > 0).sum() / moved)
        if (moved := int((daily != 0).sum()))
        else float("nan"),
        "commissions": totals.commission,
        # Slippage: what the fills paid beyond the open (|shares| x |exec - open|), in dollars.
        "slippage": totals.slippage,
        "total_costs": totals.commission + totals.slippage,
        "trades": totals.trades,
        "truncated": totals.truncated,
        "unfilled": totals.unfilled,
        "sessions": len(equity) - 1,
    }
    if benchmark is not None:
        bench_return, bench_cagr = total_return(benchmark), cagr(benchmark)
        out["benchmark_total_return"] = bench_return
        out["benchmark_cagr"] = bench_cagr
        out["excess_return"] = total_return(equity) - bench_return
        out["excess_cagr"] = growth - bench_cagr
    return out
