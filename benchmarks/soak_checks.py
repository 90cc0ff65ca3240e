"""The soak benchmark's checks (the run did what a worker should) and its printed figures.

:func:`verify` raises ``AssertionError`` naming every problem before anything is printed:

* fills happened (the strategy's own, ``qc:`` references);
* every session the weekly schedule rebalances on (the first soaked session of each ISO week)
  has exactly one decision journaled, and no other session has one (stop batches apart);
* no duplicate orders: each strategy reference (``qc:<session>:<symbol>``) once in the
  journal's orders, each execution id once in its fills;
* every refresh succeeded once per session, in order, the ones made to fail having failed
  once first; the warehouse holds every session of the panel;
* every drop was recovered from (its refused reconnects counted);
* every command and file queued was answered in the audit log, the malformed ones refused.

:func:`report` prints the figures (see ``soak_worker``'s docstring).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from benchmarks.soak_market import SOAK
from benchmarks.soak_probe import Checkpoint, Heartbeats, slope_per_1000, tracemalloc_top
from quant_core.broker import OrderRef
from quant_core.live.files import AUDIT_FILE
from quant_core.live.journal import STOPS

if TYPE_CHECKING:
    from benchmarks.soak_worker import Run, Soak

MB = 1e6


def _dates(column: pd.Series) -> list[dt.date]:
    return [pd.Timestamp(v).date() for v in column]


def weekly(days: list[dt.date]) -> set[dt.date]:
    """Return the first of ``days`` in each ISO week (independent of ``portfolio.schedule``)."""
    firsts: dict[tuple[int, int], dt.date] = {}
    for day in days:
        iso = day.isocalendar()
        firsts.setdefault((iso[0], iso[1]), day)
    return set(firsts.values())


def verify(soak: Soak, sessions: int) -> dict[str, Any]:
    """Check the run (see the module docstring); return its counts."""
    journal, problems = soak.worker.journal, []
    days = [soak.panel.session(soak.first + i) for i in range(sessions)]
    fills, orders = journal.table("fills"), journal.table("orders")
    decisions = journal.table("decisions")
    ours = fills[fills["ref"].astype(str).str.startswith(OrderRef.STRATEGY)]
    if ours.empty:
        problems.append("no strategy fill at all")
    rebalances = decisions[~decisions["outcome"].astype(str).str.startswith(STOPS)]
    per = Counter(_dates(rebalances["session"]))
    expected = weekly(days)
    if twice := sorted(d for d, n in per.items() if n > 1):
        problems.append(f"{len(twice)} session(s) with more than one decision: {twice[:5]}")
    if missing := sorted(expected - set(per)):
        problems.append(f"{len(missing)} scheduled session(s) without a decision: {missing[:5]}")
    if extra := sorted(set(per) - expected):
        problems.append(f"{len(extra)} decision(s) off the schedule: {extra[:5]}")
    refs = orders.loc[orders["ref"].astype(str).str.startswith(OrderRef.STRATEGY), "ref"]
    if (doubled := int(refs.duplicated().sum())) > 0:
        problems.append(f"{doubled} strategy order reference(s) journaled twice")
    if (execs := int(fills["exec_id"].duplicated().sum())) > 0:
        problems.append(f"{execs} execution id(s) journaled twice")
    problems += _refreshes(soak, days)
    problems += _drops_and_commands(soak)
    if problems:
        raise AssertionError("soak run is not sane:\n- " + "\n- ".join(problems))
    stops = decisions["outcome"].astype(str).str.startswith(STOPS)
    return {
        "rebalances": len(rebalances),
        "stop batches": int(stops.sum()),
        "fills": len(fills),
        "strategy fills": len(ours),
        "orders": len(orders),
        "refreshes": len(SOAK.done(ok=True)),
        "failed once": len(soak.failed_refreshes),
        "drops": soak.broker.drops,
        "refused reconnects": soak.broker.refused,
        "commands": sum(soak.sent.values()),
    }


def _refreshes(soak: Soak, days: list[dt.date]) -> list[str]:
    problems = []
    done = SOAK.done(ok=True)
    if done != days:
        problems.append(
            f"{len(done)} successful refreshes for {len(days)} sessions, or out of order"
        )
    failed = SOAK.done(ok=False)
    if failed != soak.failed_refreshes:
        problems.append(f"refreshes failed for {failed}, expected once for {soak.failed_refreshes}")
    stored = soak.warehouse.bars_per_session(soak.cfg.data.dataset)
    held = pd.DatetimeIndex(stored.index).to_numpy(dtype="datetime64[D]")
    if not np.array_equal(held, soak.panel.sessions):
        problems.append(
            f"the warehouse holds {len(held)} sessions, the panel {soak.panel.sessions.size}"
        )
    if soak.data_end() != days[-1]:
        problems.append(f"the worker's bars end {soak.data_end()}, not {days[-1]}")
    return problems


def _drops_and_commands(soak: Soak) -> list[str]:
    problems = []
    broker = soak.broker
    if broker.down or broker.refused != 2 * broker.drops:
        problems.append(
            f"{broker.drops} drops, {broker.refused} refused reconnects, down {broker.down}"
        )
    if "while RUNNING" not in soak.worker.reason:
        problems.append(f"the worker ended {soak.worker.reason!r}, not RUNNING")
    path = soak.worker.live_dir / AUDIT_FILE
    acks = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if len(acks) != sum(soak.sent.values()):
        problems.append(f"{len(acks)} acknowledgements for {sum(soak.sent.values())} sent")
    refused = sum(not a["accepted"] for a in acks)
    if refused != soak.sent.get("malformed", 0) + soak.sent.get("unknown", 0):
        problems.append(f"{refused} command(s) refused; only the malformed and unknown should be")
    flat = [a["result"] for a in acks if a.get("command") == "FLAT"]
    if any(not r.startswith("flat:") for r in flat):
        problems.append(f"a FLAT did not end flat: {flat}")
    return problems


# ---------------------------------------------------------------------------- printing


def _mb(value: float) -> str:
    return f"{value / MB:+.1f} MB" if value < 0 or value > 0 else "+0.0 MB"


def _rest(p: Checkpoint) -> float:
    return float(p.rss - p.data - p.duckdb)


def _memory(run: Run, skip: int) -> None:
    points = run.points
    print(
        f"\n{'sessions':>8} {'RSS MB':>8} {'bars MB':>8} {'duckdb MB':>9} {'rest MB':>8} "
        f"{'malloc MB':>9} {'free MB':>8} {'pyblocks':>9} {'fds':>4} {'thr':>4} {'objects':>9} "
        f"{'journal MB':>10} {'reports MB':>10}"
    )
    for p in points:
        print(
            f"{p.session:>8} {p.rss / MB:>8.1f} {p.data / MB:>8.1f} {p.duckdb / MB:>9.1f} "
            f"{_rest(p) / MB:>8.1f} {p.malloc_used / MB:>9.1f} {p.malloc_free / MB:>8.1f} "
            f"{p.blocks:>9,} {p.fds:>4} {p.threads:>4} {p.objects:>9,} "
            f"{p.files['journal'] / MB:>10.1f} {p.files['reports'] / MB:>10.1f}"
        )
    print(
        f"\nmemory growth per 1,000 sessions (least squares from session {points[skip].session}):"
    )
    for label, value in (
        ("VmRSS, total", lambda p: float(p.rss)),
        ("the bars the worker holds (data)", lambda p: float(p.data)),
        ("DuckDB (the journal's buffers)", lambda p: float(p.duckdb)),
        ("VmRSS excluding the bars", lambda p: float(p.rss - p.data)),
        ("VmRSS excluding the bars and DuckDB", _rest),
        ("glibc malloc in use", lambda p: float(p.malloc_used)),
        ("pymalloc blocks (count)", lambda p: float(p.blocks)),
        ("live Python objects (count)", lambda p: float(p.objects)),
    ):
        slope = slope_per_1000(points, value, skip)
        shown = f"{slope:+,.0f}" if "count" in label else _mb(slope)
        print(f"  {label:<40} {shown:>12}")


def _gap_line(label: str, hb: Heartbeats, mask: np.ndarray | None) -> str:
    p50, p99, top = (1e3 * q for q in hb.quantiles(mask))
    count = len(hb.gaps) if mask is None else int(mask.sum())
    return f"  {label:<14} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  max {top:8.1f} ms  ({count:,})"


def _heartbeat(run: Run, sessions: int) -> None:
    hb = run.soak.hb
    print("\nheartbeat gaps (wall time between state-file writes, top speed):")
    print(_gap_line("all", hb, None))
    for phase in sorted(hb.names):
        print(_gap_line(phase, hb, hb.phase_mask(phase)))
    at, tenth = np.asarray(hb.sessions), max(1, sessions // 10)
    print(_gap_line("first 10%", hb, at < tenth))
    print(_gap_line("last 10%", hb, at >= sessions - tenth))
    by_tenth = [hb.quantiles((at >= k * tenth) & (at < (k + 1) * tenth))[1] for k in range(10)]
    print("  p99 by tenth of the run: " + " ".join(f"{1e3 * q:.0f}" for q in by_tenth) + " ms")


def _growth_sites(run: Run) -> None:
    if run.types is not None and run.types[0] is not None:
        first, last = run.types
        grown = (last - first).most_common(8)
        print(
            "\nobject types grown since the first checkpoint: "
            + (", ".join(f"{name} +{n:,}" for name, n in grown) or "none")
        )
    if run.traced is not None:
        print("\ntracemalloc, top growth sites since the first checkpoint:")
        for line in tracemalloc_top(*run.traced):
            print(f"  {line}")


def report(run: Run, facts: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the soak's figures."""
    soak, sessions = run.soak, args.sessions
    days = soak.panel.session(soak.first), soak.panel.session(soak.first + sessions - 1)
    print(
        f"soak: {args.symbols} symbols x {sessions:,} sessions ({days[0]} to {days[1]}, "
        f"+{soak.first} warm-up), momentum weekly, stops 15%, SYNTHETIC seed {args.seed}"
    )
    print("checks passed: " + ", ".join(f"{k} {v:,}" for k, v in facts.items()))
    print(
        f"speed: {sessions:,} sessions in {run.seconds:.1f} s = {sessions / run.seconds:.2f} "
        f"sessions/s; wall s by phase: "
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(soak.phase_s.items(), key=lambda kv: -kv[1]))
    )
    skip = next((k for k, p in enumerate(run.points) if p.session >= sessions // 10), 0)
    _memory(run, max(skip, 1))
    first, last = run.points[0], run.points[-1]
    print(
        f"  fds {first.fds} -> {last.fds}, threads {first.threads} -> {last.threads}; "
        f"hidden panel {soak.panel.nbytes / MB:.1f} MB (allocated before the start)"
    )
    print(
        "  memory released at the end: "
        + ", ".join(
            f"{label}: RSS {rss / MB:.1f} MB, malloc in use {used / MB:.1f} MB"
            for label, rss, used in run.release
        )
    )
    print("  containers at the end: " + ", ".join(f"{k} {v:,}" for k, v in last.containers.items()))
    print("  files at the end: " + ", ".join(f"{k} {v / MB:.1f} MB" for k, v in last.files.items()))
    _heartbeat(run, sessions)
    _growth_sites(run)
