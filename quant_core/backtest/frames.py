"""A run's trades and positions as frames, built when first read, and what its metrics read.

The engine's loops record their trades and positions as arrays
(:class:`quant_core.backtest.records.Records`); :class:`Frames` turns them into frames only when
something reads them (the stored run, the cockpit, the trade analysis), while the metrics read
:class:`TradeTotals`, summed from the arrays as the frame's columns would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.backtest.records import STATUS_CODES, Records
from quant_core.compiled import compiled
from quant_core.data.panels import MarketData
from quant_core.portfolio.kernels import pairwise_sum
from quant_core.portfolio.ledger import FillStatus


@dataclass(frozen=True, slots=True)
class TradeTotals:
    """What a run's metrics read of its trades (:func:`quant_core.backtest.metrics.summary`).

    The sums are those of the trade frame's columns (numpy's pairwise sums of the same arrays).
    """

    notional: float  # sum of |filled| x exec price
    commission: float
    slippage: float  # sum of |filled x (exec price - the open, or the last close)|
    trades: int  # orders with a fill
    truncated: int
    unfilled: int


class Frames:
    """A run's trades and positions as frames, built from its records when first read.

    A sweep reads its runs' metrics only (:attr:`totals`): the frames, with a text per row for
    the dates, symbols, sides and statuses, are then never built.
    """

    def __init__(self, data: MarketData, trades: Records, held: Records) -> None:
        self._data, self._trades, self._held = data, trades, held
        self._frames: dict[str, pd.DataFrame] = {}

    @classmethod
    def of(cls, trades: pd.DataFrame, positions: pd.DataFrame) -> Frames:
        """Return frames already built (a stored run's)."""
        out = cls.__new__(cls)
        out._frames = {"trades": trades, "positions": positions}
        return out

    def trades(self) -> pd.DataFrame:
        """Return the trades (:data:`TRADE_COLUMNS`), built once."""
        if "trades" not in self._frames:
            self._frames["trades"] = self._trades.trade_frame(self._data)
        return self._frames["trades"]

    def positions(self) -> pd.DataFrame:
        """Return the positions (date, symbol, shares, close, value), built once."""
        if "positions" not in self._frames:
            self._frames["positions"] = self._held.position_frame(self._data)
        return self._frames["positions"]

    def totals(self) -> TradeTotals:
        """Return the trades' totals, from the records (or the frame when it is built)."""
        if "trades" in self._frames or not self._trades.columns:
            return trade_totals(self.trades())
        c = self._trades._joined()
        filled, price = c["filled"], c["exec_price"]
        if "status" in c:
            truncated = int((c["status"] == FillStatus.TRUNCATED_CASH.value).sum())
            unfilled = int((c["status"] == FillStatus.REJECTED_NO_PRICE.value).sum())
        else:
            codes = c["status_code"]
            truncated = int((codes == STATUS_CODES.index(FillStatus.TRUNCATED_CASH.value)).sum())
            unfilled = int((codes == STATUS_CODES.index(FillStatus.REJECTED_NO_PRICE.value)).sum())
        notional, commission, slippage, trades = _sums(
            filled, price, c["open_price"], c["signal_price"], c["commission"]
        )
        return TradeTotals(notional, commission, slippage, trades, truncated, unfilled)


@compiled
def _finite(value: float) -> float:
    # np.nan_to_num of one value: NaN 0, an infinity the largest float of its sign.
    if np.isnan(value):
        return 0.0
    if np.isinf(value):
        return np.finfo(np.float64).max if value > 0 else -np.finfo(np.float64).max
    return value


@compiled
def _sums(
    filled: np.ndarray,
    price: np.ndarray,
    opens: np.ndarray,
    signal: np.ndarray,
    commission: np.ndarray,
) -> tuple[float, float, float, int]:
    # The trade frame's notional, commission and slippage columns' sums (trade_frame's
    # expressions, numpy's pairwise sums), and the orders with a fill.
    notional = np.empty(filled.size)
    slippage = np.empty(filled.size)
    fills = 0
    for k in range(filled.size):
        base = opens[k] if np.isfinite(opens[k]) else signal[k]
        notional[k] = _finite(abs(filled[k]) * price[k])
        slippage[k] = _finite(abs(filled[k] * (price[k] - base)))
        fills += filled[k] != 0
    return pairwise_sum(notional), pairwise_sum(commission), pairwise_sum(slippage), fills


def trade_totals(trades: pd.DataFrame) -> TradeTotals:
    """Return the totals of a trade frame (:data:`TRADE_COLUMNS`)."""
    if not len(trades):
        return TradeTotals(0.0, 0.0, 0.0, 0, 0, 0)
    statuses = trades["status"].value_counts()
    return TradeTotals(
        notional=float(trades["notional"].sum()),
        commission=float(trades["commission"].sum()),
        slippage=float(trades["slippage"].sum()),
        trades=int((trades["filled"] != 0).sum()),
        truncated=int(statuses.get(FillStatus.TRUNCATED_CASH, 0)),
        unfilled=int(statuses.get(FillStatus.REJECTED_NO_PRICE, 0)),
    )
