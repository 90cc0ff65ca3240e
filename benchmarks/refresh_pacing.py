"""The nightly IB refresh of 500 symbols against the fake TWS, with IB's pacing rules modelled.

A dataset synced from IB (``ib:ADJUSTED_LAST``) holds 500 symbols through a few sessions before
D; the fake TWS serves their bars through D and enforces IB's historical-data pacing itself (at
most 60 requests in any 10 minutes, no identical request within 15 s; a request breaking one is
answered 162 and counted). ``refresh_through`` runs with a :class:`Pacer` whose clock is virtual
and whose sleep advances it, so the 80-odd minutes IB's rules impose take seconds. Checked, per
case: not one pacing violation (the fake's count, and every 10-minute window of the request
stamps holds at most 60), one request per symbol missing sessions (500, however many sessions
each misses), and the stored bars equal to what IB serves. Printed: requests, virtual duration
(minutes; the floor IB's rules set is ``floor((requests - 1) / 60) * 10`` minutes) and real time.

    python -m benchmarks.refresh_pacing [--symbols 500] [--history 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import math
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from config import load_config
from quant_core.calendar import get_calendar
from quant_core.data.sources.base import ProgressFn, SourceBatch
from quant_core.data.sync import sync
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.factors.compute import compute_factors
from quant_core.ib.history import IDENTICAL_GAP_S, MAX_REQUESTS, WINDOW_S, Pacer
from quant_core.ib.refresh import refresh_through
from tests.fake_tws.server import FakeTWS

D = dt.date(2024, 6, 28)  # the session the refresh must reach (a Friday)
EVENING = dt.datetime(2024, 6, 28, 21, 0, tzinfo=dt.UTC)  # 17:00 New York
META = DatasetMeta(
    "IB daily bars (ADJUSTED_LAST: split- and dividend-adjusted)", "ib:ADJUSTED_LAST"
)


class VirtualClock:
    """Seconds that pass only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class Bars:
    """A prepared frame as a bar source (the dataset's first sync)."""

    name = "ib:ADJUSTED_LAST"

    def __init__(self, bars: pd.DataFrame) -> None:
        self.bars = bars

    def load(self, progress: ProgressFn | None = None) -> SourceBatch:
        return SourceBatch(self.bars, META)


def served(
    symbols: int, sessions: np.ndarray
) -> dict[str, list[tuple[str, float, float, float, float, float]]]:
    rng = np.random.default_rng(7)
    out = {}
    for i in range(symbols):
        close = np.round(
            20.0 + i * 0.5 + np.cumsum(rng.normal(0.0, 0.3, len(sessions))).clip(-15), 2
        )
        stamps = pd.DatetimeIndex(sessions).strftime("%Y%m%d")
        out[f"S{i:03d}"] = [
            (s, float(c) - 0.1, float(c) + 0.5, float(c) - 0.5, float(c), 1000.0 + k)
            for k, (s, c) in enumerate(zip(stamps, close, strict=True))
        ]
    return out


def as_frame(
    history: dict[str, list[tuple[str, float, float, float, float, float]]],
) -> pd.DataFrame:
    rows = [
        (day, symbol, o, h, lo, c, v)
        for symbol, bars in history.items()
        for day, o, h, lo, c, v in bars
    ]
    frame = pd.DataFrame(rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"])
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


def most_in_a_window(stamps: np.ndarray, window: float) -> int:
    """Return the most requests any window ``[t, t + window)`` of the stamps holds."""
    ordered = np.sort(stamps)
    return int(
        (np.searchsorted(ordered, ordered + window, side="left") - np.arange(len(ordered))).max()
    )


def closest_identical(requests: list[tuple[float, str, str, str, str]]) -> float:
    """Return the shortest time between two identical requests (inf if none repeats)."""
    seen: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    for stamp, symbol, end, duration, what in requests:
        seen[(symbol, end, duration, what)].append(stamp)
    gaps = [b - a for stamps in seen.values() for a, b in itertools.pairwise(stamps)]
    return min(gaps, default=math.inf)


def run_case(symbols: int, history_days: int, missing: int) -> None:
    calendar = get_calendar("XNYS")
    sessions = calendar.last_sessions(history_days, D)
    history = served(symbols, sessions)
    expected = as_frame(history)
    stored_through = pd.Timestamp(sessions[-1 - missing])
    clock = VirtualClock()
    fake = FakeTWS(prices={}).start()
    fake.history = history
    fake.history_clock = clock
    fake.pacing_rules = (MAX_REQUESTS, WINDOW_S, IDENTICAL_GAP_S)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            warehouse = Warehouse(Path(tmp) / "warehouse")
            sync(Bars(expected[expected["date"] <= stored_through]), warehouse, calendar, "ib")
            compute_factors(warehouse, "ib", ["momentum_20", "volatility_20"])
            cfg = load_config(
                "live",
                [f"paths.data_dir={tmp}", "data.dataset=ib", f"ib.port={fake.port}"],
                environ={},
            )
            pacer = Pacer(clock=clock, sleep=clock.sleep)
            started = time.perf_counter()
            outcome = refresh_through(
                cfg, D, Path(tmp) / "progress.json", pacer=pacer, clock=lambda: EVENING
            )
            wall = time.perf_counter() - started
            stored = warehouse.read_bars("ib", fields=("open", "high", "low", "close", "volume"))
    finally:
        fake.stop()
    stamps = np.array([r[0] for r in fake.history_requests])
    busiest = most_in_a_window(stamps, WINDOW_S)
    identical = closest_identical(fake.history_requests)
    assert fake.pacing_broken == 0, f"{fake.pacing_broken} pacing violation(s)"
    assert busiest <= MAX_REQUESTS, f"{busiest} requests in one 10-minute window"
    assert identical >= IDENTICAL_GAP_S, f"identical requests {identical:.1f} s apart"
    assert outcome.requests == len(fake.history_requests) == symbols, outcome
    assert {r[3] for r in fake.history_requests} == {f"{(D - stored_through.date()).days + 1} D"}
    assert outcome.data_through == D
    assert outcome.rejected == 0
    assert outcome.rows_written == symbols * missing
    want = expected.sort_values(["symbol", "date"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(stored.reset_index(drop=True), want, check_dtype=False)
    floor_min = (symbols - 1) // MAX_REQUESTS * WINDOW_S / 60
    print(
        f"{symbols} symbols, {missing} missing session(s) each: {outcome.requests} requests, "
        f"busiest 10-minute window {busiest}, virtual duration {clock.now / 60:.1f} min "
        f"(IB's floor {floor_min:.0f} min), real time {wall:.1f} s; "
        f"factors {', '.join(outcome.factors)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--history", type=int, default=60, help="sessions served per symbol")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    for missing in (1, 3):
        run_case(args.symbols, args.history, missing)


if __name__ == "__main__":
    main()
