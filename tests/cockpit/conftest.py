"""Shared fixtures of the cockpit tests: a real warehouse (sp500-2010) with factors and a run.

``data_dir`` is built once per session; ``app`` points the cockpit at it through the same
``QC__PATHS__DATA_DIR`` variable a user would set, and returns a started AppTest.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from quant_core.calendar import TradingCalendar
from tests.cockpit.warehouse import build_data_dir

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
VIEWS = "quant_core/cockpit/views"


@pytest.fixture(scope="session")
def built_data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: TradingCalendar) -> Path:
    """Return a data dir with sp500-2010 synced, its default factors and one stored backtest."""
    return build_data_dir(tmp_path_factory.mktemp("cockpit") / "data", calendar, backtest=True)


@pytest.fixture
def data_dir(built_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a private copy of the built data dir, set as ``QC__PATHS__DATA_DIR``."""
    copy = tmp_path / "data"
    shutil.copytree(built_data_dir, copy)
    monkeypatch.setenv("QC__PATHS__DATA_DIR", str(copy))
    return copy


@pytest.fixture
def open_page(data_dir: Path) -> Callable[[str], AppTest]:
    """Return ``open_page("live")``: the app run once, then switched to that page's view file."""

    def opener(view: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60).run()
        assert not at.exception, at.exception
        if view != "explorer":
            at.switch_page(f"{VIEWS}/{view}.py").run()
        assert not at.exception, at.exception
        return at

    return opener
