"""Our IC and quantile returns against alphalens-reloaded's, on the bundled sp500-2010 data.

Both libraries analyse the same factor (computed by our factor library from the same bars) at
horizons 1, 5 and 21 sessions with 5 quantiles. alphalens is run as a user would run it, then
one convention at a time is aligned, so each step's change in the difference measures what that
convention is worth:

1. ``defaults``: alphalens ``get_clean_factor_and_forward_returns(periods=(1, 5, 21))`` (its
   z-score filter at 20, joint periods, forward-filled prices, ``pd.qcut`` buckets, no minimum
   of names) against ours as the Factors page computes it (``min_pairs`` 20).
2. ``no zscore filter``: alphalens with ``filter_zscore=None``.
3. ``one period per run``: alphalens run once per horizon, so a missing 21-session return no
   longer removes the name from the 1-session analysis.
4. ``ffilled closes``: ours fed ``close.ffill()``, as alphalens computes its returns.
5. ``min_pairs 2``: ours without a minimum of names: every convention aligned but the buckets.

alphalens has only the Spearman IC; its "Pearson" column is the per-date Pearson correlation on
alphalens's own cleaned data (its forward returns and rows). Quantile means: alphalens's
``mean_return_by_quantile(demeaned=False)`` (``demeaned=True``, its default, in step 1 only:
it moves each quantile's mean, not the spread).

    pip install -e ".[alphalens]"
    python benchmarks/alphalens_compare.py [--factor reversal_5 --factor volatility_20]
                                           [--data-dir DIR]   # else a temporary warehouse
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_core.calendar import get_calendar
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.factors.base import make_factor
from quant_core.factors.cross_section import MIN_PAIRS
from quant_core.factors.ic import forward_returns, information_coefficient
from quant_core.factors.quantiles import quantile_buckets, quantile_returns

DATASET = "sp500-2010"
HORIZONS = (1, 5, 21)
QUANTILES = 5
FACTORS = ("reversal_5", "volatility_20")


@dataclass(frozen=True)
class Step:
    """One comparison: how alphalens and ours are each configured."""

    name: str
    zscore: float | None  # alphalens filter_zscore
    joint: bool  # alphalens periods in one run
    ffill: bool  # ours on close.ffill()
    min_pairs: int  # ours


STEPS = (
    Step("defaults", 20.0, True, False, MIN_PAIRS),
    Step("no zscore filter", None, True, False, MIN_PAIRS),
    Step("one period per run", None, False, False, MIN_PAIRS),
    Step("ffilled closes", None, False, True, MIN_PAIRS),
    Step("min_pairs 2", None, False, True, 2),
)


def load_alphalens() -> tuple[Any, Any] | None:
    """Return alphalens's ``utils`` and ``performance`` modules, or None with a message."""
    try:
        utils = importlib.import_module("alphalens.utils")
        performance = importlib.import_module("alphalens.performance")
    except Exception as exc:  # any import failure means: skip
        print(
            f"SKIPPED: alphalens-reloaded does not import ({type(exc).__name__}: {exc}). "
            'Install it with: pip install -e ".[alphalens]"'
        )
        return None
    return utils, performance


def load_bars(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Return the sp500-2010 bar panels, syncing the bundled sample into ``data_dir`` first."""
    warehouse = Warehouse(data_dir / "warehouse")
    if not warehouse.exists(DATASET):
        sync(SampleSource(DATASET), warehouse, get_calendar("XNYS"), DATASET)
    fields = ("open", "high", "low", "close", "volume")
    return {field: warehouse.panel(DATASET, field) for field in fields}


def _quiet(call: Any, *args: Any, **kwargs: Any) -> Any:
    # alphalens prints its drop report and warns on pandas idioms: keep the output readable.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


def theirs(
    al: tuple[Any, Any], factor: pd.DataFrame, close: pd.DataFrame, step: Step
) -> dict[int, tuple[pd.Series, pd.Series, pd.Series, pd.DataFrame]]:
    """Return per horizon alphalens's daily rank IC, Pearson IC, quantile means, clean data."""
    utils, performance = al
    long = factor.stack().dropna()  # noqa: PD013 (a (date, asset) Series)
    long.index = long.index.set_names(["date", "asset"])
    runs = [HORIZONS] if step.joint else [(h,) for h in HORIZONS]
    out = {}
    for periods in runs:
        data = _quiet(
            utils.get_clean_factor_and_forward_returns,
            long,
            close,
            periods=periods,
            quantiles=QUANTILES,
            filter_zscore=step.zscore,
            max_loss=1.0,  # never refuse: report what it dropped instead
        )
        rank_ic = _quiet(performance.factor_information_coefficient, data)
        demeaned = step.name == "defaults"
        means, _ = _quiet(performance.mean_return_by_quantile, data, demeaned=demeaned)
        columns = utils.get_forward_returns_columns(data.columns)
        for h, column in zip(periods, columns, strict=True):
            by_date = data.groupby(level="date")
            pearson = by_date.apply(lambda g, c=column: g["factor"].corr(g[c]))
            out[h] = (rank_ic[column], pearson, means[column], data)
    return out


def ours(
    factor: pd.DataFrame, close: pd.DataFrame, h: int, step: Step
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Return our daily rank IC and IC, and our quantile means."""
    prices = close.ffill() if step.ffill else close
    forward = forward_returns(prices, h)
    rank_ic = information_coefficient(factor, forward, "spearman", step.min_pairs)
    ic = information_coefficient(factor, forward, "pearson", step.min_pairs)
    means = quantile_returns(factor, forward, QUANTILES, step.min_pairs).mean
    return rank_ic, ic, means


def _daily(a: pd.Series, b: pd.Series) -> tuple[float, float, int, int]:
    # mean difference (ours - theirs) of the means, max |daily difference| on common sessions.
    a, b = a.dropna(), b.dropna()
    a.index, b.index = pd.DatetimeIndex(a.index), pd.DatetimeIndex(b.index)
    common = a.index.intersection(b.index)
    gap = (a[common] - b[common]).abs()
    return float(a.mean() - b.mean()), float(gap.max()) if len(gap) else np.nan, len(a), len(b)


def bucket_agreement(factor: pd.DataFrame, close: pd.DataFrame, h: int, data: Any) -> float:
    """Return the share of alphalens's (date, name) cells in the same bucket as ours."""
    valid = factor.where(np.isfinite(forward_returns(close.ffill(), h)))
    buckets = quantile_buckets(valid, QUANTILES, 2).stack()  # noqa: PD013
    buckets.index = buckets.index.set_names(["date", "asset"])
    theirs_q = data["factor_quantile"]
    mine = buckets.reindex(theirs_q.index)
    return float((mine.to_numpy() == theirs_q.to_numpy()).mean())


class AlphalensFailed(RuntimeError):
    """alphalens itself raised: the script skips with the reason rather than a traceback."""


def _steps(
    al: tuple[Any, Any], factor: pd.DataFrame, close: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, Any], tuple[float, float]]:
    # Every step at every horizon: the IC rows, the quantile rows, the last step's clean data
    # per horizon, and the seconds of the last step (ours for 3 horizons, alphalens).
    rows: list[list[Any]] = []
    quantile_rows: list[list[Any]] = []
    seconds = (np.nan, np.nan)
    last: dict[int, Any] = {}
    for step in STEPS:
        started = time.perf_counter()
        try:
            result = theirs(al, factor, close, step)
        except Exception as exc:
            raise AlphalensFailed(f"{type(exc).__name__}: {exc}") from exc
        their_seconds = time.perf_counter() - started
        started = time.perf_counter()
        mine = {h: ours(factor, close, h, step) for h in HORIZONS}
        seconds = (time.perf_counter() - started, their_seconds)
        for h in HORIZONS:
            (rank_ic, ic, means), (al_rank, al_pearson, al_means, last[h]) = mine[h], result[h]
            d_rank, gap_rank, n_ours, n_theirs = _daily(rank_ic, al_rank)
            d_ic, gap_ic, _, _ = _daily(ic, al_pearson)
            spread, al_spread = means[QUANTILES] - means[1], al_means[QUANTILES] - al_means[1]
            rows.append(
                [
                    step.name,
                    h,
                    n_ours,
                    n_theirs,
                    rank_ic.mean(),
                    al_rank.mean(),
                    d_rank,
                    gap_rank,
                    ic.mean(),
                    al_pearson.mean(),
                    d_ic,
                    gap_ic,
                    spread,
                    al_spread,
                    spread - al_spread,
                ]
            )
            if step in (STEPS[0], STEPS[-1]):
                quantile_rows.extend(
                    [step.name, h, q, means[q], al_means[q], means[q] - al_means[q]]
                    for q in range(1, QUANTILES + 1)
                )
    columns = [
        "step",
        "h",
        "days",
        "days al",
        "rank IC",
        "rank IC al",
        "diff",
        "max|daily|",
        "IC",
        "IC al*",
        "diff ",
        "max|daily| ",
        "Q5-Q1",
        "Q5-Q1 al",
        "diff  ",
    ]
    quantile_columns = ["step", "h", "quantile", "mean", "mean al", "diff"]
    return (
        pd.DataFrame(rows, columns=columns),
        pd.DataFrame(quantile_rows, columns=quantile_columns),
        last,
        seconds,
    )


def _number(value: float) -> str:
    return f"{value:.2e}" if value != 0 and abs(value) < 1e-4 else f"{value:.5f}"


def compare(al: tuple[Any, Any], name: str, bars: dict[str, pd.DataFrame]) -> None:
    """Print the step-by-step IC and spread table, and the quantile means, of factor ``name``."""
    built = make_factor(name)
    factor = built.compute({key: bars[key] for key in built.inputs})
    close = bars["close"]
    print(f"\n=== {name} on {DATASET}: {close.shape[0]} sessions x {close.shape[1]} names")
    table, quantiles, last, (our_seconds, their_seconds) = _steps(al, factor, close)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=_number))
        print(
            "diff = ours - alphalens's mean; max|daily| = largest difference of one session's IC "
            "over the sessions both have. * alphalens has no Pearson IC: per-date Pearson on its "
            "cleaned data. Q5-Q1: mean top minus bottom quintile forward return."
        )
        print("\nQuantile means (alphalens demeaned=True, its default, in 'defaults' only):")
        print(quantiles.to_string(index=False, float_format=_number))
    print(f"\nAt '{STEPS[-1].name}' (all conventions aligned but the buckets):")
    for h in HORIZONS:
        share = bucket_agreement(factor, close, h, last[h])
        print(f"  h={h:>2}: {share:.2%} of (session, name) cells in the same quintile")
    print(
        f"  seconds for the three horizons: ours {our_seconds:.2f} (IC, rank IC, quantiles), "
        f"alphalens {their_seconds:.2f} (clean data, IC, quantile means)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", action="append", help=f"default: {', '.join(FACTORS)}")
    parser.add_argument("--data-dir", type=Path, help="a data dir (synced into if it lacks it)")
    args = parser.parse_args()
    al = load_alphalens()
    if al is None:
        return 0
    module = importlib.import_module("alphalens")
    print(
        f"alphalens-reloaded {module.__version__}, pandas {pd.__version__}, numpy {np.__version__}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        bars = load_bars(args.data_dir or Path(scratch))
        for name in args.factor or FACTORS:
            try:
                compare(al, name, bars)
            except AlphalensFailed as exc:  # alphalens under this pandas: say what, skip
                print(
                    f"SKIPPED {name}: alphalens-reloaded failed under pandas {pd.__version__} "
                    f"({exc})"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
