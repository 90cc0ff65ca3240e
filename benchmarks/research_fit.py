"""Model fitting speed: fit + walk-forward of a 5-factor linear model, and one-session predict.

A SYNTHETIC panel of :func:`quant_core.data.sources.synthetic.generate_bars` (500 symbols x
2,520 sessions, seed 42: a market factor, ten sectors, idiosyncratic noise). The model:
``momentum_126, reversal_5, volatility_20, rsi_14, ma_ratio_50_200`` -> ``fwd_open_21``, ridge,
walk-forward validation (train 504, embargo 21, the test window sized for exactly 10 folds),
200 bootstrap draws by dates; the composite on the same schedule.

* **fit**: ``fit_model`` end to end from the bar panels (factors, label, design, the folds,
  the full-sample fit and its bootstrap, the walk-forward composite, the baselines); its own
  ``timings`` give the share of each step. Target <= 30 s.
* **predict**: ``FittedModel.predict`` of one session (500 symbols x 5 factors: standardise,
  pick the refit, predict). Target <= 5 ms.

BLAS runs on ``--threads`` threads (1 by default, steadier on a shared machine).

    python benchmarks/research_fit.py [--repeat 3] [--threads 1] [--symbols 500] [--days 2520]
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

from quant_core.calendar import get_calendar
from quant_core.data.sources.synthetic import generate_bars
from quant_core.factors.base import make_factor
from quant_core.research.pipeline import fit_model
from quant_core.research.result import FitResult
from quant_core.research.spec import ModelSpec

FACTORS = ["momentum_126", "reversal_5", "volatility_20", "rsi_14", "ma_ratio_50_200"]
HORIZON, TRAIN, FOLDS, DRAWS, SEED = 21, 504, 10, 200, 42
FIT_TARGET_S, PREDICT_TARGET_MS = 30.0, 5.0


def make_bars(symbols: int, days: int) -> dict[str, pd.DataFrame]:
    long = generate_bars(get_calendar("XNYS"), symbols, days, seed=SEED, missing_frac=0.0)
    return {
        field: long.pivot(index="date", columns="symbol", values=field)
        for field in ("open", "high", "low", "close", "volume")
    }


def make_spec(days: int) -> ModelSpec:
    # Factors from row r0 = the longest window - 1; fold 0 tests from r0 + train + embargo; the
    # last labelled row is days - 1 - span (span = h + 1): a test window giving FOLDS folds.
    r0 = max(make_factor(name).window for name in FACTORS) - 1
    first, last = r0 + TRAIN + HORIZON, days - 1 - (HORIZON + 1)
    test = -(-(last - first + 1) // FOLDS)
    return ModelSpec.model_validate(
        {
            "name": "bench",
            "factors": FACTORS,
            "target": f"fwd_open_{HORIZON}",
            "estimator": "ridge",
            "validation": {
                "scheme": "walk_forward",
                "train": TRAIN,
                "test": test,
                "embargo": HORIZON,
            },
            "bootstrap": DRAWS,
        }
    )


def main() -> None:
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=2520)
    args = parser.parse_args()
    bars = make_bars(args.symbols, args.days)
    spec = make_spec(args.days)
    fits: list[float] = []
    result: FitResult | None = None
    with threadpool_limits(limits=args.threads):
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = fit_model(spec, bars, "bench", timer=time.perf_counter)
            fits.append(time.perf_counter() - start)
        assert result is not None
        factors = {name: make_factor(name).compute(bars) for name in FACTORS}
        asof = bars["close"].index[-1]
        features = {name: panel.loc[asof] for name, panel in factors.items()}
        predicts = []
        for _ in range(max(args.repeat, 1) * 100):
            start = time.perf_counter()
            result.model.predict(features, asof.date())
            predicts.append(time.perf_counter() - start)
    assert len(result.folds) == FOLDS, len(result.folds)
    fit_s, predict_ms = statistics.median(fits), statistics.median(predicts) * 1e3
    print(
        f"{args.symbols} symbols x {args.days} sessions (SYNTHETIC), {len(FACTORS)} factors, "
        f"{spec.target}, walk-forward {len(result.folds)} folds (train {TRAIN}, "
        f"test {getattr(spec.validation, 'test', 0)}, "
        f"embargo {spec.validation.embargo}), {len(result.model.refits)} refits, {DRAWS} draws, "
        f"BLAS threads {args.threads}, median of {args.repeat}"
    )
    print(f"status {result.status}, oos rank IC {result.oos_rank_ic:.4f}, t {result.oos_t:.2f}")
    print("| step | seconds (last run) |")
    print("|---|---:|")
    for step, seconds in result.timings.items():
        print(f"| {step} | {seconds:.3f} |")
    print()
    print("| measure | value | target | |")
    print("|---|---:|---:|---|")
    fit_ok = "met" if fit_s <= FIT_TARGET_S else "MISSED"
    predict_ok = "met" if predict_ms <= PREDICT_TARGET_MS else "MISSED"
    print(f"| fit + walk-forward | {fit_s:.2f} s | <= {FIT_TARGET_S:g} s | {fit_ok} |")
    print(
        f"| one-session predict | {predict_ms:.3f} ms | <= {PREDICT_TARGET_MS:g} ms "
        f"| {predict_ok} |"
    )


if __name__ == "__main__":
    main()
