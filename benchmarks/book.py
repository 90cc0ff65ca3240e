"""Book speed: a three-sleeve book against each of its sleeves run alone, on one panel.

Reference configuration: a SYNTHETIC panel of 500 symbols x 5,000 sessions (seeded, with the
generator's few missing bars), $1,000,000, whole shares, cash_buffer 0.01, $0.005 a share with a
$1 minimum and 5 bps slippage. The book:

* ``mom_slow``: momentum, lookback 126, rebalance monthly;
* ``reversion``: mean_reversion with its defaults (it declares a daily rebalance);
* ``mom_fast``: momentum, lookback 63, rebalance weekly, ``inverse_vol`` construction;

allocation ``risk_budget`` (inverse volatility of the sleeves' returns, 126 sessions),
monthly. Each sleeve runs alone as a plain ``run_engine`` with its own schedule and policy;
the book runs with ``run_book``. First, a book of one of the slowest sleeve (fixed weight 1)
must give exactly its plain run's trades; then the seconds are printed, and the ratio of the
book to its slowest sleeve (goal <= 3x: three sleeves' decisions plus netting and attribution).

    python -m benchmarks.book [--repeat 3] [--profile]

``--profile`` prints the book run's top costs (cProfile, cumulative and own time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from quant_core.backtest.book_engine import run_book
from quant_core.backtest.engine import EngineResult, EngineSettings, run_engine
from quant_core.book.sleeves import AllocationRule, Book, Sleeve
from quant_core.calendar import get_calendar
from quant_core.data.panels import FIELDS, MarketData
from quant_core.data.sources.synthetic import generate_bars
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.strategies import build_strategy

SYMBOLS, SESSIONS, SEED, CASH = 500, 5000, 42, 1_000_000.0
GOAL = 3.0  # book seconds / slowest sleeve's seconds
SETTINGS = EngineSettings(
    CASH,
    cash_buffer=0.01,
    costs=CostModel(per_share_usd=0.005, min_per_order_usd=1.0, slippage_bps=5.0),
)


def make_data(symbols: int = SYMBOLS, days: int = SESSIONS) -> MarketData:
    """Return the seeded synthetic panel (``generate_bars``, its default missing bars)."""
    bars = generate_bars(get_calendar("XNYS"), symbols, days, seed=SEED)
    return MarketData.from_frames(
        {f: bars.pivot(index="date", columns="symbol", values=f) for f in FIELDS}
    )


def sleeves() -> tuple[Sleeve, ...]:
    """Return the book's three sleeves (module docstring)."""
    inverse_vol = PortfolioPolicy(ConstructionSettings(method="inverse_vol"))
    reversion = build_strategy("mean_reversion", {})
    declared = reversion.schedule()
    return (
        Sleeve("mom_slow", build_strategy("momentum", {"lookback": 126}), "monthly"),
        Sleeve("reversion", reversion, 1 if declared is None else declared[0]),
        Sleeve("mom_fast", build_strategy("momentum", {"lookback": 63}), "weekly", inverse_vol),
    )


def alone(sleeve: Sleeve) -> EngineSettings:
    """Return the engine settings of ``sleeve`` run as a plain strategy."""
    return EngineSettings(
        SETTINGS.initial_cash,
        SETTINGS.cash_buffer,
        SETTINGS.fractional,
        SETTINGS.shortfall,
        SETTINGS.costs,
        sleeve.rebalance,
        policy=sleeve.policy,
    )


def book_of(members: tuple[Sleeve, ...]) -> Book:
    """Return the benchmark's book of ``members``: risk_budget monthly, or fixed 1 for one."""
    if len(members) == 1:
        only = members[0]
        one = Sleeve(only.name, only.strategy, only.rebalance, only.policy, weight=1.0)
        return Book((one,), AllocationRule(method="fixed"), name="one")
    return Book(members, AllocationRule(method="risk_budget", rebalance="monthly"), name="three")


def _plain(data: MarketData, sleeve: Sleeve) -> Callable[[], EngineResult]:
    return lambda: run_engine(data, sleeve.strategy, alone(sleeve))


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def profile(fn: Callable[[], Any], top: int = 25) -> str:
    """Return cProfile's top ``top`` functions of ``fn()`` by cumulative and by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="profile the book run")
    args = parser.parse_args()
    started = time.perf_counter()
    data = make_data()
    print(f"panel {SYMBOLS} x {SESSIONS}: built in {time.perf_counter() - started:.1f} s")
    members = sleeves()
    seconds: dict[str, float] = {}
    trades: dict[str, int] = {}
    for sleeve in members:
        took, result = _timed(_plain(data, sleeve), 1)
        seconds[sleeve.name], trades[sleeve.name] = took, len(result.trades)
    slowest = max(members, key=lambda s: seconds[s.name])

    # Agreement first: a book of one of the slowest sleeve is its plain run, trade for trade.
    plain = run_engine(data, slowest.strategy, alone(slowest))
    single = run_book(data, book_of((slowest,)), alone(slowest))
    pd.testing.assert_frame_equal(single.account.trades, plain.trades)
    pd.testing.assert_frame_equal(single.account.curve, plain.curve)
    print(f"book of one {slowest.name} = its plain run: {len(plain.trades):,} trades equal")

    if args.repeat > 1:  # the plain runs again, as often as the book
        for sleeve in members:
            seconds[sleeve.name], _ = _timed(_plain(data, sleeve), args.repeat)
        slowest = max(members, key=lambda s: seconds[s.name])
    book = book_of(members)
    book_s, result = _timed(lambda: run_book(data, book, SETTINGS), args.repeat)

    print(f"{'run':<26}{'rebalance':>11}{'seconds':>10}{'trades':>10}")
    for sleeve in members:
        name = f"{sleeve.name} alone"
        rule = str(sleeve.rebalance)
        print(f"{name:<26}{rule:>11}{seconds[sleeve.name]:>10.2f}{trades[sleeve.name]:>10,}")
    rows = len(result.account.curve) - 1
    print(f"{'book (3 sleeves)':<26}{'union':>11}{book_s:>10.2f}{len(result.account.trades):>10,}")
    print(
        f"book: {len(result.sleeve_trades):,} sleeve trades over {rows:,} sessions, "
        f"{len(result.allocations) // len(members)} allocations, final equity "
        f"{result.account.curve['equity'].iloc[-1]:,.2f}"
    )
    ratio = book_s / seconds[slowest.name]
    verdict = "within" if ratio <= GOAL else "ABOVE"
    print(
        f"book / slowest sleeve ({slowest.name}): {ratio:.2f}x ({verdict} the goal of "
        f"<= {GOAL:.0f}x); book / sum of the sleeves alone: {book_s / sum(seconds.values()):.2f}x"
    )
    if args.profile or ratio > GOAL:
        print(profile(lambda: run_book(data, book, SETTINGS)))


if __name__ == "__main__":
    main()
