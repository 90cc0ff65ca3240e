"""Strategies: a context (data through T-1, the portfolio) in, target weights out."""

from quant_core.strategies import builtin
from quant_core.strategies.base import (
    STRATEGIES,
    DataView,
    LookAheadError,
    Picks,
    PortfolioSnapshot,
    Strategy,
    StrategyContext,
    StrategyParams,
    build_strategy,
    check_schedule,
    register_strategy,
)

__all__ = [
    "STRATEGIES",
    "DataView",
    "LookAheadError",
    "Picks",
    "PortfolioSnapshot",
    "Strategy",
    "StrategyContext",
    "StrategyParams",
    "build_strategy",
    "builtin",
    "check_schedule",
    "register_strategy",
]
