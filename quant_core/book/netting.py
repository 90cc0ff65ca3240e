"""Netting the sleeves' orders into one order per symbol, and attributing the fill back.

A book holds ``K`` sleeves over ``n`` symbols. Sleeve ``k`` holds virtual positions ``s_k``
(shares per symbol) and virtual cash ``c_k``; the account holds ``sum_k s_k`` and ``sum_k c_k``
(plus any unallocated cash). At a session each sleeve asks for ``r_k = target_k - s_k`` signed
shares (buy > 0); the rows ``r_k`` form ``requests`` (``K x n``).

``net_orders(requests)``
    The account's order per symbol, ``N_j = sum_k r_kj``: one order per symbol, so two sleeves
    trading against each other pay nothing and two identical sleeves pay one commission.
``attribute(requests, filled, prices, commissions, fractional=...)``
    Splits what the account's net order executed back over the sleeves (the rule is pinned in
    its docstring), so every sleeve's shares, commissions and cash add up to the account's.
``sleeve_equity(cash, positions, marks)``
    Each sleeve's equity ``c_k + s_k . marks``.

Pure: no I/O, no clock. The backtest engine and the live worker both call these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_core.portfolio.ledger import row_sums

# Whole-share arithmetic runs in int64: A_j x |r_kj| must stay below 2**63.
MAX_WHOLE_SHARES = 2**31
FRACTIONAL_SLACK = 1e-12  # relative: rounding between a net order and its fill, fractional


@dataclass(frozen=True)
class Attribution:
    """What one session's fill gives each sleeve.

    Attributes
    ----------
    shares : np.ndarray
        ``K x n`` signed shares each sleeve's position changes by (buy > 0). Column sums equal
        the account's ``filled``.
    commissions : np.ndarray
        ``K x n`` commission each sleeve bears, in account currency (>= 0). Column sums equal
        the account's commissions.
    cash : np.ndarray
        ``K`` cash change of each sleeve, account currency:
        ``cash_k = -sum_j shares_kj x price_j - sum_j commissions_kj`` (no price: 0 shares).
    """

    shares: np.ndarray
    commissions: np.ndarray
    cash: np.ndarray


def net_orders(requests: np.ndarray) -> np.ndarray:
    """Return the account's one order per symbol: ``N_j = sum_k r_kj`` (signed shares).

    Parameters
    ----------
    requests : np.ndarray
        ``K x n`` signed shares each sleeve asks for (``K >= 1``), finite.

    Returns
    -------
    np.ndarray
        ``n`` signed shares (float).
    """
    net: np.ndarray = _requests(requests).sum(axis=0)
    return net


def attribute(
    requests: np.ndarray,
    filled: np.ndarray,
    prices: np.ndarray,
    commissions: np.ndarray,
    *,
    fractional: bool,
) -> Attribution:
    """Split the account's fill of the net orders back over the sleeves.

    For each symbol ``j`` with net order ``N_j = sum_k r_kj`` and side ``s_j = sign(N_j)``:

    * No price (``prices[j]`` NaN): nothing moves; ``filled[j]`` and ``commissions[j]`` must
      be 0.
    * ``N_j = 0`` (fully crossed): every request is filled in full internally ("crossed") at
      ``prices[j]``, without commission; ``filled[j]`` must be 0.
    * Otherwise the sleeves whose request opposes the net order (``r_kj x s_j < 0``) are
      crossed in full: they get ``r_kj``. Their volume ``C_j = sum_opp |r_kj|`` is matched by
      the net-side sleeves (``r_kj x s_j > 0``, total ``B_j = sum_net |r_kj| = C_j + |N_j|``),
      which share ``A_j = C_j + |filled_j|`` in proportion to their requests:
      ``a_kj = A_j x |r_kj| / B_j``, signed ``s_j``. With ``fractional=False`` the shares are
      made whole by the largest-remainder method: each gets ``floor(a_kj)`` and the
      ``A_j - sum floor(a_kj)`` units left go one each to the largest remainders, ties to the
      lower sleeve index (exact integer arithmetic). So ``0 <= a_kj <= |r_kj|``, a sleeve
      never gets more than it asked for nor the opposite sign, and the column sums to
      ``filled_j`` exactly. Sleeves asking for 0 get 0.
    * Commissions: a net-side sleeve's external share is its total minus its crossed part,
      both taken before rounding: ``A_j |r_kj| / B_j - C_j |r_kj| / B_j = |filled_j| |r_kj| /
      B_j``. Commission ``commissions[j]`` is split in proportion to it, i.e.
      ``commission_kj = commissions[j] x |r_kj| / B_j`` for net-side sleeves and 0 for the
      others (crossing is free).
    * Cash: ``cash_k = -sum_j shares_kj x prices[j] - sum_j commission_kj``. Crossed trades
      use the same price on both sides, so they cancel: ``sum_k cash_k = -sum_j filled_j x
      prices[j] - sum_j commissions[j]``.

    Parameters
    ----------
    requests : np.ndarray
        ``K x n`` signed shares each sleeve asks for; integers when ``fractional`` is False.
    filled : np.ndarray
        ``n`` signed shares the account's net order executed: the net order's sign or 0,
        ``|filled_j| <= |N_j|`` (a shortfall rule may have truncated buys); integers when
        ``fractional`` is False.
    prices : np.ndarray
        ``n`` fill price per share of each symbol (> 0), NaN where there is none. A symbol
        whose net order is 0 needs its session price here for its requests to cross.
    commissions : np.ndarray
        ``n`` commission the account paid per symbol (>= 0; 0 where nothing filled).
    fractional : bool
        Whether shares may be fractional; False: whole shares by largest remainder.

    Returns
    -------
    Attribution
        Shares and commissions (``K x n``) and cash changes (``K``) of each sleeve.

    Raises
    ------
    ValueError
        Shapes disagree, a value is not finite, ``filled`` breaks the rules above, or a
        whole-share book gets a non-integer or more than ``MAX_WHOLE_SHARES`` per symbol.
    """
    r = _requests(requests)
    n = r.shape[1]
    fill = _vector(filled, n, "filled")
    price = _vector(prices, n, "prices", allow_nan=True)
    comm = _vector(commissions, n, "commissions")
    net = r.sum(axis=0)
    _check_fill(net, fill, price, comm, fractional)

    side = np.sign(net)
    net_side = r * side > 0
    opposed = r * side < 0
    abs_r = np.abs(r)
    want = np.where(net_side, abs_r, 0.0)
    total = want.sum(axis=0)  # B_j
    crossed = np.where(opposed, abs_r, 0.0).sum(axis=0)  # C_j
    share_out = crossed + np.abs(fill)  # A_j
    safe_total = np.where(total > 0, total, 1.0)
    if fractional:
        given = want * (share_out / safe_total)
    else:
        _check_whole(r, fill, total)
        given = _largest_remainder(want, share_out, total, net_side)
    shares = np.where(net_side, side * given, 0.0)
    shares = np.where(opposed | (net == 0), r, shares)
    priced = np.isfinite(price)
    shares = np.where(priced, shares, 0.0)
    comm_k = comm * (want / safe_total)
    cash = -row_sums(shares, np.where(priced, price, 0.0)) - comm_k.sum(axis=1)
    return Attribution(shares=shares, commissions=comm_k, cash=cash)


def sleeve_equity(cash: np.ndarray, positions: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Return each sleeve's equity ``c_k + sum_j s_kj x marks_j`` (account currency).

    Parameters
    ----------
    cash : np.ndarray
        ``K`` virtual cash of each sleeve.
    positions : np.ndarray
        ``K x n`` virtual shares of each sleeve.
    marks : np.ndarray
        ``n`` price per share of each symbol; a NaN mark counts as 0.

    Returns
    -------
    np.ndarray
        ``K`` equities.
    """
    s = _requests(positions, "positions")
    c = _vector(cash, s.shape[0], "cash")
    m = _vector(marks, s.shape[1], "marks", allow_nan=True)
    equity: np.ndarray = c + row_sums(s, np.nan_to_num(m, nan=0.0))
    return equity


def _largest_remainder(
    want: np.ndarray, share_out: np.ndarray, total: np.ndarray, net_side: np.ndarray
) -> np.ndarray:
    """Return whole ``a_kj``: ``floor(A_j w_kj / B_j)`` plus one unit for the largest remainders.

    Exact in int64 (inputs checked whole by :func:`_check_whole`). Ties in remainder go to the
    lower sleeve index (stable sort). Every unit handed out has a positive remainder, so no
    sleeve gets more than ``ceil(A_j w_kj / B_j) <= w_kj``.
    """
    w = want.astype(np.int64)
    a = share_out.astype(np.int64)
    b = np.maximum(total.astype(np.int64), 1)
    floor, rem = np.divmod(a * w, b)
    left = a - floor.sum(axis=0)  # units still to hand out, per symbol
    key = np.where(net_side, rem, -1)
    order = np.argsort(-key, axis=0, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(want.shape[0])[:, None], axis=0)
    extra = net_side & (rank < left)
    given: np.ndarray = (floor + extra).astype(float)
    return given


def _check_whole(r: np.ndarray, fill: np.ndarray, total: np.ndarray) -> None:
    """Raise ValueError unless requests and fills are whole shares within the int64 bound."""
    if not np.array_equal(r, np.round(r)):
        k, j = np.argwhere(r != np.round(r))[0]
        raise ValueError(
            f"requests[{k}, {j}] = {float(r[k, j])} is not a whole number of shares "
            "(fractional=False)"
        )
    if not np.array_equal(fill, np.round(fill)):
        j = int(np.flatnonzero(fill != np.round(fill))[0])
        raise ValueError(
            f"filled[{j}] = {float(fill[j])} is not a whole number of shares (fractional=False)"
        )
    if total.max(initial=0.0) > MAX_WHOLE_SHARES:
        raise ValueError(
            f"a symbol's requests add up to {total.max():.0f} shares, more than "
            f"{MAX_WHOLE_SHARES} (whole-share netting runs in int64)"
        )


def _check_fill(
    net: np.ndarray, fill: np.ndarray, price: np.ndarray, comm: np.ndarray, fractional: bool
) -> None:
    """Raise ValueError unless ``filled`` and ``commissions`` are possible for ``net``.

    Fractional shares: a fill may exceed the net order by rounding (``FRACTIONAL_SLACK``
    relative: sleeves' fractional requests summed in another order than the account's).
    """
    priced = np.isfinite(price)
    slack = FRACTIONAL_SLACK * np.maximum(np.abs(net), 1.0) if fractional else 0.0
    checks = (
        (fill * net < 0, "has the opposite sign of the net order"),
        (np.abs(fill) > np.abs(net) + slack, "exceeds the net order"),
        ((fill != 0) & ~priced, "is non-zero where the price is NaN"),
        (priced & (price <= 0), "has a non-positive price"),
        (comm < 0, "has a negative commission"),
        ((comm != 0) & (fill == 0), "has a commission with nothing filled"),
    )
    for bad, what in checks:
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"symbol {j} {what}: net order {float(net[j])}, filled {float(fill[j])}, "
                f"price {float(price[j])}, commission {float(comm[j])}"
            )


def _requests(requests: np.ndarray, name: str = "requests") -> np.ndarray:
    """Return ``requests`` as a finite float ``K x n`` array (``K >= 1``), else ValueError."""
    r = np.asarray(requests, dtype=float)
    if r.ndim != 2 or r.shape[0] < 1:
        raise ValueError(f"{name} must be a K x n array with K >= 1, not shape {r.shape}")
    if not np.isfinite(r).all():
        k, j = np.argwhere(~np.isfinite(r))[0]
        raise ValueError(f"{name}[{k}, {j}] is not finite: {float(r[k, j])}")
    return r


def _vector(values: np.ndarray, n: int, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """Return ``values`` as a float vector of length ``n``, finite unless ``allow_nan``."""
    v = np.asarray(values, dtype=float)
    if v.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), not {v.shape}")
    bad = np.isinf(v) if allow_nan else ~np.isfinite(v)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{j}] is not finite: {float(v[j])}")
    return v
