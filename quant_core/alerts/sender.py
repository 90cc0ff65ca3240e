"""The apprise sender: alerts queued by the worker, sent from threads of their own.

:class:`AlertSender` implements :class:`~quant_core.alerts.events.AlertSink`. ``notify`` files
the alert with every service and returns at once. Each URL of ``alerts.urls`` is a service with
a lane of its own (``alerts/lanes.py``): its own queue, its own daemon thread and its own
``Apprise`` object, so a service that hangs or keeps failing delays no other, a retry goes only
to the service that failed, and a service that took an alert is never sent it twice.

Rules, in order:

* an event not in ``alerts.on`` is dropped;
* the same ``(event, title)`` goes out at most once per ``alerts.min_interval_s`` (measured
  by ``clock``, when ``notify`` is called); later ones are dropped;
* each service sends its new alerts ahead of its retries;
* a service that fails (apprise reports failure or raises) is retried after ``base_s``,
  ``2 base_s``, ``4 base_s`` ... seconds (capped at ``max_delay_s``), ``tries`` attempts in
  all, then the alert is dropped for it; every failure is logged at WARNING naming the
  service by its number and scheme (``json``, ``mailto``), never by its URL.

``sent`` counts the alerts every service took, ``dropped`` those some service never took.

Nothing raises into the caller. Secrets stay out of every message: the title and body are
passed through :func:`config.redact.redact`, and every credential-like part of each URL (the
user, the password, path segments and query values that look like tokens or addresses, and
whatever apprise masks when it prints the URL: the bot token of ``tgram://``, the application
token of ``pover://``, which sit where a host goes) is remembered there, so the entry
points' log formatter blanks them and so does the filter this module puts on apprise's and
urllib3's loggers (at DEBUG apprise logs a URL's path and a request's payload). Apprise runs
with in-memory storage and no plugin paths: it reads and writes nothing under the home
directory.

Apprise sends in the lanes' daemon threads (``async_mode`` off, no ``service_timeout``): left
to itself it hands each send to a thread pool of its own whose threads the interpreter waits
for at exit, so a mail server that takes the connection and never answers would hold the
worker's exit well past :meth:`AlertSender.close`'s timeout. Each service's socket timeouts
(connect and read, ``timeout_s`` at most: 5 s by default, which lowers apprise's 15 s for
e-mail) bound a send instead; :meth:`AlertSender.close` gives every service the same time,
side by side.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise

from config.redact import redact, remember
from config.schema import AlertsConfig
from quant_core.alerts.events import AlertEvent, AlertSink, NullSink
from quant_core.alerts.lanes import QUEUE_SIZE, Alert, Delivery, Lane, Tally
from quant_core.errors import ConfigError

__all__ = ["AlertSender", "build_sink", "masked_fragments", "url_fragments"]

logger = logging.getLogger(__name__)

RETRY_BASE_S = 1.0  # the first retry's wait; doubled per failure
RETRY_MAX_S = 60.0  # the longest wait between two tries
TRIES = 6  # attempts per service (1 + 5 retries: about a minute at the defaults)
SEND_TIMEOUT_S = 5.0  # the longest a service's socket waits to connect, or for an answer
# Apprise logs through these; the filter blanks what it knows to be secret.
LIBRARY_LOGGERS = ("apprise", "urllib3.connectionpool")
# Every AlertEvent has its type here (a test checks); one missing would go out as a warning.
NOTIFY_TYPE = {
    AlertEvent.HALT: apprise.NotifyType.FAILURE,
    AlertEvent.ERROR: apprise.NotifyType.FAILURE,
    AlertEvent.DISCONNECT: apprise.NotifyType.WARNING,
    AlertEvent.REJECT: apprise.NotifyType.WARNING,
    AlertEvent.STALE_DATA: apprise.NotifyType.WARNING,
    AlertEvent.FLAT: apprise.NotifyType.WARNING,
    AlertEvent.STOP: apprise.NotifyType.WARNING,
    AlertEvent.REFRESH: apprise.NotifyType.WARNING,
    AlertEvent.DAILY_REPORT: apprise.NotifyType.INFO,
}
_WORD = re.compile(r"[a-z]+")  # a plain lowercase word in a URL (insecure, hooks): not secret
_MIN_FRAGMENT = 6  # shorter path segments and query values are not taken for secrets
_PIECES = re.compile(r"[/?&=#@]+")  # what separates the pieces of a URL apprise prints


class _Redact(logging.Filter):
    """Blank the remembered secrets out of a library's log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot format: leave it to the handler
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_FILTER = _Redact()


def url_fragments(url: str) -> list[str]:
    """Return the parts of an apprise URL that may be secret.

    The URL itself, its password, and its user, every path segment and every query value of
    at least six characters that is not a plain lowercase word (tokens, chat ids, e-mail
    addresses; not ``alerts`` or ``insecure``, which would blank that word in every log line).
    The host and port are not taken for secrets here: where a scheme puts its token there
    (``tgram://``, ``pover://``), :func:`masked_fragments` finds it once apprise has loaded it.
    """
    parts = [url]
    try:
        split = urlsplit(url)
        user, password = split.username, split.password
    except ValueError:  # not a URL urllib can read: the whole text is all we know
        return parts
    parts += [unquote(password)] if password else []
    candidates = [unquote(user)] if user else []
    candidates += [unquote(s) for s in split.path.split("/")]
    candidates += [v for _, v in parse_qsl(split.query, keep_blank_values=False)]
    candidates += [unquote(split.fragment)] if split.fragment else []
    for text in candidates:
        text = text.strip()
        if len(text) >= _MIN_FRAGMENT and not _WORD.fullmatch(text):
            parts.append(text)
    return parts


def masked_fragments(service: Any) -> list[str]:
    """Return the parts of a loaded apprise service's URL that apprise masks when printing it.

    Apprise's plugin for the scheme knows where its secrets are: every piece (between ``/``,
    ``?``, ``&``, ``=``, ``#`` and ``@``, and each side of a ``:`` in it) of
    ``service.url(privacy=False)`` missing from ``service.url(privacy=True)`` is taken, long
    or short, word or not: the bot token of ``tgram://``, the application token of
    ``pover://``, which sit where a host goes. Nothing if the plugin cannot print itself.
    """
    try:
        plain = str(service.url(privacy=False))
        private = str(service.url(privacy=True))
    except Exception:  # a plugin that cannot print itself: url_fragments' rules still hold
        return []
    pieces = [unquote(p).strip() for p in _PIECES.split(plain)]
    shown = {t for p in _PIECES.split(private) for t in (unquote(p), *unquote(p).split(":"))}
    found: list[str] = []
    for piece in pieces:
        hidden = [t for t in piece.split(":") if t and t not in shown]
        found += [piece] if len(hidden) > 1 and len(hidden) == piece.count(":") + 1 else []
        found += hidden
    return list(dict.fromkeys(found))


def _asset() -> apprise.AppriseAsset:
    # Memory only: no persistent store, no plugin folder, nothing under ~. Sent in the
    # caller's thread (a lane's, a daemon): apprise's pool would hold the process's exit.
    return apprise.AppriseAsset(storage_mode="memory", async_mode=False, service_timeout=0)


@contextlib.contextmanager
def _quiet_imports() -> Iterator[None]:
    """Hide the warning apprise 2.3.0's e-mail plugin raises as it loads (imghdr, Python 3.11)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        yield


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else "?"


class AlertSender:
    """Send alerts with apprise, one lane per service (see the module docstring).

    Parameters
    ----------
    cfg
        The ``alerts`` section: URLs, events, ``min_interval_s``.
    clock
        Seconds, for ``min_interval_s``; default ``time.monotonic`` (a test's clock).
    base_s, max_delay_s, tries
        Retry back-off: wait ``min(max_delay_s, base_s x 2**(k-1))`` seconds after the k-th
        failed attempt, at most ``tries`` attempts per service.
    timeout_s
        The longest one service's socket waits to connect or for an answer, seconds (a
        service whose own timeout is shorter keeps it: apprise's are 4 s, 15 s for e-mail).
    throttle_s
        Least time between two sends to one service, seconds; None keeps apprise's own (5.5 s
        for most services, e-mail among them; none for webhooks), which is kind to
        rate-limited services and holds a burst of alerts to that service back that long each.

    Raises
    ------
    ConfigError
        A URL apprise cannot use (named by its position and scheme, never shown).
    """

    def __init__(
        self,
        cfg: AlertsConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        base_s: float = RETRY_BASE_S,
        max_delay_s: float = RETRY_MAX_S,
        tries: int = TRIES,
        timeout_s: float = SEND_TIMEOUT_S,
        throttle_s: float | None = None,
    ) -> None:
        self.on = frozenset(cfg.on)
        self.min_interval_s = cfg.min_interval_s
        self.clock = clock
        self.timeout_s = timeout_s
        urls = [u.get_secret_value() for u in cfg.urls]
        for url in urls:
            for part in url_fragments(url):
                remember(part)
        for name in LIBRARY_LOGGERS:
            library = logging.getLogger(name)
            if _FILTER not in library.filters:
                library.addFilter(_FILTER)
        services = _load(urls, timeout_s)  # ("service 2 (json)", its own Apprise)
        if throttle_s is not None:
            for _, one in services:
                for service in one:
                    service.request_rate_per_sec = throttle_s
        self._last: dict[tuple[AlertEvent, str], float] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._deadline = float("inf")  # monotonic time close() stops sending at
        self._tally = Tally()
        self._lanes = [
            Lane(name, one, self._tally, base_s=base_s, max_delay_s=max_delay_s, tries=tries)
            for name, one in services
        ]

    @property
    def sent(self) -> int:
        """Alerts every service took."""
        return self._tally.sent

    @property
    def dropped(self) -> int:
        """Alerts a service never took (tries spent, its queue full, or left at close)."""
        return self._tally.dropped

    # ------------------------------------------------------------------------- the caller

    def notify(self, event: AlertEvent, title: str, body: str) -> None:
        """File one alert with every service and return at once; never raises."""
        try:
            if event not in self.on or self._closing.is_set():
                return
            key = (AlertEvent(event), title)
            with self._lock:
                now = self.clock()
                last = self._last.get(key)
                if last is not None and now - last < self.min_interval_s:
                    logger.debug("Alert %s %r not sent again within min_interval_s", event, title)
                    return
                if len(self._last) >= QUEUE_SIZE:  # forget what min_interval_s no longer holds
                    keep = {k: t for k, t in self._last.items() if now - t < self.min_interval_s}
                    self._last = keep
                self._last[key] = now
            # Looked up here, not in a send: a fault of ours is never blamed on a receiver.
            kind = NOTIFY_TYPE.get(key[0], apprise.NotifyType.WARNING)
            alert = Alert(key[0], redact(title), redact(body), kind)
            delivery = Delivery(alert, pending=len(self._lanes))
            for lane in self._lanes:
                lane.put(delivery)
        except Exception:  # the worker must never pay for an alert
            logger.exception("Alert %s could not be queued", event)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued within ``timeout`` seconds (retries due by then too), then stop.

        Every service gets the same ``timeout``, side by side; one still sending after it is
        no longer waited for (logged, with how many alerts still wait for it).
        """
        try:
            if not self._closing.is_set():
                self._deadline = time.monotonic() + max(0.0, timeout)
                self._closing.set()
                for lane in self._lanes:
                    lane.stop(self._deadline)
            end = time.monotonic() + max(0.0, timeout)
            for lane in self._lanes:
                if not lane.join(end - time.monotonic()):
                    logger.warning(
                        "Alerts to %s still sending %.1f s after close (%d more waiting): no "
                        "longer waited for",
                        lane.name,
                        timeout,
                        lane.waiting(),
                    )
        except Exception:
            logger.exception("Closing the alert sender failed")


def _load(urls: list[str], timeout_s: float) -> list[tuple[str, apprise.Apprise]]:
    """Return each URL's service name and an ``Apprise`` holding that URL alone.

    What apprise masks in each URL (:func:`masked_fragments`) is remembered as secret.
    """
    with _quiet_imports():
        asset = _asset()
        services: list[tuple[str, apprise.Apprise]] = []
        for number, url in enumerate(urls, start=1):
            one = apprise.Apprise(asset=asset)
            if not one.add(url):
                raise ConfigError(
                    f"alerts.urls item {number} ({_scheme(url)}://..., not shown) is not a URL "
                    "apprise can use: see https://github.com/caronc/apprise/wiki for its form"
                )
            for service in one:
                for part in masked_fragments(service):
                    remember(part)
                # apprise's e-mail plugin takes socket_connect_timeout for every SMTP socket
                # operation (connect, greeting, each answer): 15 s unless lowered here.
                service.socket_connect_timeout = min(service.socket_connect_timeout, timeout_s)
                service.socket_read_timeout = min(service.socket_read_timeout, timeout_s)
            services.append((f"service {number} ({_scheme(url)})", one))
    return services


def build_sink(cfg: AlertsConfig) -> AlertSink:
    """Return the worker's sink: an :class:`AlertSender`, or :class:`NullSink` without URLs."""
    if not cfg.urls:
        return NullSink()
    return AlertSender(cfg)
