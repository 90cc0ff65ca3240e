"""The Explorer's stored runs in a real browser: rename and delete a run, compare two runs.

Three runs are stored for this module beside whatever the suite's other tests stored: the
newest is renamed, then deleted behind its confirmation dialog; the other two (different
periods and capital) are compared, and the page warns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from config import load_config
from quant_core.backtest.run import run_backtest
from tests.browser.conftest import Cockpit
from tests.browser.pages import charts_drawn, choose_run, idle, open_page, run_picker, screenshot

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]

NAME = "Browser: momentum, top decile"


def _store(data_dir: Path, *overrides: str) -> str:
    cfg = load_config("backtest", [f"paths.data_dir={data_dir}", *overrides], environ={})
    return run_backtest(cfg).run_id


@pytest.fixture(scope="module")
def runs(cockpit: Cockpit) -> dict[str, str]:
    """Store three runs: two to compare (periods and capital differ), the newest to delete."""
    return {
        "short": _store(
            cockpit.data_dir,
            "strategy.params.lookback=63",
            "backtest.initial_cash=500000",
            "backtest.end=2010-07-30",
        ),
        "long": _store(cockpit.data_dir),
        "doomed": _store(cockpit.data_dir, "strategy.params.top_quantile=0.1"),
    }


def test_rename_then_delete_a_run(page: Page, cockpit: Cockpit, runs: dict[str, str]) -> None:
    root = cockpit.data_dir / "backtests"
    doomed = runs["doomed"]
    open_page(page, cockpit, "", "Strategy Explorer")
    choose_run(page, run_picker(page), doomed[-4:])
    expect(run_picker(page)).to_have_value(re.compile(rf"· {doomed[-4:]}\s*$"))

    # The chosen run's name box (the one keyed by its id: the last run's may linger a moment).
    name_box = page.get_by_label("Name of the run", exact=True).and_(
        page.get_by_placeholder(re.compile(rf"#{doomed[-4:]}$"))
    )
    expect(name_box).to_have_count(1)
    name_box.fill(NAME)
    page.get_by_role("button", name="Rename", exact=True).click()

    expect(page.get_by_text(f"Run {doomed} is now named")).to_be_visible()
    expect(run_picker(page)).to_have_value(re.compile(rf"^{re.escape(NAME)} · "))
    assert json.loads((root / doomed / "label.json").read_text()) == {"label": NAME}

    dialog = page.get_by_role("dialog")
    page.get_by_role("button", name="Delete run", exact=True).click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(NAME)
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_have_count(0)
    idle(page)
    assert (root / doomed).is_dir()  # cancelled: nothing deleted

    page.get_by_role("button", name="Delete run", exact=True).click()
    expect(dialog).to_be_visible()
    screenshot(page, "explorer-delete-dialog")
    dialog.get_by_role("button", name="Yes, delete the run", exact=True).click()

    expect(dialog).to_have_count(0)
    expect(page.get_by_text(f"Deleted run {NAME} ({doomed})")).to_be_visible()
    assert not (root / doomed).exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]
    expect(run_picker(page)).not_to_have_value(re.compile(re.escape(NAME)))
    _listed_without(page, runs["long"], doomed)
    # A new tab (a new session) does not list it either.
    open_page(page, cockpit, "", "Strategy Explorer")
    _listed_without(page, runs["long"], doomed)


def _listed_without(page: Page, kept: str, gone: str) -> None:
    # The open run picker lists ``kept`` and not ``gone``.
    run_picker(page).click()
    options = page.get_by_role("option")
    expect(options.filter(has_text=re.compile(rf"· {kept[-4:]}\s*$"))).to_have_count(1)
    expect(options.filter(has_text=re.compile(rf"· {gone[-4:]}\s*$"))).to_have_count(0)
    page.keyboard.press("Escape")


def test_compare_two_runs_warns_and_rebases(
    page: Page, cockpit: Cockpit, runs: dict[str, str]
) -> None:
    open_page(page, cockpit, "", "Strategy Explorer")
    compare = page.get_by_role("combobox", name="Runs to compare", exact=True)
    for key in ("short", "long"):
        choose_run(page, compare, runs[key][-4:])
    page.keyboard.press("Escape")

    warning = page.get_by_test_id("stAlertContentWarning").filter(has_text="Capital differs")
    expect(warning).to_be_visible()
    for key in ("short", "long"):
        expect(warning).to_contain_text(f"#{runs[key][-4:]}")
    expect(warning).to_contain_text("$500,000")
    expect(warning).to_contain_text("Period differs")
    expect(warning).to_contain_text(re.compile(r"common period 2010-03-03 to 2010-07-30"))
    charts = charts_drawn(page)
    title = charts.locator(".gtitle").filter(has_text="Compare runs: growth of $1")
    expect(title).to_have_text("Compare runs: growth of $1 (rebased on 2010-03-03)")
    screenshot(page, "explorer-compare")
