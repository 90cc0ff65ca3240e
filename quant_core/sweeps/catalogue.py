"""The sweeps' catalogue in DuckDB: every sweep, every configuration's metrics, the best curves.

One file, ``<data_dir>/sweeps/catalogue.duckdb``, written by the process that drives the sweep
(the workers only compute). Tables:

- ``sweeps``: one row per sweep (its id is the digest of its spec: ``config.sweep.sweep_digest``),
  its name, strategy, objective, spec (JSON), configurations, created and finished times;
- ``results``: one row per configuration finished (primary key: sweep and configuration key):
  its params and metrics (JSON), the objective, the seconds it took and the worker that ran it;
  a batch's rows go in one transaction, so an interrupted sweep keeps whole batches, and a
  configuration recorded is never recorded again (a sweep run again resumes from here);
- ``curves``: the equity curve of each configuration among the best ``keep`` by the objective,
  replaced as better ones come.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from config.keys import masked_override, masked_set
from quant_core.backtest.records import EVENT_COUNTS
from quant_core.errors import DataError
from quant_core.sweeps.catalogue_wf import (
    WF_SCHEMA,
    WalkForwardRecords,
    pack_curve,
    transaction,
    unpack_curve,
)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sweeps (sweep_id VARCHAR PRIMARY KEY, name VARCHAR, "
    "strategy VARCHAR, objective VARCHAR, maximize BOOLEAN, spec VARCHAR, configurations "
    "INTEGER, created_at TIMESTAMPTZ, finished_at TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS results (sweep_id VARCHAR, key VARCHAR, params VARCHAR, "
    "objective DOUBLE, metrics VARCHAR, seconds DOUBLE, worker VARCHAR, finished_at "
    "TIMESTAMPTZ, PRIMARY KEY (sweep_id, key))",
    "CREATE TABLE IF NOT EXISTS curves (sweep_id VARCHAR, key VARCHAR, date DATE, equity DOUBLE)",
    # Every configuration's equity curve, compact (an .npz: day numbers and equity), for the
    # overfitting measures over all of them; and those measures, on the sweep's row.
    "ALTER TABLE results ADD COLUMN IF NOT EXISTS curve BLOB",
    "ALTER TABLE sweeps ADD COLUMN IF NOT EXISTS deflated_sharpe DOUBLE",
    "ALTER TABLE sweeps ADD COLUMN IF NOT EXISTS pbo DOUBLE",
    "ALTER TABLE sweeps ADD COLUMN IF NOT EXISTS trials DOUBLE",
    "ALTER TABLE sweeps ADD COLUMN IF NOT EXISTS effective_trials DOUBLE",
    "ALTER TABLE sweeps ADD COLUMN IF NOT EXISTS distinct_curves DOUBLE",
    # The command line's --set values (a JSON list): part of the sweep's identity, and what a
    # configuration is run again with (the cockpit's "Run and open in Explorer").
    "ALTER TABLE sweeps ADD COLUMN IF NOT EXISTS extra VARCHAR",
    *WF_SCHEMA,  # walk-forwards (sweeps/catalogue_wf.py)
)


# The overfitting measures on a sweep's row (quant_core.sweeps.overfitting), as recorded.
OVERFIT = ("deflated_sharpe", "pbo", "trials", "effective_trials", "distinct_curves")


@dataclass(frozen=True, slots=True)
class Result:
    """One configuration's outcome, as a worker returns it."""

    key: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    seconds: float
    worker: str
    curve: pd.Series  # the equity at each close, date index


def objective_of(metrics: dict[str, Any], name: str) -> float | None:
    """Return the objective ``name`` from ``metrics`` (None when missing or not finite).

    An event count (``stops``, ``halts``, ...: ``backtest.records.EVENT_COUNTS``) missing is 0:
    a run's metrics leave the counts out when every one is zero.
    """
    value = metrics.get(name, 0 if name in EVENT_COUNTS else None)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


class CatalogueBusy(DataError):
    """Another process holds the catalogue (a running sweep's driver, or a reader a moment)."""


class CatalogueUnreadable(DataError):
    """The catalogue file is no DuckDB database (damaged, or another file): left as it is."""


LOCK_TEXT = "Could not set lock"  # DuckDB's message when another process holds the file
OPEN_RETRY_S = 5.0  # a driver waits this long for a reader to let go


def _connect(path: Path, read_only: bool) -> Any:
    # DuckDB's lock, as CatalogueBusy; a writer retries for OPEN_RETRY_S (a reader's moment).
    deadline = time.monotonic() + (0.0 if read_only else OPEN_RETRY_S)
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:  # the lock, or a file that is no database (damaged, empty)
            if LOCK_TEXT not in str(exc):  # never replaced: what it holds may be recoverable
                raise CatalogueUnreadable(
                    f"{path}: the sweeps' catalogue cannot be opened ({exc}); move it aside "
                    "to start a new one"
                ) from None
            if time.monotonic() >= deadline:
                raise CatalogueBusy(
                    f"{path}: another process holds the catalogue ({exc})"
                ) from None
            time.sleep(0.1)


class Catalogue(WalkForwardRecords):
    """The catalogue file (module docstring)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        if read_only:  # the cockpit: never creates the file, never writes
            self.con = _connect(path, read_only=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = _connect(path, read_only=False)
        for statement in SCHEMA:
            self.con.execute(statement)

    def close(self) -> None:
        """Close the file."""
        self.con.close()

    def start(
        self,
        sweep_id: str,
        name: str,
        strategy: str,
        objective: str,
        maximize: bool,
        spec: dict[str, Any],
        configurations: int,
        at: dt.datetime,
        extra: tuple[str, ...] = (),
    ) -> None:
        """Record a sweep; run again (more trials of a search), its size and spec are updated.

        ``extra``: the command line's ``--set`` values the sweep runs with. A secret's value,
        there or in the spec's ``set``, is stored masked (:func:`config.keys.masked_override`);
        the sweep's id, a digest, tells two values apart.
        """
        self.con.execute(
            "INSERT INTO sweeps (sweep_id, name, strategy, objective, maximize, spec, "
            "configurations, created_at, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (sweep_id) DO UPDATE SET configurations = excluded.configurations, "
            "spec = excluded.spec, finished_at = CASE WHEN excluded.configurations > "
            "sweeps.configurations THEN NULL ELSE sweeps.finished_at END",
            [
                sweep_id,
                name,
                strategy,
                objective,
                maximize,
                json.dumps(masked_set(spec)),
                configurations,
                at,
                json.dumps([masked_override(item) for item in extra]),
            ],
        )

    def finish(self, sweep_id: str, at: dt.datetime) -> None:
        """Record that every configuration of the sweep is done."""
        self.con.execute("UPDATE sweeps SET finished_at = ? WHERE sweep_id = ?", [at, sweep_id])

    def done(self, sweep_id: str) -> set[str]:
        """Return the keys of the configurations already recorded for the sweep."""
        rows = self.con.execute("SELECT key FROM results WHERE sweep_id = ?", [sweep_id]).fetchall()
        return {str(r[0]) for r in rows}

    def record(
        self,
        sweep_id: str,
        results: list[Result],
        objective: str,
        maximize: bool,
        keep: int,
        at: dt.datetime,
    ) -> int:
        """Record a batch of results in one transaction; return how many were new.

        A result recorded already (a batch redone after a worker was lost) is not recorded
        again. The best ``keep`` configurations' curves are kept.
        """
        first: dict[str, Result] = {}
        for r in results:  # a key twice in a batch (an Optuna proposal repeated): its first
            first.setdefault(r.key, r)
        if not first:
            return 0
        kept = list(first.values())
        # One Arrow table, one statement: bound parameters cost the driver about 2 ms a row
        # (py-spy), time the workers' cores lose to it.
        batch = pa.table(
            {
                "sweep_id": pa.array([sweep_id] * len(kept), pa.string()),
                "key": pa.array([r.key for r in kept], pa.string()),
                "params": pa.array(
                    [json.dumps(r.params, sort_keys=True, default=str) for r in kept], pa.string()
                ),
                "objective": pa.array(
                    [objective_of(r.metrics, objective) for r in kept], pa.float64()
                ),
                "metrics": pa.array(
                    [
                        json.dumps(r.metrics, sort_keys=True, default=str, allow_nan=True)
                        for r in kept
                    ],
                    pa.string(),
                ),
                "seconds": pa.array([r.seconds for r in kept], pa.float64()),
                "worker": pa.array([r.worker for r in kept], pa.string()),
                "finished_at": pa.array([at] * len(kept), pa.timestamp("us", tz="UTC")),
                "curve": pa.array([pack_curve(r.curve) for r in kept], pa.binary()),
            }
        )
        self.con.register("batch_results", batch)
        try:
            with transaction(self.con):
                # RETURNING lists the rows inserted, not those already recorded.
                added = self.con.execute(
                    "INSERT INTO results (sweep_id, key, params, objective, metrics, seconds, "
                    "worker, finished_at, curve) SELECT * FROM batch_results "
                    "ON CONFLICT DO NOTHING RETURNING key"
                ).fetchall()
                self._keep_curves(sweep_id, maximize, keep)
        finally:
            self.con.unregister("batch_results")
        return len(added)

    def count(self, sweep_id: str) -> int:
        """Return how many configurations of the sweep are recorded."""
        rows = self.con.execute(
            "SELECT count(*) FROM results WHERE sweep_id = ?", [sweep_id]
        ).fetchall()
        return int(rows[0][0])

    def keep_curves(self, sweep_id: str, maximize: bool, keep: int) -> None:
        """Keep in ``curves`` the best ``keep`` configurations' curves recorded, and only theirs.

        In one transaction. Each batch recorded does it; a sweep run again does it once more, so
        a finished sweep run with another ``keep`` (not part of its identity: the same sweep,
        resumed with nothing to run) keeps its new best N; ``keep`` 0 keeps none.
        """
        with transaction(self.con):
            self._keep_curves(sweep_id, maximize, keep)

    def _keep_curves(self, sweep_id: str, maximize: bool, keep: int) -> None:
        # Each from the configuration's recorded curve (results.curve).
        best: list[str] = []
        if keep > 0:
            order = "DESC" if maximize else "ASC"
            best = [
                str(r[0])
                for r in self.con.execute(
                    f"SELECT key FROM results WHERE sweep_id = ? AND objective IS NOT NULL "  # noqa: S608 - constant
                    f"ORDER BY objective {order}, key LIMIT ?",
                    [sweep_id, keep],
                ).fetchall()
            ]
        self.con.execute(
            "DELETE FROM curves WHERE sweep_id = ? AND key NOT IN (SELECT unnest(?::VARCHAR[]))",
            [sweep_id, sorted(best)],
        )
        rows = self.con.execute(
            "SELECT key, curve FROM results WHERE sweep_id = ? AND curve IS NOT NULL "
            "AND key IN (SELECT unnest(?::VARCHAR[])) AND key NOT IN "
            "(SELECT DISTINCT key FROM curves WHERE sweep_id = ?) ORDER BY key",
            [sweep_id, best, sweep_id],
        ).fetchall()
        if not rows:
            return
        frames = []
        for key, blob in rows:
            curve = unpack_curve(bytes(blob))
            frames.append(
                pd.DataFrame(
                    {
                        "sweep_id": sweep_id,
                        "key": str(key),
                        "date": pd.DatetimeIndex(curve.index).date,
                        "equity": curve.to_numpy(dtype=float),
                    }
                )
            )
        self.con.register("new_curves", pd.concat(frames, ignore_index=True))
        try:
            self.con.execute("INSERT INTO curves SELECT * FROM new_curves")
        finally:
            self.con.unregister("new_curves")

    def all_curves(self, sweep_id: str) -> pd.DataFrame:
        """Return every configuration's equity curve: date index, one column per key."""
        rows = self.con.execute(
            "SELECT key, curve FROM results WHERE sweep_id = ? AND curve IS NOT NULL ORDER BY key",
            [sweep_id],
        ).fetchall()
        return pd.DataFrame({str(key): unpack_curve(bytes(blob)) for key, blob in rows})

    def set_overfitting(self, sweep_id: str, figures: dict[str, float | None]) -> None:
        """Record the sweep's overfitting measures (``quant_core.sweeps.overfitting``)."""
        assigned = ", ".join(f"{name} = ?" for name in OVERFIT)
        values = [figures.get(name) for name in OVERFIT]
        query = f"UPDATE sweeps SET {assigned} WHERE sweep_id = ?"  # noqa: S608 - our names
        self.con.execute(query, [*values, sweep_id])

    def results(self, sweep_id: str) -> pd.DataFrame:
        """Return the sweep's results, the best first (params and metrics as dicts)."""
        frame: pd.DataFrame = (
            self.con.execute(
                "SELECT r.* EXCLUDE (curve), s.maximize FROM results r "
                "JOIN sweeps s USING (sweep_id) WHERE sweep_id = $id",
                {"id": sweep_id},
            )
            .to_arrow_table()
            .to_pandas()
        )
        if frame.empty:
            return frame
        frame["params"] = frame["params"].map(json.loads)
        frame["metrics"] = frame["metrics"].map(json.loads)
        maximize = bool(frame["maximize"].iloc[0])
        return frame.drop(columns="maximize").sort_values(
            ["objective", "key"],
            ascending=[not maximize, True],
            na_position="last",
            ignore_index=True,
        )

    def curves(self, sweep_id: str) -> pd.DataFrame:
        """Return the kept curves: date index, one column per configuration key."""
        frame: pd.DataFrame = (
            self.con.execute(
                "SELECT key, date, equity FROM curves WHERE sweep_id = $id ORDER BY date",
                {"id": sweep_id},
            )
            .to_arrow_table()
            .to_pandas()
        )
        return frame.pivot(index="date", columns="key", values="equity")  # noqa: PD010 - no averaging

    def overfitting(self, sweep_id: str) -> dict[str, float | None]:
        """Return the sweep's overfitting measures as recorded (None where not computed)."""
        query = f"SELECT {', '.join(OVERFIT)} FROM sweeps WHERE sweep_id = ?"  # noqa: S608
        rows = self.con.execute(query, [sweep_id]).fetchall()
        values = rows[0] if rows else (None,) * len(OVERFIT)
        return {n: None if v is None else float(v) for n, v in zip(OVERFIT, values, strict=True)}

    def sweeps(self) -> pd.DataFrame:
        """Return every sweep, the latest first; none in a file without its tables.

        A sweep killed at its start leaves one; the cockpit reads it.
        """
        tables = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'sweeps'"
        ).fetchall()
        if not tables[0][0]:
            return pd.DataFrame({"sweep_id": pd.Series(dtype=str)})
        frame: pd.DataFrame = (
            self.con.sql("SELECT * FROM sweeps ORDER BY created_at DESC, sweep_id DESC")
            .to_arrow_table()
            .to_pandas()
        )
        return frame


__all__ = [
    "Catalogue",
    "CatalogueBusy",
    "CatalogueUnreadable",
    "Result",
    "objective_of",
    "pack_curve",
    "unpack_curve",
]
