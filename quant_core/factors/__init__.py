"""Factors: per-symbol signals computed vectorised on wide panels (dates x symbols)."""

from quant_core.factors import library
from quant_core.factors.base import DEFAULT_FACTORS, FACTORS, Factor, make_factor, named_factor

__all__ = ["DEFAULT_FACTORS", "FACTORS", "Factor", "library", "make_factor", "named_factor"]
