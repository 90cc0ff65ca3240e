"""The tearsheet leaves the process as it found it, reads well for a short run, takes run ids only.

* Writing a report must not switch the caller's matplotlib backend for good (a notebook's inline
  backend, a script's GUI backend): QuantStats draws through pyplot on Agg, then the backend
  the caller had is back.
* QuantStats' rolling figures use half a year (126 sessions): a one-month run got four empty
  axes with dates like "01-01 00"; they give way to a note. Its "CAGR﹪" label uses a glyph
  (U+FE6A) the fonts here lack (a box in Chromium): written "CAGR%".
* ``--report-only`` takes a run id, never a path (``../backtests/<id>``), as the Explorer's
  run folder functions do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from config import load_config
from quant_core.backtest import tearsheet
from quant_core.backtest.run import run_backtest
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ROLLING = ("rolling_beta", "rolling_vol", "rolling_sharpe", "rolling_sortino")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("tearsheet_review")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


@pytest.fixture(scope="module")
def month_run(data_dir: Path) -> Path:
    """A stored one-month momentum run (22 sessions, equal-weight benchmark)."""
    cfg = load_config(
        "backtest",
        [
            f"paths.data_dir={data_dir}",
            "data.dataset=sp500-2010",
            "backtest.start=2010-06-01",
            "backtest.end=2010-06-30",
        ],
        environ={},
    )
    return run_backtest(cfg, store=True).path


def test_writing_a_report_gives_the_caller_its_backend_back(month_run: Path) -> None:
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # the caller's own (non-Agg) backend
    try:
        tearsheet.write_tearsheet(month_run)
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)


def test_a_one_month_report_has_no_empty_rolling_axes_and_no_missing_glyph(
    month_run: Path,
) -> None:
    document = tearsheet.write_tearsheet(month_run).read_text(encoding="utf-8")
    for figure in ROLLING:
        assert f'<div id="{figure}">' not in document, figure
    assert "use 126 sessions: this run has 22 daily returns, too few to draw them." in document
    assert "\ufe6a" not in document
    assert "CAGR%" in document
    assert '<div id="monthly_heatmap">' in document  # QuantStats' other figures stay


def test_a_run_long_enough_keeps_quantstats_rolling_figures() -> None:
    body = "".join(f'<div id="{f}"><svg><g/></svg></div>\n' for f in ROLLING)
    body += '<div id="dd_plot"><svg/></div>'
    assert tearsheet._tidy(body, 200) == body
    short = tearsheet._tidy(body, 60)
    assert short.count('<p class="note">') == 1
    assert short.endswith('<div id="dd_plot"><svg/></div>')
    assert 'id="rolling_' not in short


def test_report_only_takes_a_run_id_not_a_path(data_dir: Path, month_run: Path) -> None:
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir)}
    sneaky = f"../backtests/{month_run.name}"
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_backtest.py"), "--report-only", sneaky],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"'{sneaky}' is not a backtest run id" in result.stderr
