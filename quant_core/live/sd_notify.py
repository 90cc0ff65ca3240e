"""systemd's notification protocol (``sd_notify``): READY, WATCHDOG, STATUS, STOPPING.

Under a ``Type=notify`` unit systemd passes ``$NOTIFY_SOCKET``; a service tells it how it is by
sending ONE datagram over an ``AF_UNIX`` ``SOCK_DGRAM`` socket to that address, holding
newline-separated ``KEY=VALUE`` lines:

- ``READY=1``: started (the unit becomes active; ``systemctl start`` returns);
- ``WATCHDOG=1``: alive. With ``WatchdogSec=`` set, systemd passes ``$WATCHDOG_USEC`` (the
  period in microseconds) and ``$WATCHDOG_PID`` (the process it is meant for) and kills the
  service (SIGABRT, then a restart by ``Restart=``) when no ping came for that long; the
  advice is to ping every half period;
- ``STATUS=...``: one line of free text, shown by ``systemctl status``;
- ``STOPPING=1``: shutting down.

The address is a file path (``/run/systemd/notify``) or, starting with ``@``, a name in
Linux's abstract socket namespace (the ``@`` stands for a leading NUL byte).

Written by hand, with no library: the protocol is one datagram. ``systemd-python`` binds
libsystemd and needs its C headers and a compiler to install; ``sdnotify`` (pure Python) has
had no release in years (0.3.2). Everything here is a no-op returning False without
``$NOTIFY_SOCKET`` (run by hand, by cron, in tests), and nothing here ever raises: a
monitoring hook must not stop the worker. A failed send is logged once (again only after a
send has worked), and the send never blocks (a full socket queue drops that message).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"
STATUS_MIN_S = 5.0  # a changed STATUS is sent at most this often (between watchdog pings)
STATUS_MAX_CHARS = 400  # systemctl status shows one line; a longer status is cut


class _FailureLog:
    """Log the first failure of a run of failed sends, and the recovery; stay quiet between."""

    def __init__(self) -> None:
        self.failing = False

    def failed(self, target: str, reason: str) -> None:
        if not self.failing:
            self.failing = True
            logger.warning(
                "systemd notification to %s=%s failed: %s (not logged again until one works)",
                NOTIFY_SOCKET,
                target,
                reason,
            )

    def worked(self, target: str) -> None:
        if self.failing:
            self.failing = False
            logger.info("systemd notification to %s=%s works again", NOTIFY_SOCKET, target)


_failures = _FailureLog()


def _address(target: str) -> str | None:
    """Return the socket address of ``$NOTIFY_SOCKET``'s text, or None for an unsupported kind."""
    if target.startswith("@"):
        return "\0" + target[1:]  # the abstract namespace
    if target.startswith("/"):
        return target
    return None  # e.g. systemd 254's vsock:CID:PORT, for virtual machines


def send(target: str, message: str) -> bool:
    """Send ``message`` as one datagram to the ``$NOTIFY_SOCKET`` address ``target``.

    Returns
    -------
    bool
        True if the datagram went out; False on any failure (logged once), never an exception.
    """
    address = _address(target)
    if address is None:
        _failures.failed(target, "only a path or an @abstract name is supported")
        return False
    data = message.encode("utf-8", errors="replace")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)  # a receiver that stopped reading must not hang the worker
            sock.connect(address)
            sock.send(data)
    except (OSError, ValueError) as exc:  # ValueError: a NUL inside a path
        _failures.failed(target, f"{type(exc).__name__}: {exc}")
        return False
    _failures.worked(target)
    return True


def notify(message: str) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``, lines joined by newlines) to ``$NOTIFY_SOCKET``.

    Returns
    -------
    bool
        True if it was sent; False without ``$NOTIFY_SOCKET`` or on a failure (never raises).
    """
    target = os.environ.get(NOTIFY_SOCKET)
    return send(target, message) if target else False


def watchdog_period_s(env: Mapping[str, str], pid: int) -> float | None:
    """Return the watchdog period systemd asked of process ``pid``, in seconds, or None.

    ``$WATCHDOG_USEC`` is the period in microseconds; a ``$WATCHDOG_PID`` naming another
    process (the variables were inherited by a child) means no watchdog for this one. A
    value that is not a positive integer counts as no watchdog (and is logged).
    """
    text = env.get(WATCHDOG_USEC)
    if not text:
        return None
    owner = env.get(WATCHDOG_PID)
    if owner and owner.strip() != str(pid):
        return None
    try:
        usec = int(text)
    except ValueError:
        usec = 0
    if usec <= 0:
        logger.warning("Ignoring %s=%r: not a positive number of microseconds", WATCHDOG_USEC, text)
        return None
    return usec / 1e6


def _one_line(status: str) -> str:
    flat = " ".join(status.split())  # a newline would start another KEY=VALUE assignment
    return flat if len(flat) <= STATUS_MAX_CHARS else flat[: STATUS_MAX_CHARS - 3] + "..."


class Watchdog:
    """The worker's side of a ``Type=notify`` unit: READY once, pings with a STATUS, STOPPING.

    Parameters
    ----------
    env
        The environment to read ``$NOTIFY_SOCKET``, ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID``
        from, once (default: ``os.environ``).
    clock
        Monotonic seconds, for the rate limit.

    Notes
    -----
    :meth:`beat` is meant for every heartbeat and costs a clock read when nothing is due. It
    sends ``WATCHDOG=1`` and the status once half the watchdog period has passed since the
    last message (systemd's advice), and a changed status at most every
    :data:`STATUS_MIN_S` seconds; without a watchdog period only a changed status is sent.
    Without ``$NOTIFY_SOCKET`` every method returns False at once.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        env = os.environ if env is None else env
        self.target: str | None = env.get(NOTIFY_SOCKET) or None
        self.period_s = watchdog_period_s(env, os.getpid()) if self.target else None
        self._clock = clock
        self._sent_at = -math.inf
        self._status: str | None = None

    @property
    def enabled(self) -> bool:
        """Return whether systemd listens (``$NOTIFY_SOCKET`` was set)."""
        return self.target is not None

    def ready(self, status: str = "started") -> bool:
        """Tell systemd the service is up (``READY=1``) with a status line."""
        return self._send(["READY=1"], status)

    def beat(self, status: str) -> bool:
        """Ping the watchdog with ``status`` if due (see the class notes); True if sent."""
        if self.target is None:
            return False
        since = self._clock() - self._sent_at
        ping = self.period_s is not None and since >= self.period_s / 2
        changed = status != self._status and since >= min(STATUS_MIN_S, self.period_s or math.inf)
        if not (ping or changed):
            return False
        return self._send(["WATCHDOG=1"] if self.period_s is not None else [], status)

    def stopping(self, status: str = "stopping") -> bool:
        """Tell systemd the service is shutting down (``STOPPING=1``)."""
        return self._send(["STOPPING=1"], status)

    def _send(self, lines: list[str], status: str) -> bool:
        if self.target is None:
            return False
        self._sent_at = self._clock()  # a failed send is not retried before the next is due
        self._status = status
        return send(self.target, "\n".join([*lines, f"STATUS={_one_line(status)}"]))
