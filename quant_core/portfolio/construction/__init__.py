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

import numpy as np

from quant_core.portfolio.construction.base import Construction, LeftOut, Reason, trailing_returns
from quant_core.portfolio.construction.heuristic import as_is, equal, inverse_vol
from quant_core.registry import Registry

if TYPE_CHECKING:  # construction needs no config package at run time
    from config.schema import ConstructionConfig

__all__ = [
    "METHODS",
    "Construction",
    "ConstructionSettings",
    "LeftOut",
    "Method",
    "Reason",
    "construct",
    "trailing_returns",
]

DEFAULT_LOOKBACK = 60  # sessions of returns through T-1


@dataclass(frozen=True, slots=True)
class Method:
    """A construction method: its function and what it reads.

    Attributes
    ----------
    build
        ``build(weights, closes, lookback) -> Construction``.
    reads_returns
        Whether it reads the closes (``lookback + 1`` of them before T).
    settings
        The ``portfolio.construction`` keys it uses besides ``method``.
    summary
        One line for ``run_backtest.py --list-constructions``.
    """

    build: Callable[[np.ndarray, np.ndarray, int], Construction]
    reads_returns: bool
    settings: tuple[str, ...]
    summary: str


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


@dataclass(frozen=True, slots=True)
class ConstructionSettings:
    """The ``portfolio.construction`` config: which method, and its returns window.

    Attributes
    ----------
    method
        A name of :data:`METHODS`. Default: ``as_is``.
    lookback
        Returns through T-1 a method reads (at least 2). Default: 60.
    """

    method: str = "as_is"
    lookback: int = DEFAULT_LOOKBACK

    @classmethod
    def from_config(cls, construction: ConstructionConfig) -> ConstructionSettings:
        """Build the settings of the ``portfolio.construction`` config section."""
        return cls(construction.method, construction.lookback)

    @property
    def history(self) -> int:
        """Return how many sessions before T the method reads: ``lookback + 1`` closes, or 0."""
        return self.lookback + 1 if METHODS.get(self.method).reads_returns else 0


def construct(
    weights: np.ndarray, closes: np.ndarray, settings: ConstructionSettings
) -> Construction:
    """Re-weight the strategy's ``weights`` by ``settings.method``.

    Parameters
    ----------
    weights
        The strategy's checked weights per symbol position (signed fractions of equity).
    closes
        Close panel rows through T-1 only (sessions x symbols, NaN where no bar); ``as_is`` and
        ``equal`` never read them.
    settings
        The method and its lookback.

    Returns
    -------
    Construction
        The new weights and the names left out (weight 0), with the reason.

    Raises
    ------
    ConfigError
        ``settings.method`` is not a registered method (the valid ones are listed).
    """
    return METHODS.get(settings.method).build(weights, closes, settings.lookback)
