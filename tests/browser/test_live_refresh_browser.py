"""The Live Dashboard's data refresh and market hours in a real browser.

A cockpit of its own (``streamlit run app.py`` on a free 127.0.0.1 port, as the suite's) over
the suite's sp500-2010 warehouse and a worker's folder whose state says: a data refresh running
(ib history, 120 of 500 symbols) on a Saturday, the worker waiting for Monday's open. No worker
runs: the test writes the state, as the worker would, and the page must follow it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import FIRST_LOAD_MS, Traffic, own_data_dir, recorded_tab, serve_app
from tests.browser.pages import screenshot
from tests.cockpit.test_live_refresh import RUNNING_SUMMARY, WAITING, running, saturday, write

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]


@dataclass
class RefreshCockpit:
    """The running cockpit, its data dir, and every URL and page error its tabs produced."""

    url: str
    data_dir: Path
    traffic: Traffic = field(default_factory=Traffic)


@pytest.fixture(scope="module")
def refresh_cockpit(
    browser_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RefreshCockpit]:
    """Start ``streamlit run app.py`` over a state with a running refresh; stop it afterwards."""
    root = own_data_dir(browser_data_dir, tmp_path_factory, "refresh")
    write(root, running(summary=RUNNING_SUMMARY), saturday())
    with serve_app(root, root / "streamlit.log") as url:
        yield RefreshCockpit(url, root)


@pytest.fixture
def refresh_page(
    browser: Browser, refresh_cockpit: RefreshCockpit, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """Return a fresh tab, its requests and page errors recorded on the cockpit."""
    with recorded_tab(browser, refresh_cockpit.traffic, request) as tab:
        yield tab


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
    traffic = refresh_cockpit.traffic
    assert traffic.urls, "the page was not loaded"
    foreign = traffic.foreign()
    assert not foreign, foreign
    assert traffic.page_errors == []
