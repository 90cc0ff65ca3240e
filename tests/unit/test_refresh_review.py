"""Review of the data refresh, the pure parts: a kept answer's reach, the stall rule's clock."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pandas as pd
import pytest

from config import load_config
from quant_core.data.refresh_status import write_progress
from quant_core.ib.refresh_plan import reaches
from quant_core.live.refresh_job import ProcessJob
from tests import refresh_fns

FRIDAY = dt.date(2024, 6, 28)


def answer(*days: str) -> pd.DataFrame:
    return pd.DataFrame({"date": list(days), "symbol": "AAPL", "close": 1.0})


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ((), False),  # "no data" (162): nothing kept anyway
        (("20240625", "20240627"), False),  # IB had no bar for Friday yet
        (("20240625", "20240628"), True),
        (("20240627", "20240701"), True),  # Monday's unfinished bar: past Friday (cut later)
    ],
)
def test_an_answer_reaches_the_session_only_with_a_bar_on_or_after_it(
    days: tuple[str, ...], expected: bool
) -> None:
    assert reaches(answer(*days), FRIDAY) is expected


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_stall_clock_restarts_at_each_change_of_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    cfg = load_config("live", [f"paths.data_dir={tmp_path}", "live.broker=ib"], environ={})
    progress = tmp_path / "refresh-progress.json"
    job = ProcessJob(refresh_fns.succeeding, cfg, progress, stall_s=600.0)
    job._seen, job._moved_at = None, clock.now  # as start() leaves them

    clock.now += 599.0
    assert job._stalled() is None  # spawning, importing: not yet hung
    write_progress(progress, "ib history", 1, 500)
    clock.now += 2.0
    assert job._stalled() is None  # progress: the clock restarts
    clock.now += 599.0
    assert job._stalled() is None
    write_progress(progress, "ib history", 1, 500)  # written again, no further: no progress
    clock.now += 1.0
    assert job._stalled() == (
        "refresh process made no progress for 600 s (at ib history 1/500): stopped"
    )


def test_a_child_that_never_wrote_progress_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    cfg = load_config("live", [f"paths.data_dir={tmp_path}", "live.broker=ib"], environ={})
    job = ProcessJob(refresh_fns.succeeding, cfg, tmp_path / "p.json", stall_s=60.0)
    job._seen, job._moved_at = None, clock.now

    clock.now += 61.0

    assert job._stalled() == (
        "refresh process made no progress for 61 s (before its first progress): stopped"
    )
