"""The risk report's cost: a whole run's (500 symbols x 5,000 sessions) and one live book's.

The panel is SYNTHETIC (``generate_bars``, seed 42, no missing bars) and the book holds all 500
names at every rebalance (every 21 sessions; as_is weights, 1/500 each): the largest report a run
of that size stores. ``run_risk`` computes, after the run, the ex-ante volatility (a Ledoit-Wolf
covariance of the last ``--lookback`` returns) and the sector exposure at each rebalance, the
realised volatility, and the last book's full report; ``risk_report`` alone is what the live
worker computes when its book changes. Wall and CPU seconds, best of ``--repeat``.

    python benchmarks/risk_report.py [--lookback 252] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from quant_core.backtest.engine import EngineSettings, run_engine
from quant_core.backtest.risk import run_risk
from quant_core.calendar import get_calendar
from quant_core.data.panels import FIELDS, MarketData
from quant_core.data.sources.synthetic import generate_bars
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.risk_report import RiskSettings, risk_report
from quant_core.strategies import build_strategy

SYMBOLS, SESSIONS, EVERY, SECTORS = 500, 5000, 21, 11


def make_data() -> MarketData:
    bars = generate_bars(get_calendar("XNYS"), SYMBOLS, SESSIONS, seed=42, missing_frac=0.0)
    data = MarketData.from_frames(
        {f: bars.pivot(index="date", columns="symbol", values=f) for f in FIELDS}
    )
    sectors = np.array([f"Sector {i % SECTORS}" for i in range(SYMBOLS)], dtype=object)
    return MarketData(data.dates, data.symbols, data.panels, sectors=sectors)


def best(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(repeat):
        start, clock = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - clock)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lookback", type=int, default=252)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = make_data()
    policy = PortfolioPolicy(ConstructionSettings("as_is", args.lookback, "ledoit_wolf"))
    strategy = build_strategy("momentum", {"lookback": 126, "top_quantile": 1.0})
    settings = EngineSettings(1_000_000.0, fractional=True, rebalance=EVERY, policy=policy)
    result = run_engine(data, strategy, settings)
    rebalances = len(result.rebalances)
    wall, cpu = best(lambda: run_risk(result, data, policy), args.repeat)
    print(
        f"run_risk, {SYMBOLS} x {SESSIONS}, {rebalances} rebalances, lookback {args.lookback}: "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU ({1000 * wall / rebalances:.1f} ms a rebalance)"
    )
    weights = np.full(SYMBOLS, 1.0 / SYMBOLS)
    report = RiskSettings.from_policy(policy)
    wall, cpu = best(lambda: risk_report(weights, data, SESSIONS, report), args.repeat)
    print(
        f"one book's full report ({SYMBOLS} names, all {SESSIONS} sessions for the stress "
        f"table): {1000 * wall:.0f} ms wall, {1000 * cpu:.0f} ms CPU"
    )


if __name__ == "__main__":
    main()
