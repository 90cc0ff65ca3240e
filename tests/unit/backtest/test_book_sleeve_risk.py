"""A sleeve's own stops and drawdown halt act on that sleeve only; the others trade on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_core.backtest.book_engine import BookResult, run_book
from quant_core.backtest.engine import EngineSettings
from quant_core.book.sleeves import AllocationRule, Book, Sleeve, SleeveRisk
from quant_core.data.panels import MarketData
from quant_core.portfolio.stops import StopRules
from tests.factories import Fixed, market

# A falls 20% on row 6 and stays there; B drifts, so a fixed-weight sleeve keeps trading it.
N = 30
A = [100.0] * 6 + [80.0] * (N - 6)
B = [50.0 + 0.5 * (i % 4) for i in range(N)]


def book(x_risk: SleeveRisk, rebalance: int = 2) -> Book:
    x = Sleeve("x", Fixed({"A": 0.9}), rebalance, weight=0.5, risk=x_risk)
    y = Sleeve("y", Fixed({"A": 0.4, "B": 0.5}), rebalance, weight=0.5)
    return Book((x, y), AllocationRule(method="fixed"))


def run(data: MarketData, x_risk: SleeveRisk) -> BookResult:
    return run_book(data, book(x_risk), EngineSettings(100_000.0, rebalance=2))


def held(result: BookResult, sleeve: str, symbol: str, through: pd.Timestamp) -> float:
    trades = result.sleeve_trades
    mine = trades[(trades["sleeve"] == sleeve) & (trades["symbol"] == symbol)]
    return float(mine.loc[mine["date"] <= through, "shares"].sum())


def test_a_sleeves_drawdown_halt_flattens_it_alone_and_the_other_trades_on() -> None:
    data = market({"A": A, "B": B})
    result = run(data, SleeveRisk(max_drawdown=0.1, on_breach="flat"))

    halts = result.account.decisions[result.account.decisions["kind"] == "halt"]
    assert len(halts) == 1
    (halt,) = halts.itertuples()
    assert halt.date == data.date_index[7]  # tripped at the close of row 6, acts at row 7
    assert str(halt.detail).startswith("sleeve x: drawdown")
    after = data.date_index[7]
    assert held(result, "x", "A", after) == 0.0  # x closed its A at the open of row 7
    assert held(result, "y", "A", after) > 0  # y's A untouched
    flat = result.account.trades[result.account.trades["date"] == after]
    assert flat.loc[flat["symbol"] == "A", "status"].tolist() == ["halt_flat"]
    x_later = result.sleeve_trades[
        (result.sleeve_trades["sleeve"] == "x") & (result.sleeve_trades["date"] > after)
    ]
    assert x_later.empty  # halted: no order of its own for the rest of the run
    y_later = result.sleeve_trades[
        (result.sleeve_trades["sleeve"] == "y") & (result.sleeve_trades["date"] > after)
    ]
    assert len(y_later) >= 3  # still rebalancing B (and A)
    # The account holds exactly what the sleeves hold.
    last = result.account.positions[
        result.account.positions["date"] == result.account.positions["date"].max()
    ]
    account_a = float(last.loc[last["symbol"] == "A", "shares"].sum())
    assert account_a == held(result, "y", "A", data.date_index[-1])


def test_a_halt_without_flat_holds_the_sleeves_positions() -> None:
    data = market({"A": A, "B": B})
    result = run(data, SleeveRisk(max_drawdown=0.1, on_breach="halt"))

    x_shares = held(result, "x", "A", data.date_index[6])
    assert x_shares > 0
    assert held(result, "x", "A", data.date_index[-1]) == x_shares  # held, never traded again


def test_a_sleeves_stop_closes_its_own_position_not_the_other_sleeves() -> None:
    data = market({"A": A, "B": B})
    result = run(data, SleeveRisk(stops=StopRules(stop_loss=0.08)))

    stops = result.account.decisions[result.account.decisions["kind"] == "stop"]
    assert stops["name"].tolist()[:1] == ["A"]
    assert stops["detail"].iloc[0].startswith("sleeve x: A stop_loss")
    stop_day = stops["date"].iloc[0]
    assert held(result, "x", "A", stop_day) == 0.0
    assert held(result, "y", "A", stop_day) > 0
    # Not halted: x buys A back at its next rebalance (the stop is not a halt).
    later = result.sleeve_trades[
        (result.sleeve_trades["sleeve"] == "x") & (result.sleeve_trades["date"] > stop_day)
    ]
    assert (later["symbol"] == "A").any()


def test_cutting_the_data_changes_no_sleeve_event_before_the_cut() -> None:
    rng = np.random.default_rng(3)
    closes = {
        s: list(100 * np.exp(np.cumsum(rng.normal(0, 0.03, 80)))) for s in ("A", "B", "C", "D")
    }
    data = market(closes)
    risk = SleeveRisk(stops=StopRules(stop_loss=0.05, take_profit=0.06), max_drawdown=0.08)
    spread = Book(
        (
            Sleeve("x", Fixed({"A": 0.3, "B": 0.3, "C": 0.3}), 3, weight=0.6, risk=risk),
            Sleeve("y", Fixed({"B": 0.4, "D": 0.5}), 5, weight=0.4),
        ),
        AllocationRule(method="fixed"),
    )

    def run(data: MarketData, risk: SleeveRisk) -> BookResult:
        return run_book(data, spread, EngineSettings(100_000.0))

    full = run(data, risk)
    events = full.account.decisions[full.account.decisions["kind"].isin(["stop", "halt"])]
    assert len(events) >= 10, "too few sleeve events for the test to see"
    assert set(events["kind"]) == {"stop", "halt"}
    for cut in (20, 35, 50, 67, 68, 75):
        cut_data = MarketData(
            data.dates[:cut], data.symbols, {k: v[:cut].copy() for k, v in data.panels.items()}
        )
        short = run(cut_data, risk)
        day = data.date_index[cut - 1]
        for name in ("decisions", "trades"):
            a = getattr(full.account, name)
            b = getattr(short.account, name)
            pd.testing.assert_frame_equal(
                a[a["date"] <= day].reset_index(drop=True), b.reset_index(drop=True)
            )
        pd.testing.assert_frame_equal(
            full.sleeve_trades[full.sleeve_trades["date"] <= day].reset_index(drop=True),
            short.sleeve_trades.reset_index(drop=True),
        )
