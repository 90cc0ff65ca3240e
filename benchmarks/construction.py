"""Construction speed and agreement: each method's own time per rebalance beside skfolio's.

One rebalance of 500 names on 252 daily returns (a SYNTHETIC panel of
:func:`quant_core.data.sources.synthetic.generate_bars`, seed 42: a market factor, ten sectors
and idiosyncratic noise, so the covariance has structure). The strategy's book: every name, 30%
of them short, seeded magnitudes, gross 1; scores (for the methods of expected returns) agree
with the sides, mostly. Covariance: Ledoit-Wolf (the default), lookback 252.

* **ours**: ``construct(Inputs(...))`` end to end: trailing returns, the covariance, the solver
  and the weights; ``covariance`` is the estimator's own share of that.
* **skfolio**: the same problem through skfolio's own estimators and optimisers on the signed
  returns ``r_i s_i`` (its ``LedoitWolf`` is scikit-learn's, the same matrix):
  ``InverseVolatility``, ``RiskBudgeting``, ``HierarchicalRiskParity`` (single linkage, no
  optimal leaf order), ``MeanRisk(MINIMIZE_RISK)``, ``MeanRisk(MAXIMIZE_RATIO)`` on our
  Grinold alphas, and the ``BlackLitterman`` prior then ``MAXIMIZE_RATIO``. Clarabel's default
  tolerances stop about 1e-5 from the optimum, so skfolio runs with tight ones (``TIGHT``) and
  is timed so (the minimum variance with its objective scaled, ``OBJECTIVE_SCALE``); its time at
  the defaults is printed too. half_kelly has no skfolio peer: numpy's
  ``0.5 solve(Sigma, alpha)`` is its reference.

The weights are compared first (the largest absolute difference, as fractions of equity at
gross 1, must be at most 1e-6); then the median times are printed as a markdown table. BLAS
runs on ``--threads`` threads (1 by default: on a shared machine OpenBLAS's spinning threads
make times erratic, and a 500 x 500 factorisation gains little from more). ``--clock cpu``
times the process's CPU instead of the wall clock: steadier on a machine busy with other work.

    python benchmarks/construction.py [--repeat 7] [--threads 1] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from quant_core.calendar import get_calendar
from quant_core.data.sources.synthetic import generate_bars
from quant_core.portfolio.construction import (
    METHODS,
    ConstructionSettings,
    Inputs,
    construct,
    covariance,
)
from quant_core.portfolio.construction.signed import Problem, signed_problem

NAMES, RETURNS, SEED = 500, 252, 42
AGREEMENT = 1e-6  # largest |ours - skfolio| weight, fractions of equity at gross 1
TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "max_iter": 500}
OBJECTIVE_SCALE = 1e3  # skfolio's scale_objective for the minimum variance, when tight
# Maximum Sharpe is invariant to scaling mu and Sigma: skfolio gets them of order one.
RETURNS_SCALE, MU_SCALE = 10.0, 1_000.0
TARGET_MS = {"inverse_vol": 2.0, "hrp": 50.0, "risk_parity": 150.0, "min_variance": 150.0}
SPEED_UP = 4.0  # at least this many times skfolio's speed, where a target is set
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK = [time.perf_counter]  # --clock sets it


@dataclass(frozen=True)
class Case:
    """One rebalance: the closes through T-1, the strategy's book and scores."""

    closes: np.ndarray
    weights: np.ndarray
    scores: np.ndarray

    def inputs(self, method: str) -> Inputs:
        return Inputs(self.weights, self.scores, self.closes, ConstructionSettings(method, RETURNS))


def make_case() -> Case:
    bars = generate_bars(get_calendar("XNYS"), NAMES, RETURNS + 1, seed=SEED, missing_frac=0.0)
    closes = bars.pivot(index="date", columns="symbol", values="close").to_numpy()
    rng = np.random.default_rng(SEED)
    signs = np.where(rng.random(NAMES) < 0.3, -1.0, 1.0)
    weights = signs * rng.uniform(0.5, 1.5, NAMES)
    scores = signs + rng.normal(0.0, 0.8, NAMES)
    return Case(closes, weights / np.abs(weights).sum(), scores)


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = CLOCK[0]()
        out = fn()
        times.append(CLOCK[0]() - start)
    return statistics.median(times) * 1e3, out


# ----------------------------------------------------------------------------- skfolio's side


def _given_mu(mu: np.ndarray) -> Any:
    from skfolio.moments import BaseMu

    class GivenMu(BaseMu):  # type: ignore[misc]
        def __init__(self, given: np.ndarray | None = None) -> None:
            self.given = given

        def fit(self, X: Any, y: Any = None) -> GivenMu:
            self.mu_ = np.asarray(self.given, dtype=float)
            return self

    return GivenMu(mu)


def _max_ratio(signed: np.ndarray, signed_mu: np.ndarray, params: dict[str, Any] | None) -> Any:
    from skfolio import RiskMeasure
    from skfolio.moments import LedoitWolf
    from skfolio.optimization import MeanRisk, ObjectiveFunction
    from skfolio.prior import EmpiricalPrior

    return MeanRisk(
        objective_function=ObjectiveFunction.MAXIMIZE_RATIO,
        risk_measure=RiskMeasure.VARIANCE,
        min_weights=0.0,
        max_weights=None,
        budget=1.0,
        prior_estimator=EmpiricalPrior(
            mu_estimator=_given_mu(signed_mu * MU_SCALE), covariance_estimator=LedoitWolf()
        ),
        solver_params=params,
    ).fit(signed * RETURNS_SCALE)


def skfolio_weights(
    method: str, case: Case, problem: Problem, alpha: np.ndarray | None, tight: bool
) -> np.ndarray | None:
    """Return skfolio's long-only budget ``v`` on the signed problem (None: no peer)."""
    from skfolio import RiskMeasure
    from skfolio.cluster import HierarchicalClustering, LinkageMethod
    from skfolio.distance import CovarianceDistance
    from skfolio.moments import EmpiricalCovariance, LedoitWolf
    from skfolio.optimization import (
        HierarchicalRiskParity,
        InverseVolatility,
        MeanRisk,
        ObjectiveFunction,
        RiskBudgeting,
    )
    from skfolio.prior import EmpiricalPrior
    from skfolio.seriation import HierarchicalSeriation

    params = TIGHT if tight else None
    signed = problem.returns * problem.signs
    lw = EmpiricalPrior(covariance_estimator=LedoitWolf())
    model: Any = None
    if method == "inverse_vol":
        prior = EmpiricalPrior(covariance_estimator=EmpiricalCovariance())
        model = InverseVolatility(prior_estimator=prior)
    elif method == "risk_parity":
        model = RiskBudgeting(RiskMeasure.VARIANCE, prior_estimator=lw, solver_params=params)
    elif method == "min_variance":
        model = MeanRisk(
            objective_function=ObjectiveFunction.MINIMIZE_RISK,
            risk_measure=RiskMeasure.VARIANCE,
            prior_estimator=lw,
            min_weights=0.0,
            budget=1.0,
            solver_params=params,
            # Daily variances are ~1e-4: scaled up, clarabel's gap reaches 1e-8 in the weights.
            scale_objective=OBJECTIVE_SCALE if tight else None,
        )
    elif method == "hrp":
        model = HierarchicalRiskParity(
            risk_measure=RiskMeasure.VARIANCE,
            prior_estimator=lw,
            distance_estimator=CovarianceDistance(covariance_estimator="precomputed"),
            seriation_estimator=HierarchicalSeriation(
                hierarchical_clustering_estimator=HierarchicalClustering(
                    linkage_method=LinkageMethod.SINGLE
                ),
                optimal_ordering=False,
            ),
        )
    elif method == "mean_variance" and alpha is not None:
        return np.asarray(_max_ratio(signed, problem.signs * alpha, params).weights_)
    elif method == "black_litterman" and alpha is not None:
        mu = _black_litterman_mu(case, problem, alpha)
        return np.asarray(_max_ratio(signed, problem.signs * mu, params).weights_)
    if model is None:
        return None
    return np.asarray(model.fit(signed).weights_)


def _black_litterman_mu(case: Case, problem: Problem, alpha: np.ndarray) -> np.ndarray:
    """skfolio's Black-Litterman posterior mean, unsigned, as ours: one view per name."""
    import pandas as pd
    from skfolio.moments import EquilibriumMu, LedoitWolf
    from skfolio.prior import BlackLitterman, EmpiricalPrior

    from quant_core.portfolio.construction.mean_variance import DELTA, TAU

    labels = [f"n{i}" for i in range(problem.n)]
    model = BlackLitterman(
        views=[f"{label} == {float(q)!r}" for label, q in zip(labels, alpha, strict=True)],
        prior_estimator=EmpiricalPrior(
            mu_estimator=EquilibriumMu(
                risk_aversion=DELTA,
                weights=case.weights[problem.kept],
                covariance_estimator=LedoitWolf(),
            ),
            covariance_estimator=LedoitWolf(),
        ),
        tau=TAU,
    )
    model.fit(pd.DataFrame(problem.returns, columns=labels))
    return np.asarray(model.return_distribution_.mu)


def _half_kelly_numpy(case: Case, problem: Problem, alpha: np.ndarray) -> np.ndarray:
    # The reference of half_kelly: 0.5 Sigma^-1 alpha, 0 off the strategy's side, by numpy.
    kelly = 0.5 * np.linalg.solve(covariance.ledoit_wolf(problem.returns), alpha)
    out = np.zeros(case.weights.size)
    on_side = np.sign(kelly) == problem.signs
    out[problem.kept[on_side]] = kelly[on_side]
    return out


# ----------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Row:
    method: str
    ours_ms: float
    covariance_ms: float
    peer: str
    peer_ms: float
    peer_default_ms: float
    diff: float


def measure(case: Case, method: str, repeat: int) -> Row:
    inputs = case.inputs(method)
    ours_ms, built = _timed(lambda: construct(inputs), repeat)
    assert built.fallback is None, built.fallback
    problem, alpha = _problem(inputs, method)
    cov_ms = 0.0
    if method != "inverse_vol":
        cov_ms, _ = _timed(lambda: covariance.estimate(problem.returns, "ledoit_wolf"), repeat)
    if method == "half_kelly":
        assert alpha is not None
        peer_ms, theirs = _timed(lambda: _half_kelly_numpy(case, problem, alpha), repeat)
        return Row(
            method,
            ours_ms,
            cov_ms,
            "numpy",
            peer_ms,
            peer_ms,
            float(np.abs(built.weights - theirs).max()),
        )
    peer_repeat = max(1, repeat // 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skfolio's deprecation notices are not ours to fix
        peer_ms, v = _timed(
            lambda: skfolio_weights(method, case, problem, alpha, True), peer_repeat
        )
        default_ms, _ = _timed(
            lambda: skfolio_weights(method, case, problem, alpha, False), peer_repeat
        )
    theirs = np.zeros(case.weights.size)
    theirs[problem.kept] = problem.signs * np.asarray(v) * problem.gross
    return Row(
        method,
        ours_ms,
        cov_ms,
        "skfolio",
        peer_ms,
        default_ms,
        float(np.abs(built.weights - theirs).max()),
    )


def _problem(inputs: Inputs, method: str) -> tuple[Problem, np.ndarray | None]:
    if METHODS.get(method).needs_scores:
        from quant_core.portfolio.construction.expected import scored_problem

        return scored_problem(inputs, method)
    return signed_problem(inputs), None


def print_table(rows: list[Row]) -> None:
    print(
        "| method | ours ms | of which covariance ms | peer | peer ms (tight) "
        "| peer ms (defaults) | speed-up | max abs weight diff | target |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---|")
    for r in rows:
        target = TARGET_MS.get(r.method)
        goal = f"<= {target:g} ms, >= {SPEED_UP:g}x" if target else "-"
        print(
            f"| {r.method} | {r.ours_ms:.2f} | {r.covariance_ms:.2f} | {r.peer} | "
            f"{r.peer_ms:.1f} | {r.peer_default_ms:.1f} | {r.peer_ms / r.ours_ms:.1f}x | "
            f"{r.diff:.1e} | {goal} |"
        )


def main() -> None:
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    CLOCK[0] = CLOCKS[args.clock]
    case = make_case()
    methods = [m for m in METHODS.names() if METHODS.get(m).reads_returns]
    order = ["inverse_vol", "risk_parity", "min_variance", "hrp"]
    methods = [m for m in order if m in methods] + [m for m in methods if m not in order]
    with threadpool_limits(limits=args.threads):
        construct(case.inputs("risk_parity"))  # warm: the first call loads scipy's modules
        rows = [measure(case, method, args.repeat) for method in methods]
    for r in rows:
        assert r.diff <= AGREEMENT, f"{r.method} disagrees with {r.peer} by {r.diff:.2e}"
    print(
        f"{NAMES} names x {RETURNS} returns, Ledoit-Wolf, BLAS threads {args.threads}, "
        f"{args.clock} clock, median of {args.repeat} (skfolio: of {max(1, args.repeat // 2)})"
    )
    print_table(rows)
    for r in rows:
        target = TARGET_MS.get(r.method)
        if target is not None:
            ok = r.ours_ms <= target and r.peer_ms / r.ours_ms >= SPEED_UP
            print(
                f"{r.method}: {r.ours_ms:.2f} ms (target <= {target:g} ms), "
                f"{r.peer_ms / r.ours_ms:.0f}x skfolio: {'met' if ok else 'MISSED'}"
            )


if __name__ == "__main__":
    main()
