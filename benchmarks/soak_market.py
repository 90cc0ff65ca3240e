"""The soak benchmark's market: a hidden SYNTHETIC panel, its refresh, and a broker that drops.

* :class:`HiddenPanel`: every session of a multi-year SYNTHETIC panel (``generate_bars``), held
  back from the warehouse; :func:`seed_warehouse` syncs its warm-up sessions in, then
  :func:`refresh_soak` (the worker's ``RefreshFn``, run by a ``ThreadJob``) appends the sessions
  each refresh asks for, through the same ``data.sync.sync`` as a real refresh (validation, the
  reference data, the sync log), writing its progress as ``ib/refresh.py`` does.
* A refresh can be made to fail once for a session (:meth:`SoakRefresh.fail_once`): the watch's
  back-off then retries it.
* :class:`FlakySimBroker`: the simulated broker, whose link can be dropped (every account read
  raises ``TemporaryBrokerError``) and which refuses a given number of reconnects.
"""

from __future__ import annotations

import datetime as dt
import threading
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from config.schema import AppConfig
from quant_core.broker import Account
from quant_core.calendar import TradingCalendar, get_calendar
from quant_core.data.refresh_status import RefreshOutcome, write_progress
from quant_core.data.sources.base import ProgressFn, SourceBatch
from quant_core.data.sources.synthetic import generate_bars, generate_sectors
from quant_core.data.sync import sync
from quant_core.data.warehouse import DatasetMeta, Warehouse
from quant_core.errors import TemporaryBrokerError
from quant_core.live.sim_broker import SimBroker

META = DatasetMeta(
    label="SYNTHETIC soak panel (benchmarks/soak_worker.py), not real data",
    source="synthetic:soak",
    synthetic=True,
)


class HiddenPanel:
    """Bars of ``symbols`` x ``sessions`` sessions ending ``end``, sorted by date then symbol."""

    def __init__(
        self, calendar: TradingCalendar, symbols: int, sessions: int, seed: int, end: dt.date
    ) -> None:
        bars = generate_bars(calendar, symbols, sessions, seed, end=end)
        self.bars = bars.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)
        self.days = self.bars["date"].to_numpy().astype("datetime64[D]")
        self.sessions = np.unique(self.days)
        self.sectors = generate_sectors(symbols, seed)
        self.symbols = symbols

    def session(self, i: int) -> dt.date:
        """Return the panel's ``i``-th session."""
        return pd.Timestamp(self.sessions[i]).date()

    def rows(self, after: dt.date | None, through: dt.date) -> pd.DataFrame:
        """Return the bars dated in ``(after, through]`` (every bar through ``through``: None)."""
        lo = 0 if after is None else np.searchsorted(self.days, np.datetime64(after, "D"), "right")
        hi = np.searchsorted(self.days, np.datetime64(through, "D"), "right")
        return self.bars.iloc[lo:hi]

    @property
    def nbytes(self) -> int:
        """Return the memory the hidden bars hold (allocated once, before the run)."""
        return int(self.bars.memory_usage(deep=True).sum())


class _Slice:
    """A bar source over some rows of the hidden panel (what one refresh fetches)."""

    def __init__(self, bars: pd.DataFrame, sectors: pd.DataFrame) -> None:
        self.bars, self.sectors, self.name = bars, sectors, "synthetic-soak"

    def load(self, progress: ProgressFn | None = None) -> SourceBatch:
        bars = self.bars.assign(_source="synthetic-soak")
        return SourceBatch(bars, META, ohlc="reject", symbols=self.sectors)


@dataclass
class SoakRefresh:
    """What :func:`refresh_soak` reads and records (one per process: the job is a thread)."""

    panel: HiddenPanel | None = None
    stored_through: dt.date | None = None
    failing: set[dt.date] = field(default_factory=set)  # sessions whose next attempt fails
    # Each attempt's session as a day number, negative for a failure (4 bytes an attempt).
    attempts: array[int] = field(default_factory=lambda: array("i"))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, through: dt.date, ok: bool) -> None:
        """Record one attempt through ``through``."""
        self.attempts.append(through.toordinal() if ok else -through.toordinal())

    def done(self, ok: bool) -> list[dt.date]:
        """Return the sessions of the attempts that succeeded (``ok``) or failed, in order."""
        return [dt.date.fromordinal(abs(a)) for a in self.attempts if (a > 0) == ok]

    def fail_once(self, session: dt.date) -> None:
        """Make the next refresh through ``session`` fail (the one after it succeeds)."""
        with self.lock:
            self.failing.add(session)


SOAK = SoakRefresh()


def seed_warehouse(cfg: AppConfig, panel: HiddenPanel, through: dt.date) -> None:
    """Sync the panel's sessions through ``through`` into the dataset (the warm-up)."""
    warehouse = Warehouse(cfg.paths.warehouse_location())
    calendar = get_calendar(cfg.calendar.exchange)
    sync(_Slice(panel.rows(None, through), panel.sectors), warehouse, calendar, cfg.data.dataset)
    SOAK.panel, SOAK.stored_through = panel, through


def refresh_soak(cfg: AppConfig, through: dt.date, progress_path: Path) -> RefreshOutcome:
    """Append the hidden sessions after the stored ones through ``through`` (a ``RefreshFn``).

    Phases as ``ib/refresh.py`` writes them: plan, ib history, validate, store, factors (the
    momentum strategy needs no stored factor). Raises ``TemporaryBrokerError`` once for a
    session given to :meth:`SoakRefresh.fail_once`.
    """
    panel, after = SOAK.panel, SOAK.stored_through
    if panel is None:
        raise RuntimeError("the soak's hidden panel is not installed (seed_warehouse)")
    write_progress(progress_path, "plan", 0, 1)
    with SOAK.lock:
        failing = through in SOAK.failing
        SOAK.failing.discard(through)
    if failing:
        SOAK.record(through, ok=False)
        raise TemporaryBrokerError("simulated: HMDS data farm connection is broken", 2105)
    rows = panel.rows(after, through)
    write_progress(progress_path, "ib history", panel.symbols, panel.symbols)
    write_progress(progress_path, "validate", 0, 1)
    warehouse = Warehouse(cfg.paths.warehouse_location())
    calendar = get_calendar(cfg.calendar.exchange)
    report = sync(_Slice(rows, panel.sectors), warehouse, calendar, cfg.data.dataset)
    write_progress(progress_path, "store", 1, 1)
    write_progress(progress_path, "factors", 0, 0)
    SOAK.stored_through = report.last_date
    SOAK.record(through, ok=True)
    return RefreshOutcome(
        data_through=report.last_date,
        symbols=report.symbols,
        requests=report.symbols,
        rows_written=report.rows_written,
        rejected=report.rejected,
    )


class FlakySimBroker(SimBroker):
    """The simulated broker with a link that can drop (see the module docstring)."""

    down = False
    refusals = 0  # reconnects still to refuse
    drops = 0
    refused = 0

    def drop(self, refusals: int) -> None:
        """Lose the link: account reads raise until a reconnect is let through."""
        self.down, self.refusals = True, refusals
        self.drops += 1

    def connect(self) -> None:
        """Refuse while ``refusals`` remain, then come back."""
        if self.refusals > 0:
            self.refusals -= 1
            self.refused += 1
            raise TemporaryBrokerError("simulated: connectivity between IB and TWS lost", 1100)
        self.down = False

    def account(self) -> Account:
        """Raise while the link is down (the worker's first broker read of a heartbeat)."""
        if self.down:
            raise TemporaryBrokerError("simulated: not connected", 504)
        return super().account()
