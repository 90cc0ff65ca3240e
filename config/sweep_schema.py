"""The models of a sweep file's ``sweep:`` section (read by :func:`config.sweep.load_sweep`).

A sweep runs one strategy (``strategy: momentum``, its parameters swept by name) or one book
(``book: config/books/core.yaml``, each sleeve's strategy parameters swept as
``<sleeve>.<param>``: ``mom.lookback``). The book file is read when the sweep file is
(:func:`config.sweep.load_sweep`) and kept whole in the spec (:class:`SweptBook`): the
catalogue stores the book the sweep ran, and an edited book file is another sweep.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from config.book_schema import BookConfig

__all__ = [
    "MAX_CONFIGURATIONS",
    "METRIC_NAMES",
    "Period",
    "Range",
    "Search",
    "SweepConfig",
    "SweptBook",
    "WalkForward",
    "subject",
]

MAX_CONFIGURATIONS = 1_000_000
# A run's metrics (backtest.metrics.summary, backtest.records.event_counts): an objective.
METRIC_NAMES = frozenset(
    {
        "start_equity",
        "final_equity",
        "total_return",
        "cagr",
        "volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "max_drawdown_sessions",
        "calmar",
        "turnover",
        "exposure",
        "hit_rate",
        "commissions",
        "slippage",
        "total_costs",
        "trades",
        "truncated",
        "unfilled",
        "sessions",
        "benchmark_total_return",
        "benchmark_cagr",
        "excess_return",
        "excess_cagr",
        "stops",
        "stop_loss",
        "take_profit",
        "trailing_stop",
        "halts",
        "constraint_rebalances",
        "fallbacks",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Strict: YAML's `true` is no count (it would pass as 1); a range's ends are finite numbers.
Whole = Annotated[int, Field(strict=True)]
Real = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Range(_Strict):
    """A search dimension: integers or floats in ``[lo, hi]`` (``log`` for a log-uniform draw)."""

    whole: tuple[Whole, Whole] | None = Field(default=None, alias="int")
    real: tuple[Real, Real] | None = Field(default=None, alias="float")
    log: bool = False

    @model_validator(mode="after")
    def _one(self) -> Range:
        if (self.whole is None) == (self.real is None):
            raise ValueError("give one of int: [lo, hi] or float: [lo, hi]")
        lo, hi = self.whole or self.real or (0, 0)
        if lo > hi or (self.log and lo <= 0):
            raise ValueError(f"[{lo}, {hi}] is not a range (lo <= hi; log needs lo > 0)")
        return self


class Search(_Strict):
    """A search over ``space``: ``trials`` configurations.

    ``random``: drawn with ``seed``; ``optuna``: proposed by Optuna's TPE sampler from the trials
    so far (``quant_core/sweeps/optuna_search.py``).
    """

    method: Literal["random", "optuna"] = "random"
    trials: Whole = Field(gt=0, le=MAX_CONFIGURATIONS)
    seed: Whole = Field(default=0, ge=0, le=2**32 - 1)  # numpy's and Optuna's seeds alike
    space: dict[str, Range | list[Any]] = Field(min_length=1)


class Period(_Strict):
    """The span every configuration runs over (any calendar dates)."""

    start: dt.date | None = None
    end: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}: no session to run")
        return self


class WalkForward(_Strict):
    """Walk-forward folds (``--walk-forward``): sessions to train on and to test.

    ``embargo`` sessions lie between them; ``rolling`` trains on the last ``train`` sessions,
    ``anchored`` on every session from the period's first.
    """

    train: Whole = Field(ge=2)
    test: Whole = Field(ge=1)
    embargo: Whole = Field(default=0, ge=0)
    scheme: Literal["rolling", "anchored"] = "rolling"


class SweptBook(_Strict):
    """The book a sweep runs: its file as the sweep names it, and the book read from it."""

    file: str = Field(min_length=1)
    config: BookConfig


class SweepConfig(_Strict):
    """A sweep file's ``sweep:`` section (module docstring): a ``strategy`` or a ``book``."""

    name: str = Field(min_length=1)
    strategy: str | None = Field(default=None, min_length=1)
    book: SweptBook | None = None
    grid: dict[str, list[Any]] | None = None
    search: Search | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    objective: str = "sharpe"
    maximize: StrictBool = True  # `maximize: 0` or "no" is refused, not taken for False
    period: Period = Field(default_factory=Period)
    keep: Whole = Field(
        default=10, ge=0, le=MAX_CONFIGURATIONS, description="full equity curves kept: the best N"
    )
    batch: Whole = Field(default=0, ge=0, description="configurations per task; 0: chosen")
    walk_forward: WalkForward | None = None

    @field_validator("grid")
    @classmethod
    def _values(cls, grid: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        if grid is not None and not grid:
            raise ValueError("give at least one parameter and its values (an empty grid)")
        if grid is not None and any(not v for v in grid.values()):
            raise ValueError("every grid parameter needs at least one value")
        return grid

    @model_validator(mode="after")
    def _space(self) -> SweepConfig:
        if (self.strategy is None) == (self.book is None):
            raise ValueError(
                "give one of strategy (a strategy's name) or book (a book file's path)"
            )
        if (self.grid is None) == (self.search is None):
            raise ValueError("give one of grid (every combination) or search (random draws)")
        return self


def subject(spec: SweepConfig) -> str:
    """Return what the sweep runs, as a run's summary names it: ``momentum``, ``book:core``."""
    return f"book:{spec.book.config.name}" if spec.book is not None else str(spec.strategy)
