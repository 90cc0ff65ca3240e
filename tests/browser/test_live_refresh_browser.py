"""The Live Dashboard's data refresh and market hours in a real browser.

A cockpit of its own (``streamlit run app.py`` on a free 127.0.0.1 port, as the suite's) over
the suite's sp500-2010 warehouse and a worker's folder whose state says: a data refresh running
(ib history, 120 of 500 symbols) on a Saturday, the worker waiting for Monday's open. No worker
runs: the test writes the state, as the worker would, and the page must follow it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.chrome import VIEWPORT
from tests.browser.conftest import ROOT, TIMEOUT_MS, _free_port, _spawn, _wait_healthy
from tests.browser.test_cockpit_browser import screenshot
from tests.cockpit.test_live_refresh import RUNNING_SUMMARY, WAITING, running, saturday, write

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]

LOOPBACK = "127.0.0.1"
FIRST_LOAD_MS = 60_000  # a cold server's first run imports the engine and runs the backtest


@dataclass
class RefreshCockpit:
    """The running cockpit, its data dir, and every URL and page error its tabs produced."""

    url: str
    data_dir: Path
    urls: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def refresh_cockpit(
    browser_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RefreshCockpit]:
    """Start ``streamlit run app.py`` over a state with a running refresh; stop it afterwards."""
    root = tmp_path_factory.mktemp("refresh") / "data"
    shutil.copytree(browser_data_dir / "warehouse", root / "warehouse")
    write(root, running(summary=RUNNING_SUMMARY), saturday())
    port = _free_port()
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(root)}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    server = _spawn([*command, "--server.port", str(port)], env, root / "streamlit.log")
    try:
        url = f"http://{LOOPBACK}:{port}"
        _wait_healthy(url, server)
        yield RefreshCockpit(url, root)
    finally:
        server.stop()


@pytest.fixture
def refresh_page(browser: Browser, refresh_cockpit: RefreshCockpit) -> Iterator[Page]:
    """Return a fresh tab, its requests and page errors recorded on the cockpit."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.on("request", lambda request: refresh_cockpit.urls.append(request.url))
    tab = context.new_page()
    tab.on("websocket", lambda ws: refresh_cockpit.urls.append(ws.url))
    tab.on("pageerror", lambda error: refresh_cockpit.page_errors.append(str(error)))
    yield tab
    context.close()


def test_live_page_shows_the_running_refresh_and_the_wait(
    refresh_page: Page, refresh_cockpit: RefreshCockpit
) -> None:
    page = refresh_page
    page.goto(f"{refresh_cockpit.url}/live")
    section = page.locator(".st-key-live_data")
    expect(section.get_by_text(RUNNING_SUMMARY)).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(section.get_by_text("refresh running", exact=True)).to_be_visible()
    bar = section.get_by_test_id("stProgress")
    expect(bar).to_contain_text("ib history 120/500 (24%)")
    expect(bar.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "24")
    expect(section.get_by_text(f"Worker waiting: {WAITING}")).to_be_visible()
    expect(section.get_by_text("Next session: Monday 2026-12-07, opens 09:30")).to_be_visible()
    expect(section.get_by_text("Times at the exchange (America/New_York)")).to_be_visible()

    # The worker reports more progress: the section follows within a tick or two (1 s each).
    write(
        refresh_cockpit.data_dir,
        running(done=360, summary="refreshing through 2026-12-04: ib history 360/500"),
        saturday(),
    )
    expect(bar).to_contain_text("ib history 360/500 (72%)")
    expect(bar.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "72")
    expect(section.get_by_text(RUNNING_SUMMARY)).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "live-refresh")


def test_no_request_left_loopback(refresh_cockpit: RefreshCockpit) -> None:
    assert refresh_cockpit.urls, "the page was not loaded"
    foreign = [
        u
        for u in refresh_cockpit.urls
        if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != LOOPBACK
    ]
    assert not foreign, sorted(set(foreign))
    assert refresh_cockpit.page_errors == []
