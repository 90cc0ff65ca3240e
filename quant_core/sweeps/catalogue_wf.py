"""The catalogue's walk-forwards: the stitched out-of-sample curve, its metrics, each fold.

A mixin of :class:`~quant_core.sweeps.catalogue.Catalogue` (its connection), the catalogue's one
:func:`transaction`, and the compact curve format every curve of the catalogue is stored in
(:func:`pack_curve`).

A fold is recorded as soon as it is finished (:meth:`WalkForwardRecords.record_fold`: its
windows, choice, train objective and test run, curve included, in one transaction), so a
walk-forward run again reads its finished folds back (:meth:`~WalkForwardRecords.finished_folds`)
and runs only the others; the ``walk_forwards`` row (the stitched curve and its metrics) is
written when every fold is.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from config.keys import masked_set

WF_SCHEMA = (
    # The stitched out-of-sample curve and its metrics; each fold's choice.
    "CREATE TABLE IF NOT EXISTS walk_forwards (wf_id VARCHAR PRIMARY KEY, name VARCHAR, "
    "strategy VARCHAR, objective VARCHAR, spec VARCHAR, created_at TIMESTAMPTZ, metrics VARCHAR, "
    "curve BLOB)",
    "CREATE TABLE IF NOT EXISTS wf_folds (wf_id VARCHAR, fold INTEGER, train_start DATE, "
    "train_end DATE, test_start DATE, test_end DATE, key VARCHAR, params VARCHAR, "
    "train_objective DOUBLE, test_metrics VARCHAR)",
    # A fold's test run whole (its curve, seconds and worker): what a resumed run reads back.
    # Rows without a curve (recorded before) are not resumed: those folds run again.
    "ALTER TABLE wf_folds ADD COLUMN IF NOT EXISTS test_curve BLOB",
    "ALTER TABLE wf_folds ADD COLUMN IF NOT EXISTS test_seconds DOUBLE",
    "ALTER TABLE wf_folds ADD COLUMN IF NOT EXISTS test_worker VARCHAR",
)
# What walk_forward() returns: the columns every catalogue has (a reader never migrates it).
FOLD_NAMES = (
    "wf_id",
    "fold",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "key",
    "params",
    "train_objective",
    "test_metrics",
)
RUN_NAMES = ("test_curve", "test_seconds", "test_worker")  # a fold's test run
FOLD_COLUMNS = ", ".join(FOLD_NAMES)
RUN_COLUMNS = ", ".join(RUN_NAMES)


@contextmanager
def transaction(con: Any) -> Iterator[None]:
    """Run the block in one transaction of ``con``: committed whole, or rolled back and raised."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def pack_curve(curve: pd.Series) -> bytes:
    """Return an equity curve (date index) as compact bytes: day numbers and values."""
    out = io.BytesIO()
    days = pd.DatetimeIndex(curve.index).to_numpy().astype("datetime64[D]").astype(np.int32)
    np.savez(out, days=days, equity=curve.to_numpy(dtype=float))
    return out.getvalue()


def unpack_curve(blob: bytes) -> pd.Series:
    """Return the equity curve :func:`pack_curve` packed."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as saved:
        days = saved["days"].astype("datetime64[D]")
        return pd.Series(saved["equity"], index=pd.DatetimeIndex(days), name="equity")


def _fold_values(wf_id: str, f: dict[str, Any]) -> list[Any]:
    # A fold's row (FOLD_COLUMNS, then RUN_COLUMNS: None where the fold has no test run).
    curve = f.get("test_curve")
    return [
        wf_id,
        f["fold"],
        f["train_start"],
        f["train_end"],
        f["test_start"],
        f["test_end"],
        f["key"],
        json.dumps(f["params"], sort_keys=True, default=str),
        f["train_objective"],
        json.dumps(f["test_metrics"], default=str, allow_nan=True),
        None if curve is None else pack_curve(curve),
        f.get("test_seconds"),
        f.get("test_worker"),
    ]


def _fold_of(values: list[Any] | tuple[Any, ...]) -> dict[str, Any]:
    # A fold as recorded (a row of _fold_values), decoded: what a resumed run gets back.
    fold = dict(zip((*FOLD_NAMES, *RUN_NAMES)[1:], values[1:], strict=True))
    fold["params"] = json.loads(fold["params"])
    fold["test_metrics"] = json.loads(fold["test_metrics"])
    fold["test_curve"] = unpack_curve(bytes(fold["test_curve"]))
    for name in ("train_start", "train_end", "test_start", "test_end"):
        fold[name] = dt.date.fromisoformat(str(fold[name]))
    return fold


class WalkForwardRecords:
    """The ``walk_forwards`` and ``wf_folds`` tables (mixed into ``Catalogue``)."""

    con: Any  # the catalogue's DuckDB connection
    path: Path

    def record_fold(self, wf_id: str, fold: dict[str, Any]) -> dict[str, Any]:
        """Record (or replace) one finished fold in one transaction; return it as recorded.

        ``fold``: fold, train_start, train_end, test_start, test_end, key, params (a dict),
        train_objective, test_metrics (a dict), test_curve (the test run's equity curve),
        test_seconds, test_worker. The fold returned is what :meth:`finished_folds` reads
        back (the curve and metrics through their stored forms), so a fold run now and a fold
        resumed are the same values.
        """
        values = _fold_values(wf_id, fold)
        with transaction(self.con):
            self.con.execute(
                "DELETE FROM wf_folds WHERE wf_id = ? AND fold = ?", [wf_id, fold["fold"]]
            )
            self.con.execute(
                f"INSERT INTO wf_folds ({FOLD_COLUMNS}, {RUN_COLUMNS}) "  # noqa: S608 - constants
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        return _fold_of(values)

    def finished_folds(self, wf_id: str) -> list[dict[str, Any]]:
        """Return the walk-forward's folds recorded with their test run, in fold order."""
        rows = self.con.execute(
            f"SELECT {FOLD_COLUMNS}, {RUN_COLUMNS} FROM wf_folds "  # noqa: S608 - constants
            "WHERE wf_id = ? AND test_curve IS NOT NULL ORDER BY fold",
            [wf_id],
        ).fetchall()
        return [_fold_of(row) for row in rows]

    def record_walk_forward(
        self,
        wf_id: str,
        header: dict[str, Any],
        folds: list[dict[str, Any]],
        metrics: dict[str, Any],
        curve: pd.Series,
    ) -> None:
        """Record (or replace) a walk-forward: its stitched curve, metrics and folds, at once.

        ``header``: name, strategy, objective, spec (a dict), created_at; each fold: fold,
        train_start, train_end, test_start, test_end, key, params (a dict), train_objective,
        test_metrics (a dict), and optionally its test run (:meth:`record_fold`).
        """
        with transaction(self.con):
            self.con.execute("DELETE FROM walk_forwards WHERE wf_id = ?", [wf_id])
            self.con.execute("DELETE FROM wf_folds WHERE wf_id = ?", [wf_id])
            self.con.execute(
                "INSERT INTO walk_forwards VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    wf_id,
                    header["name"],
                    header["strategy"],
                    header["objective"],
                    json.dumps(masked_set(header["spec"]), default=str),
                    header["created_at"],
                    json.dumps(metrics, default=str, allow_nan=True),
                    pack_curve(curve),
                ],
            )
            self.con.executemany(
                f"INSERT INTO wf_folds ({FOLD_COLUMNS}, {RUN_COLUMNS}) "  # noqa: S608 - constants
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_fold_values(wf_id, f) for f in folds],
            )

    def walk_forward(self, wf_id: str) -> tuple[pd.DataFrame, pd.Series, dict[str, Any]]:
        """Return a walk-forward's folds, stitched curve and metrics."""
        folds: pd.DataFrame = (
            self.con.execute(
                f"SELECT {FOLD_COLUMNS} FROM wf_folds WHERE wf_id = $id "  # noqa: S608 - constants
                "ORDER BY fold",
                {"id": wf_id},
            )
            .to_arrow_table()
            .to_pandas()
        )
        folds["params"] = folds["params"].map(json.loads)
        folds["test_metrics"] = folds["test_metrics"].map(json.loads)
        rows = self.con.execute(
            "SELECT metrics, curve FROM walk_forwards WHERE wf_id = ?", [wf_id]
        ).fetchall()
        if not rows:
            raise KeyError(f"no walk-forward {wf_id!r} in {self.path}")
        metrics, blob = rows[0]
        return folds, unpack_curve(bytes(blob)), json.loads(metrics)

    def walk_forwards(self) -> pd.DataFrame:
        """Return every walk-forward (no curves), the latest first."""
        frame: pd.DataFrame = (
            self.con.sql(
                "SELECT * EXCLUDE (curve) FROM walk_forwards ORDER BY created_at DESC, wf_id DESC"
            )
            .to_arrow_table()
            .to_pandas()
        )
        return frame


__all__ = [
    "WF_SCHEMA",
    "WalkForwardRecords",
    "pack_curve",
    "transaction",
    "unpack_curve",
]
