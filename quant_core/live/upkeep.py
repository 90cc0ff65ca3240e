"""What a worker left to run unattended does at each heartbeat besides trading.

Three jobs, each in its own module, called from here so the worker stays a coordinator:

- the data refresh (``live/refresh_watch.py``): with ``live.refresh: broker`` the sessions
  missing from the warehouse are fetched after each close (``live.refresh_time``) and at start
  if stale, in a child process; the worker sends no rebalance and checks no stop while one runs,
  and reloads the bars once it has succeeded;
- the market's hours (``live/market_clock.py``): today's session (early closes included), the
  next one, and what the worker waits for, in the state and, when it changes, in the log
  ("not a session (Saturday 2026-12-05): waiting until Monday 2026-12-07 09:30 ...");
- the systemd watchdog (``live/sd_notify.py``): READY once started, WATCHDOG at every state
  written (every heartbeat, and through a disconnection's back-off, so IB Gateway's nightly
  restart is ridden out, not killed), STOPPING at the end; nothing without ``$NOTIFY_SOCKET``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

import pandas as pd

from quant_core.live.market_clock import market_hours, refresh_time_warnings
from quant_core.live.refresh_job import RefreshJob
from quant_core.live.refresh_watch import RefreshWatch
from quant_core.live.replay import ReplayClock
from quant_core.live.sd_notify import Watchdog
from quant_core.live.state import DataRefresh, MarketHours

if TYPE_CHECKING:
    from quant_core.live.worker import Worker

logger = logging.getLogger(__name__)


class Upkeep:
    """The data refresh, the market's hours and the watchdog of one worker.

    Parameters
    ----------
    worker
        The worker (its market clock, calendar, data, alerts and error list are read).
    job
        Runs the refresh (``live/refresh_job.py``); None: ``live.refresh: none``.
    """

    def __init__(self, worker: Worker, job: RefreshJob | None) -> None:
        self.worker = worker
        self.refresh = RefreshWatch(
            worker.cfg,
            worker.calendar,
            worker.live_dir,
            job,
            alert=self._alert,
            # Listed in the state's errors; paged once per run of failures by the watch itself.
            report=lambda message: worker.report_error(message, alert=False),
        )
        self.watchdog = Watchdog()
        if job is not None:  # a refresh time that cannot work on this exchange is said at start
            live = worker.cfg.live
            for warning in refresh_time_warnings(
                worker.calendar, live.refresh_time, live.rebalance_time
            ):
                logger.warning("%s", warning)
                worker.report_error(warning, alert=False)
        self.market: MarketHours | None = None
        self.waiting: str | None = None  # the last "waiting ..." line logged

    @property
    def holding(self) -> bool:
        """Return whether decisions wait: a refresh is running (bars and factors not final)."""
        return self.refresh.running

    def data_end(self) -> dt.date:
        """Return the last session of the bars the worker decides from."""
        return pd.Timestamp(self.worker.data.dates[-1]).date()

    def beat(self) -> bool:
        """Step the refresh, renew the market's hours, ping the watchdog; True: reload the bars.

        True once per successful refresh: the warehouse holds the new sessions and their
        factors, and the worker should read them (``Worker.reload``).
        """
        worker = self.worker
        now = worker.clock()
        # A refresh's bars not read yet (the driver reads them first): no step until then.
        fresh = False if worker.fresh_data else self._step(now)
        if isinstance(worker.clock, ReplayClock) and not worker.clock.ready:
            return fresh  # the start of a replay: no market to say yet (not 1970's)
        live = worker.cfg.live
        self.market = market_hours(worker.calendar, now, live.rebalance_time, live.refresh_time)
        if self.market.waiting != self.waiting:
            self.waiting = self.market.waiting
            if self.waiting is not None:
                logger.info("Market: %s", self.waiting)
        return fresh

    def _step(self, now: dt.datetime) -> bool:
        try:
            return self.refresh.step(now, self.data_end())
        except Exception as exc:  # the refresh must never stop the worker: reported, retried
            logger.exception("Data refresh step failed")
            self.worker.report_error(f"data refresh: {type(exc).__name__}: {exc}")
            return False

    def alive(self) -> None:
        """Ping systemd's watchdog (at every state written: heartbeats, and while DISCONNECTED)."""
        self.watchdog.beat(f"{self.worker.state.value}: {self.worker.reason}")

    def refresh_state(self) -> DataRefresh:
        """Return the refresh's section of the state document, now."""
        return self.refresh.status(self.worker.clock(), self.data_end())

    def started(self) -> None:
        """Tell systemd the worker is up (connected, reconciled)."""
        self.watchdog.ready()

    def stopping(self) -> None:
        """Cancel a running refresh (its child process ends) and tell systemd we are stopping."""
        self.refresh.cancel()
        self.watchdog.stopping()

    def _alert(self, title: str, body: str) -> None:
        # Through the worker's alerting, so the footer names the account and state.
        self.worker.alerting.refresh(title, body)
