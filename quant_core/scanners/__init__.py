"""Scanners: the universe of each session T, from data through T-1 only."""

from quant_core.scanners import builtin
from quant_core.scanners.base import (
    SCANNERS,
    Scanner,
    ScannerParams,
    build_scanner,
    register_scanner,
    scanner_names,
)
from quant_core.scanners.stats import universe_stats

__all__ = [
    "SCANNERS",
    "Scanner",
    "ScannerParams",
    "build_scanner",
    "builtin",
    "register_scanner",
    "scanner_names",
    "universe_stats",
]
