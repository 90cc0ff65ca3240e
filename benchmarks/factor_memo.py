"""The worker's factor cache: a multi-factor sweep with the factors shared, and without.

Reference work: ``multi_factor`` (momentum_126 + volatility_60 - reversal_5, z-scored) over a
grid of ``top_quantile`` (0.05 .. 0.50) x ``long_short`` (false, true), rebalance 21, on the
SYNTHETIC panel of ``benchmarks/backtest.py`` (500 x 5,000 by default; ``generate_bars``, seed 42).

* **shared**: every configuration runs on one panel set, as a sweep's worker process does
  (``quant_core.sweeps.tasks.market``): each factor is computed once per session and shared
  (:mod:`quant_core.strategies.factor_memo`).
* **own**: every configuration runs on a fresh copy of the panels, so it computes its factors
  itself: what a worker without the cache would do.

The two must give identical metrics for every configuration before any speed is compared.

    python benchmarks/factor_memo.py [--quick] [--symbols 500 --sessions 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from config import load_config
from quant_core.backtest.run import run_backtest
from quant_core.calendar import get_calendar
from quant_core.data.panels import MarketData
from quant_core.data.sources.synthetic import generate_bars
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.strategies.factor_memo import factor_memo
from quant_core.sweeps.checks import bars_version_of
from quant_core.sweeps.tasks import market

FACTORS = '{"momentum_126": 1.0, "volatility_60": -1.0, "reversal_5": 0.5}'


def _write(root: Path, symbols: int, sessions: int) -> None:
    bars = generate_bars(get_calendar("XNYS"), symbols, sessions, seed=42, missing_frac=0.0)
    bars["adj_factor"] = 1.0
    bars["flags"] = 0
    meta = DatasetMeta(f"SYNTHETIC {symbols} x {sessions}", "synthetic", True)
    Warehouse(root / "warehouse").write_bars("bench", bars, meta)


def _fresh(data: MarketData) -> MarketData:
    panels = {k: np.array(v) for k, v in data.panels.items()}
    sectors = None if data.sectors is None else np.array(data.sectors)
    return MarketData(data.dates.copy(), data.symbols.copy(), panels, sectors)


def main() -> None:
    """Run both peers over the grid, check they agree, print the rates."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="4 configurations on 200 x 1,500")
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=5000)
    args = parser.parse_args()
    symbols, sessions = (200, 1500) if args.quick else (args.symbols, args.sessions)
    quantiles = [0.1, 0.3] if args.quick else [round(0.05 * k, 2) for k in range(1, 11)]
    root = Path(tempfile.mkdtemp(prefix="factor-memo-"))
    _write(root, symbols, sessions)
    cfgs = [
        load_config(
            "backtest",
            [
                f"paths.data_dir={root}",
                "data.dataset=bench",
                "strategy.name=multi_factor",
                f"strategy.params.factors={FACTORS}",
                f"strategy.params.top_quantile={q}",
                f"strategy.params.long_short={str(ls).lower()}",
                "strategy.rebalance=21",
            ],
            environ={},
        )
        for q in quantiles
        for ls in (False, True)
    ]
    shared = market(cfgs[0], bars_version_of(cfgs[0]))
    rows: dict[str, tuple[float, list[dict[str, Any]]]] = {}
    for peer in ("own", "shared"):
        started = time.perf_counter()
        metrics = []
        for cfg in cfgs:
            data = shared if peer == "shared" else _fresh(shared)
            metrics.append(run_backtest(cfg, data=data, store=False, trips=False).metrics)
        rows[peer] = (time.perf_counter() - started, metrics)
    if rows["own"][1] != rows["shared"][1]:
        raise SystemExit("the peers disagree: the factor cache changed a figure")
    print(
        f"panel {symbols} x {sessions}; {len(cfgs)} multi_factor configurations; metrics identical"
    )
    for peer, (seconds, _) in rows.items():
        rate = len(cfgs) / seconds
        print(
            f"{peer:>6}: {seconds:7.2f} s, {rate:6.2f} cfg/s, {seconds / len(cfgs) * 1000:7.1f} ms"
        )
    print(f"factor values computed with the cache: {factor_memo(shared).computed}")
    print(f"speed-up of the cache: {rows['own'][0] / rows['shared'][0]:.2f}x")


if __name__ == "__main__":
    main()
