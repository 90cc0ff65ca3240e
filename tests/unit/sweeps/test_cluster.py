"""The local cluster's worker preload: Ctrl-C left to the driver, the close's noise held back."""

from __future__ import annotations

import logging
import signal

import pytest

from quant_core.sweeps import cluster


class _Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_preload_ignores_ctrl_c_and_drops_only_the_closing_noise() -> None:
    import distributed  # noqa: F401 - as on a worker: Dask's own logging set up first

    before = signal.getsignal(signal.SIGINT)
    names = ("distributed.worker", "distributed.worker.state_machine")
    kept = {name: list(logging.getLogger(name).filters) for name in names}
    try:
        cluster.dask_setup(None)
        cluster.dask_setup(None)  # a worker restarted in the same process: one filter each
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        for name in names:
            added = [f for f in logging.getLogger(name).filters if f not in kept[name]]
            assert len(added) == 1
        worker = logging.getLogger("distributed.worker")
        machine = logging.getLogger("distributed.worker.state_machine")  # propagates to worker
        seen = _Seen()
        worker.addHandler(seen)
        try:
            worker.error("Failed to communicate with scheduler during heartbeat.")
            machine.warning("Async instruction for <Task cancelled> ended with CancelledError")
            worker.warning("Unmanaged memory use is high")
            machine.error("Compute Failed")
        finally:
            worker.removeHandler(seen)
        assert seen.messages == ["Unmanaged memory use is high", "Compute Failed"]
    finally:
        signal.signal(signal.SIGINT, before)
        for name in names:
            logging.getLogger(name).filters[:] = kept[name]


def _record(message: str, error: BaseException | None) -> logging.LogRecord:
    info = (type(error), error, None) if error is not None else None
    return logging.LogRecord("tornado.application", logging.ERROR, "x", 1, message, (), info)


def test_only_dasks_early_cancel_traceback_is_dropped() -> None:
    # distributed's sync() cancels a future it has not made yet when a Ctrl-C lands early: a
    # NameError tornado logs with its traceback. That record only is dropped.
    early = cluster._EarlyCancel()
    callback = "Exception in callback functools.partial(<function sync.<locals>.cancel at 0x7f>)"
    assert not early.filter(_record(callback, NameError("cannot access free variable 'future'")))
    assert early.filter(_record(callback, RuntimeError("another")))
    assert early.filter(_record("Exception in callback other", NameError("x")))
    assert early.filter(_record("no error", None))


def test_workers_spawn_through_the_wrapper_unless_the_temp_folder_is_noexec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import subprocess
    from multiprocessing import spawn
    from types import SimpleNamespace

    before = spawn.get_executable()
    with cluster._workers_ignore_ctrl_c():
        wrapper = os.fsdecode(spawn.get_executable())
        assert wrapper != os.fsdecode(before)
        # As a worker is spawned: the wrapper runs Python, with Ctrl-C ignored.
        shown = subprocess.run(
            [wrapper, "-c", "import signal as s; print(s.getsignal(s.SIGINT) == s.SIG_IGN)"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert shown.stdout.strip() == "True"
    assert spawn.get_executable() == before
    monkeypatch.setattr(os, "statvfs", lambda _: SimpleNamespace(f_flag=os.ST_NOEXEC))
    with cluster._workers_ignore_ctrl_c():  # a wrapper there could not run: Python as it is
        assert spawn.get_executable() == before
