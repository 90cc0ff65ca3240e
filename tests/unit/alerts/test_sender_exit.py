"""A mail server that takes the connection and never answers: the worker's process still exits
within the sender's close timeout (no thread of apprise's left for the interpreter to wait on)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.alerts.servers import BlackHole

ROOT = Path(__file__).resolve().parents[3]
CHILD = """
import sys, time
from pydantic import SecretStr
from config.schema import AlertsConfig
from quant_core.alerts.events import AlertEvent
from quant_core.alerts.sender import AlertSender
sender = AlertSender(AlertsConfig(urls=[SecretStr(sys.argv[1])]))
started = time.perf_counter()
sender.notify(AlertEvent.HALT, "HALTED: risk limit daily_loss", "body")
queued = time.perf_counter() - started
time.sleep(0.5)  # the send has started, and hangs on the server's silence
sender.close(0.5)
print(f"closed {queued:.4f} {sender.sent}", flush=True)
"""


@pytest.mark.parametrize("scheme", ["mailto", "json"])
def test_a_receiver_that_never_answers_does_not_hold_the_exit(scheme: str) -> None:
    hole = BlackHole()
    url = {
        "mailto": f"mailto://127.0.0.1:{hole.port}?from=qc@example.com&to=ops@example.com"
        "&mode=insecure",
        "json": hole.url(),
    }[scheme]
    try:
        with subprocess.Popen(
            [sys.executable, "-c", CHILD, url], cwd=ROOT, stdout=subprocess.PIPE, text=True
        ) as child:
            assert child.stdout is not None
            line = child.stdout.readline()  # the sender closed: from here, only the exit
            closed = time.perf_counter()
            code = child.wait(timeout=60)
            exiting = time.perf_counter() - closed
    finally:
        hole.stop()
    word, queued, sent = line.split()
    assert (word, code, sent) == ("closed", 0, "0")
    assert float(queued) < 0.05  # notify never waits on the server
    assert exiting < 1.5  # before: the interpreter joined apprise's pool, 4 to 15 s
