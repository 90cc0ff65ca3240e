"""``row_sums``: the marks' product, each row's bits fixed by its own values.

The engine marks a stretch of closes at once and a truncated run ends with a shorter stretch; the
sweep's workers run with one BLAS thread and a shell with several. A row's sum must not depend on
the rows around it, on the memory order, or on threads: it is numpy's pairwise sum of the row.
"""

from __future__ import annotations

import numpy as np
import pytest

from quant_core.portfolio.ledger import row_sums


@pytest.fixture
def values() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return rng.random((260, 2001)) * 300, rng.standard_normal(2001) * 1_000


def test_it_is_the_matrix_product(values: tuple[np.ndarray, np.ndarray]) -> None:
    matrix, vector = values
    np.testing.assert_allclose(row_sums(matrix, vector), matrix @ vector, rtol=1e-12, atol=1e-6)


def test_a_rows_bits_are_those_of_the_row_alone(values: tuple[np.ndarray, np.ndarray]) -> None:
    matrix, vector = values
    whole = row_sums(matrix, vector)
    alone = np.array([row_sums(matrix[i : i + 1], vector)[0] for i in range(len(matrix))])
    assert np.array_equal(whole, alone)
    for lo, hi in [(0, 1), (3, 24), (250, 260), (17, 200)]:
        assert np.array_equal(row_sums(matrix[lo:hi], vector), whole[lo:hi])
    fortran = np.asfortranarray(matrix)
    assert np.array_equal(row_sums(fortran, vector), whole)


def test_a_row_is_numpys_sum_of_its_products(values: tuple[np.ndarray, np.ndarray]) -> None:
    # The compiled rows give what numpy's multiply-then-sum gave before them, bit for bit.
    matrix, vector = values
    expected = np.multiply(matrix, vector, order="C").sum(axis=1)
    assert np.array_equal(row_sums(matrix, vector), expected)
    assert np.array_equal(row_sums(matrix[:, :7], vector[:7]), (matrix[:, :7] * vector[:7]).sum(1))


def test_columns_of_a_matrix_are_summed_alike(values: tuple[np.ndarray, np.ndarray]) -> None:
    matrix, vector = values
    sleeves = np.stack([vector, -vector / 3, np.zeros_like(vector)])  # k x n
    out = row_sums(matrix, sleeves.T)
    assert out.shape == (len(matrix), 3)
    for k in range(3):
        assert np.array_equal(out[:, k], row_sums(matrix, sleeves[k]))
    assert (out[:, 2] == 0).all()


def test_empty_shapes() -> None:
    assert row_sums(np.zeros((0, 4)), np.ones(4)).shape == (0,)
    assert (row_sums(np.zeros((3, 0)), np.ones(0)) == 0).all()
    assert row_sums(np.ones((3, 4)), np.ones((4, 0))).shape == (3, 0)


def test_row_sums_refuses_shapes_that_do_not_align() -> None:
    with pytest.raises(ValueError, match="do not align"):
        row_sums(np.ones((2, 1)), np.ones(3))
    with pytest.raises(ValueError, match="do not align"):
        row_sums(np.ones(3), np.ones(3))
