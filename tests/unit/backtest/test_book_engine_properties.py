"""Engine-level properties of a book: the sleeves add up to the account, session by session.

Random small books (1 to 4 sleeves of momentum, mean_reversion and a fixed-weight strategy,
random params and schedules, allocation fixed / equal / risk_budget) over random-walk panels
with missing bars and a symbol that stops trading, whole and fractional shares, per-share
costs with a minimum and slippage. Every close: the sleeves' positions add up to the account's,
the sleeves' equity plus the reserve is the account's equity, each date's sleeve cash flows are
the account's; no sleeve trades against its own request; a long-only sleeve never holds a
negative position. And cutting the data after row t changes nothing dated t or earlier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_core.backtest.book_engine import BookReplay, BookResult, run_book
from quant_core.backtest.engine import EngineSettings
from quant_core.book.sleeves import AllocationMethod, AllocationRule, Book, Sleeve
from quant_core.data.panels import MarketData
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.schedule import Rule
from quant_core.portfolio.stops import StopRules
from quant_core.strategies.base import Strategy, build_strategy
from tests.factories import Fixed, market

CENT = 0.005  # dollars: "to the cent"
COSTS = (
    CostModel(per_share_usd=0.005, min_per_order_usd=1.0, slippage_bps=5.0),
    CostModel(per_share_usd=0.01, min_per_order_usd=2.5, max_frac_of_value=0.01, slippage_bps=20),
)
RULES: tuple[Rule, ...] = (1, 2, 3, 5, 10, "weekly", "monthly")


# ----------------------------------------------------------------------------- random inputs


def random_walks(seed: int, n_symbols: int, n_sessions: int) -> MarketData:
    """Return seeded random-walk bars: a few missing bars, one symbol that stops trading.

    Closes follow ``c_t = c_{t-1} x exp(0.02 z)``; opens are the previous close times a small
    gap. About 2% of bars (not the first row) are missing (NaN open and close); the last symbol
    has no bar after a random row in the second half of the run.
    """
    rng = np.random.default_rng(seed)
    start = rng.uniform(5.0, 150.0, n_symbols)
    steps = rng.normal(0.0003, 0.02, (n_sessions, n_symbols))
    close = start * np.exp(np.cumsum(steps, axis=0))
    gap = rng.normal(0.0, 0.005, (n_sessions, n_symbols))
    opens = np.vstack([start, close[:-1]]) * np.exp(gap)
    missing = rng.random((n_sessions, n_symbols)) < 0.02
    missing[0] = False
    close[missing] = np.nan
    opens[missing] = np.nan
    stop = int(rng.integers(n_sessions // 2, n_sessions - 8))
    close[stop:, -1] = np.nan
    opens[stop:, -1] = np.nan
    names = [f"S{j:02d}" for j in range(n_symbols)]
    return market(
        {s: list(close[:, j]) for j, s in enumerate(names)},
        {s: list(opens[:, j]) for j, s in enumerate(names)},
    )


@st.composite
def sleeve_strategies(draw: st.DrawFn, symbols: list[str]) -> tuple[Strategy[Any], Rule]:
    """A random strategy and its rebalance rule (mean_reversion on its declared 1 session)."""
    kind = draw(st.sampled_from(["momentum", "mean_reversion", "fixed"]))
    if kind == "momentum":
        params = {
            "lookback": draw(st.integers(2, 30)),
            "top_quantile": draw(st.sampled_from([0.2, 0.34, 0.5, 1.0])),
        }
        return build_strategy("momentum", params), draw(st.sampled_from(RULES))
    if kind == "mean_reversion":
        params = {
            "lookback": draw(st.integers(1, 8)),
            "bottom_quantile": draw(st.sampled_from([0.1, 0.25, 0.5])),
            "hold_sessions": draw(st.integers(1, 5)),
        }
        return build_strategy("mean_reversion", params), 1
    names = draw(st.lists(st.sampled_from(symbols), min_size=1, max_size=4, unique=True))
    raw = draw(st.lists(st.floats(0.05, 1.0), min_size=len(names), max_size=len(names)))
    total = draw(st.floats(0.3, 1.0))
    weights = {s: total * w / sum(raw) for s, w in zip(names, raw, strict=True)}
    return Fixed(weights), draw(st.sampled_from(RULES))


class Case:
    """One random book over one random panel, and the engine's settings.

    Not a dataclass: Hypothesis prints a dataclass field by field, panels included.
    """

    def __init__(self, seed: int, data: MarketData, book: Book, settings: EngineSettings) -> None:
        self.seed, self.data, self.book, self.settings = seed, data, book, settings

    def __repr__(self) -> str:
        # Short: the panel is rebuilt from its seed and shape, a failure shows the book.
        shape = (len(self.data.dates), len(self.data.symbols))
        sleeves: list[object] = [
            (s.name, s.strategy.name, getattr(s.strategy, "params", None), s.rebalance, s.weight)
            for s in self.book.sleeves
        ]
        sleeves += [
            dict(s.strategy.weights) for s in self.book.sleeves if isinstance(s.strategy, Fixed)
        ]
        return (
            f"Case(random_walks({self.seed}, {shape[1]}, {shape[0]}), sleeves={sleeves}, "
            f"allocation={self.book.allocation}, settings={self.settings})"
        )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n_symbols, n_sessions = draw(st.integers(5, 12)), draw(st.integers(60, 120))
    seed = draw(st.integers(0, 2**32 - 1))
    data = random_walks(seed, n_symbols, n_sessions)
    symbols = [str(s) for s in data.symbols]
    k = draw(st.integers(1, 4))
    method: AllocationMethod = draw(st.sampled_from(["fixed", "equal", "risk_budget"]))
    weights: list[float | None] = [None] * k
    if method == "fixed":
        raw = draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k))
        total = draw(st.floats(0.5, 1.0))
        weights = [total * w / sum(raw) for w in raw]
    sleeves = []
    for i in range(k):
        strategy, rebalance = draw(sleeve_strategies(symbols))
        sleeves.append(Sleeve(f"s{i}", strategy, rebalance, weight=weights[i]))
    rule = AllocationRule(
        method=method,
        lookback=draw(st.integers(20, 60)),
        rebalance=draw(st.sampled_from(RULES[2:])),
        budget=draw(st.sampled_from(["inverse_vol", "erc"])),
        min_sessions=draw(st.integers(5, 20)),
    )
    engine = EngineSettings(
        draw(st.sampled_from([20_000.0, 250_000.0, 1_000_000.0])),
        cash_buffer=draw(st.sampled_from([0.0, 0.02])),
        fractional=draw(st.booleans()),
        shortfall=draw(st.sampled_from(["pro_rata", "sequential"])),
        costs=draw(st.sampled_from(COSTS)),
    )
    return Case(seed, data, Book(tuple(sleeves), rule), engine)


# ----------------------------------------------------------------------------- helpers


@contextmanager
def recorded_requests() -> Iterator[dict[int, np.ndarray]]:
    """Spy on :meth:`BookReplay.trade`: keep the sleeves' requests (``K x n``) of each session.

    The requests are read as the trade starts, before the fill is attributed: what the sleeves
    asked for at that open (their rebalances, and their own exits).
    """
    seen: dict[int, np.ndarray] = {}
    trade: Callable[..., Any] = BookReplay.trade

    def spy(self: BookReplay, t: int, *args: Any, **kwargs: Any) -> Any:
        asked = self.requests.get(t)
        if asked is not None:
            seen[t] = asked.copy()
        return trade(self, t, *args, **kwargs)

    with mock.patch.object(BookReplay, "trade", spy):
        yield seen


def held_by_date(
    trades: pd.DataFrame, who: str | None, index: pd.Index, symbols: np.ndarray
) -> dict[str, pd.DataFrame]:
    """Return positions rebuilt from trades (cumulative shares), date x symbol, per owner.

    ``who`` names the owner column (``sleeve``) or None for the account (owner ``""``).
    """
    frame = trades.assign(owner="" if who is None else trades[who])
    out = {}
    for owner, part in frame.groupby("owner"):
        change = part.pivot_table(
            index="date", columns="symbol", values="shares", aggfunc="sum", fill_value=0.0
        )
        change = change.reindex(index=index, columns=symbols, fill_value=0.0)
        out[str(owner)] = change.cumsum()
    return out


def account_fills(result: BookResult) -> pd.DataFrame:
    """Return the account's filled trades with ``shares`` and their cash flow ``cash``."""
    trades = result.account.trades
    filled = trades[trades["filled"] != 0]
    return filled.assign(
        shares=filled["filled"],
        cash=-(filled["filled"] * filled["exec_price"]) - filled["commission"],
    )


# ----------------------------------------------------------------------------- properties


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases())
def test_the_sleeves_add_up_to_the_account_at_every_close(case: Case) -> None:
    data, book, engine = case.data, case.book, case.settings
    with recorded_requests() as requests:
        result = run_book(data, book, engine)
    curve, index = result.account.curve, result.account.curve.index
    exact = 0.0 if not engine.fractional else 1e-9

    # Equity: the sleeves' plus the reserve's is the account's at every close, to the cent.
    books = result.sleeves.sum(axis=1) + result.reserve
    np.testing.assert_allclose(books.to_numpy(), curve["equity"].to_numpy(), rtol=0, atol=CENT)

    # Positions: the sleeves' (rebuilt from their trades) add up to the account's (rebuilt
    # from its fills, itself checked against the positions the engine recorded).
    fills = account_fills(result)
    account = held_by_date(fills, None, index, data.symbols).get("")
    sleeves = held_by_date(result.sleeve_trades, "sleeve", index, data.symbols)
    if account is None:
        assert result.sleeve_trades.empty
        return
    total = sum(sleeves.values())
    assert isinstance(total, pd.DataFrame)
    np.testing.assert_allclose(total.to_numpy(), account.to_numpy(), rtol=exact, atol=exact)
    recorded = result.account.positions
    for date, part in recorded.groupby("date"):
        row = account.loc[date].to_numpy()
        nonzero = pd.Series(row[row != 0], index=account.columns[row != 0])
        expected = pd.Series(part["shares"].to_numpy(), index=part["symbol"].to_numpy())
        np.testing.assert_allclose(nonzero.sort_index(), expected.sort_index(), rtol=1e-12)

    # Cash: each date's sleeve cash flows are the account's (fills less commissions), to the
    # cent; and the account's cash moves by exactly those flows.
    sleeve_cash = result.sleeve_trades.groupby("date")["cash"].sum()
    account_cash = fills.groupby("date")["cash"].sum()
    both = pd.concat([sleeve_cash, account_cash], axis=1, keys=["sleeves", "account"]).fillna(0)
    np.testing.assert_allclose(both["sleeves"], both["account"], rtol=0, atol=CENT)
    moved = curve["cash"].diff().reindex(both.index)
    np.testing.assert_allclose(moved, both["account"], rtol=1e-9, atol=CENT)

    # No sleeve trades against its own request, nor beyond it.
    position = {name: k for k, name in enumerate(book.names)}
    column = {str(s): j for j, s in enumerate(data.symbols)}
    row_of = {d: i for i, d in enumerate(data.date_index)}
    trades = result.sleeve_trades
    for sleeve, date, symbol, shares, commission in zip(
        trades["sleeve"],
        trades["date"],
        trades["symbol"],
        trades["shares"],
        trades["commission"],
        strict=True,
    ):
        session = requests.get(row_of[date])
        assert session is not None, f"{sleeve} {symbol} {date.date()}: a trade without requests"
        asked = session[position[sleeve], column[symbol]]
        where = f"{sleeve} {symbol} {date.date()}: {shares} shares for a request of {asked}"
        if shares == 0:  # a sleeve's part of a commission, without a share of the fill
            assert commission > 0, f"{where}: an empty row"
            continue
        assert shares * asked > 0, where
        assert abs(shares) <= abs(asked) * (1 + 1e-12) + exact, where

    # Every strategy here is long-only: no sleeve ever holds a negative position.
    for sleeve, held in sleeves.items():
        assert (held.to_numpy() >= -exact).all(), f"sleeve {sleeve} went short"


# ----------------------------------------------------------------------------- truncation


def garbled_after(data: MarketData, t: int, seed: int) -> MarketData:
    """Return ``data`` with every row after ``t`` replaced by random prices and holes."""
    rng = np.random.default_rng(seed)
    panels = {}
    for field, panel in data.panels.items():
        out = panel.copy()
        junk = rng.uniform(0.5, 500.0, out[t + 1 :].shape)
        junk[rng.random(junk.shape) < 0.2] = np.nan
        out[t + 1 :] = junk
        panels[field] = out
    return MarketData(data.dates, data.symbols, panels, data.sectors)


def until(frame: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    return frame[frame["date"] <= day].reset_index(drop=True)


TRUNCATION_BOOK = Book(
    (
        Sleeve("mom", build_strategy("momentum", {"lookback": 10, "top_quantile": 0.3}), 3),
        Sleeve(
            "rev",
            build_strategy("mean_reversion", {"lookback": 3, "bottom_quantile": 0.25}),
            1,
        ),
        Sleeve("fix", Fixed({"S01": 0.3, "S04": 0.2}), "weekly"),
    ),
    AllocationRule(method="risk_budget", lookback=20, rebalance=5, min_sessions=5),
)


@pytest.mark.parametrize("fractional", [False, True])
@pytest.mark.parametrize("stops", [StopRules(), StopRules(stop_loss=0.03, take_profit=0.05)])
def test_cutting_the_data_after_row_t_changes_nothing_dated_t_or_earlier(
    fractional: bool, stops: StopRules
) -> None:
    data = random_walks(7, 10, 110)
    engine = EngineSettings(
        250_000.0,
        fractional=fractional,
        costs=COSTS[0],
        stops=stops,
    )
    full = run_book(data, TRUNCATION_BOOK, engine)
    assert len(full.sleeve_trades) > 50, "too few trades for the comparison to mean anything"
    assert full.allocations["fallback"].isna().any(), "no allocation beyond the fallback"
    for i, t in enumerate((30, 57, 58, 84, 100)):
        cut = run_book(garbled_after(data, t, seed=i), TRUNCATION_BOOK, engine)
        day = data.date_index[t]
        pd.testing.assert_frame_equal(
            until(cut.account.trades, day), until(full.account.trades, day)
        )
        pd.testing.assert_frame_equal(until(cut.sleeve_trades, day), until(full.sleeve_trades, day))
        pd.testing.assert_frame_equal(until(cut.allocations, day), until(full.allocations, day))
        pd.testing.assert_frame_equal(
            cut.sleeves[cut.sleeves.index <= day], full.sleeves[full.sleeves.index <= day]
        )


def test_a_sleeve_charged_commission_without_shares_has_its_trade_row() -> None:
    # Found by the property above: two identical sleeves ask for 172 shares each of S04, cash
    # buys 1; by largest remainder s0 gets the share, and the $1 minimum commission is split
    # by request, $0.50 each. s1's $0.50 moves its cash: its row must be in sleeve_trades
    # (0 shares), or the sleeves' recorded cash flows miss what the account paid that date.
    mean_reversion = {"lookback": 1, "bottom_quantile": 0.1, "hold_sessions": 1}
    book = Book(
        (
            Sleeve("s0", build_strategy("mean_reversion", mean_reversion), 1),
            Sleeve("s1", build_strategy("mean_reversion", mean_reversion), 1),
        ),
        AllocationRule(method="equal", lookback=20, rebalance=3, min_sessions=5),
    )
    engine = EngineSettings(20_000.0, cash_buffer=0.0, costs=COSTS[0])
    result = run_book(random_walks(1, 5, 60), book, engine)
    day = pd.Timestamp("2010-03-02")
    fills = account_fills(result)
    paid = fills[fills["date"] == day]
    assert paid["commission"].sum() > 0
    mine = result.sleeve_trades[result.sleeve_trades["date"] == day]
    assert mine["cash"].sum() == pytest.approx(paid["cash"].sum(), abs=CENT)
    assert mine["commission"].sum() == pytest.approx(paid["commission"].sum(), abs=1e-9)
