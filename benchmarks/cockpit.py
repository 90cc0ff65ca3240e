"""Live Dashboard latency in a real browser: first render, and a state-file change to the screen.

* First render: a fresh Chromium profile (a new ``--user-data-dir``, empty cache) opens
  ``/live``; timed from ``goto`` to the "Net liquidation" metric showing the state's value.
  The first sample also pays for the server's first run of the page (imports): it is shown
  on its own as well. Target: median <= 3 s.
* Change to screen: with ``/live`` open, a new state (new net liquidation) is written with
  ``quant_core.live.files.write_state`` (atomic rename, as the worker does); timed until the
  page shows the new value. Each write waits a random 0-1 s first, so writes land at every
  phase of the page's 1 s refresh. Target: median <= 1 s.

The state is a real one: sp500-2010 is synced and the worker replays it once (sim broker) in
a temporary data dir; each written state is that one, marked RUNNING with a fresh heartbeat.
Everything stays on 127.0.0.1.

    python -m benchmarks.cockpit [--renders 5] [--changes 20]   # from the project root
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Playwright, sync_playwright

from quant_core.live.files import read_state, write_state
from tests.browser.chrome import CHROME_ARGS, CHROMIUM, VIEWPORT

ROOT = Path(__file__).resolve().parents[1]
WAIT_MS = 30_000
POLL_MS = 10  # how often the page checks for the value: the timing's resolution
TARGET_RENDER_S = 3.0
TARGET_CHANGE_S = 1.0

# True once the "Net liquidation" metric is on screen and shows `want`.
METRIC_SHOWS = """(want) => {
  for (const metric of document.querySelectorAll('[data-testid="stMetric"]')) {
    const label = metric.querySelector('[data-testid="stMetricLabel"]');
    const value = metric.querySelector('[data-testid="stMetricValue"]');
    if (label && value && label.innerText.includes('Net liquidation')
        && value.offsetParent !== null && value.innerText.includes(want)) {
      return true;
    }
  }
  return false;
}"""


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _prepare(data_dir: Path) -> dict[str, Any]:
    """Sync sp500-2010 and replay it once with the worker; return its final state."""
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir), "QC__LOGGING__LEVEL": "WARNING"}
    for cmd in (
        ["run_data_sync.py", "--source", "sample", "--dataset", "sp500-2010"],
        ["run_live_strategy.py", "--replay", "2009-10-01:2010-08-20", "--speed", "0"],
    ):
        subprocess.run(
            [sys.executable, str(ROOT / cmd[0]), *cmd[1:]],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    state = read_state(data_dir / "live")
    if state is None:
        raise RuntimeError("the worker wrote no state")
    return state


def _fresh(base: dict[str, Any], net_liquidation: float) -> dict[str, Any]:
    """Return ``base`` as a running worker's state, just beaten, with a new net liquidation."""
    state = copy.deepcopy(base)
    state.pop("schema_version", None)
    state["worker"].update(
        state="RUNNING",
        reason="benchmark",
        pid=os.getpid(),  # a live process, as a running worker's would be
        heartbeat_at=dt.datetime.now(dt.UTC).isoformat(),
    )
    state["account"]["net_liquidation"] = net_liquidation
    return state


def _shown(value: float) -> str:
    return f"{value:,.0f}"  # "$1,234,567.00" and "$1,234,567" both contain it


@contextmanager
def _server(data_dir: Path, log_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir)}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(url + "/_stcore/health", timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log_path.read_text()) from None
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_shown(page: Page, value: float) -> None:
    page.wait_for_function(METRIC_SHOWS, arg=_shown(value), polling=POLL_MS, timeout=WAIT_MS)


def first_renders(
    pw: Playwright, url: str, live: Path, base: dict[str, Any], count: int
) -> list[float]:
    """Time ``goto /live`` to the metric shown, each in a new browser with a new profile."""
    times = []
    for i in range(count):
        value = 1_500_000.0 + 1_111.0 * (i + 1)
        write_state(live, _fresh(base, value))
        with tempfile.TemporaryDirectory() as profile:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=CHROME_ARGS,
                headless=True,
                viewport=VIEWPORT,
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                start = time.perf_counter()
                page.goto(url + "/live", wait_until="commit")
                _wait_shown(page, value)
                times.append(time.perf_counter() - start)
            finally:
                context.close()
    return times


def changes(
    pw: Playwright, url: str, live: Path, base: dict[str, Any], count: int, seed: int
) -> list[float]:
    """Time a state write to its new net liquidation on screen, ``count`` times."""
    rng = random.Random(seed)
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS, headless=True)
    try:
        page = browser.new_page(viewport=VIEWPORT)
        value = 2_000_000.0
        write_state(live, _fresh(base, value))
        page.goto(url + "/live")
        _wait_shown(page, value)
        times = []
        for _ in range(count):
            time.sleep(rng.uniform(0.0, 1.0))
            value += 1_111.0
            state = _fresh(base, value)
            start = time.perf_counter()
            write_state(live, state)
            _wait_shown(page, value)
            times.append(time.perf_counter() - start)
    finally:
        browser.close()
    return times


def _row(name: str, values: list[float], target: float) -> str:
    median = statistics.median(values)
    ok = "yes" if median <= target else "NO"
    return (
        f"{name:34}{len(values):>4}{median:>9.2f}{_p90(values):>9.2f}{max(values):>9.2f}"
        f"{'median <= ' + format(target, 'g'):>16}{ok:>5}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--renders", type=int, default=5, help="first renders (fresh profiles)")
    parser.add_argument("--changes", type=int, default=20, help="state-file changes")
    parser.add_argument("--seed", type=int, default=7, help="seed of the writes' random phase")
    args = parser.parse_args()
    if not Path(CHROMIUM).is_file():
        sys.exit(f"{CHROMIUM} is missing: run `make chromium`")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        base = _prepare(data_dir)
        live = data_dir / "live"
        with _server(data_dir, Path(tmp) / "streamlit.log") as url, sync_playwright() as pw:
            renders = first_renders(pw, url, live, base, args.renders)
            moves = changes(pw, url, live, base, args.changes, args.seed)
    print(f"first render, cold server (sample 1): {renders[0]:.2f} s")
    print("first renders: " + ", ".join(f"{x:.2f}" for x in renders) + " s")
    print(f"{'Live Dashboard (seconds)':34}{'n':>4}{'median':>9}{'p90':>9}{'max':>9}{'target':>16}")
    print(_row("first render, fresh profile", renders, TARGET_RENDER_S))
    print(_row("state file change to screen", moves, TARGET_CHANGE_S))


if __name__ == "__main__":
    main()
