"""systemd's notification protocol, against a real AF_UNIX datagram socket standing in for it."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from quant_core.live import sd_notify
from quant_core.live.sd_notify import Watchdog, notify, watchdog_period_s


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound in tmp_path, as systemd's /run/systemd/notify is."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield sock, str(path)
    sock.close()


@pytest.fixture(autouse=True)
def fresh_failure_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sd_notify, "_failures", sd_notify._FailureLog())
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(key, raising=False)


def received(sock: socket.socket) -> list[str]:
    """Every datagram waiting on ``sock``, decoded."""
    sock.setblocking(False)
    out = []
    try:
        while True:
            out.append(sock.recv(65536).decode())
    except BlockingIOError:
        return out
    finally:
        sock.settimeout(2.0)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_notify_sends_one_datagram_to_the_socket_path(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert notify("READY=1\nSTATUS=connected")
    assert sock.recv(4096) == b"READY=1\nSTATUS=connected"


def test_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"quant-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("WATCHDOG=1")
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_without_notify_socket_nothing_is_sent() -> None:
    assert notify("READY=1") is False
    dog = Watchdog()
    assert not dog.enabled
    assert dog.ready() is False
    assert dog.beat("RUNNING: connected") is False
    assert dog.stopping() is False


def test_a_dead_socket_path_is_false_logged_once_then_again_after_recovery(
    tmp_path: Path,
    listener: tuple[socket.socket, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="quant_core.live.sd_notify")
    dead = tmp_path / "gone"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(dead))  # bound, then closed: the file stays, nobody listens
    monkeypatch.setenv("NOTIFY_SOCKET", str(dead))
    assert [notify("WATCHDOG=1") for _ in range(5)] == [False] * 5
    missing = tmp_path / "never-there"
    monkeypatch.setenv("NOTIFY_SOCKET", str(missing))
    assert notify("WATCHDOG=1") is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # a run of failures is logged once
    assert str(dead) in warnings[0].getMessage()
    assert "ConnectionRefusedError" in warnings[0].getMessage()

    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert notify("WATCHDOG=1")
    assert "works again" in caplog.records[-1].getMessage()
    monkeypatch.setenv("NOTIFY_SOCKET", str(dead))
    assert notify("WATCHDOG=1") is False
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


@pytest.mark.parametrize(
    "target", ["vsock:2:1234", "relative/path", "/nul\0inside", "/" + "x" * 200]
)
def test_an_unusable_address_is_false_never_raises(target: str) -> None:
    dog = Watchdog({"NOTIFY_SOCKET": target})
    assert dog.enabled
    assert dog.ready() is False


def test_a_receiver_that_stopped_reading_never_blocks_the_sender(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    start = time.monotonic()
    results = [notify("WATCHDOG=1\nSTATUS=" + "x" * 1000) for _ in range(5000)]
    assert time.monotonic() - start < 10
    assert results[0] is True
    assert False in results  # the queue filled up: dropped, not waited for


def test_watchdog_ready_beat_status_and_stopping(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    clock = Clock()
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}
    dog = Watchdog(env, clock=clock)
    assert dog.period_s == 10.0
    assert dog.ready("RUNNING: connected")
    assert received(sock) == ["READY=1\nSTATUS=RUNNING: connected"]

    # Rate limit: nothing until half the watchdog period has passed since the last message.
    clock.t += 4.9
    assert dog.beat("RUNNING: connected") is False
    clock.t += 0.1
    assert dog.beat("RUNNING: connected")
    assert received(sock) == ["WATCHDOG=1\nSTATUS=RUNNING: connected"]
    for _ in range(100):  # a heartbeat every 10 ms: one ping per 5 s, no more
        clock.t += 0.01
        dog.beat("RUNNING: connected")
    assert received(sock) == []
    clock.t += 4.1
    assert dog.beat("RUNNING: connected")
    assert len(received(sock)) == 1

    # A changed status goes out sooner than the ping is due, but not more than every 5 s.
    clock.t += 1.0
    assert dog.beat("DISCONNECTED: IB 1100\nreconnecting") is False
    clock.t += 4.0
    assert dog.beat("DISCONNECTED: IB 1100\nreconnecting")
    assert received(sock) == ["WATCHDOG=1\nSTATUS=DISCONNECTED: IB 1100 reconnecting"]

    assert dog.stopping("STOPPED: STOP command")
    assert received(sock) == ["STOPPING=1\nSTATUS=STOPPED: STOP command"]


def test_without_a_watchdog_period_only_a_changed_status_is_sent(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    clock = Clock()
    dog = Watchdog({"NOTIFY_SOCKET": path}, clock=clock)
    assert dog.period_s is None
    dog.ready()
    received(sock)
    for _ in range(10):
        clock.t += 60
        assert dog.beat("RUNNING: connected") is (_ == 0)
    assert received(sock) == ["STATUS=RUNNING: connected"]  # never WATCHDOG=1
    clock.t += 60
    assert dog.beat("HALTED: FLAT")
    assert received(sock) == ["STATUS=HALTED: FLAT"]


def test_a_long_status_is_cut_to_one_short_line(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    dog = Watchdog({"NOTIFY_SOCKET": path})
    assert dog.ready("word " * 1000)
    (message,) = received(sock)
    assert "\n" not in message.removeprefix("READY=1\n")
    assert len(message) == len("READY=1\nSTATUS=") + sd_notify.STATUS_MAX_CHARS
    assert message.endswith("...")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 120.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "4242"}, 120.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({}, None),
    ],
)
def test_watchdog_period_respects_usec_and_pid(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_period_s(env, pid=4242) == expected


def test_a_child_that_inherited_the_variables_never_pings(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    clock = Clock()
    dog = Watchdog(env, clock=clock)
    assert dog.period_s is None
    dog.ready()
    clock.t += 60
    dog.beat("RUNNING: connected")
    assert all("WATCHDOG=1" not in m for m in received(sock))
