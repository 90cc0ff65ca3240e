"""The HTML tearsheet opens offline in Chromium: nothing off 127.0.0.1 asked for, figures drawn.

The report of a stored run is served by a plain ``http.server`` on 127.0.0.1, and every
request the page makes to any other host is aborted and recorded: the test wants none.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Route, expect

from config import load_config
from quant_core.backtest.run import run_backtest
from quant_core.backtest.tearsheet import write_tearsheet
from quant_core.calendar import TradingCalendar
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from tests.browser.chrome import VIEWPORT

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, calendar: TradingCalendar) -> dict[str, Any]:
    """Return the stored run's folder, its report and its final equity (sp500-2010, short)."""
    root = tmp_path_factory.mktemp("tearsheet-browser")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    overrides = [f"paths.data_dir={root}", "backtest.start=2010-04-01", "backtest.end=2010-07-30"]
    run = run_backtest(load_config("backtest", overrides, environ={}))
    return {
        "folder": run.path,
        "path": write_tearsheet(run.path),
        "final": run.metrics["final_equity"],
    }


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(report: dict[str, Any]) -> Iterator[str]:
    """Serve the run's folder on a free 127.0.0.1 port; yield the report's URL."""
    handler = functools.partial(_Quiet, directory=str(report["folder"]))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{report['path'].name}"
    finally:
        server.shutdown()
        server.server_close()


def test_report_opens_offline_and_shows_final_equity(
    browser: Browser, served: str, report: dict[str, Any]
) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    requested: list[str] = []
    blocked: list[str] = []
    errors: list[str] = []

    def gate(route: Route) -> None:
        url = route.request.url
        if urlparse(url).scheme in ("data", "blob") or urlparse(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", gate)
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(served, wait_until="load")

        final = f"${report['final']:,.2f}"
        expect(page.locator("#final-equity")).to_contain_text(final)
        images = page.evaluate(
            "() => Array.from(document.images).map(i => [i.complete, i.naturalWidth])"
        )
        assert len(images) >= 8
        assert all(complete and width > 0 for complete, width in images), images
        assert page.locator("svg").count() >= 10  # QuantStats' figures, inline
        expect(page.locator("#worst-drawdowns")).to_be_visible()
        expect(page.locator("#config-json")).to_contain_text('"initial_cash": 1000000.0')
        # Headless Chromium fetches no favicon, so a network log alone would miss one: every
        # URL the page names (resolved) must be on the page's own host or inline.
        named = page.evaluate(
            "() => Array.from(document.querySelectorAll('[src],[href]'))"
            ".map(e => e.getAttribute('src') === null ? e.href : e.src)"
        )
        assert named, "the report names no URL at all (its images?)"
        off = [
            u for u in named if not u.startswith("data:") and urlparse(u).hostname != "127.0.0.1"
        ]
        assert off == []
    finally:
        context.close()

    assert blocked == []
    assert errors == []
    assert all(urlparse(u).hostname == "127.0.0.1" or u.startswith("data:") for u in requested)
