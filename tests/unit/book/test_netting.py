from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core.book.netting import attribute, net_orders, sleeve_equity


def _a(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)


def _reference(r, filled, prices, comm):
    """Whole-share attribution symbol by symbol, with exact fractions (the pinned rule)."""
    k_count, n = r.shape
    shares = np.zeros((k_count, n))
    fees = np.zeros((k_count, n))
    for j in range(n):
        col = [int(x) for x in r[:, j]]
        net = sum(col)
        if np.isnan(prices[j]):
            continue
        if net == 0:
            shares[:, j] = col
            continue
        side = 1 if net > 0 else -1
        mine = [k for k in range(k_count) if col[k] * side > 0]
        b = sum(abs(col[k]) for k in mine)
        a = sum(-col[k] * side for k in range(k_count) if col[k] * side < 0) + abs(int(filled[j]))
        exact = {k: Fraction(a * abs(col[k]), b) for k in mine}
        floors = {k: int(exact[k]) for k in mine}
        left = a - sum(floors.values())
        by_rem = sorted(mine, key=lambda k: (-(exact[k] - floors[k]), k))
        for k in by_rem[:left]:
            floors[k] += 1
        for k in range(k_count):
            shares[k, j] = side * floors[k] if k in floors else col[k]
        for k in mine:
            fees[k, j] = comm[j] * abs(col[k]) / b
    return shares, fees


@st.composite
def books(draw):
    k = draw(st.integers(1, 5))
    n = draw(st.integers(1, 8))
    req = st.integers(-500, 500)
    r = np.array([[draw(req) for _ in range(n)] for _ in range(k)], dtype=float)
    if k > 1:
        for j in range(n):
            if draw(st.integers(0, 3)) == 0:  # the last sleeve offsets the others: crossed
                r[-1, j] = -r[:-1, j].sum()
    net = r.sum(0)
    filled = net.copy()
    prices = np.empty(n)
    comm = np.zeros(n)
    for j in range(n):
        if draw(st.booleans()) and net[j] > 0:  # the shortfall rule truncated this buy
            filled[j] = draw(st.integers(0, int(net[j])))
        if draw(st.integers(0, 5)) == 0:
            prices[j], filled[j] = np.nan, 0.0
        else:
            prices[j] = draw(st.integers(1, 100_000)) / 100  # to the cent
        if filled[j] != 0:
            comm[j] = draw(st.integers(0, 2_000)) / 100
    return r, filled, prices, comm


def test_net_orders_is_one_order_per_symbol() -> None:
    r = np.array([[100.0, -5.0, 0.0], [-40.0, -5.0, 7.0]])
    assert net_orders(r).tolist() == [60.0, -10.0, 7.0]


def test_opposing_sleeve_is_crossed_in_full_and_free() -> None:
    r = np.array([[100.0], [-40.0]])
    att = attribute(r, _a(60), _a(10.0), _a(1.5), fractional=False)
    assert att.shares.tolist() == [[100.0], [-40.0]]
    assert att.commissions.tolist() == [[1.5], [0.0]]
    assert att.cash.tolist() == [-1001.5, 400.0]


def test_truncated_buy_is_shared_in_proportion_to_requests() -> None:
    # Net +120, only 60 filled: the seller's 30 cross in full; 30 + 60 = 90 shared 100:50.
    r = np.array([[100.0], [50.0], [-30.0]])
    att = attribute(r, _a(60), _a(20.0), _a(3.0), fractional=False)
    assert att.shares[:, 0].tolist() == [60.0, 30.0, -30.0]
    assert att.commissions[:, 0].tolist() == pytest.approx([2.0, 1.0, 0.0])
    assert att.cash.tolist() == pytest.approx([-1202.0, -601.0, 600.0])


def test_largest_remainder_goes_to_the_largest_fraction() -> None:
    # 7 of 10: exact 3.5, 2.1, 1.4 -> floors 3, 2, 1 and the unit left to sleeve 0.
    r = np.array([[5.0], [3.0], [2.0]])
    att = attribute(r, _a(7), _a(1.0), _a(0.0), fractional=False)
    assert att.shares[:, 0].tolist() == [4.0, 2.0, 1.0]


def test_largest_remainder_ties_go_to_the_lower_index() -> None:
    r = np.array([[1.0], [1.0], [1.0]])
    att = attribute(r, _a(2), _a(1.0), _a(0.0), fractional=False)
    assert att.shares[:, 0].tolist() == [1.0, 1.0, 0.0]
    r = np.array([[-1.0], [-1.0], [-1.0]])
    att = attribute(r, _a(-1), _a(1.0), _a(0.0), fractional=False)
    assert att.shares[:, 0].tolist() == [-1.0, 0.0, 0.0]


def test_fully_crossed_symbol_moves_without_commission() -> None:
    r = np.array([[30.0], [-10.0], [-20.0]])
    att = attribute(r, _a(0), _a(12.5), _a(0.0), fractional=False)
    assert att.shares[:, 0].tolist() == [30.0, -10.0, -20.0]
    assert att.commissions.sum() == 0.0
    assert att.cash.tolist() == [-375.0, 125.0, 250.0]


def test_no_price_moves_nothing() -> None:
    r = np.array([[30.0, 4.0], [-10.0, -4.0]])
    att = attribute(r, _a(0, 0), _a(np.nan, np.nan), _a(0, 0), fractional=False)
    assert not att.shares.any()
    assert att.cash.tolist() == [0.0, 0.0]


def test_fractional_shares_are_exactly_proportional() -> None:
    r = np.array([[2.0], [1.0]])
    att = attribute(r, _a(1.5), _a(4.0), _a(0.3), fractional=True)
    assert att.shares[:, 0].tolist() == pytest.approx([1.0, 0.5])
    assert att.commissions[:, 0].tolist() == pytest.approx([0.2, 0.1])


def test_one_sleeve_gets_exactly_the_fill_and_its_commissions() -> None:
    r = np.array([[100.0, -50.0, 7.0]])
    filled, prices, comm = _a(37, -50, 0), _a(10.01, 3.33, np.nan), _a(1.07, 0.25, 0)
    att = attribute(r, filled, prices, comm, fractional=False)
    assert att.shares[0].tolist() == filled.tolist()
    assert att.commissions[0].tolist() == comm.tolist()


def test_two_identical_sleeves_each_get_half() -> None:
    r = np.array([[100.0, -50.0], [100.0, -50.0]])
    filled, comm = _a(140, -100), _a(1.0, 0.5)
    att = attribute(r, filled, _a(10.0, 20.0), comm, fractional=False)
    assert att.shares.tolist() == [[70.0, -50.0], [70.0, -50.0]]
    assert att.commissions.tolist() == [[0.5, 0.25], [0.5, 0.25]]
    assert att.cash[0] == att.cash[1]


@pytest.mark.parametrize(
    ("r", "filled", "prices", "comm", "fractional", "match"),
    [
        ([[5.0]], [-5.0], [1.0], [0.0], False, "opposite sign"),
        ([[5.0]], [6.0], [1.0], [0.0], False, "exceeds the net order"),
        ([[5.0]], [5.0], [np.nan], [0.0], False, "NaN"),
        ([[5.0]], [5.0], [0.0], [0.0], False, "non-positive price"),
        ([[5.0]], [5.0], [1.0], [-1.0], False, "negative commission"),
        ([[5.0]], [0.0], [1.0], [1.0], False, "commission with nothing filled"),
        ([[5.5]], [5.0], [1.0], [0.0], False, r"requests\[0, 0\] = 5.5"),
        ([[5.0]], [2.5], [1.0], [0.0], False, r"filled\[0\] = 2.5"),
        ([[5.0]], [5.0, 1.0], [1.0], [0.0], False, r"filled must have shape \(1,\)"),
        ([[np.inf]], [0.0], [1.0], [0.0], False, "not finite"),
        ([5.0], [5.0], [1.0], [0.0], False, "K x n"),
        ([[5.0]], [5.0], [np.inf], [0.0], True, r"prices\[0\] is not finite"),
        ([[3e9], [-1.0]], [3e9 - 1], [1.0], [0.0], False, "int64"),
    ],
)
def test_impossible_inputs_are_refused_by_name(r, filled, prices, comm, fractional, match):
    with pytest.raises(ValueError, match=match):
        attribute(
            np.array(r),
            np.array(filled),
            np.array(prices),
            np.array(comm),
            fractional=fractional,
        )


@settings(max_examples=300, deadline=None)
@given(books())
def test_attribution_adds_up_to_the_account(book) -> None:
    r, filled, prices, comm = book
    att = attribute(r, filled, prices, comm, fractional=False)
    assert att.shares.shape == r.shape
    assert att.cash.shape == (r.shape[0],)
    assert np.array_equal(att.shares.sum(0), filled)
    assert np.all(att.shares == np.round(att.shares))
    assert np.allclose(att.commissions.sum(0), comm, rtol=0, atol=1e-9)
    assert np.all(att.commissions >= 0)
    account_cash = -np.nansum(filled * prices) - comm.sum()
    assert abs(att.cash.sum() - account_cash) < 0.005
    assert np.all(np.abs(att.shares) <= np.abs(r))
    assert np.all(att.shares * r >= 0)
    want_shares, want_fees = _reference(r, filled, prices, comm)
    assert np.array_equal(att.shares, want_shares)
    assert np.allclose(att.commissions, want_fees, rtol=0, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(books())
def test_fractional_attribution_adds_up_to_the_account(book) -> None:
    r, filled, prices, comm = book
    r, filled = r / 8, filled / 8  # eighths of a share
    att = attribute(r, filled, prices, comm, fractional=True)
    assert np.allclose(att.shares.sum(0), filled, rtol=0, atol=1e-9)
    assert np.allclose(att.commissions.sum(0), comm, rtol=0, atol=1e-9)
    account_cash = -np.nansum(filled * prices) - comm.sum()
    assert abs(att.cash.sum() - account_cash) < 0.005
    assert np.all(np.abs(att.shares) <= np.abs(r))
    assert np.all(att.shares * r >= 0)


@settings(max_examples=100, deadline=None)
@given(books(), st.integers(1, 4))
def test_identical_sleeves_split_one_sleeve_evenly(book, copies) -> None:
    r, _, prices, comm = book
    one = r[:1]
    # One sleeve's book, its order half filled; copies of it fill copies x as much.
    fill = np.where(np.isnan(prices), 0.0, np.trunc(one[0] / 2))
    fee = np.where(fill != 0, comm, 0.0)
    many = np.repeat(one, copies, axis=0)
    att = attribute(many, fill * copies, prices, fee, fractional=False)
    single = attribute(one, fill, prices, fee, fractional=False)
    assert np.array_equal(att.shares, np.repeat(single.shares, copies, axis=0))
    assert np.allclose(att.commissions * copies, np.repeat(single.commissions, copies, axis=0))


def test_sleeve_equity_counts_nan_marks_as_zero() -> None:
    cash = _a(1000.0, -50.0)
    positions = np.array([[10.0, 5.0], [0.0, -2.0]])
    eq = sleeve_equity(cash, positions, _a(12.0, np.nan))
    assert eq.tolist() == [1120.0, -50.0]
    eq = sleeve_equity(cash, positions, _a(12.0, 3.0))
    assert eq.tolist() == [1135.0, -56.0]


def test_sleeve_equity_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"marks must have shape \(2,\)"):
        sleeve_equity(_a(1.0, 2.0), np.zeros((2, 2)), _a(1.0))
