"""Found by review: allocation around halted and idle sleeves, retried flats, crossings of a
gone name, the first session's drawdown, and errors that name the sleeve."""

from __future__ import annotations

import numpy as np
import pytest

from quant_core.backtest.book_engine import BookResult, run_book
from quant_core.backtest.engine import EngineSettings
from quant_core.book.sleeves import AllocationRule, Book, Sleeve, SleeveRisk
from quant_core.data.panels import MarketData
from quant_core.errors import ConfigError, DataError, StrategyError
from quant_core.scanners import build_scanner
from quant_core.strategies.base import build_strategy
from tests.factories import Fixed, market
from tests.unit.backtest.test_book_engine_properties import random_walks

NO_BUFFER = EngineSettings(100_000.0, cash_buffer=0.0)


def holdings(result: BookResult, sleeve: str, symbol: str) -> float:
    trades = result.sleeve_trades
    mine = trades[(trades["sleeve"] == sleeve) & (trades["symbol"] == symbol)]
    return float(mine["shares"].sum())


def cash_at_closes(result: BookResult, data: MarketData, sleeve: str) -> np.ndarray:
    # Each sleeve's cash at every close: its equity less its positions at the closes.
    trades = result.sleeve_trades[result.sleeve_trades["sleeve"] == sleeve]
    index = result.sleeves.index
    held = (
        trades.pivot_table(index="date", columns="symbol", values="shares", aggfunc="sum")
        .reindex(index)
        .fillna(0.0)
        .cumsum()
    )
    marks = data.panels["close"][np.searchsorted(data.dates, index.to_numpy(dtype="datetime64[D]"))]
    columns = data.symbol_index.get_indexer(held.columns)
    value = (held.to_numpy() * np.nan_to_num(marks[:, columns])).sum(axis=1)
    return np.asarray(result.sleeves[sleeve].to_numpy() - value)


def test_a_slow_sleeve_is_rebalanced_when_the_allocation_moves_its_capital() -> None:
    data = random_walks(11, 8, 200)
    s = list(data.symbols)
    book = Book(
        (
            Sleeve("calm", Fixed({s[0]: 0.3, s[1]: 0.3, s[2]: 0.3}), 5),
            Sleeve("slow", Fixed({s[3]: 0.9}), 60),
        ),
        AllocationRule(method="risk_budget", rebalance="weekly", lookback=20, min_sessions=5),
    )
    result = run_book(data, book, NO_BUFFER)

    slow = result.allocations[result.allocations["sleeve"] == "slow"]["weight"]
    assert slow.min() > 0.15  # its returns are its own: no spiral to zero on shrunken capital
    assert cash_at_closes(result, data, "slow").min() > -1.0  # never an advance it cannot pay


def test_a_halted_sleeve_keeps_its_equity_and_the_others_share_the_rest() -> None:
    data = random_walks(11, 8, 200)
    s = list(data.symbols)
    held = SleeveRisk(max_drawdown=0.02, on_breach="halt")
    book = Book(
        (
            Sleeve("calm", Fixed({s[0]: 0.3, s[1]: 0.3, s[2]: 0.3}), 5),
            Sleeve("held", Fixed({s[3]: 0.9}), 5, risk=held),
        ),
        AllocationRule(method="risk_budget", rebalance=10, lookback=20, min_sessions=5),
    )
    result = run_book(data, book, NO_BUFFER)

    halts = result.account.decisions[result.account.decisions["kind"] == "halt"]
    assert len(halts) == 1
    after = result.allocations[result.allocations["date"] > halts["date"].iloc[0]]
    assert (after.loc[after["sleeve"] == "held", "weight"] == 0).all()
    assert (after.loc[after["sleeve"] == "calm", "weight"] == 1).all()
    assert cash_at_closes(result, data, "held").min() > -1.0
    assert holdings(result, "held", s[3]) > 0  # halt: holds what it has


def test_a_flat_that_cannot_fill_is_retried_until_the_sleeve_holds_nothing() -> None:
    n = 30
    a = [100.0] * 6 + [90.0] * (n - 6)
    closes, opens = list(a), list(a)
    closes[7] = opens[7] = np.nan  # no bar the morning after the breach
    data = market({"AAA": closes, "BBB": [50.0] * n}, {"AAA": opens, "BBB": [50.0] * n})
    flat = SleeveRisk(max_drawdown=0.05, on_breach="flat")
    book = Book(
        (Sleeve("a", Fixed({"AAA": 0.9}), 20, risk=flat), Sleeve("b", Fixed({"BBB": 0.5}), 20)),
        AllocationRule(method="equal", rebalance="monthly"),
    )
    result = run_book(data, book, NO_BUFFER)

    assert holdings(result, "a", "AAA") == 0.0
    exit_ = result.sleeve_trades[result.sleeve_trades["shares"] < 0]
    assert exit_["date"].iloc[0] == data.date_index[8]  # the first open with a price


def test_a_sleeves_drawdown_counts_its_first_session() -> None:
    n = 30
    data = market(
        {"AAA": [100.0] + [95.0] * (n - 1), "BBB": [50.0] * n},
        {"AAA": [100.0] * 2 + [95.0] * (n - 2), "BBB": [50.0] * n},
    )
    book = Book(
        (
            Sleeve("a", Fixed({"AAA": 1.0}), 5, risk=SleeveRisk(max_drawdown=0.03)),
            Sleeve("b", Fixed({"BBB": 0.5}), 5),
        ),
        AllocationRule(method="equal", rebalance="monthly"),
    )
    result = run_book(data, book, NO_BUFFER)

    halts = result.account.decisions[result.account.decisions["kind"] == "halt"]
    assert halts["date"].tolist() == [data.date_index[2]]  # -5% on its first session (row 1)


def test_opposite_sleeves_in_a_name_that_leaves_the_data_both_close_it() -> None:
    data = random_walks(2, 6, 80)
    s = list(data.symbols)
    gone = s[-1]
    assert np.isnan(data.panels["close"][-1, -1]), "the last symbol must leave the data"
    book = Book(
        (
            Sleeve("long", Fixed({gone: 0.3, s[0]: 0.3}), 5),
            Sleeve("short", Fixed({gone: -0.3, s[1]: 0.3}), 5),
        ),
        AllocationRule(method="equal", rebalance=5),
    )
    result = run_book(data, book, NO_BUFFER)

    assert holdings(result, "long", gone) == 0.0
    assert holdings(result, "short", gone) == 0.0


def test_a_halted_sleeve_still_sells_a_name_that_leaves_the_data() -> None:
    data = random_walks(2, 6, 100)
    s = list(data.symbols)
    halt = SleeveRisk(max_drawdown=0.01, on_breach="halt")
    book = Book(
        (
            Sleeve("a", Fixed({s[0]: 0.5}), 5),
            Sleeve("b", Fixed({s[-1]: 0.5, s[1]: 0.4}), 5, risk=halt),
        ),
        AllocationRule(method="equal", rebalance="monthly"),
    )
    result = run_book(data, book, EngineSettings(100_000.0))

    assert (result.account.decisions["kind"] == "halt").any()
    assert holdings(result, "b", s[-1]) == 0.0
    assert holdings(result, "b", s[1]) > 0  # the rest is held


def test_errors_name_the_sleeve() -> None:
    data = random_walks(5, 6, 60)
    s = list(data.symbols)
    momentum = build_strategy("momentum", {"lookback": 5, "top_quantile": 0.5})
    never = Book(
        (
            Sleeve("ok", momentum, 5),
            Sleeve("never", build_strategy("momentum", {"lookback": 100}), 5),
        )
    )
    with pytest.raises(DataError, match="sleeve never can never trade"):
        run_book(data, never, NO_BUFFER)
    static = Book(
        (
            Sleeve("ok", momentum, 5),
            Sleeve("beta", momentum, 5, scanner=build_scanner("static", {"symbols": ["NOPE"]})),
        )
    )
    with pytest.raises(ConfigError, match=r"sleeve beta: scanner static.*\['NOPE'\]"):
        run_book(data, static, NO_BUFFER)
    outside = Book(
        (
            Sleeve("ok", momentum, 5),
            Sleeve(
                "beta",
                Fixed({s[0]: 0.5}),
                5,
                scanner=build_scanner("static", {"symbols": [s[1]]}),
            ),
        )
    )
    with pytest.raises(StrategyError, match=rf"sleeve beta: .*\['{s[0]}'\].*outside"):
        run_book(data, outside, NO_BUFFER)
