"""A stored backtest's curve and positions, prepared for the Explorer's charts and tables.

Pure, without Streamlit. Curves are stored run frames: a date index with ``equity``, ``cash``,
``long_value``, ``short_value`` (negative for shorts) and, with a benchmark, ``benchmark`` (all
USD). Every formula (returns, exposure, drawdown, Sharpe) is the run's own, from
:mod:`quant_core.backtest.metrics`; this module only selects, aligns and reshapes.
"""

from __future__ import annotations

import pandas as pd

from quant_core.backtest import metrics


def equity_series(curve: pd.DataFrame, column: str = "equity") -> pd.Series:
    """Return one column of a stored curve with a plain ``DatetimeIndex``."""
    series = curve[column].astype(float)
    series.index = pd.DatetimeIndex(curve.index)
    return series


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Return monthly returns as years x months (1..12) plus a ``Year`` column, fractions.

    A month's return is its last equity over the previous month's last (the curve's first
    value for the first month); the year's is its last equity over the previous year's last.
    Months without data are NaN.
    """
    table = _by_month(metrics.period_returns(equity, "month"))
    table["Year"] = metrics.period_returns(equity, "year")
    table.index.name, table.columns.name = "year", "month"
    return table


def monthly_pnl(equity: pd.Series) -> pd.DataFrame:
    """Return the monthly profit in USD, shaped as :func:`monthly_returns` (``Year`` too)."""
    table = _by_month(metrics.period_pnl(equity, "month"))
    table["Year"] = metrics.period_pnl(equity, "year")
    table.index.name, table.columns.name = "year", "month"
    return table


def _by_month(values: pd.Series) -> pd.DataFrame:
    # values: one number per (year, month) -> years x months 1..12 (NaN where absent)
    frame = pd.DataFrame({"value": values.to_numpy()}, index=values.index)
    frame.index.names = ["year", "month"]
    table = frame.reset_index().pivot_table(
        index="year", columns="month", values="value", aggfunc="last", dropna=False
    )
    return table.reindex(columns=range(1, 13))


def exposure(curve: pd.DataFrame) -> pd.DataFrame:
    """Return gross ``(long - short) / equity`` and net ``(long + short) / equity`` exposure.

    ``short_value`` is stored negative. Also returns the long, short and gross (long - short)
    values in USD.
    """
    columns = ("equity", "long_value", "short_value")
    book = pd.DataFrame({column: equity_series(curve, column) for column in columns})
    return pd.DataFrame(
        {
            "gross": metrics.gross_exposure(book),
            "net": metrics.net_exposure(book),
            "long_usd": book["long_value"],
            "short_usd": book["short_value"],
            "gross_usd": metrics.gross_value(book),
        }
    )


def holdings_count(positions: pd.DataFrame, rebalances: pd.DatetimeIndex) -> pd.Series:
    """Return the number of symbols held after each rebalance (0 where nothing is held)."""
    held = positions[positions["shares"] != 0]
    counts = held.groupby(pd.DatetimeIndex(held["date"]))["symbol"].nunique()
    dates = pd.DatetimeIndex(rebalances).union(pd.DatetimeIndex(counts.index))
    return counts.reindex(dates, fill_value=0).astype(int).rename("holdings")


def top_weights(positions: pd.DataFrame, equity: pd.Series, n: int = 15) -> pd.DataFrame:
    """Return the weights (fraction of equity) after each rebalance of the ``n`` most held.

    Rows are rebalance dates, columns symbols ordered by average absolute weight, largest
    first; a symbol not held on a date weighs 0.
    """
    if positions.empty:
        return pd.DataFrame()
    frame = positions.assign(date=pd.DatetimeIndex(positions["date"]))
    wide = frame.pivot_table(index="date", columns="symbol", values="value", aggfunc="sum")
    weights = wide.fillna(0.0).div(equity.reindex(wide.index), axis=0)
    order = weights.abs().mean().sort_values(ascending=False, kind="stable").index[:n]
    return weights[order]
