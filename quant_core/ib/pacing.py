"""IB's historical-data pacing rules, kept by waiting (the sync's and the refresh's requests).

At most ``MAX_REQUESTS`` historical requests in ``WINDOW_S`` seconds, and no identical
request within ``IDENTICAL_GAP_S`` seconds of the last.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

logger = logging.getLogger(__name__)

MAX_REQUESTS = 60
WINDOW_S = 600.0
IDENTICAL_GAP_S = 15.0


class Pacer:
    """IB's historical-data pacing: waits before a request that would break the rules."""

    def __init__(
        self,
        max_requests: int = MAX_REQUESTS,
        window_s: float = WINDOW_S,
        identical_gap_s: float = IDENTICAL_GAP_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_requests, self.window_s, self.identical_gap_s = (
            max_requests,
            window_s,
            identical_gap_s,
        )
        self.clock, self.sleep = clock, sleep
        self.sent: deque[float] = deque()
        self.last: dict[str, float] = {}
        self.count = 0  # requests let through so far

    def wait(self, key: str) -> None:
        """Block until a request identified by ``key`` may be sent, then record it."""
        now = self.clock()
        while self.sent and now - self.sent[0] >= self.window_s:
            self.sent.popleft()
        delay = 0.0
        if len(self.sent) >= self.max_requests:
            delay = self.sent[0] + self.window_s - now
        if key in self.last:
            delay = max(delay, self.last[key] + self.identical_gap_s - now)
        if delay > 0:
            logger.info("Pacing: waiting %.1f s before the next history request", delay)
            self.sleep(delay)
            now = self.clock()
        self.sent.append(now)
        self.last[key] = now
        self.count += 1
