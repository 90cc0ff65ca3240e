"""Risk limits: pre-trade controls, and the account limits' usage at any moment.

Each control's ``validate`` returns ``None`` when the order may go, or a :class:`Breach` naming
the limit and why. The worker turns any breach into the HALTED state: no new strategy orders,
while CANCEL, FLAT and STOP still work.

The two account limits, daily loss and drawdown, are also measured between orders
(:func:`account_usage`: net liquidation against the session's opening equity and against the
peak, as fractions); the worker does so at every heartbeat (``live.risk_watch``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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


def fall(equity: float, base: float) -> float | None:
    """Return how far ``equity`` is below ``base``, a fraction (negative: above it).

    None when there is nothing to measure against: ``base`` not positive, or either figure not
    finite (a broker that has not reported its account yet).
    """
    if not (math.isfinite(equity) and math.isfinite(base)) or base <= 0:
        return None
    return 1.0 - equity / base


@dataclass(frozen=True, slots=True)
class LimitUsage:
    """One account limit and how much of it is used now; fractions of equity.

    ``usage`` is the loss (never below 0: a gain uses none of the limit), or None when there is
    no figure to measure it against yet.
    """

    name: str  # as in a Breach: max_daily_loss, max_drawdown
    label: str  # for people: "daily loss", "drawdown"
    limit: float
    usage: float | None

    @property
    def tripped(self) -> bool:
        """Return whether the usage is beyond the limit."""
        return self.usage is not None and self.usage > self.limit

    def describe(self) -> str:
        """Return e.g. ``daily loss 4.56% of 1.00%``."""
        used = "unknown" if self.usage is None else f"{self.usage:.2%}"
        return f"{self.label} {used} of {self.limit:.2%}"


class AccountLimits(Protocol):
    """The two account limits, fractions (None disables one): ``RiskConfig``, ``HaltRules``."""

    @property
    def max_daily_loss_frac(self) -> float | None:
        """Return the largest loss in a session, a share of its opening equity."""
        ...

    @property
    def max_drawdown_frac(self) -> float | None:
        """Return the largest fall from the peak equity."""
        ...


def account_usage(
    cfg: AccountLimits, equity: float, start_of_day_equity: float, peak_equity: float
) -> list[LimitUsage]:
    """Return the enabled account limits (daily loss, drawdown) with their usage now.

    The live worker's heartbeat (``live/risk_watch.py``) and the backtest's closes
    (``portfolio/halts.py``) both measure the limits here.
    """
    out = []
    for name, label, limit, base in (
        ("max_daily_loss", "daily loss", cfg.max_daily_loss_frac, start_of_day_equity),
        ("max_drawdown", "drawdown", cfg.max_drawdown_frac, peak_equity),
    ):
        if limit is not None:
            loss = fall(equity, base)
            out.append(LimitUsage(name, label, limit, None if loss is None else max(loss, 0.0)))
    return out


class RiskControl(ABC):
    """One limit; ``account``: it reads the account only, so no order changes its verdict."""

    name: str
    account: bool = False

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
                self.name, f"{symbol} would be {weight:.2%} of equity (limit {self.limit:.2%})"
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
    account = True

    def __init__(self, limit: float) -> None:
        self.limit = limit

    @override
    def validate(self, symbol: str, signed_notional: float, view: RiskView) -> Breach | None:
        loss = fall(view.equity, view.start_of_day_equity) or 0.0
        if loss > self.limit:
            return Breach(self.name, f"down {loss:.1%} today (limit {self.limit:.1%})")
        return None


class MaxDrawdown(RiskControl):
    """No new order once equity is down a share from its peak."""

    name = "max_drawdown"
    account = True

    def __init__(self, limit: float) -> None:
        self.limit = limit

    @override
    def validate(self, symbol: str, signed_notional: float, view: RiskView) -> Breach | None:
        drawdown = fall(view.equity, view.peak_equity) or 0.0
        if drawdown > self.limit:
            return Breach(self.name, f"{drawdown:.1%} below the peak (limit {self.limit:.1%})")
        return None


def check_account(controls: Sequence[RiskControl], view: RiskView) -> Breach | None:
    """Run the account's controls (daily loss, drawdown) with no order; the first breach wins.

    What a plan that is not sent yet already breaches (a book's halt found before its plan is
    made, so that the plan still sends its sleeves' exits).
    """
    for control in controls:
        if control.account and (breach := control.validate("", 0.0, view)) is not None:
            return breach
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
