"""The Factors page's Models view in a real browser: a stored model opens with its charts."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from quant_core.research.model import ACCEPTED
from quant_core.research.store import ModelStore
from tests.browser.conftest import Cockpit
from tests.browser.pages import chart_titles, idle, open_page, screenshot
from tests.cockpit import fit_results

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]


def test_models_view_opens_a_stored_model(page: Page, cockpit: Cockpit) -> None:
    store = ModelStore(cockpit.data_dir / "models")
    created = dt.datetime(2024, 1, 5, 14, 30, tzinfo=dt.UTC)
    model_id = store.save(fit_results.result("browser", ACCEPTED, 0.031), "sp500-2010", created)
    open_page(page, cockpit, "factors", "Factors")

    page.get_by_role("radio", name="Models", exact=True).click()

    expect(page.get_by_role("heading", name="Stored models")).to_be_visible()
    idle(page)
    # The factor analysis' charts are gone: the view's three are the page's only ones.
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(3)
    expect(page.get_by_text("ACCEPTED: out-of-sample rank IC 0.0310")).to_be_visible()
    titles = chart_titles(page, 3)
    assert f"Out-of-sample rank IC: {model_id}" in titles, titles
    assert "Coefficients with 95% bootstrap intervals" in titles, titles
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "factors-models")
