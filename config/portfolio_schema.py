"""Config models of the ``portfolio`` section: sizing, construction and constraints.

Re-exported by :mod:`config.schema`; key names are a public interface (see there).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from config.section import Section, fraction_at_most

MAX_TURNOVER_LIMIT = 2.0  # one-sided turnover of a full long/short flip of a gross of 2
VOL_TARGET_LIMIT = 2.0  # 200% a year: anything above is a percent written for a fraction

ConstructionMethod = Literal[
    "as_is",
    "equal",
    "inverse_vol",
    "risk_parity",
    "hrp",
    "min_variance",
    "mean_variance",
    "black_litterman",
    "half_kelly",
]


class ConstructionConfig(Section):
    """How the strategy's picks are re-weighted before sizing (portfolio construction).

    The definitions are pinned in :mod:`quant_core.portfolio.construction`;
    ``run_backtest.py --list-constructions`` lists every method, its settings and its needs.
    """

    method: ConstructionMethod = Field(
        default="as_is",
        description="as_is: the strategy's weights unchanged; equal: the strategy's gross "
        "split equally, signs kept; inverse_vol: weights proportional to 1/sigma of the last "
        "lookback returns through T-1, signs and gross kept; risk_parity: equal risk "
        "contributions; hrp: hierarchical risk parity; min_variance; mean_variance, "
        "black_litterman and half_kelly: from expected returns (ic). Default: as_is",
    )
    lookback: Annotated[int, Field(strict=True, ge=2)] = Field(
        default=60,
        description="Simple close-to-close returns through T-1, in sessions, that volatility "
        "and covariance are measured over (sigma with ddof=1); a name without that many valid "
        "returns is left out and reported. Default: 60",
    )
    covariance: Literal["sample", "ledoit_wolf"] = Field(
        default="ledoit_wolf",
        description="Covariance estimator of the optimisers: sample, or ledoit_wolf shrinkage "
        "towards a scaled identity. Default: ledoit_wolf",
    )
    ic: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Information coefficient of the strategy's scores, for the expected returns "
        "of mean_variance, black_litterman and half_kelly: alpha_i = ic x vol_i x z-score of "
        "score_i (Grinold). Default: 0.05",
    )


class ConstraintsConfig(Section):
    """Limits applied after construction and before sizing; each is reported when it binds."""

    max_weight: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Largest absolute weight per name; None: risk.max_position_weight where "
        "that is set, so that no target is sized into the worker's pre-trade guard. Default: none",
    )
    sector_cap: float | None = Field(
        default=None,
        gt=0,
        le=2,
        description="Largest gross weight per sector (reference data; Unknown is a sector). "
        "Default: none",
    )
    max_gross: float = Field(
        default=1.0, gt=0, le=2, description="Largest sum of absolute weights. Default: 1.0"
    )
    max_net: float = Field(
        default=1.0, gt=0, le=1, description="Largest absolute sum of signed weights. Default: 1.0"
    )
    max_turnover: float | None = Field(
        default=None,
        gt=0,
        le=MAX_TURNOVER_LIMIT,
        description="Largest one-sided turnover per rebalance, a fraction of equity (0.12 is "
        "12%, at most 2), against the current weights. Default: none",
    )
    no_trade_band: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Drift band: a name held on both sides (current and target weight "
        "nonzero, one sign) whose |target - current weight| is below it is not traded; entries "
        "and exits always trade. Default: 0.0",
    )

    @field_validator("max_turnover", mode="before")
    @classmethod
    def _turnover_fraction(cls, value: object) -> object:
        return fraction_at_most(value, MAX_TURNOVER_LIMIT)


class PortfolioConfig(Section):
    """How target weights become shares."""

    cash_buffer: float = Field(
        default=0.02, ge=0.0, lt=1.0, description="Fraction of equity kept in cash. Default: 0.02"
    )
    fractional_shares: bool = Field(
        default=False, description="Allow fractional shares; whole shares (floor) otherwise"
    )
    shortfall: Literal["pro_rata", "sequential"] = Field(
        default="pro_rata",
        description="How buys a gap-up made unaffordable are truncated. Default: pro_rata",
    )
    exit_after_missing: Annotated[int, Field(strict=True, ge=1)] = Field(
        default=5,
        description="A symbol with no bar for this many sessions in a row before T is treated "
        "as gone (delisted): its position is closed at its last close. Default: 5",
    )
    construction: ConstructionConfig = Field(
        default_factory=ConstructionConfig,
        description="Re-weighting of the strategy's picks before sizing. Default: as_is",
    )
    constraints: ConstraintsConfig = Field(
        default_factory=ConstraintsConfig,
        description="Limits on the constructed weights, applied before sizing",
    )
    vol_target: float | None = Field(
        default=None,
        gt=0,
        le=VOL_TARGET_LIMIT,
        description="Annualised ex-ante volatility (252 sessions) of the book, a fraction of "
        "equity (0.12 is 12%, at most 2), to scale the gross exposure to, capped by "
        "constraints.max_gross; the caps never leave it above. None: no scaling. Default: none",
    )

    @field_validator("vol_target", mode="before")
    @classmethod
    def _vol_fraction(cls, value: object) -> object:
        return fraction_at_most(value, VOL_TARGET_LIMIT)
