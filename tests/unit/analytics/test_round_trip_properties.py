"""Properties of round trips over random fill streams (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core.analytics.round_trips import FILL_COLUMNS, round_trips

SYMBOLS = ["A", "B", "C"]


@st.composite
def streams(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    fractional = draw(st.booleans())
    size = (
        st.floats(-50, 50).filter(lambda x: abs(x) > 1e-3)
        if fractional
        else st.integers(-50, 50).filter(bool)
    )
    rows = []
    held = dict.fromkeys(SYMBOLS, 0.0)
    for i in range(n):
        symbol = draw(st.sampled_from(SYMBOLS))
        # Often close exactly, to make trips that end.
        q = -held[symbol] if held[symbol] and draw(st.booleans()) else float(draw(size))
        held[symbol] += q
        price = draw(st.floats(1, 500))
        rows.append(
            (
                pd.Timestamp("2024-01-01") + pd.Timedelta(days=i),
                symbol,
                q,
                price,
                draw(st.floats(0, 5)),
                draw(st.floats(0, 1)),
                draw(st.sampled_from(["", "stop_loss", "flat"])),
            )
        )
    return pd.DataFrame(rows, columns=list(FILL_COLUMNS))


@settings(max_examples=300, deadline=None)
@given(streams(), st.dictionaries(st.sampled_from(SYMBOLS), st.floats(1, 500), min_size=3))
def test_the_trips_add_up_to_the_fills(fills: pd.DataFrame, marks: dict[str, float]) -> None:
    trips = round_trips(fills, marks=pd.Series(marks), stop_loss=0.1)
    q, price = fills["quantity"].to_numpy(), fills["price"].to_numpy()
    held = fills.groupby("symbol")["quantity"].sum()
    held = held.where(held.abs() > 1e-9, 0.0)
    cash = -(q * price).sum() - fills["commission"].sum()
    expected = cash + sum(held[s] * marks[s] for s in held.index)
    scale = 1.0 + (np.abs(q) * price).sum()
    assert abs(trips["pnl"].sum() - expected) <= 1e-9 * scale
    assert abs(trips["costs"].sum() - (fills["commission"] + fills["slippage"]).sum()) <= 1e-9 * (
        1 + fills["commission"].sum() + fills["slippage"].sum()
    )
    # One open trip per symbol still held, none for the others.
    assert sorted(trips.loc[trips["is_open"], "symbol"]) == sorted(held.index[held != 0])
    assert (trips["shares"] > 0).all()
    assert (trips["entry_date"] <= trips["exit_date"]).all()
    assert np.allclose(trips["gross_pnl"], trips["pnl"] + trips["costs"])
    assert np.allclose(trips["r_multiple"], trips["pnl"] / (0.1 * trips["entry_value"]))
    # Trips of one symbol follow one another: each starts where the one before it ended.
    for _, mine in trips.groupby("symbol"):
        assert (mine["entry_date"].to_numpy()[1:] >= mine["exit_date"].to_numpy()[:-1]).all()
        assert mine["is_open"].sum() <= 1
        assert not mine["is_open"].iloc[:-1].any()
