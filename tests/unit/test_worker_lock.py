"""One worker per data directory (live/worker_lock.py): a second is refused, a dead one not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quant_core import cli
from quant_core.live.worker_lock import WORKER_LOCK, WorkerBusy, one_worker

HOLD = """
import sys, time
from pathlib import Path
from quant_core.live.worker_lock import one_worker
with one_worker(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _end(proc: subprocess.Popen[str]) -> None:
    proc.kill()  # a no-op for one already killed
    proc.wait(10)
    assert proc.stdout is not None
    proc.stdout.close()


def test_a_second_worker_is_refused_naming_the_first(tmp_path: Path) -> None:
    proc = _holder(tmp_path / "live")
    try:
        with pytest.raises(WorkerBusy) as refused, one_worker(tmp_path / "live"):
            pytest.fail("a second worker got the lock")
        assert f"pid {proc.pid}" in str(refused.value)
        assert "paths.data_dir" in str(refused.value)
    finally:
        _end(proc)


def test_a_worker_killed_with_sigkill_leaves_no_lock_behind(tmp_path: Path) -> None:
    proc = _holder(tmp_path / "live")
    os.kill(proc.pid, signal.SIGKILL)
    _end(proc)
    assert (tmp_path / "live" / WORKER_LOCK).exists()  # the file stays; the lock does not
    with one_worker(tmp_path / "live"):
        assert (tmp_path / "live" / WORKER_LOCK).read_text().strip() == str(os.getpid())


def test_the_lock_is_released_when_the_block_ends(tmp_path: Path) -> None:
    with one_worker(tmp_path):
        pass
    started = time.monotonic()
    with one_worker(tmp_path):  # taken again at once, by this process too
        assert time.monotonic() - started < 1.0
    with pytest.raises(RuntimeError), one_worker(tmp_path):
        raise RuntimeError("the worker failed")
    with one_worker(tmp_path):  # an exception released it too
        pass


def test_a_busy_data_directory_exits_1_so_systemd_tries_again(tmp_path: Path) -> None:
    proc = _holder(tmp_path / "live")
    try:

        def work() -> int:
            with one_worker(tmp_path / "live"):
                return int(cli.ExitCode.OK)

        assert cli.main(work) == cli.ExitCode.DOMAIN_ERROR  # 1: not prevented from restarting
    finally:
        _end(proc)
