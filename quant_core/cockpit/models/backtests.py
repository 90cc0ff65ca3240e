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


# ------------------------------------------------------------------------ holdings as of a date

HOLDING_COLUMNS = ("symbol", "sector", "shares", "close", "value", "weight")
SECTOR_COLUMNS = ("sector", "names", "long", "short", "net", "gross", "long_usd", "short_usd")


def rebalance_dates(trades: pd.DataFrame) -> pd.DatetimeIndex:
    """Return the sessions the run traded at (its rebalances, and stop or exit sessions), sorted."""
    return pd.DatetimeIndex(pd.DatetimeIndex(trades["date"]).unique()).sort_values()


def holdings_at(
    positions: pd.DataFrame,
    equity: pd.Series,
    date: pd.Timestamp,
    sectors: pd.Series | None = None,
) -> pd.DataFrame:
    """Return the book after the trades of session ``date``: one row per symbol held.

    ``positions`` is the run's record (date, symbol, shares, close, value after each session
    that traded; nothing for a session that left the book flat). Columns
    :data:`HOLDING_COLUMNS`: ``shares`` signed (short < 0), ``close`` the session's close (USD),
    ``value = shares x close`` (USD, short < 0), ``weight = value / equity(date)`` with the
    equity at that close, and ``sector`` from ``sectors`` (symbol -> sector; ``Unknown`` where
    it has none). Largest absolute value first; empty when the book was flat.
    """
    dates = pd.DatetimeIndex(positions["date"])
    held = positions.loc[(dates == pd.Timestamp(date)) & (positions["shares"] != 0)]
    symbols = held["symbol"].astype(str).to_numpy()
    lookup = pd.Series(dtype=object) if sectors is None else sectors.astype(object)
    sector = lookup.reindex(symbols).fillna("Unknown").to_numpy(dtype=object)
    value = held["value"].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "symbol": symbols,
            "sector": sector,
            "shares": held["shares"].to_numpy(dtype=float),
            "close": held["close"].to_numpy(dtype=float),
            "value": value,
            "weight": value / float(equity.loc[pd.Timestamp(date)]),
        }
    )
    order = frame["value"].abs().sort_values(ascending=False, kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def sector_weights(holdings: pd.DataFrame) -> pd.DataFrame:
    """Return the book's weights summed by sector (:data:`SECTOR_COLUMNS`), largest gross first.

    ``long`` = sum of positive weights, ``short`` = sum of negative ones (<= 0), ``net = long +
    short``, ``gross = long - short`` (fractions of equity); ``long_usd`` and ``short_usd``
    the same sides in USD (short <= 0); ``names`` how many symbols of the sector are held.
    """
    weight = holdings["weight"].astype(float)
    value = holdings["value"].astype(float)
    frame = pd.DataFrame(
        {
            "sector": holdings["sector"].astype(str),
            "long": weight.clip(lower=0.0),
            "short": weight.clip(upper=0.0),
            "long_usd": value.clip(lower=0.0),
            "short_usd": value.clip(upper=0.0),
            "names": 1,
        }
    )
    table = frame.groupby("sector", sort=True).sum()
    table["net"] = table["long"] + table["short"]
    table["gross"] = table["long"] - table["short"]
    table = table.sort_values("gross", ascending=False, kind="stable").reset_index()
    return table.loc[:, list(SECTOR_COLUMNS)]
