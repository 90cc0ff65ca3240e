"""Splits on session rows: the purge/embargo rule, the walk-forward grid and its truncation."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core.errors import ConfigError
from quant_core.research.design import MIN_NAMES
from quant_core.research.splits import (
    Fold,
    anchor_row,
    purged_kfold,
    refit_schedule,
    walk_forward,
)


def _no_leak(fold: Fold, embargo: int, span: int) -> None:
    """Assert the contract's rule for one fold, checked row by row against its test window."""
    a, b = int(fold.test[0]), int(fold.test[-1])
    test_labels = set(range(a + 1, b + span + 1))  # rows the test labels read
    for s in fold.train.tolist():
        assert not a <= s <= b, f"train row {s} inside the test fold [{a}, {b}]"
        assert not set(range(s + 1, s + span + 1)) & test_labels, (s, a, b, span)
        assert s <= a - 1 - embargo or s >= b + 1 + embargo, (s, a, b, embargo)


def _rule(s: int, a: int, b: int, embargo: int, span: int, after: bool) -> bool:
    before_ok = s <= a - 1 - embargo and s + span <= a
    return before_ok or (after and s >= b + 1 + embargo and s >= b + span)


grid = st.fixed_dictionaries(
    {
        "n_rows": st.integers(0, 400),
        "anchor": st.integers(0, 60),
        "train": st.integers(1, 120),
        "test": st.integers(1, 60),
        "embargo": st.integers(0, 25),
        "expanding": st.booleans(),
    }
)


@settings(max_examples=300, deadline=None)
@given(grid, st.data())
def test_walk_forward_never_trains_on_a_test_label(g: dict[str, Any], data: st.DataObject) -> None:
    span = data.draw(st.integers(1, g["embargo"] + 1), label="span")
    last_row = g["n_rows"] - 1 - span
    folds = walk_forward(span=span, last_row=last_row, **g)
    tests = [f.test for f in folds]
    for k, fold in enumerate(folds):
        assert fold.number == k
        assert fold.test.size >= 1
        assert fold.test[-1] <= last_row
        _no_leak(fold, g["embargo"], span)
        a = fold.test[0]
        assert a == g["anchor"] + g["train"] + g["embargo"] + k * g["test"]
        first = g["anchor"] if g["expanding"] else a - g["embargo"] - g["train"]
        assert fold.train.tolist() == list(range(first, a - g["embargo"]))
        assert (np.diff(fold.test) == 1).all()
    # consecutive and disjoint; all but the last full length; nothing left untested at the end
    for prev, nxt in itertools.pairwise(tests):
        assert nxt[0] == prev[-1] + 1
        assert prev.size == g["test"]
    if folds:
        assert tests[-1][-1] == min(last_row, tests[-1][0] + g["test"] - 1)
    else:
        assert g["anchor"] + g["train"] + g["embargo"] > last_row


@settings(max_examples=300, deadline=None)
@given(grid, st.data())
def test_walk_forward_grid_survives_truncation(g: dict[str, Any], data: st.DataObject) -> None:
    span = data.draw(st.integers(1, g["embargo"] + 1), label="span")
    full = walk_forward(span=span, last_row=g["n_rows"] - 1 - span, **g)
    m = data.draw(st.integers(-1, max(g["n_rows"] - 1, -1)), label="m")  # keep rows 0..m
    short_last = m - span
    short = walk_forward(**{**g, "n_rows": m + 1}, span=span, last_row=short_last)
    # the folds whose test ends by the truncated panel's last label are untouched ...
    complete = [f for f in full if f.test[-1] <= short_last]
    assert short[: len(complete)] == complete
    # ... and a fold the truncation cuts keeps its training rows and a prefix of its test rows
    for fold in short[len(complete) :]:
        whole = full[fold.number]
        assert np.array_equal(fold.train, whole.train)
        assert np.array_equal(fold.test, whole.test[whole.test <= short_last])
    assert len(short) == sum(f.test[0] <= short_last for f in full)


@settings(max_examples=200, deadline=None)
@given(grid, st.data())
def test_refit_schedule_covers_every_row_after_the_first_refit(
    g: dict[str, Any], data: st.DataObject
) -> None:
    span = data.draw(st.integers(1, g["embargo"] + 1), label="span")
    every = g.pop("test")
    refits = refit_schedule(every=every, span=span, **g)
    if not refits:
        assert g["anchor"] + g["train"] + g["embargo"] >= g["n_rows"]
        return
    predicted = np.concatenate([r.test for r in refits])
    assert predicted.tolist() == list(range(int(refits[0].test[0]), g["n_rows"]))
    for refit in refits:
        _no_leak(refit, g["embargo"], span)
        assert refit.train[-1] + span <= refit.test[0]  # labels complete by the first feature row
    # truncated after row m: the same refits, the last one open-ended
    m = data.draw(st.integers(0, g["n_rows"] - 1), label="m")
    short = refit_schedule(every=every, span=span, **{**g, "n_rows": m + 1})
    assert len(short) == sum(r.test[0] <= m for r in refits)
    for cut in short:
        assert np.array_equal(cut.train, refits[cut.number].train)
        assert np.array_equal(cut.test, refits[cut.number].test[refits[cut.number].test <= m])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 300), min_size=2, max_size=150, unique=True),
    st.integers(2, 8),
    st.integers(0, 15),
    st.data(),
)
def test_purged_kfold_purges_and_embargoes_both_sides(
    rows: list[int], folds: int, embargo: int, data: st.DataObject
) -> None:
    # spans beyond embargo + 1 too (the spec refuses them; the rule must still hold)
    span = data.draw(st.integers(1, embargo + 4), label="span")
    r = np.array(sorted(rows))
    k = min(folds, r.size)
    starved = any(
        not any(_rule(s, b[0], b[-1], embargo, span, after=True) for s in r.tolist())
        for b in np.array_split(r, k)
    )
    if starved:  # the rule leaves some fold nothing to train on: refused, not returned empty
        with pytest.raises(ConfigError, match="no training rows"):
            purged_kfold(r, k, embargo, span)
        return
    splits = purged_kfold(r, k, embargo, span)
    assert np.concatenate([f.test for f in splits]).tolist() == r.tolist()
    sizes = [f.test.size for f in splits]
    assert max(sizes) - min(sizes) <= 1
    for fold in splits:
        _no_leak(fold, embargo, span)
        a, b = int(fold.test[0]), int(fold.test[-1])
        expected = [s for s in r.tolist() if _rule(s, a, b, embargo, span, after=True)]
        assert fold.train.tolist() == expected  # the rule, and nothing purged beyond it


def test_walk_forward_by_hand() -> None:
    folds = walk_forward(
        n_rows=30, anchor=2, train=5, test=4, embargo=2, span=3, expanding=False, last_row=26
    )
    assert [f.test.tolist() for f in folds] == [
        [9, 10, 11, 12],
        [13, 14, 15, 16],
        [17, 18, 19, 20],
        [21, 22, 23, 24],
        [25, 26],
    ]
    assert folds[0].train.tolist() == [2, 3, 4, 5, 6]  # 6 + 3 = 9: its label ends on row 9
    assert folds[1].train.tolist() == [6, 7, 8, 9, 10]
    expanding = walk_forward(30, 2, 5, 4, 2, 3, True, 26)
    assert expanding[1].train.tolist() == list(range(2, 11))
    # a span longer than embargo + 1 purges the last rows of the window
    purged = walk_forward(30, 2, 5, 4, 0, 3, False, 26)
    assert purged[0].train.tolist() == [2, 3, 4]  # a = 7; 5 + 3 > 7


def test_purged_kfold_by_hand() -> None:
    folds = purged_kfold(np.arange(20), 4, embargo=2, span=3)
    assert [f.test.tolist() for f in folds] == [
        list(range(5)),
        list(range(5, 10)),
        list(range(10, 15)),
        list(range(15, 20)),
    ]
    # fold 1 tests [5, 9]: before s <= 2 (and s + 3 <= 5); after s >= 12 (and s >= 12)
    assert folds[1].train.tolist() == [0, 1, 2, *range(12, 20)]
    assert folds[0].train.tolist() == list(range(7, 20))  # fold [0, 4]: s >= 7
    # a span longer than embargo + 1 purges beyond the embargo on both sides
    short = purged_kfold(np.arange(20), 4, embargo=0, span=3)
    assert short[1].train.tolist() == [0, 1, 2, *range(12, 20)]  # s + 3 <= 5; s >= 9 + 3


def test_refit_schedule_by_hand() -> None:
    refits = refit_schedule(
        n_rows=20, anchor=1, train=4, every=5, embargo=1, span=2, expanding=False
    )
    assert [r.test.tolist() for r in refits] == [
        list(range(6, 11)),
        list(range(11, 16)),
        [16, 17, 18, 19],
    ]
    assert refits[0].train.tolist() == [1, 2, 3, 4]
    assert refits[2].train.tolist() == [11, 12, 13, 14]


def test_folds_compare_by_value_and_are_read_only() -> None:
    a = walk_forward(40, 0, 5, 5, 1, 2, False, 37)
    b = walk_forward(40, 0, 5, 5, 1, 2, False, 37)
    assert a == b
    assert a[0] != a[1]
    with pytest.raises(ValueError, match="read-only"):
        a[0].train[0] = 99


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ConfigError, match="train must be >= 1"):
        walk_forward(100, 0, 0, 5, 1, 1, False, 90)
    with pytest.raises(ConfigError, match="no training rows"):
        walk_forward(100, 0, 2, 5, 0, 5, False, 90)
    with pytest.raises(ConfigError, match="at least 5 rows"):
        purged_kfold(np.arange(3), 5, 0, 1)
    with pytest.raises(ConfigError, match="sorted"):
        purged_kfold(np.array([3, 1, 2, 4]), 2, 0, 1)
    with pytest.raises(ConfigError, match=r"fold 0 .* no training rows"):
        purged_kfold(np.arange(10), 2, embargo=9, span=1)
    assert walk_forward(10, 0, 20, 5, 1, 1, False, 8) == []


def _panel(counts: list[int], width: int = 30) -> pd.DataFrame:
    values = np.full((len(counts), width), np.nan)
    for r, c in enumerate(counts):
        values[r, :c] = 1.0
    return pd.DataFrame(values, index=pd.bdate_range("2024-01-01", periods=len(counts)))


def test_anchor_row_is_the_first_row_every_factor_has_enough_names() -> None:
    lo = MIN_NAMES - 1
    f1 = _panel([0, lo, MIN_NAMES, MIN_NAMES, 5, MIN_NAMES])
    f2 = _panel([MIN_NAMES, MIN_NAMES, lo, MIN_NAMES, MIN_NAMES, MIN_NAMES])
    assert anchor_row({"a": f1, "b": f2}, ["a", "b"]) == 3
    assert anchor_row({"a": f1, "b": f2}, ["a"]) == 2
    assert anchor_row({"a": f1, "b": f2}, ["b"]) == 0
    # truncation after the anchor never moves it
    assert anchor_row({"a": f1.iloc[:4], "b": f2.iloc[:4]}, ["a", "b"]) == 3
    with pytest.raises(ConfigError, match=r"\['a', 'b'\] never"):
        anchor_row({"a": f1.iloc[:3], "b": f2.iloc[:3]}, ["a", "b"])
    with pytest.raises(ConfigError, match="'c'"):
        anchor_row({"a": f1}, ["a", "c"])
