"""Portfolio construction: the strategy's picks re-weighted from what is known at T-1.

The strategy's non-zero weights say which names and which side; the method says how much of
the strategy's gross weight each name carries. Pure functions: no I/O, no clock, no logging
(the caller reports the names left out). The backtest engine and the live worker reach it
through one call, :func:`quant_core.strategies.decide.target_orders`.

Methods (``portfolio.construction.method``):

===============  ==========================================  ==============================
method           weights                                     needs
===============  ==========================================  ==============================
as_is            the strategy's, unchanged (the default)     nothing
equal            gross / n per name, the strategy's sign     nothing
inverse_vol      proportional to 1 / sigma, the same gross   ``lookback + 1`` closes
risk_parity      equal risk contributions                    closes, a covariance
hrp              Lopez de Prado's hierarchical risk parity   closes, a covariance
min_variance     least variance, long-only on the signs      closes, a covariance
mean_variance    Markowitz on Grinold's expected returns     closes, a covariance, scores
black_litterman  the views of the scores on the prior        closes, a covariance, scores
half_kelly       0.5 Sigma^-1 alpha                          closes, a covariance, scores
===============  ==========================================  ==============================

The optimisers share one convention (:mod:`~quant_core.portfolio.construction.signed`): for the
names the strategy weighted, ``s_i = sign(w_i)`` and ``g = sum |w_i|`` (its gross); names without
``lookback`` returns through T-1, or with zero volatility, are left out and reported;
``Sigma = covariance.estimate(returns, settings.covariance)`` (daily); each optimiser solves for
``v >= 0``, ``sum v = 1`` on the signed covariance ``S Sigma S`` (``S = diag(s)``), and the
weights are ``w_i = s_i v_i g``: the strategy's signs and gross, always. half_kelly alone keeps
Kelly's own gross (``0.5 Sigma^-1 alpha``, a name off the strategy's side at 0); the
constraints cap it.

A solver failure (no convergence, a singular or indefinite matrix, any ``ArithmeticError`` or
``numpy.linalg.LinAlgError``, non-finite weights) never crashes a rebalance: :func:`construct`
falls back to ``inverse_vol`` and says why in :attr:`Construction.fallback`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from quant_core.errors import ConfigError
from quant_core.portfolio.construction.base import (
    Construction,
    Inputs,
    LeftOut,
    Reason,
    SolverError,
    trailing_returns,
)
from quant_core.portfolio.construction.heuristic import as_is, equal, inverse_vol
from quant_core.portfolio.construction.hrp import hrp
from quant_core.portfolio.construction.mean_variance import (
    black_litterman,
    half_kelly,
    mean_variance,
)
from quant_core.portfolio.construction.min_variance import min_variance
from quant_core.portfolio.construction.risk_parity import risk_parity
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
    "SolverError",
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
# The optimisers: signed, long-only on S Sigma S, w_i = s_i v_i g (module docstring).
OPTIMISER_SETTINGS = ("lookback", "covariance")
METHODS.add(
    "risk_parity",
    Method(
        risk_parity,
        True,
        OPTIMISER_SETTINGS,
        "Equal risk contributions w_i (Sigma w)_i on the covariance of the last lookback "
        "returns through T-1, with the strategy's signs and gross (Newton's method).",
    ),
)
METHODS.add(
    "min_variance",
    Method(
        min_variance,
        True,
        OPTIMISER_SETTINGS,
        "Least variance of the book on the covariance of the last lookback returns through "
        "T-1, each name on the strategy's side or at zero, the strategy's gross (active set).",
    ),
)
# --- A2: hrp, mean_variance, black_litterman, half_kelly are registered below this line ---
METHODS.add(
    "hrp",
    Method(
        hrp,
        True,
        OPTIMISER_SETTINGS,
        "Lopez de Prado's hierarchical risk parity on the covariance of the last lookback "
        "returns through T-1: single linkage of the correlation distance, recursive bisection "
        "by inverse-variance cluster risk; the strategy's signs and gross.",
    ),
)
# Expected returns: alpha_i = ic x sigma_i x z-score of score_i (Grinold's rule, expected.py).
EXPECTED_SETTINGS = (*OPTIMISER_SETTINGS, "ic")
METHODS.add(
    "mean_variance",
    Method(
        mean_variance,
        True,
        EXPECTED_SETTINGS,
        "Maximum Sharpe ratio (Markowitz) on Grinold's expected returns of the strategy's "
        "scores and the covariance, each name on the strategy's side or at zero, the "
        "strategy's gross.",
        needs_scores=True,
    ),
)
METHODS.add(
    "black_litterman",
    Method(
        black_litterman,
        True,
        EXPECTED_SETTINGS,
        "Maximum Sharpe ratio on the Black-Litterman mean: the strategy's weights as the "
        "equilibrium, Grinold's expected returns as one view per name; the strategy's gross.",
        needs_scores=True,
    ),
)
METHODS.add(
    "half_kelly",
    Method(
        half_kelly,
        True,
        EXPECTED_SETTINGS,
        "0.5 Sigma^-1 alpha (Grinold's expected returns), at Kelly's own leverage; a name "
        "Kelly would take the other side of gets 0 and is reported.",
        needs_scores=True,
    ),
)


def check_method(
    settings: ConstructionSettings,
    strategy_name: str,
    gives_scores: bool,
    scored: Sequence[str] = (),
) -> None:
    """Raise ``ConfigError`` naming the problem if the method cannot run on this strategy.

    A method of expected returns (``needs_scores``) needs a strategy that gives scores;
    ``scored`` names the registered strategies that do, for the message.
    """
    method = METHODS.get(settings.method)
    if method.needs_scores and not gives_scores:
        needless = ", ".join(n for n in METHODS.names() if not METHODS.get(n).needs_scores)
        raise ConfigError(
            f"portfolio.construction.method={settings.method} needs the strategy's scores "
            f"(expected returns), and strategy {strategy_name} gives none; choose a strategy "
            f"that does ({', '.join(scored) or 'none is registered'}) or a method that needs "
            f"none ({needless})"
        )


def construct(inputs: Inputs) -> Construction:
    """Re-weight the strategy's weights by ``inputs.settings.method``.

    A solver failure of an optimiser (an ``ArithmeticError``, :class:`SolverError` among them,
    a ``numpy.linalg.LinAlgError``, or non-finite weights) falls back to ``inverse_vol``; the
    result says why in ``fallback``.

    Parameters
    ----------
    inputs
        The strategy's weights and scores, the closes through T-1 and the settings; ``as_is``
        and ``equal`` never read the closes.

    Returns
    -------
    Construction
        The new weights, the names left out (weight 0) with the reason, and the fallback's
        reason if there was one.

    Raises
    ------
    ConfigError
        ``settings.method`` is not a registered method (the valid ones are listed).
    """
    name = inputs.settings.method
    method = METHODS.get(name)
    if method.build is inverse_vol:
        return inverse_vol(inputs)
    try:
        built = method.build(inputs)
    except (ArithmeticError, np.linalg.LinAlgError) as error:
        return _fall_back(inputs, f"{name} failed ({type(error).__name__}: {error})")
    if not np.isfinite(built.weights).all():
        return _fall_back(inputs, f"{name} gave non-finite weights")
    return built


def _fall_back(inputs: Inputs, why: str) -> Construction:
    return replace(inverse_vol(inputs), fallback=f"{why}; inverse_vol used instead")
