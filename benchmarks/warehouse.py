"""Warehouse speed: write 3,000 symbols x 2,520 sessions (7.5M rows), read the close panel back.

Peer: pandas.read_csv of the same bars (a long CSV), pivoted to the same panel. Both panels are
checked equal before any timing is compared. Targets on the 2-core machine: read <= 0.5 s,
write <= 10 s.

    python benchmarks/warehouse.py [--symbols 3000] [--days 2520] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from quant_core.calendar import get_calendar
from quant_core.data.sources.synthetic import generate_bars
from quant_core.data.warehouse import DatasetMeta, Warehouse

READ_TARGET_S = 0.5
WRITE_TARGET_S = 10.0


def _timed(fn: Callable[[], pd.DataFrame], repeat: int) -> tuple[float, pd.DataFrame]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=3000)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    start = time.perf_counter()
    bars = generate_bars(get_calendar("XNYS"), args.symbols, args.days, seed=11)
    bars["adj_factor"] = 1.0
    bars["flags"] = 0
    print(f"generated {len(bars):,} SYNTHETIC bars in {time.perf_counter() - start:.2f} s")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        warehouse = Warehouse(root / "warehouse")
        start = time.perf_counter()
        warehouse.write_bars("bench", bars, DatasetMeta("SYNTHETIC benchmark", "synthetic", True))
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        warehouse.write_bars("bench", bars)  # a full re-sync: every row replaced
        upsert_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in (root / "warehouse").rglob("*.parquet")) / 1e6

        csv = root / "bars.csv"
        start = time.perf_counter()
        bars.to_csv(csv, index=False)
        csv_write_s = time.perf_counter() - start

        def read_csv_panel() -> pd.DataFrame:
            frame = pd.read_csv(csv, usecols=["date", "symbol", "close"], parse_dates=["date"])
            return frame.pivot(index="date", columns="symbol", values="close")

        read_s, panel = _timed(lambda: warehouse.panel("bench", "close"), args.repeat)
        csv_s, csv_panel = _timed(read_csv_panel, max(1, args.repeat // 2))

        # Agreement first: the same numbers, the same dates, the same symbols.
        assert list(panel.columns) == list(csv_panel.columns)
        assert (panel.index == csv_panel.index).all()
        np.testing.assert_array_equal(panel.to_numpy(), csv_panel.to_numpy())
        print(
            f"panels agree: {panel.shape[0]:,} dates x {panel.shape[1]:,} symbols, "
            f"{int(np.isnan(panel.to_numpy()).sum()):,} missing bars"
        )

    print(f"{'':34}{'seconds':>10}{'target':>10}")
    print(f"{'write_bars (new dataset)':34}{write_s:>10.2f}{WRITE_TARGET_S:>10.1f}")
    print(f"{'write_bars (full upsert)':34}{upsert_s:>10.2f}")
    print(f"{'read close panel (warehouse)':34}{read_s:>10.3f}{READ_TARGET_S:>10.1f}")
    print(f"{'read close panel (read_csv+pivot)':34}{csv_s:>10.3f}")
    print(f"{'DataFrame.to_csv (for reference)':34}{csv_write_s:>10.2f}")
    print(f"parquet on disk {size_mb:.0f} MB; warehouse read is {csv_s / read_s:.0f}x read_csv")


if __name__ == "__main__":
    main()
