"""A damaged state file reads as unreadable, not as "no worker has run here".

Found by an adversarial review: a truncated, empty or non-UTF-8 ``dashboard_state.json``, or a
JSON array, read as no file at all (OFFLINE / NO WORKER; "nothing is sold now" under FLAT), and
one that was a directory crashed the Live Dashboard before its buttons were drawn.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from quant_core.cockpit.models import dashboard as board
from quant_core.cockpit.models.dashboard import Liveness
from quant_core.live.files import STATE_FILE, load_state

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("damage", ["truncated", "empty", "array", "not_utf8", "directory"])
def test_a_damaged_state_file_is_unreadable_and_said_so(tmp_path: Path, damage: str) -> None:
    path = tmp_path / STATE_FILE
    if damage == "directory":
        path.mkdir()
    else:
        path.write_bytes(
            {
                "truncated": b'{"schema_version": 1, "worker": {"st',
                "empty": b"",
                "array": b"[1, 2]",
                "not_utf8": b'{"a": "\xff\xfe"}',
            }[damage]
        )

    state, problem = board.read(tmp_path)

    assert state is None
    assert problem is not None
    assert str(path) in str(problem)
    s = board.status(state, NOW, heartbeat_s=1.0, problem=problem)
    assert s.liveness is Liveness.UNREADABLE


def test_no_state_file_is_no_worker(tmp_path: Path) -> None:
    assert load_state(tmp_path) is None
    assert board.status(None, NOW, heartbeat_s=1.0).liveness is Liveness.NO_STATE
