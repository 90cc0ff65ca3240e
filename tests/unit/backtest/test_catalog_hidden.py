"""The run catalogue lists whole runs only: never a run being written or being deleted."""

from pathlib import Path

import pandas as pd

from quant_core.backtest.results import catalog


def _summary(folder: Path, run_id: str, created: str) -> None:
    folder.mkdir(parents=True)
    pd.DataFrame([{"run_id": run_id, "created_at": created}]).to_parquet(folder / "summary.parquet")


def test_hidden_folders_are_not_listed(tmp_path: Path) -> None:
    _summary(tmp_path / "run-a", "run-a", "2026-01-01T00:00:00")
    _summary(tmp_path / ".run-b.partial", "run-b", "2026-01-02T00:00:00")  # being written
    _summary(tmp_path / ".run-c.deleted", "run-c", "2026-01-03T00:00:00")  # being removed
    assert catalog(tmp_path)["run_id"].tolist() == ["run-a"]


def test_only_hidden_folders_is_an_empty_catalogue(tmp_path: Path) -> None:
    _summary(tmp_path / ".run-b.partial", "run-b", "2026-01-02T00:00:00")
    assert catalog(tmp_path).empty


def test_runs_stored_in_the_same_second_list_in_one_order_every_time(tmp_path: Path) -> None:
    # created_at has whole seconds: two runs stored in one second tied, and DuckDB (reading
    # the files in parallel) gave them in any order, so the cockpit's run list and a second
    # reading of the catalogue could disagree (an option's index named another run).
    ids = [f"20260101T000000Z-momentum-{i:02d}" for i in range(40)]
    for run_id in ids:
        _summary(tmp_path / run_id, run_id, "2026-01-01T00:00:00")
    _summary(tmp_path / "newer", "20260101T000001Z-momentum-00", "2026-01-01T00:00:01")
    expected = ["20260101T000001Z-momentum-00", *sorted(ids, reverse=True)]
    for _ in range(5):
        assert catalog(tmp_path)["run_id"].tolist() == expected
