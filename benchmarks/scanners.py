"""Scanner speed: ``liquid`` and ``gappers`` over a whole run, beside a naive per-date peer.

A SYNTHETIC panel (:func:`quant_core.data.sources.synthetic.generate_bars`, seed 42, 500
symbols x 5,000 sessions, its default share of missing bars). Each scanner, at its default
parameters, scans EVERY session (rows 0 .. 5,000, the last one the session after the data) in
one call; the target is at most 0.5 s for that whole run, per scanner. The peer is the plain
pandas way, one date at a time (the window's median dollar volume by ``DataFrame.median``, then
a sort by value and name), run on ``--sample`` rows spread over the run: its universes must
equal ours on those rows before any time is compared, and its time is scaled to the whole run.
Wall and CPU seconds, best of ``--repeat``.

    python -m benchmarks.scanners [--repeat 3] [--sample 50]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from quant_core.calendar import get_calendar
from quant_core.data.panels import FIELDS, MarketData
from quant_core.data.sources.synthetic import generate_bars
from quant_core.scanners import build_scanner

SYMBOLS, SESSIONS, TARGET_S = 500, 5000, 0.5


def make_data() -> MarketData:
    bars = generate_bars(get_calendar("XNYS"), SYMBOLS, SESSIONS, seed=42)
    return MarketData.from_frames(
        {f: bars.pivot(index="date", columns="symbol", values=f) for f in FIELDS}
    )


def _top(score: pd.Series, top: int) -> set[str]:
    table = pd.DataFrame({"score": score.to_numpy(), "name": score.index.to_numpy()})
    table = table.sort_values(["score", "name"], ascending=[False, True])
    return set(table["name"].head(top))


def naive_liquid(frames: dict[str, pd.DataFrame], t: int, p: Any) -> set[str]:
    close, volume = frames["close"], frames["volume"]
    if t == 0:
        return set()
    dv = (close * volume).iloc[max(0, t - p.window) : t]
    last = close.iloc[t - 1]
    first = close.notna().to_numpy().argmax(axis=0)
    seen = close.iloc[:t].notna().any().to_numpy()
    ok = last.notna() & (last >= p.min_price) & (dv.count() >= max(1, p.window // 2))
    ok &= pd.Series(seen & (t - first >= p.min_history), index=close.columns)
    return _top(dv.median()[ok], p.top)


def naive_gappers(frames: dict[str, pd.DataFrame], t: int, p: Any) -> set[str]:
    close, open_, volume = frames["close"], frames["open"], frames["volume"]
    if t < 2:
        return set()
    gap = (open_.iloc[t - 1] / close.iloc[t - 2] - 1).abs().where(close.iloc[t - 2] > 0)
    dv = (close * volume).iloc[max(0, t - p.window) : t]
    last = close.iloc[t - 1]
    ok = (gap >= p.min_gap) & (last >= p.min_price) & (dv.count() >= max(1, p.window // 2))
    ok &= dv.median() >= p.min_dollar_volume
    return _top(gap[ok], p.top)


NAIVE: dict[str, Callable[[dict[str, pd.DataFrame], int, Any], set[str]]] = {
    "liquid": naive_liquid,
    "gappers": naive_gappers,
}


def best(call: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    wall, cpu, out = [], [], None
    for _ in range(repeat):
        start, clock = time.perf_counter(), time.process_time()
        out = call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - clock)
    return min(wall), min(cpu), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=50)
    args = parser.parse_args()
    data = make_data()
    frames = {f: pd.DataFrame(data.panels[f], columns=data.symbols) for f in FIELDS}
    rows = np.arange(SESSIONS + 1)
    sample = np.linspace(0, SESSIONS, args.sample).astype(int)
    print(f"{SYMBOLS} symbols x {SESSIONS} sessions, every session scanned ({len(rows)} rows)")
    print(
        "| scanner | ours, whole run (wall / CPU s) | mean size | naive pandas, whole run "
        "(scaled from the sample, s) | speed-up | target |"
    )
    print("|---|---|---|---|---|---|")
    for name, naive in NAIVE.items():
        scanner = build_scanner(name)
        wall, cpu, masks = best(partial(scanner.scan, data, rows), args.repeat)
        assert isinstance(masks, np.ndarray)
        start = time.perf_counter()
        expected = [naive(frames, int(t), scanner.params) for t in sample]
        peer = (time.perf_counter() - start) / len(sample) * len(rows)
        for t, want in zip(sample, expected, strict=True):
            got = set(data.symbols[masks[t]].tolist())
            if got != want:
                raise SystemExit(f"{name}: universes differ at row {t}: {sorted(got ^ want)[:5]}")
        verdict = "met" if wall <= TARGET_S else "MISSED"
        print(
            f"| {name} | {wall:.3f} / {cpu:.3f} | {masks.sum(axis=1).mean():.1f} | {peer:.1f} | "
            f"{peer / wall:.0f}x | <= {TARGET_S} s: {verdict} |"
        )


if __name__ == "__main__":
    main()
