"""The Explorer's run form in a real browser (issue 14): factors, weights, costs and benchmark.

A trader picks multi_factor, adds a factor in the picker and types the weights, chooses the bps
cost model and a symbol benchmark by searching for it, and runs: the stored run holds exactly
that, and the page shows it. The trades table draws an unfilled order's price as "unfilled", not
"None"; a refused run after it leaves nothing of that run under its error.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Locator, Page, expect

from quant_core.backtest.results import load_run
from tests.browser.conftest import Cockpit
from tests.browser.pages import idle, open_page, screenshot, wait_for

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]

STORED = re.compile(r"^Stored run .+: final equity \$")


def choose(page: Page, label: str, option: str | re.Pattern[str], search: str = "") -> None:
    """Open the select labelled ``label``, type ``search`` if any, click ``option``."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    if search:
        page.keyboard.type(search)
    page.get_by_role("option", name=option, exact=isinstance(option, str)).click()
    idle(page)


def equity_drawn(page: Page) -> None:
    """Wait until the run's first chart (its equity) has drawn."""
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator(".main-svg").first).to_be_attached()
    expect(chart.locator(".gtitle").first).to_have_text(re.compile(r"^Equity"))


def trades_grid(page: Page) -> Locator:
    """Return the accessible table behind the trades dataframe."""
    frame = page.get_by_test_id("stDataFrame").filter(
        has=page.locator("th", has_text="Fill price ($)")
    )
    expect(frame).to_have_count(1)
    return frame.locator("table[role=grid]")


def test_factors_weights_costs_and_benchmark_reach_the_stored_run(
    page: Page, cockpit: Cockpit
) -> None:
    open_page(page, cockpit, "", "Strategy Explorer")
    runs = cockpit.data_dir / "backtests"
    before = {p.parent.name for p in runs.glob("*/summary.parquet")}
    choose(page, "Strategy", "multi_factor")

    # The picker starts with the default factor stored for sp500-2010, at its default weight.
    picker = page.get_by_test_id("stMultiSelect").filter(has_text="Factors")
    expect(picker).to_contain_text("volatility_20")
    expect(page.get_by_label("Weight: volatility_20", exact=True)).to_have_value("-0.500")
    page.get_by_role("combobox", name="Factors").fill("rsi")
    page.get_by_role("option", name="rsi_14", exact=True).click()
    idle(page)
    page.keyboard.press("Escape")
    rsi = page.get_by_label("Weight: rsi_14", exact=True)
    expect(rsi).to_have_value("1.000")
    rsi.fill("0.7")
    page.get_by_label("Weight: volatility_20", exact=True).fill("-1")
    choose(page, "Cost model", "bps")
    page.get_by_label("Commission (bps of the traded value)", exact=True).fill("2")
    choose(page, "Benchmark", re.compile(r"^AAPL · Apple"), search="AAPL")
    screenshot(page, "explorer-form-factors")

    page.get_by_role("button", name="Run backtest", exact=True).click()

    done = page.get_by_text(STORED)
    expect(done).to_be_visible(timeout=60_000)
    (run_id,) = wait_for(
        "the stored run",
        lambda: {p.parent.name for p in runs.glob("*/summary.parquet")} - before,
    )
    expect(done).to_contain_text(run_id)
    run = load_run(runs, run_id)
    assert run.config["strategy"]["params"]["factors"] == {"volatility_20": -1.0, "rsi_14": 0.7}
    assert run.config["costs"] == {"model": "bps", "commission_bps": 2.0, "slippage_bps": 5.0}
    assert run.config["backtest"]["benchmark"] == "AAPL"
    # The page shows the stored run it opened, with the factors and weights it ran.
    shown = json.dumps({"rsi_14": 0.7, "volatility_20": -1.0})
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(shown, exact=False).first).to_be_visible()
    equity_drawn(page)

    # Its unfilled orders: the grid draws what the table's styler says on a canvas ("unfilled",
    # checked in the AppTests and seen in the screenshot); its accessible table holds the data
    # under it, where an empty cell is what the canvas would draw as "None". There is none.
    flagged = int((run.trades["status"] != "filled").sum())
    assert (run.trades["status"] == "rejected_no_price").any(), "no unfilled order to show"
    page.get_by_text("Only orders not plainly filled", exact=True).click()
    grid = trades_grid(page)
    expect(grid).to_have_attribute("aria-rowcount", str(flagged + 1))  # + the header row
    rows = grid.locator("tbody tr")
    expect(rows.first.locator("td").nth(3)).to_have_text(re.compile(r"^[A-Z ]+$"))  # a flag
    for i in range(rows.count()):
        texts = [t.strip() for t in rows.nth(i).locator("td").all_inner_texts()]
        assert "" not in texts, texts
        assert "None" not in texts, texts
    screenshot(page, "explorer-form-run")


def test_a_refused_run_leaves_nothing_of_the_run_before(page: Page, cockpit: Cockpit) -> None:
    open_page(page, cockpit, "", "Strategy Explorer")
    equity_drawn(page)  # a stored run is open
    stop_loss = page.get_by_label("Stop loss", exact=True)
    stop_loss.fill("1.5")
    page.get_by_role("button", name="Run backtest", exact=True).click()

    expect(page.get_by_text(re.compile(r"^Not run: risk\.stop_loss = 1\.5"))).to_be_visible()
    idle(page)
    expect(page.get_by_text(STORED)).to_have_count(0)
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(0)
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
    screenshot(page, "explorer-form-refused")

    page.get_by_role("button", name="Show the stored runs", exact=True).click()
    idle(page)
    expect(page.get_by_text(re.compile(r"^Not run: "))).to_have_count(0)
    equity_drawn(page)
