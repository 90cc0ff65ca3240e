"""Placeholder: helper A replaces this module (the IB incremental refresh)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from config.schema import AppConfig
from quant_core.data.refresh_status import RefreshOutcome


def refresh_through(cfg: AppConfig, through: dt.date, progress_path: Path) -> RefreshOutcome:
    """Fetch the missing sessions through ``through`` (not written yet)."""
    raise NotImplementedError("quant_core.ib.refresh is being written")
