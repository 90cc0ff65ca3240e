"""The Sweeps page in a real browser: its charts, a configuration run and opened, live progress.

A cockpit of its own (``streamlit run app.py`` on a free 127.0.0.1 port, as the suite's) over a
copy of the suite's sp500-2010 warehouse, with a catalogue written by the tests through the real
``Catalogue`` (``tests/cockpit/test_sweeps_page.py``); no sweep runs: the tests write the
progress file as a sweep's driver would, and hold the catalogue's lock from another process as
the driver does. The tests run in order (file order).
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from quant_core.backtest.results import catalog, load_run
from quant_core.sweeps.runner import Progress, write_progress
from tests.browser.conftest import (
    FIRST_LOAD_MS,
    LOOPBACK,
    Traffic,
    own_data_dir,
    recorded_tab,
    serve_app,
)
from tests.browser.pages import chart_titles, charts_drawn, idle, screenshot
from tests.cockpit.sweep_helpers import (
    MOM_GRID,
    MOM_WF,
    Recorded,
    hold_catalogue,
    write_sweep,
    write_walk_forward,
)

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]

RUN_MS = 90_000  # the click runs a backtest of sp500-2010, then opens the Explorer
NEXT = "0123456789abcdef"  # the sweep the busy test's driver starts
ROW_PX = 35  # the height of a dataframe row (and of its header) in Streamlit's grid
# Made later than the first sweep: the newest, picked when the page opens.
RUNNING = {
    **MOM_GRID,
    "name": "mom_running",
    "grid": {"lookback": [30, 90], "top_quantile": [0.1, 0.3, 0.5]},
}


@dataclass
class SweepsCockpit:
    """The running cockpit, its data dir, and every URL and page error its tabs produced."""

    url: str
    data_dir: Path
    walk_forward: Recorded
    traffic: Traffic = field(default_factory=Traffic)


@pytest.fixture(scope="module")
def sweeps_cockpit(
    browser_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SweepsCockpit]:
    """Start ``streamlit run app.py`` over a catalogue with a sweep and a walk-forward; stop it."""
    root = own_data_dir(browser_data_dir, tmp_path_factory, "sweeps")
    write_sweep(root, MOM_GRID)
    walk_forward = write_walk_forward(root, MOM_WF)
    with serve_app(root, root / "streamlit.log") as url:
        yield SweepsCockpit(url, root, walk_forward)


@pytest.fixture
def sweeps_page(
    browser: Browser, sweeps_cockpit: SweepsCockpit, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """Return a fresh tab, its requests and page errors recorded on the cockpit."""
    with recorded_tab(browser, sweeps_cockpit.traffic, request) as tab:
        yield tab


def _open(page: Page, cockpit: SweepsCockpit) -> None:
    page.goto(f"{cockpit.url}/sweeps")
    expect(page.get_by_role("heading", name="Sweeps", exact=True)).to_be_visible(
        timeout=FIRST_LOAD_MS
    )
    idle(page, RUN_MS)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def _select_row(page: Page, row: int) -> None:
    """Tick row ``row``'s checkbox in the best configurations grid (drawn on a canvas)."""
    grid = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="worker"))
    expect(grid).to_have_count(1)
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    # The row markers are the grid's first column; the header row comes first.
    page.mouse.click(box["x"] + ROW_PX / 2, box["y"] + ROW_PX * (row + 1) + ROW_PX / 2)
    idle(page, RUN_MS)


def test_the_page_draws_a_sweep_and_opens_a_configuration_in_the_explorer(
    sweeps_page: Page, sweeps_cockpit: SweepsCockpit
) -> None:
    page = sweeps_page
    _open(page, sweeps_cockpit)
    picker = page.get_by_role("combobox", name="Sweep", exact=True)
    expect(picker).to_have_value(re.compile(r"^mom_grid · momentum · max sharpe · 6 of 6 done"))
    titles = chart_titles(page, 3)
    assert titles == [
        "sharpe by lookback and top_quantile",
        "Distribution of sharpe",
        "Equity of the best 3 configurations",
    ], titles
    expect(page.get_by_text("Overfitting", exact=True)).to_be_visible()
    screenshot(page, "sweeps")

    _select_row(page, 1)  # the second best: lookback 126, top_quantile 0.1
    expect(page.get_by_text("#2 lookback=126, top_quantile=0.1 · sharpe 1.36")).to_be_visible()
    page.get_by_role("button", name="Run and open in Explorer").click()

    expect(page.get_by_role("heading", name="Strategy Explorer", exact=True)).to_be_visible(
        timeout=RUN_MS
    )
    idle(page, RUN_MS)
    runs = catalog(sweeps_cockpit.data_dir / "backtests")
    assert len(runs) == 1, runs
    run_id = str(runs["run_id"].iloc[0])
    stored = load_run(sweeps_cockpit.data_dir / "backtests", run_id)
    assert stored.config["strategy"]["params"] == {"lookback": 126, "top_quantile": 0.1}
    stored_run = page.get_by_role("combobox", name="Stored run", exact=True)
    expect(stored_run).to_have_value(
        re.compile(r"^sweep mom_grid: lookback=126, top_quantile=0\.1")
    )
    assert urlsplit(page.url).path == "/"  # the Explorer is the main page
    charts_drawn(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_the_walk_forward_part_draws_its_curve_and_its_folds(
    sweeps_page: Page, sweeps_cockpit: SweepsCockpit
) -> None:
    page = sweeps_page
    recorded = sweeps_cockpit.walk_forward
    _open(page, sweeps_cockpit)
    page.get_by_test_id("stRadio").get_by_text("Walk-forwards", exact=True).click()
    idle(page, RUN_MS)
    picker = page.get_by_role("combobox", name="Walk-forward", exact=True)
    expect(picker).to_have_value(re.compile(r"^mom_wf · momentum · max sharpe · rolling: train 40"))
    idle(page, RUN_MS)  # the run that drew the picker ends: the sweep view's charts are gone
    titles = chart_titles(page, 2)
    assert titles == [
        "Out-of-sample equity (the test windows stitched)",
        "Parameters chosen per fold",
    ], titles
    curve = page.get_by_test_id("stPlotlyChart").nth(0)
    expect(curve.locator(".scatterlayer .trace")).to_have_count(1)
    expect(curve.locator(".layer-below .shapelayer path")).to_have_count(len(recorded.windows))
    folds = page.get_by_test_id("stDataFrame").filter(
        has=page.locator("th", has_text="test sharpe")
    )
    expect(folds).to_have_count(1)
    expect(folds.locator("tbody tr")).to_have_count(len(recorded.windows))
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "sweeps-walk-forward")


def test_the_progress_follows_the_file_while_the_sweep_runs(
    sweeps_page: Page, sweeps_cockpit: SweepsCockpit
) -> None:
    page = sweeps_page
    data_dir = sweeps_cockpit.data_dir
    later = dt.datetime.now(dt.UTC)
    sweep_id = write_sweep(data_dir, RUNNING, later, done=2)
    link = "http://127.0.0.1:8787/status"
    write_progress(data_dir / "sweeps", sweep_id, Progress(2, 6, 1.2, 0.5), link, 2)
    _open(page, sweeps_cockpit)
    expect(page.get_by_role("combobox", name="Sweep", exact=True)).to_have_value(
        re.compile(r"^mom_running · momentum · max sharpe · 2 of 6 done")
    )
    expect(page.get_by_text("2 of 6 configurations done (33%)")).to_be_visible()
    dashboard = page.get_by_role("link", name="Open the Dask dashboard")
    expect(dashboard).to_have_attribute("href", link)

    # Nobody touches the page: the fragment reads the file again every 2 s (the wait is the
    # browser tests' ceiling, for a loaded machine where one rerun can take seconds).
    write_progress(data_dir / "sweeps", sweep_id, Progress(5, 6, 1.3, 1.0), link, 2)
    expect(page.get_by_text("5 of 6 configurations done (83%)")).to_be_visible()
    write_progress(data_dir / "sweeps", sweep_id, Progress(6, 6, 1.3, 1.0), link, 2)
    expect(page.get_by_text("6 of 6 configurations done (100%)")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


@pytest.fixture
def lock_holder(sweeps_cockpit: SweepsCockpit) -> Iterator[subprocess.Popen[str]]:
    """Hold the catalogue in another process, as a running sweep's driver does."""
    with hold_catalogue(sweeps_cockpit.data_dir, NEXT) as proc:  # closes its pipes at the end
        yield proc
        if proc.poll() is None:
            proc.kill()


def test_a_busy_catalogue_shows_the_progress_then_the_sweeps_once_free(
    sweeps_page: Page, sweeps_cockpit: SweepsCockpit, lock_holder: subprocess.Popen[str]
) -> None:
    page = sweeps_page
    folder = sweeps_cockpit.data_dir / "sweeps"
    write_progress(folder, NEXT, Progress(3, 8, 0.9, 1.5), None, 2)
    _open(page, sweeps_cockpit)
    expect(page.get_by_text(re.compile(r"^The sweep catalogue is busy"))).to_be_visible()
    expect(page.get_by_text("3 of 8 configurations done (38%)")).to_be_visible()
    expect(page.get_by_role("combobox", name="Sweep", exact=True)).to_have_count(0)
    screenshot(page, "sweeps-busy")

    assert lock_holder.stdin is not None
    lock_holder.stdin.close()  # the driver finishes and lets the file go
    lock_holder.wait(10)
    # Without a click: the page tries the catalogue again within RETRY_S (10 s) and a tick.
    picker = page.get_by_role("combobox", name="Sweep", exact=True)
    expect(picker).to_have_value(re.compile(r"^mom_next · momentum · max sharpe · 0 of 8 done"))
    expect(page.get_by_text(re.compile(r"^The sweep catalogue is busy"))).to_have_count(0)


def test_no_request_left_loopback(sweeps_cockpit: SweepsCockpit) -> None:
    traffic = sweeps_cockpit.traffic
    assert len(traffic.urls) > 10, traffic.urls
    foreign = traffic.foreign()
    assert not foreign, f"requests left {LOOPBACK}: {foreign}"
    assert traffic.page_errors == []
