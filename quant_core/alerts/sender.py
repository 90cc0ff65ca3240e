"""The apprise sender: alerts queued by the worker, sent from a thread of their own.

:class:`AlertSender` implements :class:`~quant_core.alerts.events.AlertSink`. ``notify`` files
the alert and returns at once; a daemon thread sends it with apprise (one ``Apprise`` object
holding every URL of ``alerts.urls``, each under a tag of its own, so a retry goes only to the
services that failed and a service that took it is never sent it twice).

Rules, in order:

* an event not in ``alerts.on`` is dropped;
* the same ``(event, title)`` goes out at most once per ``alerts.min_interval_s`` (measured
  by ``clock``, when ``notify`` is called); later ones are dropped;
* a service that fails (apprise reports failure or raises) is retried after ``base_s``,
  ``2 base_s``, ``4 base_s`` ... seconds (capped at ``max_delay_s``), ``tries`` attempts in
  all, then the alert is dropped for it; every failure is logged at WARNING naming the
  service by its number and scheme (``json``, ``mailto``), never by its URL.

Nothing raises into the caller. Secrets stay out of every message: the title and body are
passed through :func:`config.redact.redact`, and every credential-like part of each URL (the
user, the password, path segments and query values that look like tokens or addresses) is
remembered there, so the entry points' log formatter blanks them and so does the filter this
module puts on apprise's and urllib3's loggers (at DEBUG apprise logs a URL's path). Apprise
runs with in-memory storage and no plugin paths: it reads and writes nothing under the home
directory.

Apprise sends in the sender's own daemon thread (``async_mode`` off, no ``service_timeout``):
left to itself it hands each send to a thread pool of its own whose threads the interpreter
waits for at exit, so a mail server that takes the connection and never answers would hold the
worker's exit well past :meth:`AlertSender.close`'s timeout. Each service's socket timeouts
(connect and read, ``timeout_s`` at most) bound a send instead.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise

from config.redact import redact, remember
from config.schema import AlertsConfig
from quant_core.alerts.events import AlertEvent, AlertSink, NullSink
from quant_core.errors import ConfigError

__all__ = ["AlertSender", "build_sink"]

logger = logging.getLogger(__name__)

RETRY_BASE_S = 1.0  # the first retry's wait; doubled per failure
RETRY_MAX_S = 60.0  # the longest wait between two tries
TRIES = 6  # attempts per service (1 + 5 retries: about a minute at the defaults)
SEND_TIMEOUT_S = 30.0  # the longest a service's socket waits to connect, or for an answer
QUEUE_SIZE = 1000  # alerts waiting beyond this are dropped (and logged)
TAG = "qc-url-{}"
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


@dataclass(frozen=True, slots=True)
class _Alert:
    event: AlertEvent
    title: str
    body: str


@dataclass(order=True)
class _Retry:
    """An alert waiting to be sent again to some services, ordered by when."""

    due: float
    seq: int
    alert: _Alert = field(compare=False)
    tags: tuple[str, ...] = field(compare=False)
    tries: int = field(compare=False)  # attempts made so far


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
    The host and port are not taken for secrets.
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


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else "?"


class AlertSender:
    """Send alerts with apprise from a daemon thread (see the module docstring).

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
        The longest one service's socket waits to connect or for an answer, seconds (each
        service keeps its own shorter timeouts: apprise's are 4 s).
    throttle_s
        Least time between two sends to one service, seconds; None keeps apprise's own (5.5 s
        for most services, e-mail among them; none for webhooks), which is kind to
        rate-limited services and holds a burst of alerts back that long each.

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
        self.base_s, self.max_delay_s, self.tries = base_s, max_delay_s, max(1, tries)
        self.timeout_s = timeout_s
        urls = [u.get_secret_value() for u in cfg.urls]
        for url in urls:
            for part in url_fragments(url):
                remember(part)
        for name in LIBRARY_LOGGERS:
            library = logging.getLogger(name)
            if _FILTER not in library.filters:
                library.addFilter(_FILTER)
        self._apprise, self._services = _load(urls, timeout_s)  # tag -> "service 2 (json)"
        if throttle_s is not None:
            for service in self._apprise:
                service.request_rate_per_sec = throttle_s
        self._queue: queue.Queue[_Alert | None] = queue.Queue(QUEUE_SIZE)
        self._retries: list[_Retry] = []
        self._seq = itertools.count()
        self._last: dict[tuple[AlertEvent, str], float] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._deadline = float("inf")  # monotonic time close() stops sending at
        self.sent = 0  # alerts every service took
        self.dropped = 0  # alerts a service never took (tries spent, or left at close)
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------- the caller

    def notify(self, event: AlertEvent, title: str, body: str) -> None:
        """Queue one alert and return at once; never raises (see the module docstring)."""
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
            self._queue.put_nowait(_Alert(key[0], redact(title), redact(body)))
        except queue.Full:
            logger.warning("Alert queue full (%d): %s %r dropped", QUEUE_SIZE, event, title)
        except Exception:  # the worker must never pay for an alert
            logger.exception("Alert %s could not be queued", event)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (retries due within ``timeout`` too), then stop the thread."""
        try:
            if not self._closing.is_set():
                self._deadline = time.monotonic() + max(0.0, timeout)
                self._closing.set()
                self._queue.put_nowait(None)  # wake the thread
            self._thread.join(max(0.0, timeout))
            if self._thread.is_alive():
                logger.warning(
                    "Alerts still sending %.1f s after close: no longer waited for", timeout
                )
        except Exception:
            logger.exception("Closing the alert sender failed")

    # ------------------------------------------------------------------------- the thread

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    break
            except Exception:  # keep the thread alive whatever one send did
                logger.exception("Alert sender error")
                time.sleep(0.1)  # and never spin on a failure that repeats
        left = self._queue.qsize() + len(self._retries)
        if left:
            self.dropped += left
            logger.warning("%d alert(s) not sent before the sender closed", left)

    def _step(self) -> bool:
        """Send one queued alert or one retry that is due; False once closed and done."""
        now = time.monotonic()
        if self._retries and self._retries[0].due <= now:
            retry = heapq.heappop(self._retries)
            self._send(retry.alert, retry.tags, retry.tries)
            return True
        if self._closing.is_set():
            try:
                alert = self._queue.get_nowait()
            except queue.Empty:
                alert = None
            if alert is not None:
                self._send(alert, tuple(self._services), 0)
                return True
            if self._retries and self._retries[0].due <= self._deadline:
                time.sleep(max(0.0, min(self._retries[0].due, self._deadline) - now))
                return True
            return False
        wait = self._retries[0].due - now if self._retries else None
        try:
            alert = self._queue.get(timeout=wait)
        except queue.Empty:
            return True
        if alert is not None:
            self._send(alert, tuple(self._services), 0)
        return True

    def _send(self, alert: _Alert, tags: tuple[str, ...], tries: int) -> None:
        if time.monotonic() > self._deadline:
            self.dropped += 1
            logger.warning("Alert %r not sent: the sender closed", alert.title)
            return
        tries += 1
        failed = self._attempt(alert, tags)
        if not failed:
            self.sent += 1
            logger.info("Alert sent: %s %r", alert.event, alert.title)
            return
        names = ", ".join(self._services[t] for t in failed)
        if tries >= self.tries:
            self.dropped += 1
            logger.warning(
                "Alert %r dropped after %d tries: %s did not take it", alert.title, tries, names
            )
            return
        delay = min(self.max_delay_s, self.base_s * 2 ** (tries - 1))
        logger.warning(
            "Alert %r failed (try %d of %d) on %s; retrying in %.3g s",
            alert.title,
            tries,
            self.tries,
            names,
            delay,
        )
        due = time.monotonic() + delay
        heapq.heappush(self._retries, _Retry(due, next(self._seq), alert, failed, tries))

    def _attempt(self, alert: _Alert, tags: tuple[str, ...]) -> tuple[str, ...]:
        """Send to the services of ``tags`` once; return the tags that did not take it."""
        # Looked up before the try: a fault of ours is never blamed on a receiver.
        notify_type = NOTIFY_TYPE.get(alert.event, apprise.NotifyType.WARNING)
        try:
            result = self._apprise.notify(
                body=alert.body,
                title=alert.title,
                notify_type=notify_type,
                tag=list(tags),
            )
        except Exception as exc:  # apprise raised: every service of this try failed
            # The exception's text can quote a URL; its type says enough.
            logger.warning("Apprise raised %s sending %r", type(exc).__name__, alert.title)
            return tags
        took = {t for r in result if r for t in r.tag}
        return tuple(t for t in tags if t not in took)


def _load(urls: list[str], timeout_s: float) -> tuple[apprise.Apprise, dict[str, str]]:
    """Return one ``Apprise`` holding every URL, each tagged, and the tags' service names."""
    with warnings.catch_warnings():
        # Loading its e-mail plugin, apprise 2.3.0 imports imghdr (deprecated in Python 3.11).
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        # Memory only: no persistent store, no plugin folder, nothing under ~. Sent in the
        # caller's thread (ours, a daemon): apprise's pool would hold the process's exit.
        asset = apprise.AppriseAsset(storage_mode="memory", async_mode=False, service_timeout=0)
        sender = apprise.Apprise(asset=asset)
        services: dict[str, str] = {}
        for number, url in enumerate(urls, start=1):
            tag = TAG.format(number)
            if not sender.add(url, tag=tag):
                raise ConfigError(
                    f"alerts.urls item {number} ({_scheme(url)}://..., not shown) is not a URL "
                    "apprise can use: see https://github.com/caronc/apprise/wiki for its form"
                )
            services[tag] = f"service {number} ({_scheme(url)})"
    for service in sender:
        service.socket_connect_timeout = min(service.socket_connect_timeout, timeout_s)
        service.socket_read_timeout = min(service.socket_read_timeout, timeout_s)
    return sender, services


def build_sink(cfg: AlertsConfig) -> AlertSink:
    """Return the worker's sink: an :class:`AlertSender`, or :class:`NullSink` without URLs."""
    if not cfg.urls:
        return NullSink()
    return AlertSender(cfg)
