"""Trading costs: commission and slippage, from the ``costs`` config section.

Lives in ``portfolio`` (not ``backtest``) because the live worker's simulated broker charges the
same costs through the same kernel, and ``backtest`` and ``live`` never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the kernel itself needs no config package at run time
    from config.schema import BpsCosts, PerShareCosts

BPS = 1e-4


@dataclass(frozen=True, slots=True)
class CostModel:
    """Commission and slippage of one order.

    Attributes
    ----------
    per_share_usd, min_per_order_usd, max_frac_of_value
        IB-style per-share commission: ``min(max(shares x per_share_usd, min_per_order_usd),
        max_frac_of_value x notional)``. Zero to disable.
    commission_bps
        Commission as basis points of notional (the ``bps`` model).
    slippage_bps
        Adverse move of the execution price, basis points: buys pay more, sells get less.
    """

    per_share_usd: float = 0.0
    min_per_order_usd: float = 0.0
    max_frac_of_value: float = np.inf
    commission_bps: float = 0.0
    slippage_bps: float = 0.0

    @classmethod
    def from_config(cls, costs: PerShareCosts | BpsCosts) -> CostModel:
        """Build the model of the ``costs`` config section."""
        if costs.model == "per_share":
            return cls(
                per_share_usd=costs.per_share_usd,
                min_per_order_usd=costs.min_per_order_usd,
                max_frac_of_value=costs.max_frac_of_value,
                slippage_bps=costs.slippage_bps,
            )
        return cls(commission_bps=costs.commission_bps, slippage_bps=costs.slippage_bps)

    @property
    def rates(self) -> tuple[float, float, float, float]:
        """Return the commission's figures as the compiled fill kernel takes them.

        Per-share fee, minimum per order, maximum fraction of value, and ``commission_bps``
        as a rate (one product, as :meth:`commission` computes it).
        """
        return (
            float(self.per_share_usd),
            float(self.min_per_order_usd),
            float(self.max_frac_of_value),
            float(self.commission_bps * BPS),
        )

    def execution_price(self, price: np.ndarray, side: np.ndarray) -> np.ndarray:
        """Return the price paid (``side`` +1) or received (``side`` -1) after slippage."""
        return np.asarray(price * (1.0 + side * self.slippage_bps * BPS))

    def commission(self, shares: np.ndarray, price: np.ndarray) -> np.ndarray:
        """Return the commission of each order of ``shares`` (>= 0) at ``price``; 0 for none."""
        shares = np.abs(shares)
        notional = shares * price
        fee = np.maximum(shares * self.per_share_usd, self.min_per_order_usd)
        if np.isfinite(self.max_frac_of_value):
            fee = np.minimum(fee, self.max_frac_of_value * notional)
        fee = fee + notional * (self.commission_bps * BPS)
        return np.where(shares > 0, fee, 0.0)
