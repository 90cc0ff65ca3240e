"""The heuristic methods: as_is, equal and inverse_vol (no solver, no covariance).

Each takes the strategy's checked weights per symbol position (non-zero: which names and which
side), the close panel rows through T-1 and the lookback, and returns a
:class:`~quant_core.portfolio.construction.base.Construction`. Signs are the strategy's; the
gross weight (sum of absolute weights) is the strategy's, carried by the names kept.

Sums run over the weighted names only, in symbol order, so that a universe with more unweighted
columns (a longer history, a wider warehouse) gives bit-identical weights: whole shares are
truncated, and one ulp can move a target by a share.
"""

from __future__ import annotations

import numpy as np

from quant_core.portfolio.construction.base import (
    Construction,
    Inputs,
    LeftOut,
    Reason,
    trailing_returns,
)

ZERO_VOLATILITY = 1e-12  # a daily sigma at or below this is zero up to rounding: left out


def as_is(inputs: Inputs) -> Construction:
    """Return the strategy's weights unchanged (the same array); the closes are never read."""
    return Construction(inputs.weights)


def equal(inputs: Inputs) -> Construction:
    """Give each name the strategy weighted ``gross / n``, with its sign; the closes unread."""
    weights = inputs.weights
    picked = np.flatnonzero(weights)
    out = np.zeros(weights.shape, dtype=float)
    if picked.size:
        gross = float(np.abs(weights[picked]).sum())
        out[picked] = np.sign(weights[picked]) * (gross / picked.size)
    return Construction(out)


def inverse_vol(inputs: Inputs) -> Construction:
    """Weigh each name by ``1 / sigma``, with the strategy's sign, to the strategy's gross.

    ``sigma`` is the sample standard deviation (``ddof=1``) of the name's last ``lookback``
    simple returns through T-1. A name without ``lookback`` valid returns, or whose sigma is
    zero (at most ``ZERO_VOLATILITY``), is left out and reported; the names kept carry the
    whole gross: ``w_i = sign_i x (1 / sigma_i) / sum_j (1 / sigma_j) x sum |w_strategy|``.
    """
    weights, closes, lookback = inputs.weights, inputs.closes, inputs.settings.lookback
    picked = np.flatnonzero(weights)
    out = np.zeros(weights.shape, dtype=float)
    if not picked.size:
        return Construction(out)
    returns, valid = trailing_returns(closes, lookback, picked)
    sigma = np.zeros(picked.size)
    if valid.any():
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is left out below
            sigma[valid] = returns[:, valid].std(axis=0, ddof=1)
    flat = valid & (sigma <= ZERO_VOLATILITY)
    wild = valid & ~np.isfinite(sigma)  # returns so large their deviation overflows
    keep = valid & ~flat & ~wild
    if keep.any():
        inverse = 1.0 / sigma[keep]
        gross = float(np.abs(weights[picked]).sum())
        chosen = picked[keep]
        out[chosen] = np.sign(weights[chosen]) * inverse / inverse.sum() * gross
    left_out = [LeftOut(int(i), Reason.SHORT_HISTORY) for i in picked[~valid]]
    left_out += [LeftOut(int(i), Reason.ZERO_VOLATILITY) for i in picked[flat]]
    left_out += [LeftOut(int(i), Reason.NON_FINITE_VOLATILITY) for i in picked[wild]]
    return Construction(out, tuple(sorted(left_out, key=lambda x: x.index)))
