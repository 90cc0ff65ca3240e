"""The apprise sender against real local receivers (HTTP webhook, SMTP), no mock of apprise."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from config.schema import AlertsConfig
from quant_core.alerts.events import AlertEvent, NullSink
from quant_core.alerts.sender import NOTIFY_TYPE, AlertSender, build_sink, url_fragments
from quant_core.errors import ConfigError
from tests.unit.alerts.servers import BlackHole, Mailbox, Webhook, free_port, wait_until


def config(*urls: str, **fields: object) -> AlertsConfig:
    return AlertsConfig(urls=[SecretStr(u) for u in urls], **fields)


def fast(cfg: AlertsConfig, **options: Any) -> AlertSender:
    """A sender whose back-off is scaled down for the tests: 0.05, 0.1, 0.2 ... s."""
    return AlertSender(cfg, base_s=0.05, max_delay_s=1.0, **options)


class Clock:
    """A clock the test moves (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hook() -> Iterator[Webhook]:
    server = Webhook().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    server = Mailbox().start()
    yield server
    server.stop()


def test_no_url_is_the_null_sink() -> None:
    assert isinstance(build_sink(AlertsConfig()), NullSink)
    assert isinstance(build_sink(config(f"json://127.0.0.1:{free_port()}/x")), AlertSender)


def test_an_alert_reaches_the_webhook_and_the_mailbox_once(hook: Webhook, mailbox: Mailbox) -> None:
    sender = fast(config(hook.url(), mailbox.url()))
    sender.notify(AlertEvent.HALT, "HALTED: risk limit max_drawdown", "drawdown 9.1% of 5%")
    sender.close(10)

    [hit] = hook.hits
    assert (hit.title, hit.message, hit.path) == (
        "HALTED: risk limit max_drawdown",
        "drawdown 9.1% of 5%",
        "/hook",
    )
    assert hit.payload["type"] == "failure"  # a halt is sent as a failure
    assert mailbox.subjects() == ["HALTED: risk limit max_drawdown"]
    assert mailbox.text("HALTED: risk limit max_drawdown").strip() == "drawdown 9.1% of 5%"
    assert mailbox.messages[0]["To"] == "ops@example.com"
    assert (sender.sent, sender.dropped) == (1, 0)


def test_events_not_in_on_are_dropped(hook: Webhook) -> None:
    sender = fast(config(hook.url(), on=["halt", "daily_report"]))
    for event in AlertEvent:
        sender.notify(event, f"{event} title", "body")
    sender.close(10)
    assert sorted(hook.titles()) == ["daily_report title", "halt title"]


def test_every_event_reaches_the_webhook_with_its_type(hook: Webhook) -> None:
    assert set(NOTIFY_TYPE) == set(AlertEvent)  # a new event needs its apprise type
    sender = fast(config(hook.url()))
    for event in AlertEvent:
        sender.notify(event, f"{event} title", "body")
    sender.close(10)
    assert sorted(hook.titles()) == sorted(f"{event} title" for event in AlertEvent)
    got = {h.title: h.payload["type"] for h in hook.hits}
    assert got["refresh title"] == "warning"  # a failed refresh is a warning
    assert (sender.sent, sender.dropped) == (len(AlertEvent), 0)


def test_the_same_alert_at_most_once_per_min_interval(hook: Webhook) -> None:
    clock = Clock()
    sender = fast(config(hook.url(), min_interval_s=300), clock=clock)
    sender.notify(AlertEvent.ERROR, "Error: boom", "first")
    clock.now = 299.0
    sender.notify(AlertEvent.ERROR, "Error: boom", "again, too soon")
    sender.notify(AlertEvent.ERROR, "Error: other", "another title: its own alert")
    sender.notify(AlertEvent.STALE_DATA, "Error: boom", "another event: its own alert")
    clock.now = 300.0
    sender.notify(AlertEvent.ERROR, "Error: boom", "once the interval has passed")
    sender.close(10)

    got = sorted((h.title, h.message) for h in hook.hits)
    assert got == [
        ("Error: boom", "another event: its own alert"),
        ("Error: boom", "first"),
        ("Error: boom", "once the interval has passed"),
        ("Error: other", "another title: its own alert"),
    ]


def test_a_failed_send_is_retried_with_back_off_and_only_where_it_failed(
    mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    hook = Webhook(statuses=[500, 500, 500]).start()  # then 200
    try:
        sender = fast(config(mailbox.url(), hook.url()), tries=6)
        with caplog.at_level(logging.WARNING, logger="quant_core.alerts.sender"):
            sender.notify(AlertEvent.FLAT, "FLAT c1 (cockpit)", "flat: 3 position(s) closed")
            assert wait_until(lambda: len(hook.hits) == 4)
            sender.close(5)
    finally:
        hook.stop()
    assert [h.status for h in hook.hits] == [500, 500, 500, 200]
    gaps = [b.at - a.at for a, b in zip(hook.hits, hook.hits[1:], strict=False)]
    # 0.05, 0.1, 0.2 s: each wait at least the back-off, and doubling
    for gap, wait in zip(gaps, (0.05, 0.1, 0.2), strict=True):
        assert gap >= wait * 0.95
    assert gaps[2] > gaps[1] + 0.05  # retries go to the webhook alone: the waits show
    assert mailbox.subjects() == ["FLAT c1 (cockpit)"]  # the mail server took it once: not resent
    ours = [r for r in caplog.records if r.name == "quant_core.alerts.sender"]
    failures = [r.getMessage() for r in ours if r.levelno == logging.WARNING]
    assert len(failures) == 3
    assert all("service 2 (json)" in m and "FLAT c1 (cockpit)" in m for m in failures)
    assert "retrying in 0.05 s" in failures[0]
    assert "retrying in 0.2 s" in failures[2]
    assert (sender.sent, sender.dropped) == (1, 0)


def test_a_receiver_that_keeps_failing_is_given_up_after_the_tries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = Webhook(statuses=[503] * 10).start()
    try:
        sender = fast(config(hook.url()), tries=3)
        with caplog.at_level(logging.WARNING, logger="quant_core.alerts.sender"):
            sender.notify(AlertEvent.ERROR, "Error: x", "body")
            assert wait_until(lambda: sender.dropped == 1)
            time.sleep(0.3)  # no fourth try comes
            sender.close(5)
    finally:
        hook.stop()
    assert [h.status for h in hook.hits] == [503, 503, 503]
    assert "dropped after 3 tries: service 1 (json) did not take it" in caplog.text
    assert sender.sent == 0


def test_a_receiver_that_is_down_costs_the_caller_nothing_and_no_secret_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token, password = "TOKENa1b2c3d4e5", "Pw-9f8e7d6c"
    down = f"json://alerts:{password}@127.0.0.1:{free_port()}/{token}/x?chat=ID-55443322"
    caplog.set_level(logging.DEBUG)  # every logger: ours, apprise's, urllib3's
    sender = fast(config(down), tries=2)
    started = time.perf_counter()
    for n in range(50):
        sender.notify(AlertEvent.ERROR, f"Error: {n}", "the worker goes on")  # never raises
    assert time.perf_counter() - started < 0.25  # 50 alerts queued: a few ms each at most
    assert wait_until(lambda: sender.dropped == 50, timeout=20)
    sender.close(5)

    assert sender.sent == 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("service 1 (json)" in r.getMessage() for r in warnings)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "apprise" in {r.name for r in caplog.records}  # apprise logged, and was redacted
    for secret in (token, password, "ID-55443322", down):
        assert secret not in logged


def test_a_receiver_that_hangs_never_delays_notify_and_close_keeps_its_timeout() -> None:
    hole = BlackHole()
    try:
        sender = fast(config(hole.url()))
        started = time.perf_counter()
        for n in range(20):
            sender.notify(AlertEvent.DAILY_REPORT, f"Daily report {n}", "body")
        queued = time.perf_counter() - started
        time.sleep(0.5)  # the thread is stuck in the first send (apprise waits ~4 s)
        assert sender.sent == 0
        started = time.perf_counter()
        sender.close(0.5)
        closing = time.perf_counter() - started
    finally:
        hole.stop()
    assert queued < 0.1
    assert closing < 1.0  # close gives up on time: the process exits


def test_close_drains_what_is_queued(hook: Webhook) -> None:
    sender = fast(config(hook.url()))
    for n in range(8):
        sender.notify(AlertEvent.DAILY_REPORT, f"Daily report 2010-01-{n + 4:02d}", "body")
    sender.close(10)  # at once: everything queued still goes out
    assert sorted(hook.titles()) == [f"Daily report 2010-01-{n + 4:02d}" for n in range(8)]
    assert (sender.sent, sender.dropped) == (8, 0)
    sender.notify(AlertEvent.DAILY_REPORT, "after close", "dropped quietly")
    sender.close(1)  # twice is fine
    assert len(hook.hits) == 8


def test_a_retry_due_within_the_close_timeout_is_sent(hook: Webhook) -> None:
    hook.statuses = [500]
    sender = AlertSender(config(hook.url()), base_s=0.2, max_delay_s=1.0)
    sender.notify(AlertEvent.STOP, "STOP s1 (cockpit)", "stopped")
    assert wait_until(lambda: len(hook.hits) == 1)
    sender.close(5)  # the retry is due in 0.2 s: close waits for it
    assert [h.status for h in hook.hits] == [500, 200]


def test_a_url_apprise_cannot_use_is_a_config_error_that_does_not_show_it() -> None:
    with pytest.raises(ConfigError) as error:
        AlertSender(config("nosuchscheme://user:Zz-secret-77@example.com/abc"))
    message = str(error.value)
    assert "alerts.urls item 1 (nosuchscheme://..., not shown)" in message
    assert "Zz-secret-77" not in message


def test_url_fragments_take_credentials_and_tokens_not_hosts_or_words() -> None:
    url = "tgram://123456789:AAH-botToken_x/987654321?format=text&to=ops@example.com&mode=insecure"
    parts = url_fragments(url)
    assert url in parts
    assert "ops@example.com" in parts
    assert "987654321" in parts
    assert "insecure" not in parts
    assert "text" not in parts
    mail = url_fragments("mailtos://me.name@x.io:app-pass-123@gmail.com?to=you@example.com")
    assert {"me.name@x.io", "app-pass-123", "you@example.com"} <= set(mail)
    assert "gmail.com" not in mail
    # A user that is a plain word is not blanked out of every log line; a password always is.
    assert url_fragments("json://alerts:pw12@host/x")[1:] == ["pw12"]


def hung_mail(hole: BlackHole) -> str:
    """A mailto URL to a server that takes the connection and never answers."""
    return f"mailto://127.0.0.1:{hole.port}?from=qc@example.com&to=ops@example.com&mode=insecure"


def test_a_hung_mail_server_holds_back_no_other_service(hook: Webhook) -> None:
    hole = BlackHole()
    try:
        sender = fast(config(hung_mail(hole), hook.url()), tries=1)
        started = time.monotonic()
        for n in range(5):
            sender.notify(AlertEvent.ERROR, f"Error: {n}", "body")
        # Each service has its own queue and thread: the webhook is not kept waiting.
        assert wait_until(lambda: len(hook.titles()) == 5, timeout=2)
        # The mail server's silence is given up on within a few seconds (apprise's own
        # e-mail timeout is 15 s), and the alert counts as dropped: a service never took it.
        assert wait_until(lambda: sender.dropped >= 1, timeout=10)
        assert time.monotonic() - started < 7.0
        assert sender.sent == 0
        sender.close(0.5)
    finally:
        hole.stop()
    assert sorted(hook.titles()) == [f"Error: {n}" for n in range(5)]


def test_close_gives_every_service_its_time(hook: Webhook) -> None:
    hole = BlackHole()
    try:
        sender = fast(config(hung_mail(hole), hook.url()))
        sender.notify(AlertEvent.HALT, "HALTED: risk limit daily_loss", "body")
        time.sleep(0.3)  # the mail server holds the first send
        sender.notify(AlertEvent.STOP, "STOP c1 (cockpit)", "body")
        started = time.monotonic()
        sender.close(2)
        closing = time.monotonic() - started
    finally:
        hole.stop()
    assert hook.titles() == ["HALTED: risk limit daily_loss", "STOP c1 (cockpit)"]
    assert closing < 2.6  # the hung service is no longer waited for


def test_new_alerts_go_out_ahead_of_retries() -> None:
    hook = Webhook(statuses=[500]).start()  # the first send fails, the rest are taken
    try:
        sender = AlertSender(config(hook.url()), base_s=0.0, max_delay_s=0.0)
        sender.notify(AlertEvent.REJECT, "Rejected: first", "body")  # its retry is due at once
        sender.notify(AlertEvent.REJECT, "Rejected: second", "body")  # queued meanwhile
        assert wait_until(lambda: len(hook.hits) == 3)
        sender.close(5)
    finally:
        hook.stop()
    assert [(h.title, h.status) for h in hook.hits] == [
        ("Rejected: first", 500),
        ("Rejected: second", 200),
        ("Rejected: first", 200),
    ]
    assert (sender.sent, sender.dropped) == (2, 0)
