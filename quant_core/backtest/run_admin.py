"""Keeping stored backtest runs: the name a person gives a run, deleting a run, the listing.

A run's display name lives in ``<run folder>/label.json`` (``{"label": "..."}``), written
atomically (temporary file, fsync, rename), so a reader sees the old name or the new one. The
run's own files are never rewritten: a stored run stays as its backtest wrote it.

Deleting a run renames its folder to ``.<run_id>.deleted`` first (one atomic rename), removes
that folder's ``summary.parquet`` (what the catalogue reads), then the rest: a listing sees the
whole run or none of it. A deletion cut short leaves a dot-folder that :func:`stored_runs`
skips and the next deletion sweeps away.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd

from quant_core.atomic import fsync_path, read_json_object
from quant_core.backtest.results import catalog
from quant_core.errors import DataError

logger = logging.getLogger(__name__)

LABEL_FILE = "label.json"
MAX_LABEL = 80  # characters, after stripping the ends
DELETED_SUFFIX = ".deleted"
# What a run folder may be called: the run id shape (quant_core.runs), never a path.
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def run_folder(root: Path, run_id: str) -> Path:
    """Return the folder of the stored run ``run_id`` under ``root``.

    Raises
    ------
    DataError
        ``run_id`` is not a run id (a path, a dot-name), or no complete run of that id is
        stored (its ``summary.parquet`` is missing); the message names the id and ``root``.
    """
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise DataError(f"{run_id!r} is not a backtest run id (stored runs are in {root})")
    folder = root / run_id
    if not (folder / "summary.parquet").is_file():
        raise DataError(f"no backtest run {run_id!r} in {root}")
    return folder


def check_label(label: str) -> str:
    """Return ``label`` without its leading and trailing blanks, or raise.

    Raises
    ------
    DataError
        The label is not text, is empty (or only blanks), is longer than :data:`MAX_LABEL`
        characters, or holds a control character (a line break, a tab); the message says which
        and shows the value.
    """
    if not isinstance(label, str):
        raise DataError(f"run label: {label!r} is not text")
    text = label.strip()
    if not text:
        raise DataError("run label: empty; give the run a name of 1 to 80 characters")
    if len(text) > MAX_LABEL:
        raise DataError(
            f"run label: {len(text)} characters, more than {MAX_LABEL}: {text[:MAX_LABEL]!r}..."
        )
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise DataError(f"run label: {text!r} holds a control character (line break, tab)")
    return text


def read_label(folder: Path) -> str | None:
    """Return the name a person gave the run in ``folder``; None without one (or a bad file)."""
    document = read_json_object(folder / LABEL_FILE)
    label = None if document is None else document.get("label")
    if not isinstance(label, str) or not label.strip():
        return None
    return label.strip()


def rename_run(root: Path, run_id: str, label: str) -> str:
    """Give the stored run ``run_id`` the display name ``label``; return the name stored.

    The name is checked (:func:`check_label`) and written to ``label.json`` atomically; the run's
    other files are left alone.

    Raises
    ------
    DataError
        No such run (:func:`run_folder`; or deleted by another session meanwhile: the label is
        not written, and no folder is made for it), or a bad label (:func:`check_label`).
    """
    folder = run_folder(root, run_id)
    text = check_label(label)
    try:
        _write_label(folder, text)
    except FileNotFoundError:  # deleted (another session) since run_folder saw it
        raise DataError(f"no backtest run {run_id!r} in {root} (deleted meanwhile)") from None
    logger.info("Named backtest run %s %r", run_id, text)
    return text


def _write_label(folder: Path, text: str) -> None:
    # atomic_write_json without its mkdir: a run deleted meanwhile must not come back as a
    # folder holding only a label (FileNotFoundError instead). Temporary file, fsync, rename.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{LABEL_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps({"label": text}).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / LABEL_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(folder)


def _sweep(root: Path) -> None:
    # Folders a deletion cut short (a crash between the rename and the removal).
    for trash in root.glob(f".*{DELETED_SUFFIX}"):
        if trash.is_dir():
            shutil.rmtree(trash, ignore_errors=True)


def delete_run(root: Path, run_id: str) -> None:
    """Delete the stored run ``run_id``: its folder and every file in it.

    The folder is renamed to ``.<run_id>.deleted`` (atomic), its ``summary.parquet`` removed,
    then the folder: no listing ever shows half a run.

    Raises
    ------
    DataError
        No such run (:func:`run_folder`; or deleted by another session meanwhile), or its
        folder could not be renamed.
    """
    folder = run_folder(root, run_id)
    _sweep(root)
    trash = root / f".{run_id}{DELETED_SUFFIX}"
    try:
        os.rename(folder, trash)
    except FileNotFoundError:  # another session deleted it since run_folder saw it
        raise DataError(f"no backtest run {run_id!r} in {root} (deleted meanwhile)") from None
    except OSError as exc:
        raise DataError(f"backtest run {run_id!r} in {root}: could not delete it: {exc}") from exc
    fsync_path(root)
    (trash / "summary.parquet").unlink(missing_ok=True)
    # The run is out of every listing now; another session's sweep may be removing the same
    # folder: what is already gone is fine, and what is left the next deletion sweeps.
    shutil.rmtree(trash, onerror=_gone_is_fine)
    logger.info("Deleted backtest run %s from %s", run_id, root)


def _gone_is_fine(function: Any, path: str, info: Any) -> None:
    # shutil.rmtree's error handler: a file removed meanwhile is fine; anything else is logged.
    error = info[1]
    if not isinstance(error, FileNotFoundError):
        logger.warning(
            "Deleted run: could not remove %s (%s); the next deletion retries", path, error
        )


def stored_runs(root: Path, damaged: list[str] | None = None) -> pd.DataFrame:
    """Return the catalogue of complete runs (newest first) with a ``label`` column.

    :func:`quant_core.backtest.results.catalog` reads every ``*/summary.parquet`` but those of
    dot-folders (a run being written, ``.<id>.partial``; one being deleted); of its rows, only
    those whose run id is a folder of ``root`` holding its summary are kept. ``label`` is the
    name a person gave the run (:func:`read_label`), None where there is none. Empty when no
    run is stored. A run whose summary cannot be read is left out, and named in ``damaged``.
    """
    runs = catalog(root, damaged)
    if runs.empty:
        return runs
    ids = runs["run_id"].astype(str)
    whole = [bool(RUN_ID.fullmatch(i)) and (root / i / "summary.parquet").is_file() for i in ids]
    kept = runs.loc[whole].reset_index(drop=True)
    labels = [read_label(root / str(i)) for i in kept["run_id"]]
    return kept.assign(label=pd.Series(labels, index=kept.index, dtype=object))
