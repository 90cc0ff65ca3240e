"""Tokens that sit where a host goes (Telegram's bot token, Pushover's application token) stay
out of the entry points' logs at DEBUG, where apprise logs its request URLs and payloads.

Nothing leaves the machine: the HTTPS proxy is a local port nobody listens on, so each send
fails at once, after apprise has logged what it was about to send.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from config.redact import redact
from config.schema import AlertsConfig
from quant_core.alerts.events import AlertEvent
from quant_core.alerts.sender import AlertSender, url_fragments
from quant_core.cli import LOG_FORMAT, RedactingFormatter
from tests.unit.alerts.servers import free_port, wait_until

BOT_TOKEN = "5550001234:AAFqk3ZxYwVuT-sRpOnMlKjIhG_fEdCbA9"  # noqa: S105 - made up
CHAT_ID = "-1001234567890"
PUSHOVER_USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
PUSHOVER_TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"  # noqa: S105 - made up
CASES = {
    "tgram": (f"tgram://{BOT_TOKEN}/{CHAT_ID}", [BOT_TOKEN, "AAFqk3ZxYwVuT-sRpOnMlKjIhG_fEdCbA9"]),
    "pover": (f"pover://{PUSHOVER_USER}@{PUSHOVER_TOKEN}", [PUSHOVER_USER, PUSHOVER_TOKEN]),
}


@pytest.fixture
def debug_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The root logger at DEBUG through the entry points' formatter; HTTPS to a dead proxy."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, dead)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(RedactingFormatter(LOG_FORMAT))
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize("scheme", sorted(CASES))
def test_a_token_in_the_host_never_reaches_the_log(scheme: str, debug_log: io.StringIO) -> None:
    url, secrets = CASES[scheme]
    sender = AlertSender(AlertsConfig(urls=[SecretStr(url)]), tries=1)
    sender.notify(AlertEvent.ERROR, "Error: boom", "body")
    assert wait_until(lambda: sender.dropped == 1)  # the proxy refused: given up at once
    sender.close(1)
    logged = debug_log.getvalue()
    assert "POST URL" in logged  # apprise did log its request
    assert "Payload" in logged
    assert f"service 1 ({scheme})" in logged
    for secret in secrets:
        assert secret not in logged


def test_what_apprise_masks_is_taken_for_secret() -> None:
    urls = [f"tgram://{BOT_TOKEN}/{CHAT_ID}", f"pover://{PUSHOVER_USER}@{PUSHOVER_TOKEN}"]
    AlertSender(AlertsConfig(urls=[SecretStr(u) for u in urls])).close(0)
    line = f"POST https://api.telegram.org/bot{BOT_TOKEN}/x {{'token': '{PUSHOVER_TOKEN}'}}"
    assert redact(line) == "POST https://api.telegram.org/bot***/x {'token': '***'}"
    # A webhook's host and path words stay readable in the logs.
    assert url_fragments("json://127.0.0.1:8080/hook") == ["json://127.0.0.1:8080/hook"]
