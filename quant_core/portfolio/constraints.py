"""Constraints and volatility targeting: the constructed weights held to the policy's limits.

Applied after construction and before sizing, by both drivers through
:func:`quant_core.strategies.decide.target_orders`. Pure: no I/O, no clock, no logging (the
caller logs each :class:`~quant_core.portfolio.policy.Binding` returned).

Units. Every weight here, target and current alike, is a signed fraction of the *investable*
equity, ``equity(T-1) x (1 - cash_buffer)``: the unit sizing reads
(:func:`quant_core.portfolio.sizing.target_shares`). A name held at exactly its target has a
current weight equal to that target, so the drift band and the turnover cap see no phantom
trade of the cash buffer. The caps are therefore on the investable equity too, which keeps every
sized position at most ``cap x (1 - cash_buffer)`` of equity at the T-1 close.

The steps, in this order, each pinned so that anyone can check it (``cap`` is the setting of
``portfolio.constraints``; a setting of None skips its step):

The volatility target. ``portfolio.vol_target`` is the annualised volatility of the sized book
as a fraction of *equity*; sized weights are ``w x (1 - cash_buffer)`` of equity, so the weights
here are scaled to ``goal = vol_target / (1 - cash_buffer)``: the sized book's ex-ante volatility
is then ``vol_target`` itself.

1. ``vol_target``: ex-ante volatility ``sigma = sqrt(252 x w' Sigma w)``, ``Sigma`` the
   ``portfolio.construction.covariance`` estimate
   (:func:`~quant_core.portfolio.construction.covariance.estimate`) of the last
   ``portfolio.construction.lookback`` simple returns through T-1
   (:func:`~quant_core.portfolio.construction.trailing_returns`) of the weighted names with all
   of them; a name without is left out of the estimate (still scaled; counted in the binding's
   detail). Every weight is scaled by ``goal / sigma``, up or down, the gross capped by
   ``max_gross`` (scaling up stops at ``max_gross``). Nothing is scaled when no name has the
   returns, ``sigma`` is zero, or the gross is dust (at most ``DUST``: nothing to scale).
2. ``max_weight``: ``|w_i|`` clipped to ``max_weight``, the sign kept; the excess is left in
   cash (no redistribution to other names).
3. ``sector_cap``: a sector whose gross ``sum |w_i|`` exceeds the cap has all its names scaled
   by ``cap / gross``. Sectors come from ``MarketData.sectors``; a missing label (or no sector
   data at all) is the sector ``Unknown``, one sector like any other.
4. ``max_gross``: a gross ``sum |w_i|`` above the cap scales every weight by ``cap / gross``.
5. ``max_net``: a net ``sum w_i`` beyond ``+-cap`` scales the dominant side (the longs when
   the net is positive, the shorts when negative) so that the net is exactly ``+-cap``.

   Steps 3 to 5 only shrink weights, so after step 5 the limits of steps 2 to 5 all hold.
6. ``vol_target`` again, down only: steps 2 to 5 can raise ``sigma`` above ``goal`` (a sector
   cap on the hedge of a long/short book); then every weight is scaled by ``goal / sigma``.
   Scaling down keeps every limit of steps 2 to 5, so after step 6 they all hold and
   ``sigma <= goal``. (Reported with step 1, as one ``vol_target`` binding.)
7. ``no_trade_band`` and 8. ``max_turnover``: :mod:`quant_core.portfolio.drift`, against the
   current weights; what they guarantee is pinned there. With a vol target, a band that would
   put ``sigma`` of the banded book above ``goal`` (by more than rounding) is waived: every
   name trades to its step-6 target. Step 8 moves every name from its current weight toward
   that target by one fraction ``k``; ``sigma`` is a norm (convex), so the result's ``sigma``
   is at most ``(1 - k) sigma(current) + k goal``: ``goal`` whenever the current book keeps it.

Names in ``exits`` (symbols gone from the data) have target 0 from the start and are always
sold in full: neither the band nor the turnover cap holds them back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_core.portfolio.bindings import clip_binding, gross_binding, net_binding
from quant_core.portfolio.construction import trailing_returns
from quant_core.portfolio.construction.covariance import estimate
from quant_core.portfolio.drift import hold_band, limit_turnover
from quant_core.portfolio.policy import (
    ANNUALISATION,
    Binding,
    ConstraintSettings,
    PortfolioPolicy,
)

UNKNOWN_SECTOR = "Unknown"
TOLERANCE = 1e-12  # a limit exceeded by less than this (rounding) does not bind
DUST = 1e-9  # a gross weight at most this is no book to scale to a volatility
VOL_ROUNDING = 1e-9  # a banded book's vol above the goal by less than this (relative) is kept
SECTORS_NAMED = 3  # sectors named in a sector_cap binding's detail


@dataclass(frozen=True, slots=True)
class Constrained:
    """The weights held to the policy's limits, and the limits that changed them.

    Attributes
    ----------
    weights
        Target weights per symbol position, fractions of the investable equity.
    binding
        One record per constraint that changed the weights, in the order applied.
    """

    weights: np.ndarray
    binding: tuple[Binding, ...] = ()


@dataclass(frozen=True, slots=True)
class Sectors:
    """The sector of each name, as codes into ``names``.

    Attributes
    ----------
    codes
        Per name, the position of its sector in ``names``.
    names
        The sector labels, sorted; ``Unknown`` for names without one.
    known
        Whether any sector data was given (``MarketData.sectors`` not None).
    """

    codes: np.ndarray
    names: np.ndarray
    known: bool

    @classmethod
    def of(cls, sectors: np.ndarray | None, index: np.ndarray) -> Sectors:
        """Return the sectors of the symbol positions ``index``, ``Unknown`` where none.

        ``sectors`` is ``MarketData.sectors``; None (no reference data) makes every name
        ``Unknown``. A label that is not a non-empty string (None, NaN) is ``Unknown`` too.
        """
        if sectors is None:
            return cls(np.zeros(index.size, dtype=int), np.array([UNKNOWN_SECTOR]), False)
        every_code, every_name = _coded(sectors)
        # The sectors present among ``index``, sorted, and each name's position among them:
        # what factorizing those names' labels (sorted) gives.
        present, codes = np.unique(every_code[index], return_inverse=True)
        return cls(np.asarray(codes).reshape(-1), every_name[present], True)


_CODED: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # the last sectors array coded


def _coded(sectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return every symbol's sector code and the sorted labels, ``Unknown`` where none.

    Coded once per sectors array (a run asks at every rebalance with the same one): the last
    array coded is kept, with a reference so that its identity cannot be reused. Only a
    read-only array (``MarketData.sectors``) is taken as coded: a writable one may have changed.
    """
    last = _CODED[0] if _CODED else None  # read once: another thread may replace it
    if last is not None and last[0] is sectors and not sectors.flags.writeable:
        return last[1], last[2]
    labels = [s if isinstance(s, str) and s else UNKNOWN_SECTOR for s in sectors]
    codes, names = pd.factorize(pd.Series(labels, dtype=object), sort=True)
    coded = (sectors, np.asarray(codes), np.asarray(names, dtype=object))
    _CODED[:] = [coded]
    return coded[1], coded[2]


def ex_ante_vol(
    weights: np.ndarray, closes: np.ndarray, lookback: int, covariance: str
) -> tuple[float | None, int]:
    """Return the annualised ex-ante volatility of ``weights`` and the names left out of it.

    ``sqrt(252 x w' Sigma w)`` over the weighted names with ``lookback`` valid returns through
    T-1 (``closes`` holds rows through T-1 only); None when no weighted name has them.
    """
    names = np.flatnonzero(weights)
    returns, valid = trailing_returns(closes, lookback, names)
    missing = int((~valid).sum())
    if not valid.any():
        return None, missing
    sigma = estimate(returns[:, valid], covariance)
    w = weights[names[valid]]
    # Of the book scaled to a gross of 1, then scaled back: tiny weights do not underflow.
    gross = float(np.abs(w).sum())
    u = w / gross
    return gross * float(np.sqrt(max(ANNUALISATION * float(u @ sigma @ u), 0.0))), missing


def target_vol(
    weights: np.ndarray,
    closes: np.ndarray,
    policy: PortfolioPolicy,
) -> tuple[np.ndarray, Binding | None]:
    """Scale ``weights`` to the ex-ante volatility ``vol_goal``, the gross capped (step 1)."""
    return _scale_to_vol(weights, closes, policy, down_only=False)


def vol_goal(limits: ConstraintSettings) -> float | None:
    """Return ``vol_target / (1 - cash_buffer)``: the target in the unit of these weights."""
    if limits.vol_target is None:
        return None
    return limits.vol_target / (1.0 - limits.cash_buffer)


def _scale_to_vol(
    weights: np.ndarray, closes: np.ndarray, policy: PortfolioPolicy, *, down_only: bool
) -> tuple[np.ndarray, Binding | None]:
    # Step 1 (up or down, the gross capped) or step 6 (down only, when above the goal).
    limits = policy.constraints
    goal = vol_goal(limits)
    if goal is None:
        return weights, None
    gross = float(np.abs(weights).sum())
    if gross <= DUST:
        return weights, None
    settings = policy.construction
    vol, missing = ex_ante_vol(weights, closes, settings.lookback, settings.covariance)
    if vol is None or vol <= 0.0:
        return weights, None
    scale = goal / vol
    capped = not down_only and scale * gross > limits.max_gross
    if capped:
        scale = limits.max_gross / gross
    if abs(scale - 1.0) <= TOLERANCE or (down_only and scale >= 1.0):
        return weights, None
    kept = 1.0 - limits.cash_buffer  # the vol reported is the sized book's, of equity
    detail = "after the caps, " if down_only else ""
    detail += (
        f"gross scaled {gross:.2f} -> {gross * scale:.2f} "
        f"(ex-ante vol {vol * kept:.1%} -> {vol * scale * kept:.1%}"
    )
    if capped:
        detail += f", capped by max_gross {limits.max_gross:.2f}; target {limits.vol_target:.1%}"
    if missing:
        detail += (
            f"; {missing} name(s) without {settings.lookback} returns left out of the estimate"
        )
    return weights * scale, Binding("vol_target", detail + ")")


def clip_names(weights: np.ndarray, cap: float | None) -> tuple[np.ndarray, Binding | None]:
    """Clip every ``|w_i|`` to ``cap``, the excess left in cash (step 2)."""
    if cap is None:
        return weights, None
    over = np.abs(weights) > cap + TOLERANCE
    clipped = np.clip(weights, -cap, cap)
    if not over.any():
        return clipped, None
    return clipped, clip_binding(int(over.sum()), cap)


def sector_gross(weights: np.ndarray, codes: np.ndarray, count: int) -> np.ndarray:
    """Return the gross weight ``sum |w_i|`` of each sector code ``0 .. count - 1``."""
    return np.bincount(codes, weights=np.abs(weights), minlength=count)


def cap_sectors(
    weights: np.ndarray, sectors: Sectors, cap: float | None
) -> tuple[np.ndarray, Binding | None]:
    """Scale each sector whose gross exceeds ``cap`` down to it (step 3)."""
    if cap is None or not weights.size:
        return weights, None
    names, codes = sectors.names, sectors.codes
    gross = sector_gross(weights, codes, names.size)
    over = gross > cap + TOLERANCE
    if not over.any():
        return weights, None
    scale = np.where(over, cap / np.where(over, gross, 1.0), 1.0)
    worst = np.flatnonzero(over)[np.argsort(-gross[over], kind="stable")]
    named = ", ".join(f"{names[s]} {gross[s]:.2%}" for s in worst[:SECTORS_NAMED])
    more = worst.size - SECTORS_NAMED
    detail = f"{worst.size} sector(s) scaled to {cap:.2%}: {named}"
    detail += f" and {more} more" if more > 0 else ""
    detail += "" if sectors.known else " (no sector data: every name Unknown)"
    return weights * scale[codes], Binding("sector_cap", detail)


def cap_gross(weights: np.ndarray, cap: float) -> tuple[np.ndarray, Binding | None]:
    """Scale every weight down so that the gross ``sum |w_i|`` is at most ``cap`` (step 4)."""
    gross = float(np.abs(weights).sum())
    if gross <= cap + TOLERANCE:
        return weights, None
    return weights * (cap / gross), gross_binding(gross, cap)


def cap_net(weights: np.ndarray, cap: float) -> tuple[np.ndarray, Binding | None]:
    """Scale the dominant side so that ``|sum w_i|`` is at most ``cap`` (step 5)."""
    longs = float(weights[weights > 0].sum())
    shorts = float(weights[weights < 0].sum())
    net = longs + shorts
    if abs(net) <= cap + TOLERANCE:
        return weights, None
    if net > 0:  # the longs to cap - shorts (> 0, below the longs since net > cap)
        scale = (cap - shorts) / longs
        out = np.where(weights > 0, weights * scale, weights)
    else:
        scale = (-cap - longs) / shorts
        out = np.where(weights < 0, weights * scale, weights)
    return out, net_binding(net, cap, scale)


def apply_constraints(
    weights: np.ndarray,
    current: np.ndarray,
    sectors: np.ndarray | None,
    closes: np.ndarray,
    policy: PortfolioPolicy,
    exits: np.ndarray | None = None,
) -> Constrained:
    """Hold the constructed ``weights`` to the policy's limits, in the module's order.

    Parameters
    ----------
    weights
        Constructed target weights per symbol position (fractions of the investable equity).
    current
        Current weights per symbol position, in the same unit: held shares x T-1 close /
        (equity(T-1) x (1 - cash_buffer)).
    sectors
        ``MarketData.sectors`` (a label per symbol position), or None.
    closes
        Close panel rows through T-1 only (sessions x symbols); read by ``vol_target`` only.
    policy
        The portfolio policy: its constraints, and the construction's lookback and covariance.
    exits
        Symbols that must be sold in full (gone from the data), or None.

    Returns
    -------
    Constrained
        The new weights and a :class:`Binding` per limit that changed them.
    """
    limits = policy.constraints
    # Work on the names weighted or held only, in symbol order: a wider universe (more
    # columns of nothing) then gives bit-identical sums, so the same whole shares.
    active = np.flatnonzero((weights != 0) | (current != 0))
    target = np.asarray(weights[active], dtype=float)
    now = np.asarray(current[active], dtype=float)
    forced = np.zeros(active.size, dtype=bool) if exits is None else exits[active]
    target = np.where(forced, 0.0, target)
    # Sectors are read by the sector cap and the drift band only: coded when one is on.
    grouped = limits.sector_cap is not None or limits.no_trade_band > 0
    groups = Sectors.of(sectors, active) if grouped else None
    found: list[Binding | None] = []
    window = vol_window(closes, active, policy)
    target, vol_binding = (
        target_vol(target, window, policy) if window is not None else (target, None)
    )
    target, binding = clip_names(target, limits.max_weight)
    found.append(binding)
    if groups is not None:
        target, binding = cap_sectors(target, groups, limits.sector_cap)
        found.append(binding)
    target, binding = cap_gross(target, limits.max_gross)
    found.append(binding)
    target, binding = cap_net(target, limits.max_net)
    found.append(binding)
    if window is not None:
        target, binding = _scale_to_vol(target, window, policy, down_only=True)
        vol_binding = merge(vol_binding, binding)
    found.insert(0, vol_binding)
    codes = groups.codes if groups is not None else np.zeros(active.size, dtype=int)
    banded, binding = hold_band(target, now, codes, forced, limits)
    if window is not None and binding is not None:
        banded, binding = _vol_keeps_band(banded, target, window, policy, binding)
    target = banded
    found.append(binding)
    target, binding = limit_turnover(target, now, forced, limits.max_turnover)
    found.append(binding)
    out = np.zeros(weights.shape, dtype=float)
    out[active] = target
    return Constrained(out, tuple(b for b in found if b is not None))


def vol_window(
    closes: np.ndarray, active: np.ndarray, policy: PortfolioPolicy
) -> np.ndarray | None:
    """Return the closes the vol target reads (the ``active`` names' columns), or None if off."""
    if policy.constraints.vol_target is None or not active.size:
        return None
    window = closes[-(policy.construction.lookback + 1) :]  # all trailing_returns reads
    return window[:, active]


def merge(first: Binding | None, second: Binding | None) -> Binding | None:
    """Return the two ``vol_target`` records (steps 1 and 6) as one."""
    if first is None or second is None:
        return first or second
    return Binding(first.constraint, f"{first.detail}; {second.detail}")


def _vol_keeps_band(
    banded: np.ndarray,
    target: np.ndarray,
    window: np.ndarray,
    policy: PortfolioPolicy,
    binding: Binding,
) -> tuple[np.ndarray, Binding | None]:
    # Step 7 with a vol target: a band whose kept weights lift sigma above the goal is waived.
    goal = vol_goal(policy.constraints)
    settings = policy.construction
    vol, _ = ex_ante_vol(banded, window, settings.lookback, settings.covariance)
    if goal is None or vol is None or vol <= goal * (1.0 + VOL_ROUNDING):
        return banded, binding
    kept = 1.0 - policy.constraints.cash_buffer
    detail = (
        f"waived: keeping the names within the band would put the ex-ante vol at "
        f"{vol * kept:.1%}, above vol_target {policy.constraints.vol_target:.1%}; all traded"
    )
    return target, Binding("no_trade_band", detail)
