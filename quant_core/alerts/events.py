"""What the worker can alert on, and the sink it alerts through (no apprise here).

The worker holds an :class:`AlertSink`: :class:`NullSink` when no URL is configured, the
apprise sender (``alerts/sender.py``) otherwise. ``notify`` never blocks and never raises: a
slow or failing receiver must cost the worker nothing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class AlertEvent(StrEnum):
    """The events ``alerts.on`` can name."""

    HALT = "halt"  # a risk limit halted the worker
    FLAT = "flat"  # a FLAT command liquidated the account
    STOP = "stop"  # a STOP command ended the worker's logic
    DISCONNECT = "disconnect"  # the broker connection was down past alerts.disconnect_after_s
    REJECT = "reject"  # the broker rejected an order
    STALE_DATA = "stale_data"  # a rebalance refused on data older than the last session
    REFRESH = "refresh"  # the worker's own data refresh failed (once until it succeeds again)
    DAILY_REPORT = "daily_report"  # the session's daily report was written
    ERROR = "error"  # an error the worker reported and kept running through


class AlertSink(Protocol):
    """Where the worker's alerts go."""

    def notify(self, event: AlertEvent, title: str, body: str) -> None:
        """Queue one alert; return at once (never raises, never blocks)."""

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued within ``timeout`` seconds, then stop."""


class NullSink:
    """The sink of a worker with no alert URL: alerts go nowhere."""

    def notify(self, event: AlertEvent, title: str, body: str) -> None:
        """Drop the alert."""

    def close(self, timeout: float = 5.0) -> None:
        """Nothing to send."""
