"""Pre-trade risk controls: small, pluggable, run once per order before it is sent.

Each control's ``validate`` returns ``None`` when the order may go, or a :class:`Breach` naming
the limit and why. The worker turns any breach into the HALTED state: no new strategy orders,
while CANCEL, FLAT and STOP still work.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from typing_extensions import override

from config.schema import RiskConfig


@dataclass(frozen=True, slots=True)
class Breach:
    """A tripped limit."""

    limit: str
    reason: str


@dataclass(frozen=True, slots=True)
class RiskView:
    """What the controls see: the account now and its history today and overall."""

    equity: float
    start_of_day_equity: float
    peak_equity: float
    position_value: dict[str, float]  # by symbol, after the orders so far in this batch


class RiskControl(ABC):
    """One limit."""

    name: str

    @abstractmethod
    def validate(self, symbol: str, signed_notional: float, view: RiskView) -> Breach | None:
        """Return a breach if ``signed_notional`` more of ``symbol`` would break the limit."""


class MaxPositionWeight(RiskControl):
    """No position above a share of equity."""

    name = "max_position_weight"

    def __init__(self, limit: float) -> None:
        self.limit = limit

    @override
    def validate(self, symbol: str, signed_notional: float, view: RiskView) -> Breach | None:
        after = view.position_value.get(symbol, 0.0) + signed_notional
        weight = abs(after) / view.equity if view.equity > 0 else float("inf")
        if weight > self.limit:
            return Breach(
                self.name, f"{symbol} would be {weight:.1%} of equity (limit {self.limit:.1%})"
            )
        return None


class MaxOrderNotional(RiskControl):
    """No single order above a notional, account currency."""

    name = "max_order_notional"

    def __init__(self, limit: float) -> None:
        self.limit = limit

    @override
    def validate(self, symbol: str, signed_notional: float, view: RiskView) -> Breach | None:
        if abs(signed_notional) > self.limit:
            return Breach(
                self.name,
                f"{symbol} order of {abs(signed_notional):,.2f} exceeds {self.limit:,.2f}",
            )
        return None


class MaxDailyLoss(RiskControl):
    """No new order once today's loss exceeds a share of the day's starting equity."""

    name = "max_daily_loss"

    def __init__(self, limit: float) -> None:
        self.limit = limit

    @override
    def validate(self, symbol: str, signed_notional: float, view: RiskView) -> Breach | None:
        loss = 1 - view.equity / view.start_of_day_equity if view.start_of_day_equity > 0 else 0.0
        if loss > self.limit:
            return Breach(self.name, f"down {loss:.1%} today (limit {self.limit:.1%})")
        return None


class MaxDrawdown(RiskControl):
    """No new order once equity is down a share from its peak."""

    name = "max_drawdown"

    def __init__(self, limit: float) -> None:
        self.limit = limit

    @override
    def validate(self, symbol: str, signed_notional: float, view: RiskView) -> Breach | None:
        drawdown = 1 - view.equity / view.peak_equity if view.peak_equity > 0 else 0.0
        if drawdown > self.limit:
            return Breach(self.name, f"{drawdown:.1%} below the peak (limit {self.limit:.1%})")
        return None


def controls_from_config(cfg: RiskConfig) -> list[RiskControl]:
    """Return the controls the ``risk`` config section enables (a limit of None disables one)."""
    out: list[RiskControl] = []
    if cfg.max_position_weight is not None:
        out.append(MaxPositionWeight(cfg.max_position_weight))
    if cfg.max_order_notional_usd is not None:
        out.append(MaxOrderNotional(cfg.max_order_notional_usd))
    if cfg.max_daily_loss_frac is not None:
        out.append(MaxDailyLoss(cfg.max_daily_loss_frac))
    if cfg.max_drawdown_frac is not None:
        out.append(MaxDrawdown(cfg.max_drawdown_frac))
    return out


def check(
    controls: Sequence[RiskControl], orders: dict[str, float], view: RiskView
) -> Breach | None:
    """Run every control on every order (``symbol -> signed notional``); the first breach wins."""
    values = dict(view.position_value)
    for symbol, notional in orders.items():
        current = RiskView(view.equity, view.start_of_day_equity, view.peak_equity, values)
        for control in controls:
            breach = control.validate(symbol, notional, current)
            if breach is not None:
                return breach
        values[symbol] = values.get(symbol, 0.0) + notional
    return None
