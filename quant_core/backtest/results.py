"""Stored backtest runs: one folder per run, catalogued through DuckDB.

``<data_dir>/backtests/<run_id>/`` holds ``equity.parquet`` (equity, cash, long and short
value, benchmark), ``trades.parquet`` (signal, open and execution price, costs, status),
``positions.parquet`` (after each session that traded), ``decisions.parquet`` (what shaped the
book: :data:`quant_core.backtest.records.DECISION_COLUMNS`; a run stored before has none),
``metrics.json``, ``config.json`` (the exact merged config, secrets masked) and
``summary.parquet`` (one row). A run is written under a temporary name and renamed into place,
so a listed run is always complete. The catalogue is a DuckDB query over every run's
``summary.parquet``: no shared database file that two runs could contend for.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from quant_core.analytics.round_trips import ROUND_TRIP_COLUMNS, empty_round_trips
from quant_core.atomic import fsync_path, json_safe
from quant_core.backtest.records import DECISION_COLUMNS
from quant_core.data.store_read import first_line
from quant_core.errors import DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run's files, read back."""

    run_id: str
    curve: pd.DataFrame
    trades: pd.DataFrame
    positions: pd.DataFrame
    metrics: dict[str, Any]
    config: dict[str, Any]
    decisions: pd.DataFrame  # DECISION_COLUMNS; empty for a run stored before they were kept


def store_run(
    root: Path,
    run_id: str,
    frames: dict[str, pd.DataFrame],
    metrics: dict[str, Any],
    config: dict[str, Any],
    summary: dict[str, Any],
    documents: dict[str, Any] | None = None,
) -> Path:
    """Write one run atomically and return its folder (``documents``: more ``<name>.json``)."""
    target = root / run_id
    if target.exists():
        raise DataError(f"backtest run {run_id} already exists at {target}")
    staging = root / f".{run_id}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, frame in frames.items():
        frame.to_parquet(staging / f"{name}.parquet")
    safe = json_safe(metrics)
    (staging / "metrics.json").write_text(json.dumps(safe, indent=1, default=str, allow_nan=False))
    (staging / "config.json").write_text(json.dumps(config, indent=1, default=str))
    pd.DataFrame([summary]).to_parquet(staging / "summary.parquet")
    for name, document in (documents or {}).items():
        text = json.dumps(json_safe(document), indent=1, default=str, allow_nan=False)
        (staging / f"{name}.json").write_text(text)
    fsync_path(staging)
    os.rename(staging, target)
    fsync_path(root)
    logger.info("Stored backtest run %s in %s", run_id, target)
    return target


def catalog(root: Path, damaged: list[str] | None = None) -> pd.DataFrame:
    """Return one row per stored run (newest first, ties by run id); empty when there is none.

    A run whose summary cannot be read (a disk-full copy, a partial rsync) is left out, named
    in a warning and appended to ``damaged`` (its folder name): one damaged run does not hide
    the others.
    """
    # Not a glob in DuckDB: it matches hidden folders too (a run being written, one half-deleted).
    files = sorted(
        str(p) for p in root.glob("*/summary.parquet") if not p.parent.name.startswith(".")
    )
    if not files:
        return pd.DataFrame()
    con = duckdb.connect()
    query = (
        "SELECT * FROM read_parquet(?, union_by_name = true) ORDER BY created_at DESC, run_id DESC"
    )
    try:
        frame: pd.DataFrame = con.execute(query, [files]).to_arrow_table().to_pandas()
        return frame
    except duckdb.Error:  # a damaged summary: read them one by one, leave it out
        readable = []
        for file in files:
            try:
                con.execute("SELECT * FROM read_parquet(?) LIMIT 0", [file])
            except duckdb.Error as exc:
                name = Path(file).parent.name
                logger.warning("Backtest run %s left out: unreadable summary: %s", name, exc)
                if damaged is not None:
                    damaged.append(name)
                continue
            readable.append(file)
        if not readable:
            return pd.DataFrame()
        out: pd.DataFrame = con.execute(query, [readable]).to_arrow_table().to_pandas()
        return out
    finally:
        con.close()


def load_decisions(folder: Path) -> pd.DataFrame:
    """Return a run's decisions; an empty frame (the same columns) for a run stored without."""
    path = folder / "decisions.parquet"
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DECISION_COLUMNS}).astype(
            {"date": "datetime64[ns]"}
        )
    return pd.read_parquet(path)


def load_round_trips(folder: Path) -> pd.DataFrame:
    """Return a run's round trips (:data:`ROUND_TRIP_COLUMNS`); empty for a run stored without."""
    path = folder / "round_trips.parquet"
    if not path.is_file():
        return empty_round_trips()
    return pd.read_parquet(path).loc[:, list(ROUND_TRIP_COLUMNS)]


def load_trade_stats(folder: Path) -> dict[str, Any]:
    """Return a run's trade statistics (``trade_stats.json``); ``{}`` for a run stored without."""
    path = folder / "trade_stats.json"
    if not path.is_file():
        return {}
    stats: dict[str, Any] = json.loads(path.read_text())
    return stats


def load_run(root: Path, run_id: str) -> StoredRun:
    """Read a stored run back (its decisions empty when it was stored before they were kept)."""
    folder = root / run_id
    if not (folder / "summary.parquet").is_file():
        raise DataError(f"no backtest run {run_id!r} in {root}")
    try:
        return StoredRun(
            run_id=run_id,
            curve=pd.read_parquet(folder / "equity.parquet"),
            trades=pd.read_parquet(folder / "trades.parquet"),
            positions=pd.read_parquet(folder / "positions.parquet"),
            metrics=json.loads((folder / "metrics.json").read_text()),
            config=json.loads((folder / "config.json").read_text()),
            decisions=load_decisions(folder),
        )
    except (OSError, ValueError) as exc:  # missing, truncated, not Parquet, not JSON
        raise DataError(
            f"backtest run {run_id!r} in {root} cannot be read ({first_line(exc)}): a file of "
            "it is missing or damaged; delete the run and run the backtest again"
        ) from None
