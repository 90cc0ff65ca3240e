"""One alert service's lane: its own queue, its own thread, its own retries.

:class:`~quant_core.alerts.sender.AlertSender` gives every URL of ``alerts.urls`` a
:class:`Lane`, so a service that hangs or keeps failing holds back no other: each lane sends
the alerts filed with it, one at a time, with an ``Apprise`` object holding its URL alone.

Within a lane, new alerts go out ahead of retries (a retry waits until the queue is empty),
and a failed send is retried after ``base_s``, ``2 base_s``, ``4 base_s`` ... seconds (capped
at ``max_delay_s``), ``tries`` attempts in all, then dropped for that service; every failure
is logged at WARNING naming the service by its number and scheme, never by its URL. A
:class:`Delivery` is shared by the lanes of one alert, and :class:`Tally` counts an alert
``sent`` once every service took it and ``dropped`` once (however many services did not).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import apprise

from quant_core.alerts.events import AlertEvent

__all__ = ["QUEUE_SIZE", "Alert", "Delivery", "Lane", "Tally"]

logger = logging.getLogger("quant_core.alerts.sender")  # one logger for the whole sender

QUEUE_SIZE = 1000  # alerts waiting for one service beyond this are dropped (and logged)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as sent: title and body already redacted."""

    event: AlertEvent
    title: str
    body: str
    notify_type: apprise.NotifyType


@dataclass(eq=False, slots=True)
class Delivery:
    """One alert on its way to ``pending`` services; ``lost`` once one of them gave it up."""

    alert: Alert
    pending: int
    lost: bool = False


class Tally:
    """The sender's counts, kept by every lane under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0  # alerts every service took
        self.dropped = 0  # alerts a service never took (tries spent, queue full, closed)

    def took(self, delivery: Delivery) -> bool:
        """One service took it; return True when that was the last service, every one took."""
        with self._lock:
            delivery.pending -= 1
            done = delivery.pending == 0 and not delivery.lost
            self.sent += done
            return done

    def lost(self, delivery: Delivery) -> None:
        """One service will never take it: the alert is dropped (counted once)."""
        with self._lock:
            delivery.pending -= 1
            if not delivery.lost:
                delivery.lost = True
                self.dropped += 1


@dataclass(order=True)
class _Retry:
    """An alert waiting to be sent to this lane's service again, ordered by when."""

    due: float
    seq: int
    delivery: Delivery = field(compare=False)
    tries: int = field(compare=False)  # attempts made so far


class Lane:
    """Send alerts to one service from a daemon thread of its own (see the module docstring).

    ``name`` names the service in the log (``service 2 (json)``); ``sender`` is an
    ``Apprise`` object holding its URL alone, used by this lane's thread only.
    """

    def __init__(
        self,
        name: str,
        sender: apprise.Apprise,
        tally: Tally,
        *,
        base_s: float,
        max_delay_s: float,
        tries: int,
    ) -> None:
        self.name = name
        self._apprise = sender
        self._tally = tally
        self.base_s, self.max_delay_s, self.tries = base_s, max_delay_s, max(1, tries)
        self._queue: queue.Queue[Delivery | None] = queue.Queue(QUEUE_SIZE)
        self._retries: list[_Retry] = []
        self._seq = itertools.count()
        self._closing = threading.Event()
        self._deadline = float("inf")  # monotonic time the lane stops sending at
        thread_name = f"alerts-{name.split()[1]}" if " " in name else "alerts"
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------- the sender's side

    def put(self, delivery: Delivery) -> None:
        """File one alert for this service; a full queue drops it (logged)."""
        try:
            self._queue.put_nowait(delivery)
        except queue.Full:
            self._tally.lost(delivery)
            logger.warning(
                "Alert queue of %s full (%d): %r dropped",
                self.name,
                QUEUE_SIZE,
                delivery.alert.title,
            )

    def stop(self, deadline: float) -> None:
        """Send what is queued (and retries due) until ``deadline`` (monotonic), then end."""
        self._deadline = deadline
        self._closing.set()
        # A full queue: the thread is busy, and sees the flag on its next step.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)  # wake the thread

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the thread; return True if it ended."""
        self._thread.join(max(0.0, timeout))
        return not self._thread.is_alive()

    def waiting(self) -> int:
        """Alerts queued or waiting for a retry (the one being sent not counted)."""
        return self._queue.qsize() + len(self._retries)

    # ------------------------------------------------------------------------- the thread

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    break
            except Exception:  # keep the thread alive whatever one send did
                logger.exception("Alert sender error (%s)", self.name)
                time.sleep(0.1)  # and never spin on a failure that repeats
        left = [d for d in self._drain() if d is not None]
        for delivery in left:
            self._tally.lost(delivery)
        if left:
            logger.warning(
                "%d alert(s) not sent to %s before the sender closed", len(left), self.name
            )

    def _drain(self) -> list[Delivery | None]:
        items: list[Delivery | None] = [r.delivery for r in self._retries]
        self._retries.clear()
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _step(self) -> bool:
        """Send one new alert, else one retry that is due; False once closed and done."""
        try:
            delivery = self._queue.get_nowait()  # new alerts first
        except queue.Empty:
            delivery = None
        if delivery is not None:
            self._send(delivery, 0)
            return True
        now = time.monotonic()
        if self._retries and self._retries[0].due <= now:
            retry = heapq.heappop(self._retries)
            self._send(retry.delivery, retry.tries)
            return True
        if self._closing.is_set():
            if self._retries and self._retries[0].due <= self._deadline:
                time.sleep(max(0.0, min(self._retries[0].due, self._deadline) - now))
                return True
            return False
        wait = self._retries[0].due - now if self._retries else None
        try:
            delivery = self._queue.get(timeout=wait)
        except queue.Empty:
            return True
        if delivery is not None:
            self._send(delivery, 0)
        return True

    def _send(self, delivery: Delivery, tries: int) -> None:
        alert = delivery.alert
        if time.monotonic() > self._deadline:
            self._tally.lost(delivery)
            logger.warning("Alert %r not sent to %s: the sender closed", alert.title, self.name)
            return
        tries += 1
        if self._attempt(alert):
            if self._tally.took(delivery):
                logger.info("Alert sent: %s %r", alert.event, alert.title)
            return
        if tries >= self.tries:
            self._tally.lost(delivery)
            logger.warning(
                "Alert %r dropped after %d tries: %s did not take it", alert.title, tries, self.name
            )
            return
        delay = min(self.max_delay_s, self.base_s * 2 ** (tries - 1))
        logger.warning(
            "Alert %r failed (try %d of %d) on %s; retrying in %.3g s",
            alert.title,
            tries,
            self.tries,
            self.name,
            delay,
        )
        due = time.monotonic() + delay
        heapq.heappush(self._retries, _Retry(due, next(self._seq), delivery, tries))

    def _attempt(self, alert: Alert) -> bool:
        """Send to this lane's service once; return True if it took the alert."""
        try:
            return bool(
                self._apprise.notify(
                    body=alert.body, title=alert.title, notify_type=alert.notify_type
                )
            )
        except Exception as exc:  # apprise raised: the service did not take it
            # The exception's text can quote a URL; its type says enough.
            logger.warning(
                "Apprise raised %s sending %r to %s", type(exc).__name__, alert.title, self.name
            )
            return False
