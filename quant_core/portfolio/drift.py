"""The drift band and the turnover cap: the last two constraint steps, against current weights.

Weights are fractions of the investable equity (:mod:`quant_core.portfolio.constraints`), the
target already held to ``max_weight``, ``sector_cap``, ``max_gross``, ``max_net`` and the vol
target (steps 2 to 6). Pinned definitions:

7. ``no_trade_band``: a name held on both sides, ``current_i`` and ``target_i`` nonzero and of
   one sign (drift), whose ``|target_i - current_i| < band`` keeps its current weight (no
   trade), unless keeping it would break a limit of steps 2 to 5, in which case it trades
   to its target. A name is only kept if ``|current_i| <= max_weight``; then, while the kept
   book breaks a sector's cap, the gross cap or the net cap, the kept names that add most to
   the excess (``|current_i| - |target_i|`` for a gross, ``current_i - target_i`` for a net
   above the cap, the opposite for one below) trade to their targets, the largest first, until
   the limit holds. An entry (``current_i = 0``), an exit (``target_i = 0``) and a change of
   side always trade: the band never freezes them. Every such limit is a sum over names that
   the target keeps, so this always ends with all of them kept: **after step 7 every limit of
   steps 2 to 5 holds**, whatever the current book (the vol target: see the constraints).
8. ``max_turnover``: one-sided turnover ``sum_i |target_i - current_i| / 2``. Above the cap,
   every name moves from its current weight toward its target by the same fraction
   ``k = (cap - e) / (turnover - e)`` (``e``: the turnover of the exits, sold in full first;
   ``k = 0`` when they take the whole cap), so the turnover after is ``max(cap, e)``.

   What holds after step 8. Let ``c0`` be the current weights with the exits at 0 and ``b``
   the targets of step 7; the result is ``c0 + k (b - c0)``. Each limited quantity ``q`` (a
   name's ``|w_i|``, a sector's gross, the gross, ``|net|``) is convex, so
   ``q(result) <= (1 - k) q(c0) + k q(b) <= (1 - k) q(c0) + k cap``: a limit the current book
   keeps is kept, and a current breach shrinks by at least the fraction ``k``; with no turnover
   cap binding (``k = 1``) every limit holds.
"""

from __future__ import annotations

import numpy as np

from quant_core.portfolio.policy import Binding, ConstraintSettings

TOLERANCE = 1e-12  # a limit exceeded by less than this (rounding) does not bind


def turnover(target: np.ndarray, current: np.ndarray) -> float:
    """Return the one-sided turnover ``sum |target - current| / 2``, a fraction of equity."""
    return float(np.abs(target - current).sum()) / 2.0


def _shed(excess: np.ndarray, kept: np.ndarray, over: float) -> np.ndarray:
    # The kept names that add most to ``over`` (their ``excess``), the fewest whose excess
    # covers it, largest first; all of them if rounding leaves it short.
    names = np.flatnonzero(kept & (excess > 0))
    if not names.size:
        return names
    names = names[np.argsort(-excess[names], kind="stable")]
    covered = np.cumsum(excess[names])
    last = int(np.searchsorted(covered, over - TOLERANCE))
    return names[: last + 1]


def _breaking(
    book: np.ndarray,
    target: np.ndarray,
    current: np.ndarray,
    kept: np.ndarray,
    codes: np.ndarray,
    limits: ConstraintSettings,
) -> tuple[np.ndarray, str | None]:
    # The kept names to trade so that the first broken limit (sector, gross, net) holds.
    drift = np.abs(current) - np.abs(target)
    if limits.sector_cap is not None:
        gross = np.bincount(codes, weights=np.abs(book))
        over = np.flatnonzero(gross > limits.sector_cap + TOLERANCE)
        if over.size:
            cut = [_shed(drift, kept & (codes == s), gross[s] - limits.sector_cap) for s in over]
            return np.concatenate(cut), "sector_cap"
    gross_all = float(np.abs(book).sum())
    if gross_all > limits.max_gross + TOLERANCE:
        return _shed(drift, kept, gross_all - limits.max_gross), "max_gross"
    net = float(book.sum())
    if abs(net) > limits.max_net + TOLERANCE:
        sign = 1.0 if net > 0 else -1.0
        return _shed(sign * (current - target), kept, abs(net) - limits.max_net), "max_net"
    return np.zeros(0, dtype=int), None


def hold_band(
    target: np.ndarray,
    current: np.ndarray,
    codes: np.ndarray,
    forced: np.ndarray,
    limits: ConstraintSettings,
) -> tuple[np.ndarray, Binding | None]:
    """Keep the current weight of names within ``no_trade_band`` of their target (step 7).

    Only names held on both sides, of one sign, are kept: entries and exits always trade.
    ``codes`` are the names' sectors (0 .. count - 1); ``forced`` the gone names, always traded.
    """
    band = limits.no_trade_band
    if band <= 0:
        return target, None
    drift = (target * current > 0) & (target != current)  # held, one side, both sides
    kept = (np.abs(target - current) < band) & drift & ~forced
    if limits.max_weight is not None:
        kept &= np.abs(current) <= limits.max_weight + TOLERANCE
    if not kept.any():
        return target, None
    waived: dict[str, int] = {}
    book = np.where(kept, current, target)
    for _ in range(int(kept.sum()) + 1):  # each round trades at least one kept name
        cut, limit = _breaking(book, target, current, kept, codes, limits)
        if limit is None:
            break
        if not cut.size:  # rounding only: the target itself keeps every limit
            cut = np.flatnonzero(kept)
        kept[cut] = False
        waived[limit] = waived.get(limit, 0) + int(cut.size)
        book = np.where(kept, current, target)
    if not kept.any():
        return book, None
    detail = f"{int(kept.sum())} name(s) within {band:.2%} of their current weight not traded"
    if waived:
        named = ", ".join(f"{n} to keep {limit}" for limit, n in waived.items())
        detail += f" ({named} traded)"
    return book, Binding("no_trade_band", detail)


def limit_turnover(
    target: np.ndarray, current: np.ndarray, forced: np.ndarray, cap: float | None
) -> tuple[np.ndarray, Binding | None]:
    """Move every name from ``current`` toward ``target`` by one fraction, to ``cap`` (step 8).

    ``forced`` names (exits, target 0) are sold in full and their turnover counts first.
    """
    if cap is None:
        return target, None
    total = turnover(target, current)
    if total <= cap + TOLERANCE:
        return target, None
    exits = float(np.abs(current[forced]).sum()) / 2.0
    free = total - exits
    k = 0.0 if free <= 0 else min(max((cap - exits) / free, 0.0), 1.0)
    out = current + k * (target - current)
    out[forced] = 0.0
    detail = f"turnover {total:.2f} -> {turnover(out, current):.2f}"
    if exits > 0:
        detail += f" (exits of gone names {exits:.2f} in full)"
    return out, Binding("max_turnover", detail)
