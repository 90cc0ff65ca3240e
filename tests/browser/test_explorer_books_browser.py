"""A stored book run in a real browser (issue 16): the Explorer draws its Sleeves section.

A two-sleeve book is run and stored for this module beside the suite's other runs; the page
opens it from the run picker and shows the sleeves stacked with the account, the allocation,
the correlation (1 on its diagonal) and the universes; picking a sleeve draws its own chart.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from config import load_config
from config.book_loader import load_book
from quant_core.backtest.book_run import run_book_backtest
from tests.browser.conftest import Cockpit
from tests.browser.pages import (
    charts_drawn,
    choose_run,
    open_page,
    pick_option,
    run_picker,
    screenshot,
)
from tests.cockpit.test_explorer_books import BOOK, SLEEVES, write_book

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def book_run(cockpit: Cockpit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Store the two-sleeve book's run in the cockpit's data dir; return its folder."""
    path = write_book(tmp_path_factory.mktemp("books"), "pair", BOOK)
    cfg = load_config("backtest", [f"paths.data_dir={cockpit.data_dir}"], environ={})
    return run_book_backtest(cfg, load_book(path)).account.path


def _chart(page: Page, title: str) -> Locator:
    chart = page.get_by_test_id("stPlotlyChart").filter(has=page.locator(".gtitle", has_text=title))
    expect(chart).to_have_count(1)
    return chart.locator(".js-plotly-plot")


def _pick_sleeve(page: Page, name: str) -> None:
    box = page.get_by_role("combobox", name="Sleeve", exact=True)
    pick_option(page, box, name, page.get_by_role("option", name=name, exact=True))


def test_a_stored_book_run_shows_its_sleeves(page: Page, cockpit: Cockpit, book_run: Path) -> None:
    open_page(page, cockpit, "", "Strategy Explorer")
    run_id = book_run.name
    choose_run(page, run_picker(page), run_id[-4:])
    expect(run_picker(page)).to_have_value(re.compile(rf"^.*book:pair .*· {run_id[-4:]}\s*$"))

    expect(page.get_by_role("heading", name="Sleeves", exact=True)).to_be_visible()
    charts_drawn(page)
    stacked = _chart(page, "Sleeves: equity stacked, and the account")
    names = stacked.evaluate("(gd) => gd.data.map((trace) => trace.name)")
    assert names[: len(SLEEVES)] == list(SLEEVES)
    assert names[-1] == "Account"
    allocation = _chart(page, "Sleeves: allocation over time")
    # _fullData: the traces as plotly drew them (typed arrays decoded).
    sums = allocation.evaluate(
        "(gd) => Array.from(gd._fullData[0].y, (_, i) =>"
        " gd._fullData.reduce((s, t) => s + t.y[i], 0))"
    )
    assert sums
    assert all(abs(s - 1.0) < 1e-9 for s in sums), sums
    diagonal = _chart(page, "Sleeves: correlation").evaluate(
        "(gd) => Array.from(gd._fullData[0].z, (row, i) => row[i])"
    )
    assert diagonal == pytest.approx([1.0, 1.0])
    expect(_chart(page, "Sleeves: universe size")).to_be_visible()

    # One sleeve's own report: pick revert, its chart and its fills follow.
    _pick_sleeve(page, "revert")
    expect(page.locator(".gtitle", has_text="Sleeve revert: equity and drawdown")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^[\d,]+ fills attributed to revert"))).to_be_visible()
    screenshot(page, "explorer-book")
