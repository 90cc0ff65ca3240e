"""Build a :class:`~quant_core.book.sleeves.Book` from its config (``config/books/<name>.yaml``).

One function for both drivers (the backtest and the worker): :func:`build_book` turns a
validated :class:`~config.book_schema.BookConfig` and the run's
:class:`~config.schema.AppConfig` into sleeves with their strategies, schedules, scanners,
policies and risk settings, and the :class:`~quant_core.book.sleeves.AllocationRule`. Pure: it
reads no file (the loader, :func:`config.book_loader.load_book`, did) and no clock.

Per sleeve ``k`` (``book.sleeves.k``):

* strategy: ``build_strategy(name, params)``, its rebalance resolved by
  :func:`config.book_schema.sleeve_rebalance` and checked against the schedule the strategy
  declares (``check_schedule``);
* policy: the run's ``PortfolioPolicy.from_config(cfg)`` (construction and constraints), with
  the construction replaced by the sleeve's ``construction`` when set; checked with
  ``check_policy`` (e.g. ``mean_variance`` needs a strategy that gives scores);
* scanner: ``build_scanner(name, params)`` when set. A ``scanner.rebalance`` other than the
  sleeve's rule makes the scanner run on its own schedule (:class:`ScheduledScanner`): at each
  sleeve rebalance T the universe is the one of the scanner's latest session ``S <= T``
  (computed from data through S-1, so never later than T-1);
* risk: ``SleeveRisk(StopRules(stop_loss, take_profit, None), max_drawdown_frac, on_breach)``
  (no trailing stop per sleeve);
* weight: as given (read by allocation ``fixed`` only).

The name ``reserve`` is refused for a sleeve: the stored ``sleeves`` frame holds one column per
sleeve plus ``reserve``, the cash no sleeve holds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from typing_extensions import override

from config.book_schema import scanner_rebalance, sleeve_rebalance
from quant_core.book.sleeves import AllocationRule, Book, Sleeve, SleeveRisk
from quant_core.errors import ConfigError
from quant_core.portfolio.construction import ConstructionSettings
from quant_core.portfolio.policy import PortfolioPolicy
from quant_core.portfolio.schedule import Rule, rebalance_rows
from quant_core.portfolio.stops import StopRules
from quant_core.scanners import Scanner, ScannerParams, build_scanner
from quant_core.scanners.base import check_rows
from quant_core.strategies import build_strategy, check_schedule
from quant_core.strategies.decide import check_policy

if TYPE_CHECKING:
    from config.book_schema import BookConfig, SleeveConfig
    from config.schema import AppConfig
    from quant_core.data.panels import MarketData

RESERVE = "reserve"  # the stored sleeves frame's column of the cash no sleeve holds
RESERVED_NAMES = (RESERVE, "date")  # the stored sleeves frame's other names

__all__ = ["RESERVE", "ScheduledScanner", "allocation_rule", "build_book", "build_sleeve"]


class ScheduledScanner(Scanner[ScannerParams]):
    """A scanner run on its own schedule, its universe held until its next session.

    For the rows ``t`` asked, the scanner's sessions are ``rebalance_rows(dates, min(t),
    max(t), rule)`` (anchored at the first row asked: the sleeve's first rebalance in a
    backtest) and row ``t`` gets the universe of the latest of them ``S <= t``, computed by the
    wrapped scanner from rows ``< S``. A single row asked (a live decision) is scanned itself.
    """

    Params = ScannerParams
    name = "scheduled"

    def __init__(self, inner: Scanner[Any], rule: Rule) -> None:
        super().__init__(inner.params)
        self.inner = inner
        self.rule = rule

    @property
    @override
    def warmup(self) -> int:
        return self.inner.warmup

    @override
    def check(self, data: MarketData) -> None:
        self.inner.check(data)

    @override
    def scan(self, data: MarketData, rows: np.ndarray) -> np.ndarray:
        rows = check_rows(data, rows)
        if rows.size == 0:
            return self.inner.scan(data, rows)
        runs = rebalance_rows(data.dates, int(rows.min()), int(rows.max()), self.rule)
        source = runs[np.searchsorted(runs, rows, side="right") - 1]
        unique, inverse = np.unique(source, return_inverse=True)
        masks: np.ndarray = self.inner.scan(data, unique)[inverse]
        return masks


def allocation_rule(book: BookConfig) -> AllocationRule:
    """Return the book's ``allocation`` and ``scaling`` sections as one rule."""
    allocation, scaling = book.allocation, book.scaling
    return AllocationRule(
        method=allocation.method,
        lookback=allocation.lookback,
        rebalance=allocation.rebalance,
        budget=allocation.budget,
        min_sessions=allocation.min_sessions,
        scaling=scaling.method,
        scaling_lookback=scaling.lookback,
        lower=scaling.lower,
        upper=scaling.upper,
    )


def build_sleeve(sleeve: SleeveConfig, policy: PortfolioPolicy) -> Sleeve:
    """Return one sleeve of a book; ``policy`` is the run's (its construction may be replaced).

    Raises
    ------
    ConfigError
        The strategy or the scanner cannot be built with its params, the rebalance is not the
        one the strategy declares, or the construction cannot run on the strategy.
    """
    strategy = build_strategy(sleeve.strategy.name, dict(sleeve.strategy.params))
    rule = sleeve_rebalance(sleeve)
    check_schedule(strategy, rule)
    if sleeve.construction is not None:
        policy = replace(policy, construction=ConstructionSettings.from_config(sleeve.construction))
    check_policy(strategy, policy)
    scanner: Scanner[Any] | None = None
    if sleeve.scanner is not None:
        scanner = build_scanner(sleeve.scanner.name, dict(sleeve.scanner.params))
        own = scanner_rebalance(sleeve)
        if own is not None and own != rule:
            scanner = ScheduledScanner(scanner, own)
    risk = sleeve.risk
    return Sleeve(
        name=sleeve.name,
        strategy=strategy,
        rebalance=rule,
        policy=policy,
        scanner=scanner,
        weight=sleeve.weight,
        risk=SleeveRisk(
            StopRules(risk.stop_loss, risk.take_profit, None),
            risk.max_drawdown_frac,
            risk.on_breach,
        ),
    )


def build_book(book: BookConfig, cfg: AppConfig) -> Book:
    """Return the :class:`Book` of ``book`` under the run's ``cfg`` (module docstring).

    Raises
    ------
    ConfigError
        A sleeve cannot be built: the message names the book, the sleeve and its field
        (``book.sleeves.1 (revert): ...``), then the problem.
    """
    policy = PortfolioPolicy.from_config(cfg)
    sleeves = []
    for i, config in enumerate(book.sleeves):
        where = f"book {book.name}: book.sleeves.{i} ({config.name})"
        if config.name in RESERVED_NAMES:
            raise ConfigError(
                f"{where}.name: {config.name!r} is reserved (the stored sleeves frame has a "
                f"{RESERVE!r} column for the book's unallocated cash and a 'date' index); "
                "choose another sleeve name"
            )
        try:
            sleeves.append(build_sleeve(config, policy))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return Book(tuple(sleeves), allocation_rule(book), book.name)
