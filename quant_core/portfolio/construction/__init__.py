"""Portfolio construction: the strategy's picks re-weighted from what is known at T-1.

The strategy's non-zero weights say which names and which side; the method says how much of
the strategy's gross weight each name carries. Pure functions: no I/O, no clock, no logging
(the caller reports the names left out). The backtest engine and the live worker reach it
through one call, :func:`quant_core.strategies.decide.target_orders`.

Methods of this slice of issue 12 (``portfolio.construction.method``):

============  ==========================================  =================================
method        weights                                     needs
============  ==========================================  =================================
as_is         the strategy's, unchanged (the default)     nothing
equal         gross / n per name, the strategy's sign     nothing
inverse_vol   proportional to 1 / sigma, the same gross   ``lookback + 1`` closes through T-1
============  ==========================================  =================================

Later slices add risk_parity, hrp, min_variance, mean_variance, black_litterman and half_kelly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quant_core.errors import ConfigError
from quant_core.portfolio.construction.base import (
    Construction,
    Inputs,
    LeftOut,
    Reason,
    trailing_returns,
)
from quant_core.portfolio.construction.heuristic import as_is, equal, inverse_vol
from quant_core.registry import Registry

if TYPE_CHECKING:  # construction needs no config package at run time
    from config.schema import ConstructionConfig

__all__ = [
    "METHODS",
    "Construction",
    "ConstructionSettings",
    "Inputs",
    "LeftOut",
    "Method",
    "Reason",
    "check_method",
    "construct",
    "trailing_returns",
]

DEFAULT_LOOKBACK = 60  # sessions of returns through T-1


@dataclass(frozen=True, slots=True)
class ConstructionSettings:
    """The ``portfolio.construction`` config: which method, its returns window and estimators.

    Attributes
    ----------
    method
        A name of :data:`METHODS`. Default: ``as_is``.
    lookback
        Returns through T-1 a method reads (at least 2). Default: 60.
    covariance
        ``sample`` or ``ledoit_wolf`` (:mod:`~quant_core.portfolio.construction.covariance`).
    ic
        Information coefficient of the strategy's scores (expected returns, Grinold's rule).
    """

    method: str = "as_is"
    lookback: int = DEFAULT_LOOKBACK
    covariance: str = "ledoit_wolf"
    ic: float = 0.05

    @classmethod
    def from_config(cls, construction: ConstructionConfig) -> ConstructionSettings:
        """Build the settings of the ``portfolio.construction`` config section."""
        return cls(
            construction.method, construction.lookback, construction.covariance, construction.ic
        )

    @property
    def history(self) -> int:
        """Return how many sessions before T the method reads: ``lookback + 1`` closes, or 0."""
        return self.lookback + 1 if METHODS.get(self.method).reads_returns else 0


@dataclass(frozen=True, slots=True)
class Method:
    """A construction method: its function and what it reads.

    Attributes
    ----------
    build
        ``build(inputs) -> Construction``.
    reads_returns
        Whether it reads the closes (``lookback + 1`` of them before T).
    settings
        The ``portfolio.construction`` keys it uses besides ``method``.
    summary
        One line for ``run_backtest.py --list-constructions``.
    needs_scores
        Whether it needs the strategy's scores (expected returns): a strategy that gives none
        is refused before anything runs (:func:`check_method`).
    """

    build: Callable[[Inputs], Construction]
    reads_returns: bool
    settings: tuple[str, ...]
    summary: str
    needs_scores: bool = False


METHODS: Registry[Method] = Registry("construction method")
METHODS.add(
    "as_is",
    Method(as_is, False, (), "The strategy's weights unchanged (the default)."),
)
METHODS.add(
    "equal",
    Method(equal, False, (), "Each name the strategy weighted gets gross / n, with its sign."),
)
METHODS.add(
    "inverse_vol",
    Method(
        inverse_vol,
        True,
        ("lookback",),
        "w_i proportional to 1 / sigma_i (sample std, ddof=1, of the last lookback simple "
        "returns through T-1), with the strategy's sign, scaled to the strategy's gross; names "
        "without lookback valid returns or with zero sigma are left out and reported.",
    ),
)


def check_method(settings: ConstructionSettings, strategy_name: str, gives_scores: bool) -> None:
    """Raise ``ConfigError`` naming the problem if the method cannot run on this strategy.

    A method of expected returns (``needs_scores``) needs a strategy that gives scores.
    """
    method = METHODS.get(settings.method)
    if method.needs_scores and not gives_scores:
        scored = "momentum, multi_factor"
        raise ConfigError(
            f"portfolio.construction.method={settings.method} needs the strategy's scores "
            f"(expected returns), and strategy {strategy_name} gives none; choose a strategy "
            f"that does ({scored}) or a method that needs none (as_is, equal, inverse_vol, "
            "risk_parity, hrp, min_variance)"
        )


def construct(inputs: Inputs) -> Construction:
    """Re-weight the strategy's weights by ``inputs.settings.method``.

    Parameters
    ----------
    inputs
        The strategy's weights and scores, the closes through T-1 and the settings; ``as_is``
        and ``equal`` never read the closes.

    Returns
    -------
    Construction
        The new weights and the names left out (weight 0), with the reason.

    Raises
    ------
    ConfigError
        ``settings.method`` is not a registered method (the valid ones are listed).
    """
    return METHODS.get(inputs.settings.method).build(inputs)
