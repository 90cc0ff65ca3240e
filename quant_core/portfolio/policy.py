"""The portfolio policy both drivers apply between the strategy and sizing.

One object, built once from the config by the backtest and by the worker alike: how the
strategy's picks are re-weighted (:mod:`quant_core.portfolio.construction`) and the limits the
constructed weights must then keep (:mod:`quant_core.portfolio.constraints`). Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from quant_core.portfolio.construction import ConstructionSettings

if TYPE_CHECKING:  # the policy needs no config package at run time
    from config.schema import AppConfig

ANNUALISATION = 252  # sessions per year, for volatility targets


@dataclass(frozen=True, slots=True)
class ConstraintSettings:
    """The ``portfolio.constraints`` section and ``portfolio.vol_target``.

    ``max_weight`` is already resolved: the config's, or ``risk.max_position_weight`` where the
    config leaves it null. None disables a limit. ``cash_buffer`` is ``portfolio.cash_buffer``:
    ``vol_target`` is a volatility of the equity, the weights fractions of the investable equity.
    """

    max_weight: float | None = None
    sector_cap: float | None = None
    max_gross: float = 1.0
    max_net: float = 1.0
    max_turnover: float | None = None
    no_trade_band: float = 0.0
    vol_target: float | None = None
    cash_buffer: float = 0.0  # portfolio.cash_buffer: vol_target is of equity, weights investable


@dataclass(frozen=True, slots=True)
class Binding:
    """A constraint that changed the weights at one decision, and how, for people.

    ``constraint`` is the config key (``max_weight``, ``sector_cap``, ``max_gross``,
    ``max_net``, ``max_turnover``, ``no_trade_band``, ``vol_target``), or ``fallback`` when the
    construction method failed and ``inverse_vol`` gave the weights; ``detail`` says what it
    did (e.g. ``3 names clipped to 3.00%`` or ``gross scaled 1.00 -> 0.64``).
    """

    constraint: str
    detail: str


@dataclass(frozen=True, slots=True)
class PortfolioPolicy:
    """Construction and constraints: the whole step from picks to target weights."""

    construction: ConstructionSettings = field(default_factory=ConstructionSettings)
    constraints: ConstraintSettings = field(default_factory=ConstraintSettings)

    @classmethod
    def from_config(cls, cfg: AppConfig) -> PortfolioPolicy:
        """Build the policy of the ``portfolio`` and ``risk`` sections."""
        portfolio, limits = cfg.portfolio, cfg.portfolio.constraints
        max_weight = limits.max_weight
        if max_weight is None:
            max_weight = cfg.risk.max_position_weight
        return cls(
            ConstructionSettings.from_config(portfolio.construction),
            ConstraintSettings(
                max_weight=max_weight,
                sector_cap=limits.sector_cap,
                max_gross=limits.max_gross,
                max_net=limits.max_net,
                max_turnover=limits.max_turnover,
                no_trade_band=limits.no_trade_band,
                vol_target=portfolio.vol_target,
                cash_buffer=portfolio.cash_buffer,
            ),
        )

    @property
    def history(self) -> int:
        """Return how many sessions before T a decision reads: construction or vol target."""
        vol = self.construction.lookback + 1 if self.constraints.vol_target is not None else 0
        return max(self.construction.history, vol)
