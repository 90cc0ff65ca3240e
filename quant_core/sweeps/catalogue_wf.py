"""The catalogue's walk-forwards: the stitched out-of-sample curve, its metrics, each fold.

A mixin of :class:`~quant_core.sweeps.catalogue.Catalogue` (its connection and transactions),
and the compact curve format every curve of the catalogue is stored in (:func:`pack_curve`).
"""

from __future__ import annotations

import io
import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

WF_SCHEMA = (
    # The stitched out-of-sample curve and its metrics; each fold's choice.
    "CREATE TABLE IF NOT EXISTS walk_forwards (wf_id VARCHAR PRIMARY KEY, name VARCHAR, "
    "strategy VARCHAR, objective VARCHAR, spec VARCHAR, created_at TIMESTAMPTZ, metrics VARCHAR, "
    "curve BLOB)",
    "CREATE TABLE IF NOT EXISTS wf_folds (wf_id VARCHAR, fold INTEGER, train_start DATE, "
    "train_end DATE, test_start DATE, test_end DATE, key VARCHAR, params VARCHAR, "
    "train_objective DOUBLE, test_metrics VARCHAR)",
)


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


class WalkForwardRecords:
    """The ``walk_forwards`` and ``wf_folds`` tables (mixed into ``Catalogue``)."""

    con: Any  # the catalogue's DuckDB connection
    path: Path

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError  # Catalogue's

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
        test_metrics (a dict).
        """
        with self._transaction():
            self.con.execute("DELETE FROM walk_forwards WHERE wf_id = ?", [wf_id])
            self.con.execute("DELETE FROM wf_folds WHERE wf_id = ?", [wf_id])
            self.con.execute(
                "INSERT INTO walk_forwards VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    wf_id,
                    header["name"],
                    header["strategy"],
                    header["objective"],
                    json.dumps(header["spec"], default=str),
                    header["created_at"],
                    json.dumps(metrics, default=str, allow_nan=True),
                    pack_curve(curve),
                ],
            )
            self.con.executemany(
                "INSERT INTO wf_folds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [
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
                    ]
                    for f in folds
                ],
            )

    def walk_forward(self, wf_id: str) -> tuple[pd.DataFrame, pd.Series, dict[str, Any]]:
        """Return a walk-forward's folds, stitched curve and metrics."""
        folds: pd.DataFrame = (
            self.con.sql(
                "SELECT * FROM wf_folds WHERE wf_id = $id ORDER BY fold", params={"id": wf_id}
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
            self.con.sql("SELECT * EXCLUDE (curve) FROM walk_forwards ORDER BY created_at DESC")
            .to_arrow_table()
            .to_pandas()
        )
        return frame


__all__ = ["WF_SCHEMA", "WalkForwardRecords", "pack_curve", "unpack_curve"]
