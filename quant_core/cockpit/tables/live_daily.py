"""The live account at each session's close, as the frames a stored run's risk charts draw.

From the state document's ``daily`` rows (``live/daily_close.py``): sector exposure in a run's
``risk_exposure`` columns, the equity at each close, and the volatility frame (realised over
:data:`~quant_core.backtest.risk.REALISED_WINDOW` sessions by the run's own formula, the book's
latest ex-ante figure, the target), so the Live risk panel and the Explorer draw alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_core.backtest.risk import EXPOSURE_COLUMNS, realised_vol
from quant_core.live.state import DashboardState


def daily_equity_series(state: DashboardState | None) -> pd.Series:
    """Return the net liquidation at each recorded close (a session index), oldest first."""
    rows = state.daily if state is not None else ()
    values = [np.nan if r.equity is None else r.equity for r in rows]
    index = pd.DatetimeIndex([pd.Timestamp(r.session) for r in rows], name="date")
    return pd.Series(values, index=index, dtype=float, name="equity")


def daily_exposure(state: DashboardState | None) -> pd.DataFrame:
    """Return each sector held at each recorded close (date, sector, long, short, gross, net)."""
    rows = state.daily if state is not None else ()
    records = [
        (pd.Timestamp(r.session), s.sector, s.long, s.short, s.gross, s.net)
        for r in rows
        for s in r.sectors
    ]
    return pd.DataFrame(records, columns=list(EXPOSURE_COLUMNS))


def daily_vol(state: DashboardState | None, vol_target: float | None) -> pd.DataFrame:
    """Return realised volatility at each close, the book's ex-ante figure (last row), target."""
    equity = daily_equity_series(state)
    ex_ante = np.full(len(equity), np.nan)
    book = state.book_risk if state is not None else None
    if len(equity) and book is not None and book.ex_ante_vol is not None:
        ex_ante[-1] = book.ex_ante_vol
    return pd.DataFrame(
        {
            "realised": realised_vol(equity).to_numpy(),
            "ex_ante": ex_ante,
            "target": np.nan if vol_target is None else float(vol_target),
        },
        index=equity.index,
    )
