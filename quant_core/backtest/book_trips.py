"""Each sleeve's round trips, from its own part of every fill.

A sleeve's fills are its rows of ``sleeve_trades`` (:mod:`quant_core.backtest.book_engine`): its
attributed shares at the fill price (crossings between sleeves included, at that price, without
commission) and its share of the commission. Its round trips are made by the same code as the
account's (:func:`quant_core.analytics.round_trips`), the trips still open marked at the run's
last close (:func:`quant_core.backtest.run.end_marks`), so that the sleeves' trips add up to the
account's: crossings close one sleeve's trip and open another's at one price, which nets to
nothing.

A sleeve can bear part of a commission without a share of the fill (whole shares, an order cut
short by the cash): that commission is in no round trip; :func:`commission_only` sums it per
sleeve, so that ``sum(trips.pnl) - commission_only`` is each sleeve's trading P&L.
"""

from __future__ import annotations

import pandas as pd

from quant_core.analytics.round_trips import ROUND_TRIP_COLUMNS, empty_round_trips, round_trips
from quant_core.backtest.book_engine import BookResult
from quant_core.backtest.run import end_marks
from quant_core.data.panels import MarketData

SLEEVE_TRIP_COLUMNS = ("sleeve", *ROUND_TRIP_COLUMNS)


def sleeve_round_trips(
    result: BookResult, data: MarketData, stop_loss: float | None = None
) -> pd.DataFrame:
    """Return every sleeve's round trips (:data:`SLEEVE_TRIP_COLUMNS`), sleeve by sleeve."""
    curve = result.account.curve
    trades = result.sleeve_trades
    frames = []
    for name in result.sleeves.columns:
        mine = trades[(trades["sleeve"] == name) & (trades["shares"] != 0)]
        fills = pd.DataFrame(
            {
                "date": pd.to_datetime(mine["date"]).astype("datetime64[ns]"),
                "symbol": mine["symbol"].astype(object),
                "quantity": mine["shares"].astype(float),
                "price": mine["price"].astype(float),
                "commission": mine["commission"].astype(float),
                "slippage": 0.0,  # in the price: the account's fill price, slipped
                "reason": "",
            }
        ).reset_index(drop=True)
        if fills.empty:
            continue
        trips = round_trips(
            fills,
            marks=end_marks(data, curve, fills["symbol"]),
            mark_date=curve.index[-1],
            sessions=pd.DatetimeIndex(curve.index),
            stop_loss=stop_loss,
        )
        frames.append(trips.assign(sleeve=name))
    if not frames:
        return empty_round_trips().assign(sleeve=pd.Series(dtype=object))[list(SLEEVE_TRIP_COLUMNS)]
    return pd.concat(frames, ignore_index=True)[list(SLEEVE_TRIP_COLUMNS)]


def commission_only(result: BookResult) -> pd.Series:
    """Return, per sleeve, the commission it bore on fills it got no share of."""
    trades = result.sleeve_trades
    alone = trades[trades["shares"] == 0]
    out = alone.groupby("sleeve")["commission"].sum()
    return out.reindex(result.sleeves.columns, fill_value=0.0).astype(float)


__all__ = ["SLEEVE_TRIP_COLUMNS", "commission_only", "sleeve_round_trips"]
