"""The built-in scanners; importing this package registers them."""

from quant_core.scanners.builtin import gappers, liquid, sector, static

__all__ = ["gappers", "liquid", "sector", "static"]
