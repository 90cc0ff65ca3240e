"""Rename and delete of stored runs when another cockpit session acts on the same runs.

Two sessions are threads of one process, or two processes, sharing the backtests folder: one may
delete a run between the moment the other checked it and the moment it acts. The loser gets a
clear :class:`DataError` (the page shows it), never an ``OSError`` traceback, and a rename never
brings a deleted run back as a folder holding only its label.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from quant_core import atomic
from quant_core.backtest import run_admin
from quant_core.backtest.run_admin import delete_run, rename_run, stored_runs
from quant_core.errors import DataError

RUN = "20100104T000000Z-momentum-00000000-0001"
OTHER = "20100104T000000Z-momentum-00000000-0002"


def _store(root: Path, run_id: str) -> Path:
    folder = root / run_id
    folder.mkdir(parents=True)
    summary = {"run_id": run_id, "created_at": pd.Timestamp("2026-01-01", tz="UTC")}
    pd.DataFrame([summary]).to_parquet(folder / "summary.parquet")
    (folder / "trades.parquet").write_bytes(b"x")
    return folder


def test_a_delete_that_lost_the_race_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _store(tmp_path, RUN)
    sweep = run_admin._sweep

    def other_session_deletes_first(root: Path) -> None:
        shutil.rmtree(folder)  # the other session's deletion, done after our check
        sweep(root)

    monkeypatch.setattr(run_admin, "_sweep", other_session_deletes_first)
    with pytest.raises(DataError, match=rf"no backtest run '{RUN}' in .*deleted meanwhile"):
        delete_run(tmp_path, RUN)
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_of_another_session_under_a_delete_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path, RUN)
    _store(tmp_path, OTHER)
    fsync = atomic.fsync_path

    def other_session_sweeps(path: Path) -> None:
        fsync(path)
        # Another session deleting OTHER sweeps our trash folder while we remove it.
        for trash in tmp_path.glob(".*.deleted"):
            shutil.rmtree(trash)

    monkeypatch.setattr(run_admin, "fsync_path", other_session_sweeps)
    delete_run(tmp_path, RUN)  # the run is gone: no error for what the sweep removed first
    assert [p.name for p in tmp_path.iterdir()] == [OTHER]
    assert list(stored_runs(tmp_path)["run_id"]) == [OTHER]


def test_a_rename_of_a_run_deleted_meanwhile_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _store(tmp_path, RUN)
    check = run_admin.check_label

    def deleted_while_checking(label: str) -> str:
        shutil.rmtree(folder)  # another session deletes the run after our run_folder check
        return check(label)

    monkeypatch.setattr(run_admin, "check_label", deleted_while_checking)
    with pytest.raises(DataError, match=rf"no backtest run '{RUN}' in .*deleted meanwhile"):
        rename_run(tmp_path, RUN, "my run")
    assert not folder.exists()  # not brought back holding only label.json
    assert list(tmp_path.iterdir()) == []


def test_a_rename_still_writes_the_label_atomically(tmp_path: Path) -> None:
    folder = _store(tmp_path, RUN)
    assert rename_run(tmp_path, RUN, "  first  ") == "first"
    assert rename_run(tmp_path, RUN, "second") == "second"
    assert run_admin.read_label(folder) == "second"
    assert sorted(p.name for p in folder.iterdir()) == [
        "label.json",
        "summary.parquet",
        "trades.parquet",
    ]  # no temporary file left
