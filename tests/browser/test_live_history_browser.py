"""The Live Dashboard's history in a real browser: the fills history, its filter, the equity.

A cockpit of its own (``streamlit run app.py`` on a free 127.0.0.1 port, as the suite's) over
a data dir with the suite's sp500-2010 warehouse and a worker's folder holding a finished
replay's state and its session reports (``tests/cockpit/live_reports.py``: the contract's
columns). No worker runs: the reports stay as written while the test clicks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import (
    FIRST_LOAD_MS,
    TIMEOUT_MS,
    Traffic,
    own_data_dir,
    recorded_tab,
    serve_app,
)
from tests.browser.pages import charts_drawn, idle, screenshot
from tests.cockpit import live_reports as reports
from tests.cockpit.live_reports import FILLS, POSITIONS, SESSIONS

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]


@dataclass
class HistoryCockpit:
    """The running cockpit over the reports, and every URL its pages asked for."""

    url: str
    data_dir: Path
    traffic: Traffic = field(default_factory=Traffic)


@pytest.fixture(scope="module")
def history_cockpit(
    browser_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HistoryCockpit]:
    """Start ``streamlit run app.py`` over a finished replay's reports; stop it afterwards."""
    root = own_data_dir(browser_data_dir, tmp_path_factory, "history")
    live = root / "live"
    reports.write_reports(live)
    last = SESSIONS[-1]
    today = [f for f in FILLS if f["session"] == last]
    reports.write(live, reports.state(last, today, POSITIONS, finished=True))
    with serve_app(root, root / "streamlit.log") as url:
        yield HistoryCockpit(url, root)


@pytest.fixture
def history_page(
    browser: Browser, history_cockpit: HistoryCockpit, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """Return a fresh tab, its requests and page errors recorded on the cockpit."""
    with recorded_tab(browser, history_cockpit.traffic, request) as tab:
        yield tab


def fills_grid(page: Page) -> Locator:
    """Return the accessible table behind the fills history (glide draws on a canvas)."""
    frame = page.get_by_test_id("stDataFrame").filter(
        has=page.locator("th", has_text="Slippage vs decision ($)")
    )
    expect(frame).to_have_count(1)
    return frame.locator("table[role=grid]")


def choose_date(page: Page, label: str, day: str, grid: Locator, rows: int) -> None:
    """Type ``day`` (YYYY-MM-DD) into the date field ``label``; the grid then has ``rows``.

    The history refreshes itself every few seconds; on a loaded two-core machine a refresh that
    lands while the date is typed can take the keystrokes away, as it would from a person, who
    types again. The rows must follow, on the second try at most.
    """
    field = page.get_by_label(label, exact=True)
    for attempt in range(2):
        field.click()
        field.press("Control+a")
        field.press_sequentially(day.replace("-", ""))
        field.press("Enter")
        page.keyboard.press("Escape")  # close the calendar
        try:
            expect(grid).to_have_attribute("aria-rowcount", str(rows + 1), timeout=TIMEOUT_MS // 2)
            return
        except AssertionError:
            if attempt:
                raise


def test_live_page_shows_the_fills_history_and_filters_it(
    history_page: Page, history_cockpit: HistoryCockpit
) -> None:
    page = history_page
    page.goto(f"{history_cockpit.url}/live")
    # A cold server's first run imports the engine and runs the backtest (seconds on 2 cores).
    heading = page.get_by_role("heading", name="Fills history", exact=True)
    expect(heading).to_be_visible(timeout=FIRST_LOAD_MS)
    idle(page, FIRST_LOAD_MS)
    expect(page.get_by_role("heading", name="Live Dashboard", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    grid = fills_grid(page)
    # Every reported fill once (the replay's last fills are in the state and the file).
    expect(grid).to_have_attribute("aria-rowcount", str(len(FILLS) + 1))
    summary = page.get_by_text(re.compile(r"^\d+ fill\(s\) in \d+ session\(s\)"))
    expect(summary).to_contain_text(f"{len(FILLS)} fill(s) in {len(SESSIONS)} session(s)")

    later = [f for f in FILLS if f["session"] >= SESSIONS[2]]
    choose_date(page, "From session", f"{SESSIONS[2]}", grid, len(later))

    expect(summary).to_contain_text(f"{len(later)} fill(s) in 3 session(s)")
    expect(grid.locator("tbody tr").last.locator("td").first).to_have_text(f"{SESSIONS[2]}")

    middle = [f for f in later if f["session"] <= SESSIONS[3]]
    choose_date(page, "To session", f"{SESSIONS[3]}", grid, len(middle))

    expect(summary).to_contain_text(f"{len(middle)} fill(s) in 2 session(s)")

    portfolio = page.get_by_test_id("stDataFrame").filter(
        has=page.locator("th", has_text="Realised P&L")
    )
    expect(portfolio.locator("table[role=grid]")).to_have_attribute(
        "aria-rowcount",
        str(len(POSITIONS) + 2),  # a row per symbol, the totals, the header
    )
    charts = charts_drawn(page)
    names = (
        charts.filter(has_text="Live equity against the backtest")
        .locator(".js-plotly-plot")
        .evaluate("(gd) => gd.data.map((trace) => trace.name)")
    )
    assert names == ["Backtest of the live config (rebased)", "Live: net liquidation at each close"]
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "live-history")


def test_no_request_left_loopback(history_cockpit: HistoryCockpit) -> None:
    traffic = history_cockpit.traffic
    assert traffic.urls, "the page was not loaded"
    foreign = traffic.foreign()
    assert not foreign, foreign
    assert traffic.page_errors == []
