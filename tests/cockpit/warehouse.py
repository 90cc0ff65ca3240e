"""A real warehouse for the cockpit's tests, AppTest and browser alike."""

from __future__ import annotations

from pathlib import Path

from config import load_config
from quant_core.backtest.run import run_backtest
from quant_core.calendar import TradingCalendar
from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.factors.compute import compute_factors


def build_data_dir(root: Path, calendar: TradingCalendar, backtest: bool) -> Path:
    """Sync sp500-2010 into ``root``, compute its default factors, and maybe run a backtest."""
    warehouse = Warehouse(root / "warehouse")
    sync(SampleSource("sp500-2010"), warehouse, calendar, "sp500-2010")
    compute_factors(warehouse, "sp500-2010")
    if backtest:
        run_backtest(load_config("backtest", [f"paths.data_dir={root}"], environ={}))
    return root
