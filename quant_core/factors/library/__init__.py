"""The built-in factors; importing this package registers them."""

from quant_core.factors.library import price

__all__ = ["price"]
