"""The built-in strategies; importing this package registers them."""

from quant_core.strategies.builtin import cross_sectional, fitted, trend

__all__ = ["cross_sectional", "fitted", "trend"]
