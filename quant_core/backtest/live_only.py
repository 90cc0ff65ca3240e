"""Settings of the ``risk`` section only the live worker applies: a backtest names what they hit.

``risk.max_order_notional_usd`` is one of the worker's pre-trade controls
(:mod:`quant_core.portfolio.risk`): an order above it is refused and the account halted, as a
bug would be. A backtest has no such halt to simulate without inventing one, so it trades the
orders as the strategy sized them and says, in a warning, how many of its trades were above the
limit (the worker would have halted on the first): the setting is never silently ignored.
"""

from __future__ import annotations

import logging

import pandas as pd

logger = logging.getLogger(__name__)


def orders_above(limit: float | None, trades: pd.DataFrame) -> str | None:
    """Return the warning for the trades above ``limit`` in notional (None: none, or no limit).

    ``trades`` are a run's (:data:`quant_core.backtest.records.TRADE_COLUMNS`).
    """
    if limit is None or trades.empty:
        return None
    notional = trades["notional"].astype(float)
    above = notional > limit
    if not above.any():
        return None
    return (
        f"risk.max_order_notional_usd is {limit:,.2f}: {int(above.sum())} of {len(trades)} "
        f"trades here were above it (largest {notional.max():,.2f}). The backtest trades them; "
        "the live worker refuses such an order and halts"
    )


def warn_live_only(limit: float | None, trades: pd.DataFrame) -> None:
    """Log :func:`orders_above` as a warning, if there is one."""
    message = orders_above(limit, trades)
    if message is not None:
        logger.warning("%s", message)
