"""The Live Dashboard's Sleeves section in a real browser: a book's sleeves, HALT and RESUME.

A cockpit of its own (``streamlit run app.py`` on a free 127.0.0.1 port, as the suite's) over
the suite's sp500-2010 warehouse. No worker runs: a thread of the test stands in for one,
rewriting ``live/dashboard_state.json`` with the worker's own writer every half second (a fresh
heartbeat, so the page sees a live worker and never flips to stale while the test clicks), with
the book the test chose: two sleeves (``mom`` active, ``rev`` halted, as the AppTest suite's
``BOOK``), or null for a worker running a plain strategy. Nothing consumes ``live/inbox/``: a
command the page queues stays there for the test to read.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from quant_core.live.files import INBOX, write_state
from tests.browser.conftest import FIRST_LOAD_MS, Traffic, own_data_dir, recorded_tab, serve_app
from tests.browser.pages import idle, screenshot, wait_for
from tests.cockpit.test_live import _state
from tests.cockpit.test_live_sleeves import BOOK

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]

BEAT_S = 0.5  # the stand-in worker's heartbeat (live.heartbeat_s is 1 s: stale after 5 s)
ACTIVE, HALTED = (s["name"] for s in BOOK["sleeves"])


class StandInWorker:
    """A thread that writes the state file every ``BEAT_S`` seconds, holding ``book``."""

    def __init__(self, live_dir: Path) -> None:
        self.live_dir = live_dir
        self.book: dict[str, Any] | None = BOOK
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stand-in-worker", daemon=True)

    def write(self) -> None:
        """Write the state once now (a fresh heartbeat, the current book; null: no book)."""
        write_state(self.live_dir, {**_state(), "book": self.book})

    def hold(self, book: dict[str, Any] | None) -> None:
        """Hold ``book`` from now on (written at once, then at every beat)."""
        self.book = book
        self.write()

    def _run(self) -> None:
        try:
            while not self._stop.wait(BEAT_S):
                self.write()
        except BaseException as exc:  # reported by the tests, never lost in the thread
            self.error = exc

    def start(self) -> None:
        """Write the first state, then beat in the background."""
        self.write()
        self._thread.start()

    def stop(self) -> None:
        """Stop beating (the file stays as last written)."""
        self._stop.set()
        self._thread.join(10)


@dataclass
class SleevesCockpit:
    """The running cockpit, its stand-in worker, and every URL and page error of its tabs."""

    url: str
    live_dir: Path
    worker: StandInWorker
    traffic: Traffic = field(default_factory=Traffic)

    def inbox(self) -> set[Path]:
        """Return the command files queued in ``live/inbox/`` now."""
        return set((self.live_dir / INBOX).glob("*.json"))


@pytest.fixture(scope="module")
def sleeves_cockpit(
    browser_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SleevesCockpit]:
    """Start the stand-in worker and ``streamlit run app.py``; stop both afterwards."""
    root = own_data_dir(browser_data_dir, tmp_path_factory, "sleeves")
    live = root / "live"
    live.mkdir(parents=True)
    worker = StandInWorker(live)
    worker.start()
    try:
        with serve_app(root, root / "streamlit.log") as url:
            yield SleevesCockpit(url, live, worker)
    finally:
        worker.stop()


@pytest.fixture
def sleeves_page(
    browser: Browser, sleeves_cockpit: SleevesCockpit, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """Return a fresh tab over a state holding the two-sleeve book (a test may change it)."""
    sleeves_cockpit.worker.hold(BOOK)
    with recorded_tab(browser, sleeves_cockpit.traffic, request) as tab:
        yield tab
    assert sleeves_cockpit.worker.error is None, sleeves_cockpit.worker.error


# ------------------------------------------------------------------------------- helpers


def open_live(page: Page, cockpit: SleevesCockpit) -> None:
    """Open the Live Dashboard; wait for its first full run (the commands and the details)."""
    page.goto(f"{cockpit.url}/live")
    expect(page.get_by_role("heading", name="Positions", exact=True)).to_be_visible(
        timeout=FIRST_LOAD_MS
    )
    idle(page, FIRST_LOAD_MS)
    expect(page.get_by_role("heading", name="Live Dashboard", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Commands", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="CANCEL all orders", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def grid(page: Page, *headers: str) -> Locator:
    """Return the accessible table of the one dataframe with every one of ``headers``."""
    frame = page.get_by_test_id("stDataFrame")
    for header in headers:
        frame = frame.filter(has=page.locator("th", has_text=re.compile(rf"^{re.escape(header)}$")))
    expect(frame).to_have_count(1)
    return frame.locator("table[role=grid]")


def column(table: Locator, index: int) -> list[str]:
    """Return the text of column ``index`` (0: the first shown) in every body row."""
    rows = table.locator("tbody tr")
    return [rows.nth(i).locator("td").nth(index).inner_text() for i in range(rows.count())]


def sleeve_button(page: Page, label: str) -> Locator:
    """Return the button labelled exactly ``label`` (e.g. ``HALT mom``)."""
    return page.get_by_role("button", name=label, exact=True)


def click_and_queue(page: Page, cockpit: SleevesCockpit, label: str) -> dict[str, Any]:
    """Click ``label`` once; return the one command file it queued in ``live/inbox/``."""
    before = cockpit.inbox()
    sleeve_button(page, label).click()
    new = wait_for(f"{label} to queue a command", lambda: cockpit.inbox() - before, 15.0)
    assert len(new) == 1, sorted(p.name for p in new)
    command: dict[str, Any] = json.loads(new.pop().read_text(encoding="utf-8"))
    assert not list((cockpit.live_dir / INBOX).glob("*.tmp")), "a half-written command remains"
    return command


# ------------------------------------------------------------------------------- the tests


def test_the_books_sleeves_and_their_positions_show(
    sleeves_page: Page, sleeves_cockpit: SleevesCockpit
) -> None:
    page = sleeves_page
    open_live(page, sleeves_cockpit)

    expect(page.get_by_role("heading", name="Sleeves", exact=True)).to_be_visible()
    expect(page.get_by_text("Book core: 2 sleeve(s), 1 halted")).to_be_visible()
    sleeves = grid(page, "Sleeve", "State", "Drawdown (%)")
    expect(sleeves).to_have_attribute("aria-rowcount", "3")  # the header and two sleeves
    expect(sleeves.locator("tbody tr").first.locator("td").first).to_have_text(ACTIVE)
    assert column(sleeves, 0) == [ACTIVE, HALTED]
    assert column(sleeves, 1) == ["active", "halted"]
    # The grid's accessible cells hold the raw figures: rev's P&L was not computed (null), so
    # its cell is empty, never a zero.
    assert column(sleeves, 3) == [f"{BOOK['sleeves'][0]['pnl']:g}", ""]

    expect(page.get_by_text("Positions by sleeve", exact=True)).to_be_visible()
    expect(page.get_by_text("2 position(s) attributed to the sleeves")).to_be_visible()
    positions = grid(page, "Sleeve", "Symbol", "Value")
    expect(positions).to_have_attribute("aria-rowcount", "3")
    assert column(positions, 0) == [ACTIVE, ACTIVE]
    assert column(positions, 1) == ["AAPL", "XOM"]  # the largest value first

    # HALT while a sleeve trades, RESUME once halted; never the other way round.
    expect(sleeve_button(page, f"HALT {ACTIVE}")).to_be_visible()
    expect(sleeve_button(page, f"RESUME {HALTED}")).to_be_visible()
    expect(sleeve_button(page, f"RESUME {ACTIVE}")).to_have_count(0)
    expect(sleeve_button(page, f"HALT {HALTED}")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "live-sleeves")


def test_halt_queues_a_command_for_the_active_sleeve(
    sleeves_page: Page, sleeves_cockpit: SleevesCockpit
) -> None:
    page = sleeves_page
    open_live(page, sleeves_cockpit)

    command = click_and_queue(page, sleeves_cockpit, f"HALT {ACTIVE}")

    assert (command["command"], command["sleeve"]) == ("HALT", ACTIVE), command
    assert command["source"] == "cockpit", command
    expect(
        page.get_by_text(f"Sent HALT (sleeve {ACTIVE}) id={command['id']}: pending")
    ).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_resume_queues_a_command_for_the_halted_sleeve(
    sleeves_page: Page, sleeves_cockpit: SleevesCockpit
) -> None:
    page = sleeves_page
    open_live(page, sleeves_cockpit)

    command = click_and_queue(page, sleeves_cockpit, f"RESUME {HALTED}")

    assert (command["command"], command["sleeve"]) == ("RESUME", HALTED), command
    assert command["source"] == "cockpit", command
    expect(
        page.get_by_text(f"Sent RESUME (sleeve {HALTED}) id={command['id']}: pending")
    ).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def expect_no_sleeves(page: Page) -> None:
    """The page shows no Sleeves heading, table, caption or per-sleeve button."""
    expect(page.get_by_role("heading", name="Sleeves", exact=True)).to_have_count(0)
    expect(page.get_by_text("Positions by sleeve", exact=True)).to_have_count(0)
    expect(page.get_by_text(re.compile(r"^Book core: "))).to_have_count(0)
    expect(page.locator("th", has_text=re.compile(r"^Drawdown \(%\)$"))).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile(r"^(HALT|RESUME) "))).to_have_count(0)


def test_no_sleeves_section_when_the_book_is_null(
    sleeves_page: Page, sleeves_cockpit: SleevesCockpit
) -> None:
    page = sleeves_page
    # An open page follows the worker: the book goes, the section and its buttons go.
    open_live(page, sleeves_cockpit)
    expect(page.get_by_role("heading", name="Sleeves", exact=True)).to_be_visible()
    sleeves_cockpit.worker.hold(None)
    expect_no_sleeves(page)

    # A tab opened on a state whose book is null never shows it; the account's buttons stay.
    page.reload()
    open_live(page, sleeves_cockpit)
    expect(page.get_by_role("heading", name="Positions", exact=True)).to_be_visible()
    expect_no_sleeves(page)
    for label in ("CANCEL all orders", "FLAT", "STOP worker"):
        expect(page.get_by_role("button", name=label, exact=True)).to_be_visible()
    screenshot(page, "live-no-sleeves")


def test_no_request_left_loopback(sleeves_cockpit: SleevesCockpit) -> None:
    traffic = sleeves_cockpit.traffic
    assert traffic.urls, "the page was not loaded"
    foreign = traffic.foreign()
    assert not foreign, foreign
    assert traffic.page_errors == []
