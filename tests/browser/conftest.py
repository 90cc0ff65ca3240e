"""Fixtures of the real-browser suite: a worker in sim replay, ``streamlit run app.py``, Chromium.

Everything runs as a user runs it, on loopback only: the worker is ``run_live_strategy.py
--replay`` in its own process, the cockpit is ``streamlit run app.py`` on a free 127.0.0.1 port,
both pointed at one temporary data dir through ``QC__PATHS__DATA_DIR``; Debian's Chromium
(``/usr/bin/chromium``, installed by ``make unit``) is driven by the playwright package. A missing
browser is a failure, never a skip. Every request any page makes is recorded, so the suite can
assert that nothing left 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect, sync_playwright

from quant_core.calendar import TradingCalendar
from tests.browser.chrome import CHROME_ARGS, CHROMIUM, VIEWPORT
from tests.cockpit.warehouse import build_data_dir

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
# A ceiling, not an expectation: a first load in a fresh profile takes ~5 s on 2 cores, but with
# the suite's other pytest process busy beside it, one Strategy Explorer run took over 20 s.
TIMEOUT_MS = 60_000
FIRST_LOAD_MS = 60_000  # a cold server's first run imports the engine (and runs a backtest)
expect.set_options(timeout=TIMEOUT_MS)  # expect() keeps its own default (5 s) otherwise
# sp500-2010 ends 2010-08-20 and momentum's warm-up puts the first rebalance in March 2010:
# ~120 sessions at one second each, so the worker is still running while the tests click.
REPLAY = "2009-10-01:2010-08-20"
REPLAY_SPEED_S = "1.0"
START_TIMEOUT_S = 60.0


@dataclass
class Process:
    """A child process started for the suite, with its output going to a log file."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def log_tail(self, chars: int = 4000) -> str:
        """Return the end of the process's log (for failure messages)."""
        self.log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self) -> None:
        """Terminate (SIGTERM: both programs stop cleanly), wait, then close the log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@dataclass
class Cockpit:
    """The running cockpit, its worker and the data dir they share."""

    url: str
    data_dir: Path
    worker: Process

    @property
    def live_dir(self) -> Path:
        """Return the worker's folder (state, commands), as ``context.live_dir``."""
        return self.data_dir / "live"


@dataclass
class Traffic:
    """Every URL the browser asked for (requests and websockets), and uncaught page errors."""

    urls: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    # The current tab's console and websocket lifecycle, timestamped: printed when a test fails
    # (a page whose widgets stay disabled has lost its connection; this says when and how).
    events: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        """Record one timestamped event of the current tab."""
        now = time.time()  # one reading: the seconds and the milliseconds agree
        stamp = time.strftime("%H:%M:%S", time.localtime(now))
        self.events.append(f"{stamp}.{int(now * 1000) % 1000:03d} {what}")

    def foreign(self) -> list[str]:
        """Return the URLs asked for off 127.0.0.1 (``data:`` and ``blob:`` stay in the page)."""
        return sorted(
            {
                u
                for u in self.urls
                if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != LOOPBACK
            }
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> Process:
    log = log_path.open("wb")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    return Process(proc, log_path, log)


def _wait_healthy(url: str, server: Process) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            # A loopback http URL we built: no file: or custom scheme can reach it.
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not become healthy:\n{server.log_tail()}")
        time.sleep(0.1)


@contextmanager
def serve_app(data_dir: Path, log_path: Path) -> Iterator[str]:
    """Run ``streamlit run app.py`` over ``data_dir`` on a free 127.0.0.1 port; yield its URL.

    Yields once the server answers its health check; stops it (SIGTERM) on the way out.
    """
    port = _free_port()
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir)}
    # Only the port: address, allowed hosts, usage statistics and the file watcher come from
    # the project's .streamlit/config.toml, as they do for a user.
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    server = _spawn([*command, "--server.port", str(port)], env, log_path)
    try:
        url = f"http://{LOOPBACK}:{port}"
        _wait_healthy(url, server)
        yield url
    finally:
        server.stop()


def own_data_dir(
    browser_data_dir: Path, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Path:
    """Return a new data dir holding a copy of the suite's sp500-2010 warehouse only."""
    root = tmp_path_factory.mktemp(name) / "data"
    shutil.copytree(browser_data_dir / "warehouse", root / "warehouse")
    return root


@contextmanager
def recorded_tab(
    browser: Browser, traffic: Traffic, request: pytest.FixtureRequest | None = None
) -> Iterator[Page]:
    """Yield a page in a fresh browser context (an operator's new tab), recording into
    ``traffic`` every request, websocket and uncaught page error; close it on the way out.

    Given the test's ``request``, a failed test prints the tab's events and saves a screenshot.
    """
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.on("request", lambda request: traffic.urls.append(request.url))
    tab = context.new_page()
    traffic.events.clear()

    def websocket(ws: WebSocket) -> None:
        traffic.urls.append(ws.url)
        traffic.note(f"websocket open {ws.url}")
        ws.on("close", lambda _: traffic.note(f"websocket closed {ws.url}"))
        ws.on("socketerror", lambda error: traffic.note(f"websocket error {error}"))

    tab.on("websocket", websocket)
    tab.on("console", lambda message: traffic.note(f"console {message.type}: {message.text}"))
    tab.on("requestfailed", lambda r: traffic.note(f"request failed {r.url}: {r.failure}"))
    tab.on("pageerror", lambda error: traffic.page_errors.append(f"{tab.url}: {error}"))
    try:
        yield tab
        if request is not None:
            report_failure(request, tab, traffic)
    finally:
        context.close()


@pytest.fixture(scope="package")
def browser_data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: TradingCalendar) -> Path:
    """Return a data dir with sp500-2010 synced and its default factors (no backtest yet)."""
    return build_data_dir(tmp_path_factory.mktemp("browser") / "data", calendar, backtest=False)


@pytest.fixture(scope="package")
def cockpit(browser_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cockpit]:
    """Start the worker (sim replay) and ``streamlit run app.py``; stop both afterwards."""
    logs = tmp_path_factory.mktemp("logs")
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(browser_data_dir)}
    worker = _spawn(
        [
            sys.executable,
            str(ROOT / "run_live_strategy.py"),
            "--replay",
            REPLAY,
            "--speed",
            REPLAY_SPEED_S,
        ],
        env,
        logs / "worker.log",
    )
    try:
        with serve_app(browser_data_dir, logs / "streamlit.log") as url:
            yield Cockpit(url, browser_data_dir, worker)
    finally:
        worker.stop()


# Package scope, not session: sync_playwright keeps an asyncio loop running until it closes,
# and the IB client's tests that run after this package need to run loops of their own.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Launch Debian's Chromium headless (a missing /usr/bin/chromium fails here: no skip)."""
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: run `make chromium` (apt-get)"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def traffic() -> Traffic:
    """Return the suite-wide record of the browser's requests."""
    return Traffic()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so a fixture can tell that its test failed."""
    report: pytest.TestReport = yield
    setattr(item, f"report_{report.when}", report)
    return report


def report_failure(request: pytest.FixtureRequest, tab: Page, traffic: Traffic) -> None:
    """After a failed test: print the tab's events and save what it showed (artifacts/)."""
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    lines = ["the tab's console and websocket events:", *traffic.events[-200:]]
    shots = ROOT / "artifacts" / "failures"
    shots.mkdir(parents=True, exist_ok=True)
    # The node id names the module too (two modules may hold tests of one name); a
    # parametrised id may hold any character, so only safe ones are kept.
    path = shots / (re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid) + ".png")
    try:
        tab.screenshot(path=str(path), timeout=10_000)
        lines.append(f"the tab as it was: {path}")
    except Exception as error:  # a diagnostic: the test's own failure stands
        lines.append(f"no screenshot of the tab: {error}")
    # Written to the captured stdout, which pytest shows under the failure.
    sys.stdout.write("\n  ".join(lines) + "\n")


@pytest.fixture
def page(
    browser: Browser, cockpit: Cockpit, traffic: Traffic, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """Return a page in a fresh browser context (an operator's new tab), recording requests."""
    with recorded_tab(browser, traffic, request) as tab:
        yield tab
