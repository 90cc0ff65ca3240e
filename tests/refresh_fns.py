"""Small top-level refresh functions for ProcessJob's tests (a spawned child imports them)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from pathlib import Path

from config.schema import AppConfig
from quant_core.data.refresh_status import RefreshOutcome, write_progress
from quant_core.errors import DataError

SLOW_LIMIT_S = 60.0  # a slow refresh ends by itself after this long, should a test leak one
# A stall limit that outlasts the spawn of a child importing this module on a loaded machine
# (0.7 s idle here; a test module importing the fake TWS took 4.7 s, and 5 s was too tight).
PROGRESS_STALL_S = 6.0


def succeeding(cfg: AppConfig, through: dt.date, progress_path: Path) -> RefreshOutcome:
    """Write progress and return an outcome that names the child and the session asked for."""
    write_progress(progress_path, "store", 3, 3)
    return RefreshOutcome(
        data_through=through,
        symbols=3,
        requests=4,
        rows_written=12,
        rejected=1,
        factors=("momentum_20",),
        notes=(f"pid {os.getpid()}", f"dataset {cfg.data.dataset}"),
    )


def raising(cfg: AppConfig, through: dt.date, progress_path: Path) -> RefreshOutcome:
    """Fail like a refresh whose validation rejects everything (the text has a 'secret')."""
    raise DataError(f"no valid bars for {through}; token hunter2-refresh-secret")


def killing_itself(cfg: AppConfig, through: dt.date, progress_path: Path) -> RefreshOutcome:
    """Die as a child killed by the OOM killer would: SIGKILL, nothing sent back."""
    write_progress(progress_path, "ib history", 1, 10)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def slow(cfg: AppConfig, through: dt.date, progress_path: Path) -> RefreshOutcome:
    """Report progress, then wait; a cancel's SIGTERM unwinds it (the ``.cleanup`` marker)."""
    try:
        write_progress(progress_path, "ib history", 120, 500)
        deadline = time.monotonic() + SLOW_LIMIT_S
        while time.monotonic() < deadline:
            time.sleep(0.02)
        return succeeding(cfg, through, progress_path)
    finally:
        progress_path.with_suffix(".cleanup").write_text(str(os.getpid()))


def progressing(cfg: AppConfig, through: dt.date, progress_path: Path) -> RefreshOutcome:
    """Progress every 0.5 s for 1.5 stall limits (in all longer than the limit), then succeed."""
    steps = int(PROGRESS_STALL_S * 1.5 / 0.5)
    for done in range(steps):
        write_progress(progress_path, "ib history", done + 1, steps)
        time.sleep(0.5)
    return RefreshOutcome(through, steps, steps, steps, 0, (), None, ())
