"""A risk-parity backtest end to end: 500 symbols x 5,000 sessions, rebalancing every 21.

The panel is SYNTHETIC (``generate_bars``, seed 42, no missing bars). The strategy is momentum
(lookback 126) holding every symbol with a signal (``top_quantile`` 1.0), so each rebalance
solves risk parity on up to 500 names, on the Ledoit-Wolf covariance of the last 252 returns
through T-1: the full-size problem of ``benchmarks/construction.py``, about 230 times.
``run_engine`` runs it end to end (signals, construction, sizing, the fill/cash kernel, the
records); the same backtest with ``as_is`` shows what construction adds. Beside it: skfolio's
own ``RiskBudgeting`` time on the last rebalance's problem (its defaults; LedoitWolf prior on
the same returns), times the number of rebalances: what the solver alone would cost with it.
BLAS runs on ``--threads`` threads (1 by default: see ``benchmarks/construction.py``).

    python benchmarks/construction_backtest.py [--threads 1]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from quant_core.backtest.engine import EngineResult, EngineSettings, run_engine
from quant_core.calendar import get_calendar
from quant_core.data.panels import FIELDS, MarketData
from quant_core.data.sources.synthetic import generate_bars
from quant_core.portfolio.construction import ConstructionSettings, Inputs
from quant_core.portfolio.construction.signed import signed_problem
from quant_core.portfolio.costs import CostModel
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.strategies import build_strategy

SYMBOLS, SESSIONS, EVERY, LOOKBACK, COVARIANCE_LOOKBACK = 500, 5000, 21, 126, 252
TARGET_S = 30.0


def make_data() -> MarketData:
    bars = generate_bars(get_calendar("XNYS"), SYMBOLS, SESSIONS, seed=42, missing_frac=0.0)
    return MarketData.from_frames(
        {f: bars.pivot(index="date", columns="symbol", values=f) for f in FIELDS}
    )


def backtest(data: MarketData, method: str) -> tuple[float, float, EngineResult]:
    strategy = build_strategy("momentum", {"lookback": LOOKBACK, "top_quantile": 1.0})
    settings = EngineSettings(
        1_000_000.0,
        0.02,
        fractional=True,
        costs=CostModel(commission_bps=10),
        rebalance=EVERY,
        policy=PortfolioPolicy(ConstructionSettings(method, COVARIANCE_LOOKBACK)),
    )
    start, cpu = time.perf_counter(), time.process_time()
    result = run_engine(data, strategy, settings)
    return time.perf_counter() - start, time.process_time() - cpu, result


def skfolio_per_rebalance(data: MarketData, weights: np.ndarray) -> tuple[float, float, float]:
    """Return skfolio's seconds (wall, CPU) on the last rebalance and how far its weights are."""
    from skfolio import RiskMeasure
    from skfolio.moments import LedoitWolf
    from skfolio.optimization import RiskBudgeting
    from skfolio.prior import EmpiricalPrior

    settings = ConstructionSettings("risk_parity", COVARIANCE_LOOKBACK)
    problem = signed_problem(Inputs(weights, None, data.panels["close"][:-1], settings))
    model = RiskBudgeting(
        RiskMeasure.VARIANCE, prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf())
    )
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skfolio's own notices
        model.fit(problem.returns * problem.signs)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    theirs = np.zeros(weights.size)
    theirs[problem.kept] = problem.signs * np.asarray(model.weights_) * problem.gross
    return seconds, cpu, float(np.abs(theirs - _ours(data, weights)).max())


def _ours(data: MarketData, weights: np.ndarray) -> np.ndarray:
    from quant_core.portfolio.construction import construct

    settings = ConstructionSettings("risk_parity", COVARIANCE_LOOKBACK)
    return construct(Inputs(weights, None, data.panels["close"][:-1], settings)).weights


def main() -> None:
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    data = make_data()
    with threadpool_limits(limits=args.threads):
        seconds, cpu, result = backtest(data, "risk_parity")
        plain_s, plain_cpu, plain = backtest(data, "as_is")
        rebalances = len(result.rebalances)
        fallbacks = int((result.decisions["name"] == "fallback").sum())
        # A last rebalance of every symbol with a momentum signal, equal weights (as momentum).
        last = data.panels["close"]
        valid = np.isfinite(last[-2] / last[-2 - LOOKBACK])
        weights = np.where(valid, 1.0 / valid.sum(), 0.0)
        peer_s, peer_cpu, diff = skfolio_per_rebalance(data, weights)
    assert fallbacks == 0, f"{fallbacks} rebalances fell back to inverse_vol"
    assert diff <= 1e-5, f"skfolio's RiskBudgeting (defaults) disagrees by {diff:.1e}"
    print(
        f"{SYMBOLS} symbols x {SESSIONS} sessions, risk_parity every {EVERY} sessions, "
        f"{rebalances} rebalances, BLAS threads {args.threads}"
    )
    print("| run | wall s | CPU s | wall ms per rebalance | final equity |")
    print("|---|---:|---:|---:|---:|")
    rows = [
        ("ours, risk_parity, end to end", seconds, cpu, result.curve["equity"].iloc[-1]),
        ("ours, as_is, end to end", plain_s, plain_cpu, plain.curve["equity"].iloc[-1]),
    ]
    for name, wall, used, final in rows:
        print(
            f"| {name} | {wall:.2f} | {used:.2f} | {wall / rebalances * 1e3:.1f} | {final:,.2f} |"
        )
    print(
        f"| skfolio RiskBudgeting, its solver alone x {rebalances} | {peer_s * rebalances:.2f} "
        f"| {peer_cpu * rebalances:.2f} | {peer_s * 1e3:.1f} | - |"
    )
    verdict = "met" if seconds <= TARGET_S else "MISSED"
    print(
        f"risk_parity backtest: {seconds:.2f} s (target <= {TARGET_S:g} s): {verdict}; "
        f"skfolio's weights within {diff:.1e} of ours on the last rebalance"
    )


if __name__ == "__main__":
    main()
