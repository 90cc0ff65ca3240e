"""ProcessJob with real spawned children: outcomes, errors, deaths and cancels cross back."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from config import load_config
from config.redact import remember
from config.schema import AppConfig
from quant_core.data.refresh_status import RefreshOutcome
from quant_core.live.refresh_job import ProcessJob, RefreshFn
from tests import refresh_fns

pytestmark = pytest.mark.integration

FRIDAY = dt.date(2026, 12, 4)
WAIT_S = 30.0  # spawning a child costs 1-2 s; this is the ceiling, not the expectation


@pytest.fixture
def cfg(tmp_path: Path) -> AppConfig:
    return load_config("live", [f"paths.data_dir={tmp_path}", "live.broker=ib"], environ={})


def job(fn: RefreshFn, cfg: AppConfig, tmp_path: Path) -> ProcessJob:
    return ProcessJob(fn, cfg, tmp_path / "refresh-progress.json")


def finish(job: ProcessJob) -> RefreshOutcome | str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        result = job.poll()
        if result is not None:
            return result
        assert job.running
        time.sleep(0.01)
    job.cancel()
    raise AssertionError("the child did not answer")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_outcome_crosses_back_from_another_process(cfg, tmp_path):
    refresh = job(refresh_fns.succeeding, cfg, tmp_path)
    (tmp_path / "refresh-progress.json").write_text('{"phase": "old", "done": 9, "total": 9}')
    refresh.start(FRIDAY)
    pid = refresh.pid
    assert refresh.running
    assert refresh.progress() != ("old", 9, 9)  # an earlier attempt's file is gone
    with pytest.raises(RuntimeError, match="already running"):
        refresh.start(FRIDAY)
    result = finish(refresh)
    assert isinstance(result, RefreshOutcome)
    assert result.data_through == FRIDAY
    assert (result.symbols, result.requests, result.rows_written, result.rejected) == (3, 4, 12, 1)
    assert result.notes == (f"pid {pid}", f"dataset {cfg.data.dataset}")  # ran in the child
    assert pid != os.getpid()
    assert not refresh.running
    assert refresh.poll() is None  # collected once
    assert refresh.progress() is None  # nothing runs
    assert not alive(pid)  # reaped


def test_an_exception_crosses_back_as_its_type_and_text_without_the_secret(cfg, tmp_path):
    remember("hunter2-refresh-secret")  # as load_config remembers secrets.yaml's values
    refresh = job(refresh_fns.raising, cfg, tmp_path)
    refresh.start(FRIDAY)
    result = finish(refresh)
    assert result == f"DataError: no valid bars for {FRIDAY}; token ***"
    assert not refresh.running


def test_a_child_killed_by_a_signal_is_a_failure_with_its_code(cfg, tmp_path):
    refresh = job(refresh_fns.killing_itself, cfg, tmp_path)
    refresh.start(FRIDAY)
    assert finish(refresh) == "refresh process exited with code -9"
    assert not refresh.running


def test_progress_is_read_while_running_and_cancel_terminates_the_child(cfg, tmp_path):
    refresh = job(refresh_fns.slow, cfg, tmp_path)
    refresh.start(FRIDAY)
    pid = refresh.pid
    assert pid is not None
    deadline = time.monotonic() + WAIT_S
    while refresh.progress() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert refresh.progress() == ("ib history", 120, 500)
    assert refresh.poll() is None  # still running
    # Nothing of the request is on the child's command line: it came by pickle.
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    assert str(tmp_path) not in cmdline
    assert str(FRIDAY) not in cmdline
    started = time.monotonic()
    refresh.cancel()
    assert time.monotonic() - started < 5.0  # SIGTERM did it, no SIGKILL grace needed
    assert not refresh.running
    assert not alive(pid)
    # SIGTERM unwound the refresh: its finally block ran in the child.
    assert (tmp_path / "refresh-progress.cleanup").read_text() == str(pid)
    assert refresh.poll() is None
    assert refresh.progress() is None


PARENT = """
import datetime as dt, sys, time
from pathlib import Path
from config import load_config
from quant_core.live.refresh_job import ProcessJob
from tests import refresh_fns

if __name__ == "__main__":
    folder = Path(sys.argv[1])
    cfg = load_config("live", [f"paths.data_dir={folder}", "live.broker=ib"], environ={})
    job = ProcessJob(refresh_fns.slow, cfg, folder / "refresh-progress.json")
    job.start(dt.date(2026, 12, 4))
    while job.progress() is None:
        time.sleep(0.01)
    print(job.pid, flush=True)
    time.sleep(120)
"""


def test_a_worker_killed_with_sigkill_takes_its_refresh_child_with_it(tmp_path):
    # An orphaned refresh would race the next worker's on the same IB client id.
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10.0
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(child)
        # SIGTERM from the kernel unwound the refresh: its finally block ran.
        assert (tmp_path / "refresh-progress.cleanup").read_text() == str(child)
    finally:
        parent.kill()
        parent.wait(10)
        assert parent.stdout is not None
        parent.stdout.close()


def test_a_main_module_unsafe_to_run_again_does_not_run_in_the_child(cfg, tmp_path, monkeypatch):
    # Streamlit's runner installs a page as __main__; spawn would run it again in the child.
    page = tmp_path / "page.py"
    marker = tmp_path / "page-ran"
    page.write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit('not import-safe')\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    refresh = job(refresh_fns.succeeding, cfg, tmp_path)
    refresh.start(FRIDAY)
    result = finish(refresh)
    assert isinstance(result, RefreshOutcome), result
    assert not marker.exists()  # the page never ran in the child
    assert sys.modules["__main__"] is fake_main  # and is back in place here
