"""What the live-parity tests compare: the backtest's fills and the worker journal's, alike."""

from __future__ import annotations

import numpy as np
import pandas as pd

EXCHANGE_ZONE = "America/New_York"  # the sessions of the journal's fill times


def backtest_fills(trades: pd.DataFrame) -> pd.DataFrame:
    """Return a backtest's filled trades: symbol, session, shares, price, by session and symbol."""
    ours = trades[trades["filled"] != 0]
    return pd.DataFrame(
        {
            "symbol": ours["symbol"].astype(str).to_numpy(),
            "session": pd.DatetimeIndex(ours["date"]).date,
            "quantity": np.abs(ours["filled"].to_numpy()),
            "price": ours["exec_price"].to_numpy(),
        }
    ).sort_values(["session", "symbol"], ignore_index=True)


def journal_fills(fills: pd.DataFrame) -> pd.DataFrame:
    """Return the journal's ``fills`` table in :func:`backtest_fills`' shape and order."""
    return pd.DataFrame(
        {
            "symbol": fills["symbol"].astype(str).to_numpy(),
            "session": pd.to_datetime(fills["ts"]).dt.tz_convert(EXCHANGE_ZONE).dt.date.to_numpy(),
            "quantity": fills["quantity"].to_numpy(),
            "price": fills["price"].to_numpy(),
        }
    ).sort_values(["session", "symbol"], ignore_index=True)
