"""The command queue against a real worker process: a burst of writers, none lost, none twice."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from quant_core.live.files import INBOX, read_state, send_command

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 100


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("queue")
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(root)}
    subprocess.run(
        [sys.executable, str(ROOT / "run_data_sync.py")], env=env, check=True, capture_output=True
    )
    return root / "warehouse"


def _write_one(live: str, start: Barrier, ids: Queue[str], n: int) -> None:
    start.wait(60)  # every writer at once
    ids.put(send_command(Path(live), "CANCEL", source=f"writer-{n}").id)


def test_a_hundred_concurrent_writers_each_run_exactly_once(
    tmp_path: Path, warehouse: Path
) -> None:
    (tmp_path / "warehouse").symlink_to(warehouse)
    live = tmp_path / "live"
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path), "QC__LIVE__HEARTBEAT_S": "0.2"}
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "run_live_strategy.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    ctx = multiprocessing.get_context("fork")
    start, ids = ctx.Barrier(WRITERS), ctx.Queue()
    writers = [
        ctx.Process(target=_write_one, args=(str(live), start, ids, n)) for n in range(WRITERS)
    ]
    audit = live / "commands.log.jsonl"
    acks: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 60
        while read_state(live) is None:
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # The worker is busy (stopped here, as by a long FLAT): no writer may wait for it.
        os.kill(worker.pid, signal.SIGSTOP)
        for process in writers:
            process.start()
        deadline = time.monotonic() + 30
        for process in writers:
            process.join(max(0.0, deadline - time.monotonic()))
        assert [p.exitcode for p in writers] == [0] * WRITERS  # all done, none waiting
        sent = sorted(ids.get(timeout=5) for _ in range(WRITERS))
        assert len(list((live / INBOX).glob("*.json"))) == WRITERS  # all queued, none replaced
        os.kill(worker.pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while len(acks) < WRITERS and time.monotonic() < deadline:
            time.sleep(0.1)
            acks = [json.loads(x) for x in audit.read_text().splitlines()] if audit.exists() else []
    finally:
        for process in writers:
            if process.is_alive():
                process.kill()
        os.kill(worker.pid, signal.SIGCONT)
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        assert worker.stderr is not None
        worker.stderr.close()
    assert sorted(str(a["id"]) for a in acks) == sent  # each acknowledged, exactly once
    assert all(a["accepted"] is True and a["command"] == "CANCEL" for a in acks)
    assert list((live / INBOX).glob("*.json")) == []
    # The worker process has ended: the one audit log holds each command once, nothing more.
    logged = [json.loads(x)["id"] for x in audit.read_text().splitlines()]
    assert sorted(logged) == sent
