from __future__ import annotations

import logging
from pathlib import Path

import pytest

from quant_core.calendar import TradingCalendar, get_calendar
from quant_core.data.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    return get_calendar("XNYS")


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse")


def log_has(caplog: pytest.LogCaptureFixture, fragment: str, level: int = logging.DEBUG) -> bool:
    """Return whether any record at ``level`` or above contains ``fragment``."""
    return any(fragment in r.getMessage() for r in caplog.records if r.levelno >= level)
