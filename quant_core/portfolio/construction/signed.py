"""The shared set-up of every optimiser: the strategy's names, sides and gross as one problem.

Pinned convention (issue 12), the same for risk_parity, hrp, min_variance, mean_variance,
black_litterman and half_kelly, so that anyone can check them:

* ``P``: the names the strategy weighted (non-zero weights), in symbol order; ``s_i =
  sign(w_i)``; ``g = sum_P |w_i|``, the strategy's gross.
* Their last ``lookback`` simple returns through T-1 come from
  :func:`~quant_core.portfolio.construction.base.trailing_returns`; a name without all of them
  is left out (``Reason.SHORT_HISTORY``), and so is a name whose sample standard deviation
  (``ddof=1``) is at most ``ZERO_VOLATILITY`` (``Reason.ZERO_VOLATILITY``), as ``inverse_vol``
  does. The names kept, ``K``, carry the whole gross.
* ``Sigma = covariance.estimate(returns[:, K], settings.covariance)`` (daily), and the signed
  covariance is ``Sigma_s = S Sigma S`` with ``S = diag(s)``: a short name's risk is that of a
  long position in its negated returns.
* Every optimiser solves for ``v >= 0`` with ``sum v = 1`` on ``Sigma_s`` (and, where it uses
  expected returns, on the signed ones ``s_i alpha_i``); the weights are ``w_i = s_i v_i g``
  (:meth:`Problem.weights`). Signs and gross are the strategy's by construction.

An optimiser reports failure by raising :class:`~quant_core.portfolio.construction.base.
SolverError` (or letting an ``ArithmeticError`` / ``numpy.linalg.LinAlgError`` through):
:func:`~quant_core.portfolio.construction.construct` then falls back to ``inverse_vol``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_core.portfolio.construction import covariance
from quant_core.portfolio.construction.base import (
    Construction,
    Inputs,
    LeftOut,
    Reason,
    SolverError,
    trailing_returns,
)
from quant_core.portfolio.construction.heuristic import ZERO_VOLATILITY

NEGATIVE_TOLERANCE = 1e-9  # a solver's v_i below -this (of sum v) is a failure, above it 0


@dataclass(frozen=True, slots=True)
class Problem:
    """One rebalance's optimisation problem in the signed, long-only form.

    Attributes
    ----------
    size
        Length of the weight vector (symbols).
    picked
        Symbol positions the strategy weighted (``P``), ascending.
    kept
        Symbol positions kept (``K``, a subset of ``picked``), ascending: the order of every
        per-name array below.
    signs
        ``s_i`` of the names kept, +1.0 or -1.0.
    gross
        ``g``: the strategy's gross weight, over every picked name (the kept carry it all).
    returns
        ``lookback x len(kept)`` simple daily returns through T-1, unsigned.
    sigma
        Daily sample standard deviation (``ddof=1``) of each kept name's returns.
    cov
        ``Sigma``: the daily covariance of ``returns`` by the configured estimator, unsigned.
    cov_signed
        ``S Sigma S``: what every optimiser solves on.
    left_out
        The picked names not kept, with the reason, by symbol position.
    """

    size: int
    picked: np.ndarray
    kept: np.ndarray
    signs: np.ndarray
    gross: float
    returns: np.ndarray
    sigma: np.ndarray
    cov: np.ndarray
    cov_signed: np.ndarray
    left_out: tuple[LeftOut, ...]

    @property
    def n(self) -> int:
        """Return how many names were kept."""
        return int(self.kept.size)

    def weights(self, v: np.ndarray, fallback: str | None = None) -> Construction:
        """Return the construction ``w_i = s_i v_i g`` of a solution ``v`` on the kept names.

        ``v`` is normalised to sum 1 after clipping round-off below zero to zero, so that the
        gross is the strategy's exactly up to rounding.

        Raises
        ------
        SolverError
            ``v`` has the wrong length, a non-finite value, a value below
            ``-NEGATIVE_TOLERANCE x sum v``, or no positive mass.
        """
        out = np.zeros(self.size, dtype=float)
        if self.n == 0:
            return Construction(out, self.left_out, fallback)
        v = np.asarray(v, dtype=float)
        total = float(v.sum()) if v.shape == (self.n,) else np.nan
        if not np.isfinite(v).all() or not np.isfinite(total) or total <= 0.0:
            raise SolverError(f"solution is not a finite non-negative budget (sum {total})")
        if float(v.min()) < -NEGATIVE_TOLERANCE * total:
            raise SolverError(f"solution has a negative weight {float(v.min()):.3e}")
        v = np.maximum(v, 0.0)
        out[self.kept] = self.signs * (v / v.sum()) * self.gross
        return Construction(out, self.left_out, fallback)


def signed_problem(inputs: Inputs) -> Problem:
    """Build the signed problem of the strategy's weights and the closes through T-1.

    Parameters
    ----------
    inputs
        The strategy's weights, the closes through T-1 and the settings (``lookback`` and
        ``covariance`` are read).

    Returns
    -------
    Problem
        The kept names, their signs, returns, volatilities and covariances, the gross and the
        names left out. When no name is kept the per-name arrays are empty.

    Raises
    ------
    SolverError
        The covariance estimate is not finite.
    ConfigError
        ``settings.covariance`` is not a known estimator.
    """
    weights, settings = inputs.weights, inputs.settings
    picked = np.flatnonzero(weights)
    gross = float(np.abs(weights[picked]).sum())
    returns, valid = trailing_returns(inputs.closes, settings.lookback, picked)
    sigma = np.zeros(picked.size)
    if valid.any():
        sigma[valid] = returns[:, valid].std(axis=0, ddof=1)
    flat = valid & (sigma <= ZERO_VOLATILITY)
    keep = valid & ~flat
    left_out = [LeftOut(int(i), Reason.SHORT_HISTORY) for i in picked[~valid]]
    left_out += [LeftOut(int(i), Reason.ZERO_VOLATILITY) for i in picked[flat]]
    kept = picked[keep]
    signs = np.sign(weights[kept]).astype(float)
    kept_returns = np.ascontiguousarray(returns[:, keep])
    if kept.size:
        cov = covariance.estimate(kept_returns, settings.covariance)
        if not np.isfinite(cov).all():
            raise SolverError("covariance estimate is not finite")
    else:
        cov = np.zeros((0, 0))
    return Problem(
        size=weights.size,
        picked=picked,
        kept=kept,
        signs=signs,
        gross=gross,
        returns=kept_returns,
        sigma=sigma[keep],
        cov=cov,
        cov_signed=cov * np.outer(signs, signs),
        left_out=tuple(sorted(left_out, key=lambda x: x.index)),
    )
