"""The account's risk figures that outlive the worker: the peak, the risk day and its opening.

The drawdown limit measures from the peak net liquidation, the daily-loss limit from the
session's opening equity; both are saved (``risk_state.json``, through ``live/files.py``), so a
restart (or the next cron ``--once``) does not reset them. So are the last net liquidation seen
and its day: a worker that first sees a day after a loss (cron ``--once``, a restart) measures
the day from the previous session's last figure. And the limits ``risk.flat_on_breach`` acted
on (``live/risk_watch.py``), so a restart does not liquidate again.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path

from quant_core.calendar import TradingCalendar
from quant_core.live import files

LAST_EQUITY_SAVE_S = 30.0


class RiskState:
    """One account's peak, risk day, opening and last equity, and the limits flattened on."""

    def __init__(self, live_dir: Path, calendar: TradingCalendar) -> None:
        self.live_dir, self.calendar = live_dir, calendar
        saved = files.read_risk(live_dir)
        self.peak_equity = float(saved.get("peak_equity", 0.0))
        self.day = str(saved.get("day", ""))
        self.day_start_equity = float(saved.get("day_start_equity", 0.0))
        self._day_start_saved = "day_start_equity" in saved
        # The last net liquidation seen, and its day.
        self.last_equity = float(saved.get("last_equity", math.nan))
        self.last_equity_day = str(saved.get("last_equity_day", ""))
        self.flattened: set[str] = {str(name) for name in saved.get("flattened", [])}
        self._last_equity_saved = time.monotonic()

    def connected(self, equity: float) -> None:
        """Take a connected broker's first figure: the peak; the day's opening, if none saved."""
        self.peak_equity = max(self.peak_equity, equity)
        if not self._day_start_saved:
            self.day_start_equity = equity

    def track(self, day: dt.date, equity: float) -> None:
        """Roll the risk day at a new session and raise the peak; saved when they change.

        ``equity``: the broker's net liquidation now.
        """
        if not math.isfinite(equity):  # no figure from the broker yet: nothing to measure from
            return
        changed = False
        if str(day) != self.day:
            # The day opens at the previous session's last figure when this worker saw it;
            # otherwise at the first figure seen today.
            previous = self.calendar.previous_session(day)
            known = self.last_equity_day == str(previous) and self.last_equity > 0
            opening = self.last_equity if known else equity
            self.day, self.day_start_equity, changed = str(day), opening, True
        if equity > self.peak_equity:
            self.peak_equity, changed = equity, True
        if equity != self.last_equity or str(day) != self.last_equity_day:
            self.last_equity, self.last_equity_day = equity, str(day)
            # At most every LAST_EQUITY_SAVE_S: a kill loses the last figure of that long.
            changed |= time.monotonic() - self._last_equity_saved >= LAST_EQUITY_SAVE_S
        if changed:
            self.save()

    def save(self) -> None:
        """Save the peak, the risk day and its opening equity, and the limits flattened on."""
        state = {
            "peak_equity": self.peak_equity,
            "day": self.day,
            "day_start_equity": self.day_start_equity,
            "flattened": sorted(self.flattened),
            "last_equity": self.last_equity,
            "last_equity_day": self.last_equity_day,
        }
        files.save_risk(self.live_dir, state)
        self._last_equity_saved = time.monotonic()
