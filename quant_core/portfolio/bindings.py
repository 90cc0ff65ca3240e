"""What a constraint that bound says: the records of steps 2, 4 and 5 of the constraints.

Built from the figures alone, so that the numpy steps (:mod:`quant_core.portfolio.constraints`)
and the compiled ones (:mod:`quant_core.portfolio.kernels_sizing`, whose figures the compiled
backtest loop returns) record a binding in the same words.
"""

from __future__ import annotations

from quant_core.portfolio.policy import Binding


def clip_binding(count: int, cap: float) -> Binding:
    """Return step 2's record: ``count`` names clipped to ``cap``."""
    return Binding("max_weight", f"{count} name(s) clipped to {cap:.2%}")


def gross_binding(gross: float, cap: float) -> Binding:
    """Return step 4's record: a ``gross`` scaled down to ``cap``."""
    return Binding("max_gross", f"gross scaled {gross:.2f} -> {cap:.2f}")


def net_binding(net: float, cap: float, scale: float) -> Binding:
    """Return step 5's record: a ``net`` brought to ``cap`` by its side scaled by ``scale``."""
    side, target = ("long", cap) if net > 0 else ("short", -cap)
    return Binding(
        "max_net", f"net {net:+.2f} -> {target:+.2f} ({side} side scaled by {scale:.2f})"
    )
