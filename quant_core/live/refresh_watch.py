"""The worker's own data refresh (``live.refresh: broker``): when to run it, and what came of it.

Each heartbeat the worker calls :meth:`RefreshWatch.step` with the time and its bars' last
session. The data must reach ``needed`` = ``market_clock.needed_through(now)``, the last session
whose refresh moment has passed. When it does not, no attempt runs and the back-off has passed,
an attempt starts (a ``refresh_job.RefreshJob``; the worker's runs in a child process). While it
runs (:attr:`RefreshWatch.running`) the worker sends no rebalance; a success makes ``step``
return True once, and the worker reloads its bars.

A failure (the refresh's error, a child that died, or a success that leaves the data short:
"IB has no bars for D yet") is reported through ``report`` every time, and the next attempt
waits ``refresh_retry_s * 2**(attempts - 1)`` s, at most ``refresh_retry_max_s``. It is alerted
once per run of failures ("Data refresh failed"); the success that ends an alerted run sends
"Data refresh recovered". Data made fresh by other means (``run_data_sync.py``) ends a run too.

``<live_dir>/refresh.json`` (written atomically) keeps the last success (its outcome and
``refreshed_at``) and the run of failures (attempts, error, next attempt, alerted) across
restarts: a restarted worker shows "refreshed 16:41", keeps its back-off and does not alert the
same run again. An unreadable refresh.json is reported through ``report`` and ignored, never a
crash. A cancelled attempt (the worker exits) counts for nothing. ``now`` is time-zone aware
(UTC); nothing here reads a clock. The words use exchange-local times, HH:MM.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from config.schema import AppConfig
from quant_core.atomic import atomic_write_json
from quant_core.calendar import TradingCalendar
from quant_core.data.refresh_status import RefreshOutcome
from quant_core.live.market_clock import needed_through
from quant_core.live.refresh_job import RefreshJob, describe
from quant_core.live.state_refresh import DataRefresh, RefreshStatus

logger = logging.getLogger(__name__)

REFRESH_FILE = "refresh.json"
REFRESH_PROGRESS_FILE = "refresh-progress.json"
FILE_VERSION = 1
FAILED_TITLE = "Data refresh failed"
RECOVERED_TITLE = "Data refresh recovered"
LAST_FIGURES = ("symbols", "rows_written", "rejected", "requests", "factors")  # in the status


def _time(value: object) -> dt.datetime | None:
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return moment


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class _Record:
    """What refresh.json keeps: the last success and the current run of failures."""

    last: RefreshOutcome | None = None  # the last successful refresh's outcome
    refreshed_at: dt.datetime | None = None  # when it finished
    attempts: int = 0  # failures in a row
    error: str | None = None  # the last failure's message
    next_attempt_at: dt.datetime | None = None
    alerted: bool = False  # this run of failures has been alerted
    through: dt.date | None = None  # the session the last attempt was for

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FILE_VERSION,
            "last": None if self.last is None else self.last.to_json(),
            "refreshed_at": _iso(self.refreshed_at),
            "attempts": self.attempts,
            "error": self.error,
            "next_attempt_at": _iso(self.next_attempt_at),
            "alerted": self.alerted,
            "through": _iso(self.through),
        }

    @classmethod
    def from_json(cls, data: object) -> _Record:
        """Read :meth:`to_json`'s output (ValueError, KeyError or TypeError if malformed)."""
        if not isinstance(data, dict):
            raise TypeError(f"not a JSON object but {type(data).__name__}")
        if data.get("version") != FILE_VERSION:
            raise ValueError(f"version {data.get('version')!r}, not {FILE_VERSION}")
        attempts, alerted, last = data["attempts"], data["alerted"], data["last"]
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise ValueError(f"attempts {attempts!r} is not a count")
        if not isinstance(alerted, bool) or not isinstance(last, dict | None):
            raise TypeError(f"alerted {alerted!r} or last {last!r} is of the wrong type")
        error, through = data["error"], data["through"]
        return cls(
            last=None if last is None else RefreshOutcome.from_json(last),
            refreshed_at=_time(data["refreshed_at"]),
            attempts=attempts,
            error=None if error is None else str(error),
            next_attempt_at=_time(data["next_attempt_at"]),
            alerted=alerted,
            through=None if through is None else dt.date.fromisoformat(str(through)),
        )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class RefreshWatch:
    """Start, watch and record the worker's data refresh (see the module docstring).

    Parameters
    ----------
    cfg
        The config: ``live.refresh_time``, ``live.refresh_retry_s``, ``live.refresh_retry_max_s``.
    calendar
        The exchange's calendar (sessions, early closes, time zone).
    live_dir
        Where ``refresh.json`` is kept.
    job
        Runs the attempts; None with ``live.refresh: none``: status OFF, :meth:`step` does
        nothing and refresh.json is neither read nor written.
    alert
        ``alert(title, body)``, sent as ``AlertEvent.REFRESH``; a failing one is logged.
    report
        ``report(message)``: an error for the state's list; it should not alert (the watch
        alerts once per run of failures itself).
    """

    def __init__(
        self,
        cfg: AppConfig,
        calendar: TradingCalendar,
        live_dir: Path,
        job: RefreshJob | None,
        *,
        alert: Callable[[str, str], None],
        report: Callable[[str], None],
    ) -> None:
        self.cfg, self.calendar, self.job = cfg, calendar, job
        self.path = live_dir / REFRESH_FILE
        self.zone = ZoneInfo(calendar.tz)
        self.alert, self.report = alert, report
        self.record = _Record() if job is None else self._load()
        self.through: dt.date | None = None  # the running attempt's session
        self.started_at: dt.datetime | None = None  # when the running (or last) attempt began
        self.done_through: dt.date | None = None  # what this process's last success reached

    @property
    def running(self) -> bool:
        """Whether an attempt is in flight: the worker sends no rebalance meanwhile."""
        return self.through is not None

    def needed(self, now: dt.datetime) -> dt.date | None:
        """Return the last session whose refresh moment has passed (``market_clock``)."""
        return needed_through(self.calendar, now, self.cfg.live.refresh_time)

    def step(self, now: dt.datetime, data_end: dt.date) -> bool:
        """Start, poll or settle the refresh; True once per successful attempt (reload the bars).

        ``data_end``: the last session of the worker's bars; the caller reloads them when this
        returns True, before the next step. Nothing starts while an attempt runs or before
        ``next_attempt_at``.
        """
        if self.job is None:
            return False
        needed = self.needed(now)
        if self.through is not None:
            result = self.job.poll()
            if result is None:
                return False
            through, self.through = self.through, None
            return self._finished(now, data_end, through, result)
        if needed is None or data_end >= needed:
            self._settled(data_end)
            return False
        next_at = self.record.next_attempt_at
        if next_at is not None and now < next_at:
            return False
        if self.done_through is not None and self.done_through >= needed:
            # The last success reached it, yet the bars do not: never a refresh per heartbeat.
            self.done_through = None
            message = (
                f"the refresh stored data through {needed}, but the worker's bars still end "
                f"{data_end}: they were not reloaded"
            )
            self._failed(now, data_end, needed, message)
            return False
        self._start(self.job, now, data_end, needed)
        return False

    def cancel(self) -> None:
        """Stop a running attempt (the worker exits); it counts as neither success nor failure."""
        if self.job is not None and self.through is not None:
            logger.warning("Data refresh through %s cancelled", self.through)
            self.job.cancel()
        self.through = None

    def _start(self, job: RefreshJob, now: dt.datetime, data_end: dt.date, needed: dt.date) -> None:
        try:
            job.start(needed)
        except Exception as exc:  # no process could be started: a failure like any other
            self._failed(now, data_end, needed, describe(exc))
            return
        self.through, self.started_at = needed, now
        logger.info("Data refresh through %s started (the data ends %s)", needed, data_end)

    def _finished(
        self, now: dt.datetime, data_end: dt.date, through: dt.date, result: RefreshOutcome | str
    ) -> bool:
        if isinstance(result, str):
            self._failed(now, data_end, through, result)
            return False
        reached = result.data_through
        if reached is None or reached < through:
            ends = data_end if reached is None else max(reached, data_end)
            self._failed(now, ends, through, f"IB has no bars for {through} yet")
            return False
        was = self.record
        self.record = _Record(last=result, refreshed_at=now, through=through)
        self.done_through = reached
        self._save()
        logger.info("Data refresh through %s done: %s", through, self._figures(result))
        if was.alerted:
            body = (
                f"The data refresh through {through} succeeded after "
                f"{_count(was.attempts, 'failed attempt')}: data through {reached}, "
                f"{self._figures(result)}.\nThe worker rebalances on fresh data again."
            )
            self._alert(RECOVERED_TITLE, body)
        return True

    def _failed(self, now: dt.datetime, data_end: dt.date, through: dt.date, error: str) -> None:
        was = self.record
        attempts = was.attempts + 1
        live = self.cfg.live
        delay = min(live.refresh_retry_max_s, live.refresh_retry_s * 2.0 ** min(attempts - 1, 60))
        next_at = now + dt.timedelta(seconds=delay)
        self.record = replace(
            was,
            attempts=attempts,
            error=error,
            next_attempt_at=next_at,
            alerted=True,
            through=through,
        )
        self._save()
        when = self._at(next_at, now)
        self.report(
            f"data refresh through {through} failed (attempt {attempts}): {error}; "
            f"next attempt {when}"
        )
        if not was.alerted:
            body = (
                f"The data refresh through {through} failed: {error}.\n"
                f"Attempts: {attempts}; next attempt {when} {self.calendar.tz}.\n"
                f"The data ends {data_end}: the worker will not rebalance on stale data."
            )
            self._alert(FAILED_TITLE, body)

    def _settled(self, data_end: dt.date) -> None:
        # Fresh data ends a run of failures, whoever brought it (run_data_sync.py).
        was = self.record
        if was.attempts == 0:
            return
        self.record = replace(was, attempts=0, error=None, next_attempt_at=None, alerted=False)
        self._save()
        logger.info("Data refresh no longer needed: the data reaches %s", data_end)
        if was.alerted:
            body = (
                f"The data now reaches {data_end} (brought in by another sync) after "
                f"{_count(was.attempts, 'failed refresh attempt')}.\n"
                "The worker rebalances on fresh data again."
            )
            self._alert(RECOVERED_TITLE, body)

    def _alert(self, title: str, body: str) -> None:
        try:
            self.alert(title, body)
        except Exception:  # an alert that cannot be sent must not stop the worker
            logger.exception("Alert %r could not be sent", title)

    def status(self, now: dt.datetime, data_end: dt.date) -> DataRefresh:
        """Return the state's ``refresh`` section.

        OFF (no job: ``live.refresh: none``); RUNNING (an attempt in flight: ``phase``,
        ``done``, ``total`` from its progress file); IDLE (the data reaches ``needed``); FAILED
        (the last attempt failed: ``error``, ``attempts``, ``next_attempt_at``); DUE (sessions
        missing, the attempt starts at the next step). The last success's figures are there
        in every state but OFF. ``summary``, with exchange-local times:

        - IDLE: "data through 2026-12-03, refreshed 16:41, 500 symbols, 2 rejected rows"
          ("..., not refreshed by the worker yet" before its first success);
        - RUNNING: "refreshing through 2026-12-04: ib history 120/500" ("...: starting"
          before the child's first progress);
        - FAILED: "data through 2026-12-02; refresh through 2026-12-03 failed (2 attempts):
          <error>; next attempt 17:41";
        - DUE: "data through 2026-12-02; refresh through 2026-12-03 due";
        - OFF: "data refresh off (live.refresh: none); data through 2026-12-03".
        """
        needed = self.needed(now)
        if self.job is None:
            summary = f"data refresh off (live.refresh: none); data through {data_end}"
            return DataRefresh(
                status=RefreshStatus.OFF,
                data_through=data_end,
                needed_through=needed,
                summary=summary,
            )
        rec, last = self.record, self.record.last
        progress = self.job.progress() if self.through is not None else None
        phase, done, total = progress if progress is not None else (None, None, None)
        if self.through is not None:
            state = RefreshStatus.RUNNING
            doing = "starting" if progress is None else f"{phase} {done}/{total}"
            summary = f"refreshing through {self.through}: {doing}"
        elif needed is None or data_end >= needed:
            state, summary = RefreshStatus.IDLE, self._idle_summary(now, data_end)
        elif rec.attempts > 0:
            state = RefreshStatus.FAILED
            when = "" if rec.next_attempt_at is None else self._at(rec.next_attempt_at, now)
            summary = (
                f"data through {data_end}; refresh through {rec.through or needed} failed "
                f"({_count(rec.attempts, 'attempt')}): {rec.error}; next attempt {when}"
            )
        else:
            state = RefreshStatus.DUE
            summary = f"data through {data_end}; refresh through {needed} due"
        return DataRefresh(
            status=state,
            data_through=data_end,
            needed_through=needed,
            refreshed_at=rec.refreshed_at,
            started_at=self.started_at,
            phase=phase,
            done=done,
            total=total,
            **({} if last is None else {k: getattr(last, k) for k in LAST_FIGURES}),
            attempts=rec.attempts,
            error=rec.error,
            next_attempt_at=rec.next_attempt_at,
            summary=summary,
        )

    def _idle_summary(self, now: dt.datetime, data_end: dt.date) -> str:
        rec = self.record
        if rec.last is None or rec.refreshed_at is None:
            return f"data through {data_end}, not refreshed by the worker yet"
        return (
            f"data through {data_end}, refreshed {self._at(rec.refreshed_at, now)}, "
            f"{self._figures(rec.last)}"
        )

    @staticmethod
    def _figures(outcome: RefreshOutcome) -> str:
        late = outcome.behind  # named: the decision treats their missing bar as a backtest would
        behind = f", {len(late)} behind ({', '.join(late[:5])}{'...' * (len(late) > 5)})"
        figures = f"{_count(outcome.symbols, 'symbol')}, {_count(outcome.rejected, 'rejected row')}"
        return figures + (behind if late else "")

    def _at(self, moment: dt.datetime, now: dt.datetime) -> str:
        """Return ``moment`` as exchange-local "HH:MM", with its date if not ``now``'s."""
        local = moment.astimezone(self.zone)
        same_day = local.date() == now.astimezone(self.zone).date()
        return f"{local:%H:%M}" if same_day else f"{local:%Y-%m-%d %H:%M}"

    def _load(self) -> _Record:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _Record()
        except (OSError, UnicodeDecodeError) as exc:
            return self._unreadable(exc)
        try:
            return _Record.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            return self._unreadable(exc)

    def _unreadable(self, exc: Exception) -> _Record:
        self.report(
            f"{self.path} could not be read ({describe(exc)}): ignored; the data refresh "
            "starts afresh (no back-off, no last figures)"
        )
        return _Record()

    def _save(self) -> None:
        try:
            atomic_write_json(self.path, self.record.to_json())
        except OSError as exc:  # a full disk must not stop the worker; the next save retries
            self.report(f"{self.path} could not be written: {describe(exc)}")
