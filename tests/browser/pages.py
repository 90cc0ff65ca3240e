"""What the browser tests do to a cockpit page: open it, wait for its runs, pick, screenshot.

Shared by the suite's modules (the fixtures that start the programs are ``conftest.py``'s).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.browser.chrome import VIEWPORT
from tests.browser.conftest import ROOT, TIMEOUT_MS, Cockpit

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
FULL_HEIGHT = """() => Math.max(...['stMain', 'stSidebarContent'].map(
    (id) => document.querySelector(`[data-testid="${id}"]`)?.scrollHeight ?? 0))"""


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``artifacts/screenshots/<name>.png`` (git-ignored).

    Streamlit scrolls inside ``stMain`` (and the sidebar), not the document, so a plain
    full-page shot stops at the viewport: the viewport is stretched to the content first.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = page.evaluate(FULL_HEIGHT)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(height, VIEWPORT["height"])})
    page.wait_for_timeout(500)  # let plotly and the grids lay out again (not an assertion)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


def idle(page: Page, timeout_ms: float | None = None) -> None:
    """Wait for the page's script run to end (the default timeout unless ``timeout_ms``)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout_ms
    )


def open_page(page: Page, cockpit: Cockpit, path: str, title: str) -> None:
    """Open ``/<path>``; wait for its title and the end of its first script run."""
    page.goto(f"{cockpit.url}/{path}")
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    idle(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def charts_drawn(page: Page, at_least: int = 1, exactly: int | None = None) -> Locator:
    """Wait until the page's plotly charts (loaded lazily) have drawn; return them.

    With ``exactly``, also wait until the page holds that many charts: a rerun leaves the last
    view's charts in the page (stale) until it ends, so counting earlier can count those.
    """
    charts = page.get_by_test_id("stPlotlyChart")
    if exactly is not None:
        expect(charts).to_have_count(exactly)
        at_least = exactly
    expect(charts.nth(at_least - 1).locator(".main-svg").first).to_be_attached()
    for i in range(charts.count()):
        expect(charts.nth(i).locator(".main-svg").first).to_be_attached()
    return charts


def chart_titles(page: Page, count: int) -> list[str | None]:
    """Return the titles of the page's charts once it holds exactly ``count``, drawn."""
    charts = charts_drawn(page, exactly=count)
    return [charts.nth(i).locator(".gtitle").first.text_content() for i in range(count)]


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        time.sleep(0.05)
    return value


def pick_option(page: Page, box: Locator, typed: str, option: Locator) -> None:
    """Type ``typed`` into the select ``box``, click ``option``; wait for the run it starts.

    Typing filters the options; a rerun that redraws the select while it opens can close it, so
    a second attempt opens it again (as a person would).
    """
    for attempt in range(2):
        box.click()
        box.press_sequentially(typed)
        try:
            expect(option).to_be_visible(timeout=TIMEOUT_MS // 2)
            break
        except AssertionError:
            if attempt:
                raise
            page.keyboard.press("Escape")
    option.click()
    idle(page)


def run_picker(page: Page) -> Locator:
    """Return the Explorer's stored-run picker box: its value is the open run's label."""
    picker = page.get_by_role("combobox", name="Stored run", exact=True)
    expect(picker).to_have_count(1)
    return picker


def choose_run(page: Page, box: Locator, suffix: str) -> None:
    """Pick the run whose label ends with ``suffix`` (the run id's last 4) in picker ``box``."""
    option = page.get_by_role("option", name=re.compile(rf"· {suffix}\s*$"))
    pick_option(page, box, suffix, option)
