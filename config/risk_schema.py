"""Config model of the ``risk`` section, read by the backtest and the live worker alike.

Re-exported by :mod:`config.schema`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, field_validator, model_validator

from config.section import Section, fraction_at_most

TAKE_PROFIT_LIMIT = 10.0  # a gain of 1000%: anything above is a percent written for a fraction


class RiskConfig(Section):
    """Risk limits read by both drivers (base.yaml; live.yaml may tighten them); None disables one.

    Pre-trade limits halt the worker's new orders. The account limits (daily loss, drawdown) are
    measured by the same function in both drivers (``portfolio.risk.account_usage``; the backtest
    at every close, the worker at every heartbeat) and a breach blocks every strategy order, sales
    included (stops still fire; ``on_breach: flat`` closes everything). The backtest resumes after
    ``halt_sessions`` and measures again; the worker stays HALTED until RESUME. The stops close
    one position at the next open after the close that tripped them.
    """

    max_position_weight: float | None = Field(
        default=0.25,
        gt=0,
        le=1,
        description="Largest position, a fraction of equity (0.25 is 25%, at most 1). "
        "Default: 0.25",
    )

    @field_validator("max_position_weight", mode="before")
    @classmethod
    def _position_fraction(cls, value: object) -> object:
        # 25 meant as 25% would otherwise be a cap that never binds.
        return fraction_at_most(value, 1.0)

    max_order_notional_usd: PositiveFloat | None = Field(
        default=None,
        description="Largest single order, USD: the worker refuses a larger one and halts; a "
        "backtest trades it and warns how many were larger. Default: none",
    )
    max_daily_loss_frac: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Largest loss in a session, share of its opening equity. Default: none "
        "(live.yaml: 0.05)",
    )
    max_drawdown_frac: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Largest fall from the peak equity. Default: none (live.yaml: 0.25)",
    )
    on_breach: Literal["halt", "flat"] = Field(
        default="halt",
        description="A breach of daily loss or drawdown: halt (no strategy orders) or flat "
        "(also close every position at the next open / at market). Default: halt",
    )
    flat_on_breach: bool | None = Field(
        default=None,
        description="Deprecated spelling of on_breach: true is on_breach: flat. Default: unset",
    )
    halt_sessions: Annotated[int, Field(strict=True, ge=1)] = Field(
        default=5,
        description="Backtest only: sessions a breach halts strategy orders for, a stand-in "
        "for the person who presses RESUME. Default: 5",
    )
    stop_loss: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Close a position whose close falls this fraction against its average cost "
        "(a short: rises); checked at every close, executed at the next open. Default: none",
    )
    take_profit: float | None = Field(
        default=None,
        gt=0,
        le=TAKE_PROFIT_LIMIT,
        description="Close a position whose close gains this fraction over its average cost "
        "(0.12 is 12%, at most 10); checked at every close, executed at the next open. "
        "Default: none",
    )

    @field_validator("take_profit", mode="before")
    @classmethod
    def _take_profit_fraction(cls, value: object) -> object:
        return fraction_at_most(value, TAKE_PROFIT_LIMIT)

    trailing_stop: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Close a position whose close falls this fraction from its best close since "
        "entry (a short: rises from its lowest); executed at the next open. Default: none",
    )

    @model_validator(mode="after")
    def _breach_alias(self) -> RiskConfig:
        if self.flat_on_breach is None:
            return self
        wanted = "flat" if self.flat_on_breach else "halt"
        # base.yaml sets on_breach: halt, so only an on_breach of flat can contradict it.
        if self.on_breach == "flat" and wanted == "halt":
            raise ValueError(
                f"risk.flat_on_breach={str(self.flat_on_breach).lower()} contradicts "
                f"risk.on_breach={self.on_breach}; set only risk.on_breach (halt | flat)"
            )
        object.__setattr__(self, "on_breach", wanted)
        return self

    @property
    def flattens(self) -> bool:
        """Return whether a daily-loss or drawdown breach also closes every position."""
        return self.on_breach == "flat"
