"""``risk.on_breach: flat`` keeps ordering a sale that got no fill, at every open of the halt.

AAA falls 15% at the close of row 5 and trips a 5% daily-loss limit; BBB has no open at row 6
only. The close-out at row 6 sold AAA and left BBB unfilled; BBB was then held through the halt
and after it (the flag was cleared at every close and set only by a new halt event), while the
log said every position was closed. The worker's FLAT retries until flat.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_core.backtest.engine import EngineSettings, run_engine
from quant_core.portfolio.halts import HaltRules
from tests.factories import Fixed, market

SESSIONS = 20


def _run(halt_sessions: int) -> tuple[list[int], list[str], list[str], pd.Series]:
    a = [100.0] * 5 + [85.0] * (SESSIONS - 5)
    b = [50.0] * SESSIONS
    b_opens = list(b)
    b_opens[6] = np.nan  # no BBB open at row 6 only
    data = market({"AAA": a, "BBB": b}, {"AAA": list(a), "BBB": b_opens})
    halts = HaltRules(max_daily_loss_frac=0.05, flattens=True, halt_sessions=halt_sessions)
    settings = EngineSettings(100_000.0, cash_buffer=0.0, rebalance=50, halts=halts)
    result = run_engine(data, Fixed({"AAA": 0.5, "BBB": 0.5}), settings)
    trades = result.trades
    rows = [data.date_index.get_loc(d) for d in trades["date"]]
    return rows, trades["symbol"].tolist(), trades["status"].tolist(), result.curve["long_value"]


def test_a_sale_without_an_open_is_ordered_again_at_the_next_open_of_the_halt() -> None:
    rows, symbols, statuses, long_value = _run(halt_sessions=3)

    closing = [(r, s, st) for r, s, st in zip(rows, symbols, statuses, strict=True) if r >= 6]
    assert closing == [
        (6, "AAA", "halt_flat"),
        (6, "BBB", "rejected_no_price"),
        (7, "BBB", "halt_flat"),  # before: never sold, held to the end
    ]
    assert long_value.iloc[-1] == 0.0
