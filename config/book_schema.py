"""Config models of a **book**: several sleeves in one account (the loader: config.book_loader).

A book file (``config/books/<name>.yaml``) holds one top-level key, ``book:``; see
``config/books/README.md`` for every key, its default and its bounds. Each sleeve has its own
strategy and schedule, an optional universe scanner, an optional construction (else the run's
``portfolio.construction``), an optional fixed weight and its own stop-loss / take-profit /
drawdown settings. The allocation between sleeves and the optional scaling by trailing
performance have their own sections. A plain ``--strategy`` run is :func:`book_of_one`.

:func:`config.book_loader.load_book` reads a book file; its errors name the file and the
dotted field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from config.portfolio_schema import ConstructionConfig
from config.risk_schema import TAKE_PROFIT_LIMIT
from config.schema import StrategyConfig
from config.section import Section, fraction_at_most
from quant_core.portfolio.schedule import Rule
from quant_core.strategies import build_strategy

__all__ = [
    "DEFAULT_REBALANCE",
    "AllocationConfig",
    "BookConfig",
    "ScalingConfig",
    "ScannerConfig",
    "SleeveConfig",
    "SleeveRiskConfig",
    "SleeveStrategyConfig",
    "book_of_one",
    "scanner_rebalance",
    "sleeve_rebalance",
    "sleeve_strategy_config",
]

# The rebalance of a sleeve whose strategy declares no schedule: the run config's default (21).
DEFAULT_REBALANCE: Rule = StrategyConfig.model_fields["rebalance"].default
SLEEVE_NAME = r"^[a-z][a-z0-9_]{0,31}$"
WEIGHT_TOLERANCE = 1e-9  # fixed weights summing to 1 up to rounding are accepted
# Strict: YAML's `true` must not become a rebalance every 1 session.
Rebalance = Annotated[int, Field(strict=True, gt=0)] | Literal["weekly", "monthly"]
Sessions = Annotated[int, Field(strict=True, ge=20)]


class ScannerConfig(Section):
    """The universe scanner of a sleeve: a registered scanner, its params and its schedule."""

    name: str = Field(min_length=1, description="Registered scanner name (liquid, sector, ...)")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Scanner parameters, validated by the scanner"
    )
    rebalance: Rebalance | None = Field(
        default=None,
        description="Every N sessions, or the first session of each week/month; None: the "
        "sleeve strategy's rebalance. Default: none",
    )


class SleeveStrategyConfig(Section):
    """The strategy of a sleeve: the shape of ``strategy`` in the run config."""

    name: str = Field(min_length=1, description="Registered strategy name")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Strategy parameters, validated by the strategy"
    )
    rebalance: Rebalance | None = Field(
        default=None,
        description="Every N sessions, or the first session of each week/month; None: the "
        "schedule the strategy declares, else 21 (see sleeve_rebalance). Default: none",
    )


class SleeveRiskConfig(Section):
    """A sleeve's own stops and drawdown halt; the same bounds as the ``risk`` section's keys.

    The stops close one of the sleeve's positions; a drawdown breach of the sleeve's virtual
    equity halts (no new orders) or flattens (closes its positions) that sleeve only.
    """

    stop_loss: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Close a position whose close falls this fraction against its average "
        "cost (a short: rises). Default: none",
    )
    take_profit: float | None = Field(
        default=None,
        gt=0,
        le=TAKE_PROFIT_LIMIT,
        description="Close a position whose close gains this fraction over its average cost "
        "(0.12 is 12%, at most 10). Default: none",
    )
    max_drawdown_frac: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Largest fall of the sleeve's equity from its peak. Default: none",
    )
    on_breach: Literal["halt", "flat"] = Field(
        default="halt",
        description="A drawdown breach halts the sleeve or also closes its positions. "
        "Default: halt",
    )

    @field_validator("take_profit", mode="before")
    @classmethod
    def _take_profit_fraction(cls, value: object) -> object:
        return fraction_at_most(value, TAKE_PROFIT_LIMIT)


class SleeveConfig(Section):
    """One sleeve: a strategy with its own universe, construction, weight and risk."""

    name: str = Field(description="Sleeve name: lower case, digits, _; at most 32 characters")
    strategy: SleeveStrategyConfig
    scanner: ScannerConfig | None = Field(
        default=None, description="Universe scanner; None: every symbol of the dataset"
    )
    construction: ConstructionConfig | None = Field(
        default=None, description="Re-weighting of the picks; None: portfolio.construction"
    )
    weight: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Share of the account's equity under allocation fixed (ignored by the "
        "other methods). Default: none",
    )
    risk: SleeveRiskConfig = Field(default_factory=SleeveRiskConfig)

    @field_validator("name", mode="before")
    @classmethod
    def _sleeve_name(cls, value: object) -> object:
        if isinstance(value, str) and re.fullmatch(SLEEVE_NAME, value) is None:
            raise ValueError(
                f"sleeve name {value!r} must start with a lower-case letter followed by at "
                f"most 31 lower-case letters, digits or _ (regex {SLEEVE_NAME})"
            )
        return value

    @field_validator("weight", mode="before")
    @classmethod
    def _weight_fraction(cls, value: object) -> object:
        return fraction_at_most(value, 1.0)


class AllocationConfig(Section):
    """How the account's equity is split between the sleeves, and how often."""

    method: Literal["fixed", "equal", "risk_budget", "hrp"] = Field(
        default="equal",
        description="fixed: each sleeve's weight; equal: 1/K; risk_budget: by budget; hrp: "
        "hierarchical risk parity of the sleeves' returns. Default: equal",
    )
    lookback: Sessions = Field(
        default=126, description="Sessions of sleeve returns through T-1 (>= 20). Default: 126"
    )
    rebalance: Rebalance = Field(
        default="monthly", description="Every N sessions, weekly or monthly. Default: monthly"
    )
    budget: Literal["inverse_vol", "erc"] = Field(
        default="inverse_vol",
        description="risk_budget only: inverse_vol (w ~ 1/sigma) or erc (equal risk "
        "contributions with the sample covariance). Default: inverse_vol",
    )
    min_sessions: Annotated[int, Field(strict=True, ge=2)] = Field(
        default=20,
        description="Finite returns a sleeve needs, else equal weights (>= 2, <= lookback). "
        "Default: 20",
    )

    @model_validator(mode="after")
    def _enough_window(self) -> AllocationConfig:
        if self.min_sessions > self.lookback:
            raise ValueError(
                f"min_sessions={self.min_sessions} exceeds lookback={self.lookback}: no sleeve "
                "could ever have enough returns; lower min_sessions or raise lookback"
            )
        return self


class ScalingConfig(Section):
    """Optional scaling of each sleeve's weight by its trailing Sharpe ratio, bounded."""

    method: Literal["none", "sharpe"] = Field(
        default="none",
        description="none; sharpe: m = clip(1 + annualised Sharpe, lower, upper). Default: none",
    )
    lookback: Sessions = Field(
        default=126,
        description="Sessions of sleeve returns through T-1 (>= 20, >= allocation.min_sessions). "
        "Default: 126",
    )
    lower: float = Field(default=0.5, gt=0, le=1, description="Smallest multiplier. Default: 0.5")
    upper: float = Field(default=1.5, ge=1, le=3, description="Largest multiplier. Default: 1.5")


class BookConfig(Section):
    """A whole book: its sleeves, their allocation and scaling."""

    name: str = Field(min_length=1, description="Book name; the loader uses the file stem")
    sleeves: list[SleeveConfig] = Field(min_length=1, description="At least one sleeve")
    allocation: AllocationConfig = Field(default_factory=AllocationConfig)
    scaling: ScalingConfig = Field(default_factory=ScalingConfig)

    @field_validator("sleeves")
    @classmethod
    def _unique_names(cls, sleeves: list[SleeveConfig]) -> list[SleeveConfig]:
        first: dict[str, int] = {}
        for i, sleeve in enumerate(sleeves):
            if sleeve.name in first:
                raise ValueError(
                    f"duplicate sleeve name {sleeve.name!r} (sleeves {first[sleeve.name]} and "
                    f"{i}); every sleeve needs its own name"
                )
            first[sleeve.name] = i
        return sleeves

    @field_validator("allocation")
    @classmethod
    def _fixed_weights(cls, allocation: AllocationConfig, info: ValidationInfo) -> AllocationConfig:
        sleeves: list[SleeveConfig] | None = info.data.get("sleeves")
        if allocation.method != "fixed" or not sleeves:  # bad sleeves are reported already
            return allocation
        missing = [
            f"{s.name} (sleeves.{i}.weight)" for i, s in enumerate(sleeves) if s.weight is None
        ]
        if missing:
            raise ValueError(
                f"method fixed needs a weight on every sleeve; missing on: {', '.join(missing)}"
            )
        total = sum(s.weight or 0.0 for s in sleeves)
        if total > 1 + WEIGHT_TOLERANCE:
            shown = " + ".join(f"{s.name} {s.weight:g}" for s in sleeves)
            raise ValueError(
                f"method fixed: the sleeves' weights sum to {total:g} ({shown}), above 1; "
                "weights may leave cash but never lever the account"
            )
        return allocation

    @field_validator("scaling")
    @classmethod
    def _scaling_window(cls, scaling: ScalingConfig, info: ValidationInfo) -> ScalingConfig:
        # A multiplier needs allocation.min_sessions returns inside the scaling's own window.
        allocation: AllocationConfig | None = info.data.get("allocation")
        if scaling.method == "none" or allocation is None:
            return scaling
        if scaling.lookback < allocation.min_sessions:
            raise ValueError(
                f"lookback={scaling.lookback} is shorter than allocation.min_sessions="
                f"{allocation.min_sessions}: no sleeve could ever be scaled; raise lookback or "
                "lower min_sessions"
            )
        return scaling


def sleeve_rebalance(sleeve: SleeveConfig) -> Rule:
    """Return the sleeve's rebalance rule.

    The sleeve's ``strategy.rebalance`` when set; else the schedule its strategy declares
    (``build_strategy(name, params).schedule()``: mean_reversion, 1 session); else
    :data:`DEFAULT_REBALANCE` (21 sessions, the run config's default).
    """
    if sleeve.strategy.rebalance is not None:
        return sleeve.strategy.rebalance
    declared = build_strategy(sleeve.strategy.name, sleeve.strategy.params).schedule()
    return DEFAULT_REBALANCE if declared is None else declared[0]


def scanner_rebalance(sleeve: SleeveConfig) -> Rule | None:
    """Return how often the sleeve's scanner runs: its own rule, else the sleeve's; None: none."""
    if sleeve.scanner is None:
        return None
    if sleeve.scanner.rebalance is not None:
        return sleeve.scanner.rebalance
    return sleeve_rebalance(sleeve)


def sleeve_strategy_config(sleeve: SleeveConfig) -> StrategyConfig:
    """Return the sleeve's strategy as a run's ``strategy`` section, the rebalance resolved."""
    strategy = sleeve.strategy
    return StrategyConfig(
        name=strategy.name, params=dict(strategy.params), rebalance=sleeve_rebalance(sleeve)
    )


def book_of_one(strategy: StrategyConfig) -> BookConfig:
    """Return the book a plain ``--strategy`` run is.

    One sleeve named ``main`` running ``strategy`` (its rebalance kept), no scanner, the run's
    construction, no sleeve risk settings, allocation fixed at weight 1.0 and no scaling. The
    book is named after the strategy.
    """
    sleeve = SleeveConfig(
        name="main",
        strategy=SleeveStrategyConfig(
            name=strategy.name, params=dict(strategy.params), rebalance=strategy.rebalance
        ),
        weight=1.0,
    )
    return BookConfig(
        name=strategy.name,
        sleeves=[sleeve],
        allocation=AllocationConfig(method="fixed"),
        scaling=ScalingConfig(method="none"),
    )
