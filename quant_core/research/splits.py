"""Train/test splits on session rows: walk-forward, purged k-fold, the composite's refits.

Pure: integers in, arrays of session rows out; no I/O, no clock.

Rows are session row numbers of the wide panels (0-based). Factor row ``d`` is known at the
close of ``d``; label row ``d`` reads the rows ``d + 1 .. d + span`` (``Label.span``).

**Purge and embargo** (pinned). A training row ``s`` is allowed for a test fold of rows
``[a, b]`` iff

- before the fold: ``s <= a - 1 - embargo`` and ``s + span <= a``, or
- after the fold (purged k-fold only): ``s >= b + 1 + embargo`` and ``s >= b + span``.

So a training label's window ``[s + 1, s + span]`` never overlaps the test labels' window
``[a + 1, b + span]``, and ``embargo`` sessions on each side of the fold are never trained on.
With ``embargo >= span - 1`` (the spec's ``embargo >= horizon``) the ``span`` conditions before
the fold are implied by the embargo.

**Walk-forward grid** (pinned). The anchor ``r0`` is the first row on which every factor has at
least ``MIN_NAMES`` finite values (:func:`anchor_row`). Fold ``k`` (from 0) tests the rows
``a_k .. a_k + test - 1`` with ``a_k = r0 + train + embargo + k * test``; it trains on the rows
``a_k - embargo - train .. a_k - 1 - embargo`` (``expanding``: from ``r0``), minus any row the
purge rule forbids. The grid depends on the data through ``r0`` only, so removing the rows after
some ``m`` leaves every fold that ends by ``m`` as it was (truncation invariance). The
composite's refits (:func:`refit_schedule`) use the same grid with ``every`` for ``test``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from quant_core.errors import ConfigError
from quant_core.research.design import MIN_NAMES

Rows = npt.NDArray[np.int64]


def _rows(values: npt.ArrayLike) -> Rows:
    out = np.asarray(values, dtype=np.int64).copy()
    out.setflags(write=False)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Fold:
    """One split: its number (from 0), the training rows and the test rows (sorted, read-only).

    For a refit (:func:`refit_schedule`) ``test`` holds the rows whose features the refit
    predicts from. Two folds are equal when their number and both row arrays are.
    """

    number: int
    train: Rows
    test: Rows

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fold):
            return NotImplemented
        return (
            self.number == other.number
            and np.array_equal(self.train, other.train)
            and np.array_equal(self.test, other.test)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking arrays: not hashable


def allowed(
    rows: npt.ArrayLike, first: int, last: int, embargo: int, span: int, after: bool
) -> npt.NDArray[np.bool_]:
    """Return which of ``rows`` may train a model tested on the rows ``[first, last]``.

    The purge and embargo rule of the module docstring; ``after`` allows rows after the fold
    too (purged k-fold), else only rows before it (walk-forward).
    """
    s = np.asarray(rows, dtype=np.int64)
    ok = (s <= first - 1 - embargo) & (s + span <= first)
    if after:
        ok |= (s >= last + 1 + embargo) & (s >= last + span)
    return np.asarray(ok, dtype=bool)


def anchor_row(factors: Mapping[str, pd.DataFrame], names: Sequence[str]) -> int:
    """Return the first row on which every factor of ``names`` has ``MIN_NAMES`` finite values.

    Rows are those of the first named panel (the panels share one session index: they are
    computed from one bar panel); the others are read on its sessions. The answer depends on
    the rows up to it only, so removing later rows never moves it.

    Raises
    ------
    ConfigError
        ``names`` is empty or names a factor ``factors`` does not hold, or no row has enough
        values of every factor (the message names the factors and ``MIN_NAMES``).
    """
    if not names:
        raise ConfigError("anchor_row needs at least one factor name")
    missing = [n for n in names if n not in factors]
    if missing:
        raise ConfigError(f"no panel for factor(s) {missing}; panels: {sorted(factors)}")
    index = factors[names[0]].index
    enough = np.ones(len(index), dtype=bool)
    for name in names:
        values = factors[name].reindex(index=index).to_numpy(dtype=float)
        enough &= np.isfinite(values).sum(axis=1) >= MIN_NAMES
    if not enough.any():
        raise ConfigError(
            f"factors {list(names)} never all have {MIN_NAMES} symbols with values on one "
            f"session ({len(index)} sessions): too few symbols or too short a history"
        )
    return int(np.argmax(enough))


def _check(**values: int) -> None:
    floors = {"n_rows": 0, "anchor": 0, "train": 1, "test": 1, "every": 1, "embargo": 0}
    floors |= {"span": 1, "folds": 2}
    for key, value in values.items():
        if value < floors[key]:
            raise ConfigError(f"splits: {key} must be >= {floors[key]}, got {value}")


def _train_rows(anchor: int, a: int, train: int, embargo: int, span: int, expanding: bool) -> Rows:
    start = anchor if expanding else max(anchor, a - embargo - train)
    candidates = np.arange(start, a - embargo, dtype=np.int64)
    return _rows(candidates[allowed(candidates, a, a, embargo, span, after=False)])


def _grid(
    n_rows: int, anchor: int, train: int, step: int, embargo: int, span: int, expanding: bool
) -> list[tuple[int, Rows]]:
    """Return ``(a_k, train rows)`` of every grid fold whose first test row is below ``n_rows``."""
    out = []
    a = anchor + train + embargo
    while a < n_rows:
        rows = _train_rows(anchor, a, train, embargo, span, expanding)
        if rows.size == 0:
            raise ConfigError(
                f"the fold testing from row {a} has no training rows: train {train}, "
                f"embargo {embargo}, label span {span}; lengthen train or shorten the label"
            )
        out.append((a, rows))
        a += step
    return out


def walk_forward(
    n_rows: int,
    anchor: int,
    train: int,
    test: int,
    embargo: int,
    span: int,
    expanding: bool,
    last_row: int,
) -> list[Fold]:
    """Return the walk-forward folds (module docstring) of a panel of ``n_rows`` sessions.

    Test windows are cut at ``last_row`` (the last row with a label; at most ``n_rows - 1``),
    and a fold whose test window would start after it is dropped: the list is empty when the
    panel is too short for one fold.

    Raises
    ------
    ConfigError
        A negative or zero size, or a fold left without training rows by the purge.
    """
    _check(n_rows=n_rows, anchor=anchor, train=train, test=test, embargo=embargo, span=span)
    end = min(last_row, n_rows - 1)
    return [
        Fold(k, rows, _rows(np.arange(a, min(a + test - 1, end) + 1)))
        for k, (a, rows) in enumerate(_grid(end + 1, anchor, train, test, embargo, span, expanding))
    ]


def refit_schedule(
    n_rows: int,
    anchor: int,
    train: int,
    every: int,
    embargo: int,
    span: int,
    expanding: bool,
) -> list[Fold]:
    """Return the composite's refits: the walk-forward grid with ``test = every`` (module doc).

    Refit ``k`` predicts from the features of the rows ``a_k .. a_{k+1} - 1``; the last one's
    window runs to ``n_rows - 1`` (and beyond, live). Its training rows are those of the grid:
    their labels end by row ``a_k`` (``s + span <= a_k``), so they are known when row ``a_k``'s
    features are; rows without a label are kept (the fit drops NaN labels). Empty when the panel
    is too short for one refit.

    Raises
    ------
    ConfigError
        A negative or zero size, or a refit left without training rows by the purge.
    """
    _check(n_rows=n_rows, anchor=anchor, train=train, every=every, embargo=embargo, span=span)
    grid = _grid(n_rows, anchor, train, every, embargo, span, expanding)
    ends = [a - 1 for a, _ in grid[1:]] + [n_rows - 1] if grid else []
    return [
        Fold(k, rows, _rows(np.arange(a, end + 1)))
        for k, ((a, rows), end) in enumerate(zip(grid, ends, strict=True))
    ]


def purged_kfold(rows: npt.ArrayLike, folds: int, embargo: int, span: int) -> list[Fold]:
    """Return ``folds`` purged k-fold splits of ``rows`` (sorted, unique session rows).

    The test folds are contiguous blocks of ``rows`` of near-equal length (the first
    ``len(rows) % folds`` blocks one row longer); a fold of the rows ``[a, b]`` (its first and
    last) trains on every other row of ``rows`` the purge rule allows, before and after it.

    Raises
    ------
    ConfigError
        ``rows`` not sorted and unique, fewer rows than folds, or a fold left without
        training rows by the purge and embargo.
    """
    _check(folds=folds, embargo=embargo, span=span)
    r = np.asarray(rows, dtype=np.int64)
    if r.ndim != 1 or (r.size > 1 and not (np.diff(r) > 0).all()):
        raise ConfigError("purged_kfold: rows must be a sorted 1-D array of distinct rows")
    if r.size < folds:
        raise ConfigError(f"purged_kfold: {folds} folds need at least {folds} rows, got {r.size}")
    out = []
    for k, block in enumerate(np.array_split(r, folds)):
        first, last = int(block[0]), int(block[-1])
        train = r[allowed(r, first, last, embargo, span, after=True)]
        if train.size == 0:
            raise ConfigError(
                f"purged_kfold: fold {k} (rows {first}..{last}) has no training rows with "
                f"embargo {embargo} and label span {span}; use fewer folds or a shorter embargo"
            )
        out.append(Fold(k, _rows(train), _rows(block)))
    return out
