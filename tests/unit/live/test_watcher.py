from __future__ import annotations

import time
from pathlib import Path

from quant_core.live.files import send_command
from quant_core.live.watcher import CommandWatcher


def test_an_atomic_replace_wakes_the_watcher_quickly(tmp_path: Path) -> None:
    with CommandWatcher(tmp_path, poll_s=5.0) as watcher:
        started = time.monotonic()
        send_command(tmp_path, "CANCEL")
        assert watcher.wait()
        assert time.monotonic() - started < 1.0


def test_without_an_event_wait_returns_at_the_poll_interval(tmp_path: Path) -> None:
    with CommandWatcher(tmp_path, poll_s=0.05) as watcher:
        started = time.monotonic()
        assert watcher.wait() is False
        assert 0.04 < time.monotonic() - started < 1.0


def test_other_files_do_not_wake_it(tmp_path: Path) -> None:
    with CommandWatcher(tmp_path, poll_s=0.3) as watcher:
        (tmp_path / "dashboard_state.json").write_text("{}")
        assert watcher.wait() is False
