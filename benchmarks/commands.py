"""Command latency and state-file write time of the live worker.

* From ``send_command`` (which ends with the atomic rename of its file into ``inbox/``) to the
  command's acknowledgement in dashboard_state.json, with a real worker process (live loop,
  simulated broker, watchdog plus polling): median and p99 over 200 commands. Target p99 <= 50 ms.
* ``write_state`` with 500 positions (temporary file, fsync, rename): median and p99 over 200
  writes. Target <= 5 ms.
* The typed state contract (``live/state.py``) on a full document (500 positions, 500 fills,
  2,000 equity points, 50 acknowledgements, 50 errors), side by side with the untyped dict it
  replaced: the worker's write (``write_state`` of the ``DashboardState`` against the same
  document as a dict; the two files are checked byte-identical first) and the cockpit's read
  (``load_state``, i.e. JSON plus ``DashboardState.from_json``, against ``read_state``, JSON only).

    python benchmarks/commands.py [--commands 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quant_core.live.files import load_state, read_state, send_command, write_state
from quant_core.live.state import DashboardState

ROOT = Path(__file__).resolve().parents[1]
WARM_UP = 5  # the first commands pay for first-use costs (journal statements, the watcher)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def command_latency(count: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "QC__PATHS__DATA_DIR": tmp,
            "QC__DATA__DATASET": "synthetic",
            "QC__LIVE__HEARTBEAT_S": "1.0",
            "QC__LOGGING__LEVEL": "WARNING",
        }
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "run_data_sync.py"),
                "--source",
                "synthetic",
                "--symbols",
                "50",
                "--days",
                "300",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "run_live_strategy.py")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        live = Path(tmp) / "live"
        try:
            deadline = time.monotonic() + 60
            while read_state(live) is None:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError("the worker did not start")
                time.sleep(0.05)
            latencies = []
            for _ in range(count + WARM_UP):
                start = time.perf_counter()
                command = send_command(live, "CANCEL", source="benchmark")
                while True:
                    state = read_state(live)
                    if state and any(a.get("id") == command.id for a in state["commands"]):
                        break
                    time.sleep(0.0002)
                latencies.append(time.perf_counter() - start)
            first = latencies[:WARM_UP]
            print(
                f"first {WARM_UP} commands (warm-up, not counted): "
                + ", ".join(f"{x * 1e3:.1f}" for x in first)
                + " ms"
            )
            latencies = latencies[WARM_UP:]
            send_command(live, "STOP", source="benchmark")
            worker.wait(30)
        finally:
            if worker.poll() is None:
                worker.kill()
        return latencies


def state_write(count: int) -> list[float]:
    positions = [
        {
            "symbol": f"S{i:04d}",
            "quantity": 100.0 + i,
            "avg_cost": 50.0,
            "market_price": 51.0,
            "market_value": 5100.0,
            "weight": 0.002,
        }
        for i in range(500)
    ]
    state = {
        "worker": {"state": "RUNNING"},
        "positions": positions,
        "equity": [["2010-01-04", 1e6]] * 500,
    }
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(count):
            start = time.perf_counter()
            write_state(Path(tmp), state)
            times.append(time.perf_counter() - start)
        size = len(json.dumps(state))
    print(f"state file with 500 positions: {size / 1e3:.0f} kB")
    return times


def full_document() -> dict[str, object]:
    """Return a state document of the worker's shape at its largest (what the worker keeps)."""
    at = "2026-12-04T15:30:00+00:00"
    return {
        "schema_version": 1,
        "worker": {
            "pid": 4242,
            "state": "RUNNING",
            "reason": "connected",
            "mode": "sim",
            "account": "SIM",
            "run_id": "20261204T143000Z-abc123",
            "started_at": at,
            "heartbeat_at": at,
            "session": "2026-12-04",
            "strategy": "momentum",
            "latched": False,
            "halted_latch": False,
            "exited": False,
            "replay_finished": None,
            "broker_as_of": at,
        },
        "account": {
            "net_liquidation": 1_000_000.0,
            "cash": 20_000.0,
            "buying_power": 20_000.0,
            "daily_pnl": 1_234.5,
            "unrealized_pnl": 5_000.0,
            "realized_pnl": 0.0,
        },
        "positions": [
            {
                "symbol": f"S{i:04d}",
                "quantity": 100.0 + i,
                "avg_cost": 50.0,
                "market_price": 51.0,
                "market_value": 51.0 * (100.0 + i),
                "weight": 0.002,
            }
            for i in range(500)
        ],
        "open_orders": [],
        "fills_today": [
            {
                "order_id": str(i),
                "symbol": f"S{i:04d}",
                "side": "BUY",
                "quantity": 100.0,
                "price": 50.0,
                "commission": 1.0,
                "time": at,
            }
            for i in range(500)
        ],
        "equity": [[f"2010-01-{1 + i % 28:02d}", 1e6 + i] for i in range(2000)],
        "risk": {
            "status": "ok",
            "limit": None,
            "reason": None,
            "limits": [],
            "flat_on_breach": False,
        },
        "rebalance": {"last": "2026-12-03", "next": "2026-12-04"},
        "reconciled": {},  # as the worker writes it before its first reconciliation
        "commands": [
            {
                "id": f"c{i}",
                "at": at,
                "command": "CANCEL",
                "accepted": True,
                "source": "cockpit",
                "result": "cancelled 0 open order(s)",
            }
            for i in range(50)
        ],
        "errors": [{"at": at, "message": f"error {i}"} for i in range(50)],
        "book_risk": {  # its largest: 15 names, 11 sectors, 5 stress sessions
            "computed_at": at,
            "data_through": "2026-12-03",
            "net_liquidation": 1_000_000.0,
            "ex_ante_vol": 0.16,
            "var": 0.02,
            "es": 0.028,
            "var_sessions": 252,
            "names_held": 500,
            "names": [
                {
                    "symbol": f"S{i:04d}",
                    "sector": f"Sector {i % 11}",
                    "weight": 0.002,
                    "contribution": 0.004,
                }
                for i in range(15)
            ],
            "sectors": [
                {
                    "sector": f"Sector {i}",
                    "long": 0.09,
                    "short": 0.0,
                    "gross": 0.09,
                    "net": 0.09,
                    "contribution": 0.09,
                }
                for i in range(11)
            ],
            "stress": [
                {"session": f"2020-03-{9 + i:02d}", "universe_return": -0.1, "book_return": -0.09}
                for i in range(5)
            ],
            "left_out": [],
        },
    }


def typed_contract(count: int) -> dict[str, list[float]]:
    """Time the typed contract beside the dict it replaced, after checking they agree."""
    raw = full_document()
    typed = DashboardState.from_json(raw)
    times: dict[str, list[float]] = {k: [] for k in ("dict", "typed", "read", "read typed")}
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        write_state(Path(a), raw)
        write_state(Path(b), typed)
        same = (Path(a) / "dashboard_state.json").read_bytes()
        if same != (Path(b) / "dashboard_state.json").read_bytes():
            raise AssertionError("the typed state and the dict it replaced write different files")
        if load_state(Path(b)) != typed:
            raise AssertionError("the typed state does not read back equal")
        print(f"full state document: {len(same) / 1e3:.0f} kB")
        for _ in range(count):
            for name, call in (
                ("dict", lambda: write_state(Path(a), raw)),
                ("typed", lambda: write_state(Path(b), typed)),
                ("read", lambda: read_state(Path(a))),
                ("read typed", lambda: load_state(Path(b))),
            ):
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=200)
    args = parser.parse_args()
    latency = command_latency(args.commands)
    writes = state_write(200)
    print(f"{'':44}{'median':>10}{'p99':>10}{'target':>10}")
    print(
        f"{'send_command -> ack in state (ms)':44}{statistics.median(latency) * 1e3:>10.1f}"
        f"{_p99(latency) * 1e3:>10.1f}{'p99 50':>10}"
    )
    print(
        f"{'state write, 500 positions (ms)':44}{statistics.median(writes) * 1e3:>10.2f}"
        f"{_p99(writes) * 1e3:>10.2f}{'5':>10}"
    )
    contract = typed_contract(200)
    for name, label in (
        ("dict", "full state write, dict (ms)"),
        ("typed", "full state write, DashboardState (ms)"),
        ("read", "full state read, JSON only (ms)"),
        ("read typed", "full state read, DashboardState (ms)"),
    ):
        values = contract[name]
        print(
            f"{label:44}{statistics.median(values) * 1e3:>10.2f}{_p99(values) * 1e3:>10.2f}{'':>10}"
        )


if __name__ == "__main__":
    main()
