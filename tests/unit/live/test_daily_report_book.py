"""The report's book by the average-cost method, commissions in, as TWS's portfolio window keeps
it: hand-computed realised P&L through a partial close and a flip, and each position's session."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_core.analytics.average_cost import average_cost
from quant_core.broker import Position
from quant_core.live.report_book import (
    POSITION_COLUMNS,
    SESSION_COLUMNS,
    position_rows,
    tws_rows,
)

D1, D2, D3 = dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)


def _fills(rows: list[tuple[dt.date, str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["session", "symbol", "quantity", "price", "commission"])


def test_a_partial_close_then_a_flip_by_hand() -> None:
    folded = average_cost(
        np.array(["X", "X", "X"], dtype=object),
        np.array([100.0, -40.0, -100.0]),
        np.array([10.0, 12.0, 11.0]),
        np.array([1.0, 1.0, 2.0]),
    )
    # Buy 100 at 10, $1: cost basis 1,001, average 10.01 (the commission in the cost).
    # Sell 40 at 12, $1: realised 40 x (12 - 10.01) - 1 = 78.60; basis 1,001 - 400.40 = 600.60.
    # Sell 100 at 11, $2: 60 close, realised 60 x (11 - 10.01) - 2 x 60/100 = 58.20; the other
    # 40 open a short at 11 with the rest of the commission: basis -440 + 0.80 = -439.20.
    assert folded.realized.tolist() == pytest.approx([0.0, 78.6, 58.2])
    assert folded.position.tolist() == [100.0, 60.0, -40.0]
    assert folded.basis.tolist() == pytest.approx([1001.0, 600.6, -439.2])
    assert folded.basis[-1] / folded.position[-1] == pytest.approx(10.98)  # the short's average
    # Realised plus unrealised at a mark of 10.50 is the fills' cash plus the position's value.
    unrealized = -40 * 10.5 - folded.basis[-1]
    cash = -(100 * 10 + 1) + (40 * 12 - 1) + (100 * 11 - 2)
    assert folded.realized.sum() + unrealized == pytest.approx(cash + -40 * 10.5)
    assert unrealized == pytest.approx(19.2)


def test_a_short_covered_in_full_and_symbols_apart() -> None:
    folded = average_cost(
        np.array(["S", "L", "S", "L"], dtype=object),
        np.array([-10.0, 5.0, 10.0, 5.0]),
        np.array([50.0, 20.0, 45.0, 22.0]),
        np.array([1.0, 0.5, 1.0, 0.5]),
    )
    # Short 10 at 50, $1: basis -499 (average 49.90). Cover at 45, $1: 10 x -1 x (45 - 49.9) - 1.
    assert folded.realized.tolist() == pytest.approx([0.0, 0.0, 48.0, 0.0])
    assert folded.position.tolist() == [-10.0, 5.0, 0.0, 10.0]
    assert folded.basis.tolist() == pytest.approx([-499.0, 100.5, 0.0, 211.0])


def test_each_positions_session_start_end_realised_and_pnl() -> None:
    fills = _fills(
        [
            (D1, "X", 100.0, 10.0, 1.0),
            (D1, "Y", -50.0, 20.0, 1.0),
            (D2, "X", -40.0, 12.0, 1.0),  # partial close
            (D2, "Y", 50.0, 19.0, 1.0),  # covered: closed in the session
            (D2, "X", -100.0, 11.0, 2.0),  # through zero
            (D3, "X", 40.0, 9.0, 1.0),  # a later session: left out of D2's rows
        ]
    )
    held = [Position("X", -40.0, 10.98, 10.5), Position("Z", 7.0, 3.0, 4.0)]
    start = pd.Series({"X": 11.5, "Y": 19.5, "Z": 3.5})
    close = pd.Series({"X": 10.4, "Y": 19.2, "Z": 4.1})

    rows = position_rows(fills, D2, held, start, close).set_index("symbol")

    assert list(rows.reset_index().columns) == list(SESSION_COLUMNS)
    assert rows.index.tolist() == ["X", "Y", "Z"]
    x, y, z = rows.loc["X"], rows.loc["Y"], rows.loc["Z"]
    assert (x.start_quantity, x.end_quantity, x.bought, x.sold) == (100.0, -40.0, 0.0, 140.0)
    assert x.start_value == pytest.approx(1150.0)
    assert x.market_value == pytest.approx(-420.0)  # the broker's price, 10.50
    assert x.avg_cost == pytest.approx(10.98)
    assert x.session_realized == pytest.approx(78.6 + 58.2)
    assert x.realized_pnl == pytest.approx(78.6 + 58.2)
    assert x.unrealized_pnl == pytest.approx(19.2)
    # -420 - 1,150 + (480 - 1) + (1,100 - 2) = 7.00
    assert x.pnl == pytest.approx(7.0)
    # Y: short 50 at 20 ($1: average 19.98), covered at 19 ($1): 50 x (19.98 - 19) - 1 = 48.
    assert (y.start_quantity, y.end_quantity, y.bought) == (-50.0, 0.0, 50.0)
    assert y.session_realized == pytest.approx(48.0)
    assert y.market_value == 0.0
    assert y.unrealized_pnl == 0.0
    assert y.pnl == pytest.approx(0 - (-50 * 19.5) - (50 * 19 + 1))  # 975 - 951 = 24
    # Z: held by the broker, no fill explains it: its average cost is the broker's.
    assert not z.explained
    assert x.explained
    assert y.explained
    assert z.avg_cost == 3.0
    assert np.isnan(z.realized_pnl)
    assert np.isnan(z.session_realized)
    assert z.unrealized_pnl == pytest.approx(7 * (4.0 - 3.0))
    assert z.pnl == pytest.approx(7 * (4.0 - 3.5))


def test_the_session_pnl_adds_up_to_the_fills_cash_and_the_values() -> None:
    rng = np.random.default_rng(3)
    n = 60
    symbols = rng.choice(["A", "B", "C"], n)
    quantity = rng.choice([-1.0, 1.0], n) * rng.integers(1, 50, n)
    fills = _fills(
        [
            (D1 if k < 30 else D2, s, float(q), float(p), 1.0)
            for k, (s, q, p) in enumerate(
                zip(symbols, quantity, rng.uniform(9, 11, n), strict=True)
            )
        ]
    )
    ends = fills.groupby("symbol")["quantity"].sum()
    marks = pd.Series({"A": 10.2, "B": 9.7, "C": 10.9})
    held = [
        Position(str(s), float(q), 0.0, float(marks[str(s)])) for s, q in ends.items() if q != 0
    ]
    start = pd.Series({"A": 10.0, "B": 10.0, "C": 10.0})

    rows = position_rows(fills, D2, held, start, marks)

    today = fills[fills["session"] == D2]
    cash = -(today["quantity"] * today["price"] + today["commission"]).sum()
    starts = fills[fills["session"] == D1].groupby("symbol")["quantity"].sum()
    value_change = (ends * marks).sum() - (starts * start).sum()
    assert rows["pnl"].sum() == pytest.approx(value_change + cash)
    assert rows["explained"].all()
    # Every realised and unrealised P&L to date is the fills' cash and what is held.
    every = -(fills["quantity"] * fills["price"] + fills["commission"]).sum()
    assert (rows["realized_pnl"] + rows["unrealized_pnl"]).sum() == pytest.approx(
        every + (ends * marks).sum()
    )


def test_the_portfolio_window_rows() -> None:
    fills = _fills(
        [(D1, "X", 10.0, 10.0, 1.0), (D1, "Y", 5.0, 20.0, 1.0), (D1, "Y", -5.0, 21.0, 1.0)]
    )
    rows = position_rows(
        fills, D1, [Position("X", 10.0, 10.1, 11.0)], pd.Series(dtype=float), pd.Series(dtype=float)
    )
    window = tws_rows(rows)
    assert list(window.columns) == list(POSITION_COLUMNS)
    assert window["symbol"].tolist() == ["X", "Y"]  # Y closed today: shown with quantity 0
    assert window["quantity"].tolist() == [10.0, 0.0]
    assert window["realized_pnl"].tolist() == pytest.approx([0.0, 5 * (21 - 20.2) - 1])
    assert window["unrealized_pnl"].tolist() == pytest.approx([110.0 - 101.0, 0.0])
    # Opened in the session: no start price needed. Held from before without one: no P&L.
    assert rows["pnl"].tolist() == pytest.approx([110.0 - 101.0, 5 * 21 - 5 * 20 - 2])
    later = position_rows(
        fills, D2, [Position("X", 10.0, 10.1, 11.5)], pd.Series(dtype=float), pd.Series(dtype=float)
    )
    assert later["symbol"].tolist() == ["X"]
    assert np.isnan(later["pnl"].iloc[0])


def test_no_fill_at_all() -> None:
    rows = position_rows(
        _fills([]),
        D1,
        [Position("X", 3.0, 5.0, 6.0)],
        pd.Series({"X": 5.5}),
        pd.Series(dtype=float),
    )
    assert rows["end_quantity"].tolist() == [3.0]
    assert rows["pnl"].tolist() == pytest.approx([1.5])
    assert not rows["explained"].iloc[0]
