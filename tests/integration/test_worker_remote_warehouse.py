"""The live worker reading a published warehouse that goes out of reach, then comes back.

``run_live_strategy.py`` (the simulated broker, the live loop) reads its bars from a warehouse
served by Python's web server on 127.0.0.1 (``paths.warehouse=http://...``). The server stops:
the worker keeps beating on the data it has, says so once (not at every beat), and says when
the warehouse can be read again; a stop by signal ends it as always (exit 130).
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.live.files import read_state

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve(folder: Path, port: int = 0) -> ThreadingHTTPServer:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


def test_the_worker_outlives_a_warehouse_out_of_reach(tmp_path: Path, calendar: Any) -> None:
    source = tmp_path / "published" / "warehouse"
    sync(SampleSource("sp500-2010"), Warehouse(source), calendar, "sp500-2010")
    server = _serve(source)
    port = server.server_address[1]
    data_dir = tmp_path / "worker"
    env = {
        **os.environ,
        "QC__PATHS__DATA_DIR": str(data_dir),
        "QC__PATHS__WAREHOUSE": f"http://127.0.0.1:{port}",
        "QC__LIVE__HEARTBEAT_S": "0.1",
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_live_strategy.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def beat_after(moment: float) -> dict[str, Any]:
        # A state written after ``moment`` by the worker still running.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            state = read_state(data_dir / "live")
            running = state is not None and state["worker"]["state"] == "RUNNING"
            if running and (data_dir / "live" / "dashboard_state.json").stat().st_mtime > moment:
                assert state is not None
                return state
            time.sleep(0.05)
        raise AssertionError("the worker wrote no state")

    try:
        first = beat_after(0.0)
        _stop(server)
        down = time.time()
        time.sleep(2.0)  # some 20 beats without the warehouse
        during = beat_after(down + 1.0)
        server = _serve(source, port)
        time.sleep(1.0)
        after = beat_after(time.time())
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        stderr = proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        _stop(server)
    assert code == 130, stderr
    assert stderr.count("The warehouse cannot be read") == 1, stderr
    assert f"http://127.0.0.1:{port}/sp500-2010/manifest.json" in stderr
    assert stderr.count(f"The warehouse http://127.0.0.1:{port} can be read again") == 1
    beats = [s["worker"]["heartbeat_at"] for s in (first, during, after)]
    assert beats == sorted(beats)
    assert len(set(beats)) == 3  # it kept beating through
