"""The cockpit in a real browser, as a trader uses it, with a real worker behind it.

One worker replays sp500-2010 on the simulated broker for the whole module, so the tests run in
order: the Live Dashboard shows its positions, FLAT closes them, STOP ends the worker; then the
Explorer runs a backtest. Every page is screenshotted to ``artifacts/screenshots/`` (full page),
and the last test checks that no request of the whole suite left 127.0.0.1.
"""

from __future__ import annotations

import base64
import os
import re
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, WebSocket, expect
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from quant_core.backtest.results import load_run
from quant_core.live.files import read_state
from tests.browser.conftest import LOOPBACK, TIMEOUT_MS, Cockpit, Traffic
from tests.browser.pages import charts_drawn, open_page, screenshot, wait_for

pytestmark = [pytest.mark.ui, pytest.mark.integration, pytest.mark.slow]


# ------------------------------------------------------------------------------- helpers


def state(cockpit: Cockpit) -> dict[str, Any]:
    """Return the worker's current state file (it exists once the worker has started)."""
    return wait_for("the worker's state file", lambda: read_state(cockpit.live_dir))


def positions_grid(page: Page) -> Locator:
    """Return the accessible table behind the positions dataframe (glide draws on a canvas)."""
    frame = page.get_by_test_id("stDataFrame").filter(
        has=page.locator("th", has_text="Unrealised PnL")
    )
    expect(frame).to_have_count(1)
    return frame.locator("table[role=grid]")


def acknowledgement(cockpit: Cockpit, kind: str) -> dict[str, Any]:
    """Wait for the worker's acknowledgement of a ``kind`` command sent from the cockpit."""

    def find() -> dict[str, Any] | None:
        acks = (read_state(cockpit.live_dir) or {}).get("commands", [])
        return next((a for a in acks if a.get("command") == kind), None)

    ack: dict[str, Any] = wait_for(f"the worker to acknowledge {kind}", find)
    assert ack["accepted"] is True, ack
    return ack


def confirm(page: Page, button: str, confirm_label: str) -> None:
    """Click a red button, check its dialog, confirm; the dialog closes."""
    dialog = page.get_by_role("dialog")
    # The Live page reruns itself every few seconds; on a loaded two-core machine a click that
    # lands while a rerun redraws the page can be lost (seen once in a full run), as it would be
    # for a person, who clicks again. The dialog must still open, on the second click at most.
    for attempt in range(2):
        page.get_by_role("button", name=button, exact=True).click()
        try:
            expect(dialog).to_be_visible(timeout=TIMEOUT_MS // 2)
            break
        except AssertionError:
            if attempt:
                raise
    expect(dialog.get_by_role("button", name="Abort")).to_be_visible()
    dialog.get_by_role("button", name=confirm_label).click()
    expect(dialog).to_have_count(0)


def expect_acknowledged(page: Page, ack: dict[str, Any]) -> None:
    """The page shows the command as sent, then acknowledged with the worker's result."""
    text = f"Sent {ack['command']} id={ack['id']}: acknowledged at "
    shown = page.get_by_text(text)
    expect(shown).to_be_visible()
    expect(shown).to_contain_text(ack["result"])


# ------------------------------------------------------------------------------- the tests


def test_live_dashboard_shows_the_workers_positions(page: Page, cockpit: Cockpit) -> None:
    open_page(page, cockpit, "live", "Live Dashboard")
    expect(page.get_by_text("RUNNING", exact=True).first).to_be_visible()
    expect(page.get_by_text("SIM", exact=True).first).to_be_visible()
    # The first rebalance fills at the replay's first open: the positions appear, as many rows
    # in the table as the summary line counts (read together: a rebalance may change both).
    summary = page.get_by_text(re.compile(r"^\d+ position\(s\) · gross "))
    expect(summary).to_be_visible()
    grid = positions_grid(page)

    def consistent() -> int:
        count = int(summary.inner_text().split(" ", 1)[0])
        return count if grid.get_attribute("aria-rowcount") == str(count + 1) else 0

    assert wait_for("the positions table to match its summary", consistent) > 10
    expect(grid.locator("tbody tr").first.locator("td").first).not_to_have_text("")
    for label in ("Net liquidation", "Cash", "Daily PnL", "Total PnL"):
        metric = page.get_by_test_id("stMetric").filter(has_text=label)
        expect(metric.get_by_test_id("stMetricValue")).to_have_text(re.compile(r"\$\d[\d,]*"))
    charts_drawn(page)
    assert cockpit.worker.proc.poll() is None, cockpit.worker.log_tail()
    screenshot(page, "live")


def test_live_page_never_refers_the_browser_to_a_cached_message(
    page: Page, cockpit: Cockpit
) -> None:
    """The server sends every message whole, never a reference to one the browser cached.

    Streamlit caches messages of 10 kB or more (the positions table) in the browser and sends
    a reference when one is drawn again. The Live page's fragments redraw every second; a
    reference that reaches the browser after its cache let the message go fails with "Cached
    ForwardMsg MISS" and leaves the page disconnected for good, every button disabled
    (streamlit#11357): the CI failure where FLAT stayed disabled for 60 s. The cockpit's
    config turns the cache off (``global.minCachedMessageSize``); loopback pays nothing.
    """
    frames: list[str | bytes] = []

    def keep(frame: str | bytes) -> None:
        frames.append(frame)

    def record(ws: WebSocket) -> None:
        ws.on("framereceived", keep)  # a function: playwright tags its handlers

    page.on("websocket", record)

    def received() -> list[ForwardMsg]:
        return [ForwardMsg.FromString(f) for f in list(frames) if isinstance(f, bytes)]

    def drawn() -> bool:
        """The positions table has been sent, and the page's fragments reran five times."""
        # Playwright's sync API hands the frames over only while one of its calls runs (the
        # poll's sleep runs none): wait inside the browser, so they keep coming.
        page.wait_for_timeout(250)
        messages = received()
        table = any(
            m.WhichOneof("type") == "delta" and b"Unrealised PnL" in m.delta.SerializeToString()
            for m in messages
        )
        return table and sum(m.WhichOneof("type") == "script_finished" for m in messages) >= 5

    open_page(page, cockpit, "live", "Live Dashboard")
    try:
        wait_for("the positions table and five runs of the page's fragments", drawn, timeout_s=60)
    except AssertionError as error:
        kinds = Counter(m.WhichOneof("type") for m in received())
        raise AssertionError(f"{error}; the messages received: {dict(kinds)}") from None
    messages = received()
    assert [m.ref_hash for m in messages if m.WhichOneof("type") == "ref_hash"] == []
    assert [m.hash for m in messages if m.metadata.cacheable] == []


def test_flat_confirmed_closes_every_position(page: Page, cockpit: Cockpit) -> None:
    open_page(page, cockpit, "live", "Live Dashboard")
    expect(page.get_by_text(re.compile(r"^\d+ position\(s\) · gross "))).to_be_visible()
    assert state(cockpit)["positions"], "the worker holds nothing to flatten"

    confirm(page, "FLAT", "Yes, go FLAT")

    ack = acknowledgement(cockpit, "FLAT")
    assert ack["result"].startswith("flat: "), ack
    expect_acknowledged(page, ack)
    expect(page.get_by_text("No positions.", exact=True)).to_be_visible()
    expect(page.get_by_text("HALTED", exact=True).first).to_be_visible()
    # The positions table is empty: no cell holds anything.
    cells = positions_grid(page).locator("tbody td")
    expect(cells.filter(has_text=re.compile(r"\S"))).to_have_count(0)
    assert state(cockpit)["positions"] == []
    screenshot(page, "live-after-flat")


def test_stop_confirmed_ends_the_worker(page: Page, cockpit: Cockpit) -> None:
    open_page(page, cockpit, "live", "Live Dashboard")
    assert cockpit.worker.proc.poll() is None, "the replay ended before STOP was sent"

    confirm(page, "STOP worker", "Yes, STOP the worker")

    ack = acknowledgement(cockpit, "STOP")
    expect_acknowledged(page, ack)
    expect(page.get_by_text("STOPPED", exact=True).first).to_be_visible()
    assert cockpit.worker.proc.wait(30) == 0, cockpit.worker.log_tail()
    assert state(cockpit)["worker"]["state"] == "STOPPED"
    screenshot(page, "live-after-stop")


def test_explorer_runs_a_backtest_and_shows_its_equity(page: Page, cockpit: Cockpit) -> None:
    # The Explorer is the main page: its URL is "/" (/explorer answers "Page not found").
    open_page(page, cockpit, "", "Strategy Explorer")
    # A fresh data dir holds no run yet: nothing to chart before the click.
    expect(page.get_by_text("No stored backtests")).to_be_visible()
    runs = cockpit.data_dir / "backtests"
    # A stop loss of 150% is refused by the config schema, named, and nothing runs.
    run_button = page.get_by_role("button", name="Run backtest", exact=True)
    stop_loss = page.get_by_label("Stop loss", exact=True)
    stop_loss.fill("1.5")
    run_button.click()
    expect(page.get_by_text(re.compile(r"^Not run: risk\.stop_loss = 1\.5"))).to_be_visible()
    assert not list(runs.glob("*/summary.parquet"))
    stop_loss.fill("0.08")

    run_button.click()

    done = page.get_by_text(re.compile(r"^Stored run .+: final equity \$"))
    expect(done).to_be_visible(timeout=60_000)
    stored = wait_for(
        "the stored run", lambda: [p.parent.name for p in runs.glob("*/summary.parquet")]
    )
    assert len(stored) == 1, stored
    expect(done).to_contain_text(stored[0])
    charts = charts_drawn(page)
    expect(charts.first.locator(".gtitle")).to_have_text(re.compile(r"^Equity"))
    # The chart draws the stored curve: one point per session of the run.
    points = charts.first.locator(".js-plotly-plot").evaluate(
        "(gd) => gd.data.map((trace) => (trace.x || []).length)"
    )
    assert len(load_run(runs, stored[0]).curve) in points, points
    assert load_run(runs, stored[0]).config["risk"]["stop_loss"] == 0.08
    screenshot(page, "explorer")


@pytest.mark.parametrize(("path", "title"), [("factors", "Factors"), ("data", "Data")])
def test_page_renders_without_error(page: Page, cockpit: Cockpit, path: str, title: str) -> None:
    open_page(page, cockpit, path, title)
    charts_drawn(page)
    screenshot(page, path)


def test_no_request_left_loopback(traffic: Traffic) -> None:
    # Runs last (file order): the record covers every page of the suite.
    assert len(traffic.urls) > 20, traffic.urls  # the pages were really loaded
    foreign = traffic.foreign()
    assert not foreign, f"requests left {LOOPBACK}: {foreign}"
    assert traffic.page_errors == []


def _listening(port: int) -> set[str]:
    # Local addresses of the LISTEN sockets on ``port``, from the kernel's own tables.
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_the_server_listens_on_loopback_only(cockpit: Cockpit) -> None:
    # .streamlit/config.toml's address = 127.0.0.1 (the default would be every interface).
    port = int(cockpit.url.rsplit(":", 1)[1])
    assert _listening(port) == {"0100007F"}  # 127.0.0.1, little-endian hex; no [::] or 0.0.0.0
    # allowedHosts: a page on another name that resolves here (DNS rebinding) cannot open the
    # websocket the buttons travel on; the cockpit's own name can.
    assert _websocket_status(port, f"127.0.0.1:{port}") == 101
    assert _websocket_status(port, f"evil.example:{port}") == 403


def _websocket_status(port: int, host: str) -> int:
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(handshake.encode())
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])
