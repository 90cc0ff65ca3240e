"""Backtest speed and agreement: ours, vectorbt and backtrader on the same work, in one process.

Reference configuration: momentum, lookback 126, top 20%, rebalance every 21 sessions,
fractional shares, cash_buffer 0.01, commission 10 bps of notional, no slippage, shortfall
``sequential``, $1,000,000, on SYNTHETIC panels of 100 x 2,520 and 500 x 5,000 sessions (no
missing bars: vectorbt values a held position at a missing close as NaN). backtrader runs at the
smaller size only.

* **ours**: ``run_engine`` end to end (signals from the strategy, sizing, the fill/cash kernel,
  order records).
* **vectorbt**: ``Portfolio.from_orders(size_type='targetpercent', price=open,
  val_price=-inf (previous close), cash_sharing=True, call_seq='auto')`` given target weights
  computed independently here (vectorised numpy), which also cross-checks our strategy.
* **backtrader**: cheat-on-open; shares computed by hand from the previous close (inside
  ``next_open`` ``close[0]`` is already today's close: a look-ahead trap), sells before buys,
  buys in ascending value, the last one cut to the cash left net of its commission.

The curves are compared first (largest relative difference over the whole daily equity curve);
then seconds and bars per second are printed.

    python benchmarks/backtest.py [--repeat 5]      # needs: pip install -e ".[bench]"
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from quant_core.backtest.engine import EngineSettings, run_engine
from quant_core.calendar import get_calendar
from quant_core.data.panels import FIELDS, MarketData
from quant_core.data.sources.synthetic import generate_bars
from quant_core.portfolio.costs import CostModel
from quant_core.strategies import build_strategy

LOOKBACK, TOP, EVERY, BUFFER, FEE, CASH = 126, 0.2, 21, 0.01, 0.001, 1_000_000.0
SETTINGS = EngineSettings(
    CASH,
    BUFFER,
    fractional=True,
    shortfall="sequential",
    costs=CostModel(commission_bps=10),
    rebalance=EVERY,
)
AGREEMENT = 1e-10


def make_data(symbols: int, days: int) -> MarketData:
    bars = generate_bars(get_calendar("XNYS"), symbols, days, seed=42, missing_frac=0.0)
    return MarketData.from_frames(
        {f: bars.pivot(index="date", columns="symbol", values=f) for f in FIELDS}
    )


def ours(data: MarketData) -> pd.Series:
    strategy = build_strategy("momentum", {"lookback": LOOKBACK, "top_quantile": TOP})
    return run_engine(data, strategy, SETTINGS).curve["equity"]


def target_weights(data: MarketData) -> np.ndarray:
    """Momentum weights at each rebalance row (NaN elsewhere), vectorised, independent of ours."""
    close = data.panels["close"]
    rows = np.arange(LOOKBACK + 1, len(close), EVERY)
    signal = close[rows - 1] / close[rows - 1 - LOOKBACK] - 1
    weights = np.full(close.shape, np.nan)
    for i, t in enumerate(rows):
        valid = np.isfinite(signal[i])
        k = max(1, int(np.floor(TOP * valid.sum())))
        order = np.lexsort((data.symbols, -np.where(valid, signal[i], -np.inf)))
        weights[t] = 0.0
        weights[t, order[:k]] = (1 - BUFFER) / k
    return weights


def vectorbt_curve(data: MarketData, weights: np.ndarray) -> pd.Series:
    import vectorbt as vbt  # a benchmark peer, installed only with [bench]

    index = pd.DatetimeIndex(data.dates)

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=index, columns=data.symbols)

    portfolio = vbt.Portfolio.from_orders(
        close=frame(data.panels["close"]),
        size=frame(weights),
        size_type="targetpercent",
        price=frame(data.panels["open"]),
        val_price=-np.inf,
        cash_sharing=True,
        group_by=True,
        call_seq="auto",
        fees=FEE,
        init_cash=CASH,
        freq="1D",
    )
    return portfolio.value()


def backtrader_curve(data: MarketData, weights: np.ndarray) -> pd.Series:
    import backtrader as bt  # a benchmark peer, installed only with [bench]

    row_of = {pd.Timestamp(d).date(): i for i, d in enumerate(data.dates)}

    class Rebalance(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.equity_log: list[float] = []

        def next_open(self) -> None:
            target = weights[row_of[self.datas[0].datetime.date(0)]]
            if not np.isfinite(target).any():
                return
            feeds = self.datas
            prev = np.array([d.close[-1] for d in feeds])
            held = np.array([self.getposition(d).size for d in feeds])
            opens = np.array([d.open[0] for d in feeds])
            value = self.broker.getcash() + float(held @ prev)
            orders = np.nan_to_num(target) * value / prev - held
            cash = self.broker.getcash()
            for i in np.flatnonzero(orders < 0):
                self.sell(data=feeds[i], size=-orders[i])
                cash += -orders[i] * opens[i] * (1 - FEE)
            for i in sorted(np.flatnonzero(orders > 0), key=lambda j: orders[j] * opens[j]):
                size = min(orders[i], cash / (opens[i] * (1 + FEE)))
                if size <= 0:
                    break
                self.buy(data=feeds[i], size=size * (1 - 1e-12))
                cash -= size * opens[i] * (1 + FEE)

        def next(self) -> None:
            self.equity_log.append(self.broker.getvalue())

    cerebro = bt.Cerebro(cheat_on_open=True, stdstats=False)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=FEE)
    index = pd.DatetimeIndex(data.dates)
    for j, symbol in enumerate(data.symbols):
        frame = pd.DataFrame({f: data.panels[f][:, j] for f in FIELDS}, index=index).assign(
            openinterest=0.0
        )
        cerebro.adddata(bt.feeds.PandasData(dataname=frame, name=str(symbol)))
    cerebro.addstrategy(Rebalance)
    strategy = cerebro.run()[0]
    return pd.Series(strategy.equity_log, index=index)


def _timed(fn: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _agreement(ours_curve: pd.Series, other: pd.Series) -> float:
    theirs = other.reindex(ours_curve.index)
    return float((theirs / ours_curve - 1).abs().max())


def _cold_start(symbols: int, days: int) -> float:
    # A fresh interpreter: import the engine, then time the first run (data generation aside).
    code = (
        "import time\n"
        "t0 = time.perf_counter()\n"
        "import quant_core.backtest.engine, quant_core.strategies\n"
        "t1 = time.perf_counter()\n"
        "from benchmarks.backtest import make_data, ours\n"
        f"data = make_data({symbols}, {days})\n"
        "t2 = time.perf_counter()\n"
        "ours(data)\n"
        "print((t1 - t0) + (time.perf_counter() - t2))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for symbols, days, with_backtrader in ((100, 2520, True), (500, 5000, False)):
        panel = f"{symbols} x {days}"
        data = make_data(symbols, days)
        bars = symbols * days
        ours_s, curve = _timed(lambda d=data: ours(d), args.repeat)
        weights = target_weights(data)
        vectorbt_curve(data, weights)  # compile once: we report warm speed
        vbt_s, vbt = _timed(lambda d=data, w=weights: vectorbt_curve(d, w), args.repeat)
        diff = _agreement(curve, vbt)
        assert diff < AGREEMENT, f"vectorbt disagrees by {diff:.2e} at {panel}"
        rows.append((panel, "ours", ours_s, bars, curve.iloc[-1], 0.0))
        rows.append((panel, "vectorbt", vbt_s, bars, vbt.iloc[-1], diff))
        if with_backtrader:
            bt_s, btc = _timed(lambda d=data, w=weights: backtrader_curve(d, w), 1)
            rows.append((panel, "backtrader", bt_s, bars, btc.iloc[-1], _agreement(curve, btc)))
    head = ("panel", "engine", "seconds", "bars/s", "final equity", "max rel diff")
    print(f"{head[0]:<12}{head[1]:<12}{head[2]:>10}{head[3]:>14}{head[4]:>18}{head[5]:>14}")
    for panel, name, seconds, bars, final, diff in rows:
        print(
            f"{panel:<12}{name:<12}{seconds:>10.4f}{bars / seconds:>14,.0f}"
            f"{final:>18,.2f}{diff:>14.2e}"
        )
    speed = {(p, n): s for p, n, s, *_ in rows}
    big, small = "500 x 5000", "100 x 2520"
    print(
        f"{big}: ours {speed[(big, 'ours')]:.3f} s (target <= 0.3 s); "
        f"{speed[(big, 'vectorbt')] / speed[(big, 'ours')]:.1f}x vectorbt's warm speed (>= 3x)"
    )
    ratio = speed[(small, "backtrader")] / speed[(small, "ours")]
    print(f"{small}: {ratio:.0f}x backtrader's speed (target >= 500x)")
    cold = _cold_start(500, 5000)
    print(f"import plus first run in a fresh process, {big}: {cold:.2f} s (target <= 2 s)")


if __name__ == "__main__":
    main()
