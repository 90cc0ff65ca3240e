"""Where the cockpit's files are: the same config as the command-line tools (and its overlays).

Config is read on every rerun: it is a few small YAML files, and a changed ``QC__`` environment
or file takes effect without restarting Streamlit.
"""

from __future__ import annotations

from pathlib import Path

from config import load_config
from config.schema import AppConfig
from quant_core.data.warehouse import Warehouse


def config(env: str = "backtest") -> AppConfig:
    """Return the merged config for ``env`` (``backtest`` or ``live``)."""
    return load_config(env)


def warehouse(cfg: AppConfig) -> Warehouse:
    """Return the warehouse under ``paths.data_dir``."""
    return Warehouse(cfg.paths.warehouse_location())


def backtests_dir(cfg: AppConfig) -> Path:
    """Return the folder of stored backtest runs."""
    return cfg.paths.data_dir / "backtests"


def live_dir(cfg: AppConfig) -> Path:
    """Return the worker's folder: state, commands, journal (as ``live.run.live_dir``)."""
    return cfg.paths.data_dir / "live"
