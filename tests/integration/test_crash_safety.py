"""Kill a writer with SIGKILL mid-write: the dataset still reads, all old or all new."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from quant_core.data.sources.synthetic import generate_bars
from quant_core.data.warehouse import DatasetMeta, Warehouse

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS, DAYS = 300, 2520  # ten year partitions, about 0.75M rows

WRITER = f"""
import sys
from quant_core.calendar import get_calendar
from quant_core.data.sources.synthetic import generate_bars
from quant_core.data.warehouse import Warehouse
bars = generate_bars(get_calendar("XNYS"), {SYMBOLS}, {DAYS}, seed=2, missing_frac=0.0)
bars["adj_factor"] = 1.0
bars["flags"] = 0
print("start", flush=True)
Warehouse(sys.argv[1]).write_bars("d", bars)
print("done", flush=True)
"""


def _frame(calendar, seed: int):
    bars = generate_bars(calendar, SYMBOLS, DAYS, seed=seed, missing_frac=0.0)
    bars["adj_factor"] = 1.0
    bars["flags"] = 0
    return bars


def _writer(root: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "start"
    return proc


def test_sigkill_mid_write_leaves_old_or_new_never_a_mix(tmp_path: Path, calendar) -> None:
    old = _frame(calendar, seed=1)
    new_close = _frame(calendar, seed=2).pivot(index="date", columns="symbol", values="close")
    old_close = old.pivot(index="date", columns="symbol", values="close")

    # Measure one full write to place the kills inside it.
    timing = Warehouse(tmp_path / "timing")
    timing.write_bars("d", old, DatasetMeta("old", "test"))
    proc = _writer(timing.root)
    started = time.monotonic()
    assert proc.wait(60) == 0
    duration = time.monotonic() - started
    assert proc.stdout is not None
    proc.stdout.close()

    outcomes = []
    interrupted_mid_write = 0
    for fraction in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95):
        warehouse = Warehouse(tmp_path / f"kill{fraction}")
        warehouse.write_bars("d", old, DatasetMeta("old", "test"))
        proc = _writer(warehouse.root)
        time.sleep(duration * fraction)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
        manifest = json.loads(warehouse.root.joinpath("d", "manifest.json").read_text())
        manifest_files = set(manifest["partitions"].values())
        on_disk = {f"bars/{p.name}" for p in (warehouse.root / "d" / "bars").glob("*.parquet")}
        interrupted_mid_write += bool(on_disk - manifest_files)

        panel = warehouse.panel("d", "close")

        is_old = np.array_equal(panel.to_numpy(), old_close.to_numpy())
        is_new = np.array_equal(panel.to_numpy(), new_close.to_numpy())
        assert is_old or is_new, f"kill at {fraction:.0%} of the write left a mix"
        outcomes.append("new" if is_new else "old")

    assert "old" in outcomes  # some kills landed before the commit
    assert interrupted_mid_write > 0  # and some while partition files were half written
