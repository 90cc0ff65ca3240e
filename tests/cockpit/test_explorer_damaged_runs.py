"""A damaged run folder: named, left out, and the Explorer goes on with the others.

Found by an adversarial review: one run whose ``summary.parquet`` was 0 bytes (a disk-full copy,
a partial rsync) took the whole Explorer down (DuckDB's error where the picker should be: no run
could be opened, compared or deleted); a listed run with a file missing or damaged showed only
an exception when opened or compared, and it opened by default when it was the newest.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.cockpit.test_explorer import _run_ids

Opener = Callable[[str], AppTest]
BROKEN = "20991231T000000Z-momentum-00000000-dead"  # the newest: opened by default


def _copy_run(data_dir: Path) -> tuple[str, Path]:
    root = data_dir / "backtests"
    (good,) = _run_ids(data_dir)
    target = root / BROKEN
    shutil.copytree(root / good, target)
    return good, target


def test_a_run_with_an_unreadable_summary_is_named_and_the_others_listed(
    open_page: Opener, data_dir: Path
) -> None:
    good, broken = _copy_run(data_dir)
    (broken / "summary.parquet").write_bytes(b"")

    at = open_page("explorer")

    assert not at.exception, at.exception
    assert list(at.selectbox(key="explorer_run").options) != []
    assert at.selectbox(key="explorer_run").value == good
    assert any(BROKEN in w.value and "cannot be read" in w.value for w in at.warning)


@pytest.mark.parametrize(
    ("name", "damage"),
    [("equity.parquet", "delete"), ("trades.parquet", "garbage"), ("metrics.json", "garbage")],
)
def test_a_listed_run_with_a_file_missing_or_damaged_says_so_when_opened_or_compared(
    open_page: Opener, data_dir: Path, name: str, damage: str
) -> None:
    good, broken = _copy_run(data_dir)
    # The copy must read as a run of its own: its summary names it.
    summary = pd.read_parquet(broken / "summary.parquet").assign(
        run_id=BROKEN, created_at="2099-12-31T00:00:00+00:00"
    )
    summary.to_parquet(broken / "summary.parquet")
    if damage == "delete":
        (broken / name).unlink()
    else:
        (broken / name).write_text("garbage")

    at = open_page("explorer")

    assert not at.exception, at.exception
    assert at.selectbox(key="explorer_run").value == BROKEN  # the newest, opened
    assert any(BROKEN in e.value and "cannot be read" in e.value for e in at.error)
    at.multiselect(key="compare_runs").set_value([good, BROKEN]).run()
    assert not at.exception, at.exception
    at.selectbox(key="explorer_run").set_value(good).run()  # the others still open
    assert not at.exception, at.exception
