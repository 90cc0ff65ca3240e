"""A run's numbers do not depend on how many threads the BLAS library may use.

``run_backtest.py`` in a shell gets OpenBLAS's default (one thread per core); a sweep's Dask
worker gets one thread (Dask's nanny sets ``OPENBLAS_NUM_THREADS=1``). A threaded matrix-vector
product sums in another order than a single-threaded one, so the curves were once marked to
other last bits: the sweep's metrics of a configuration differed from ``run_backtest.py``'s
(measured: the equal-weight benchmark of a 500 x 5,000 panel, 3 rows of 4,900). The marks are
summed by numpy's own loops now (the construction optimisers still factorise through LAPACK:
the README's Scale plan says what else may differ); this runs the same backtests under one and
two BLAS threads in
fresh processes (a synthetic 2,000 x 1,300 panel, whose threaded products differ in a few rows,
and a book on the bundled data) and asks for every bit of the curves and every metric to agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

CHILD = """
import hashlib, json, sys
from config import load_config
from config.book_loader import load_book
from quant_core.atomic import json_safe
from quant_core.backtest.book_run import run_book_backtest
from quant_core.backtest.run import run_backtest
from quant_core.calendar import get_calendar
from quant_core.data.panels import FIELDS, MarketData
from quant_core.data.sources.synthetic import generate_bars

def digest(values):
    return hashlib.sha256(values.tobytes()).hexdigest()

data_dir = sys.argv[1]
bars = generate_bars(get_calendar("XNYS"), 2000, 1300, seed=3, missing_frac=0.0)
data = MarketData.from_frames(
    {f: bars.pivot(index="date", columns="symbol", values=f) for f in FIELDS}
)
out = {}
for name, overrides in [
    ("monthly", ["strategy.rebalance=21"]),
    ("yearly", ["strategy.rebalance=252", "strategy.params.top_quantile=0.5"]),
]:
    cfg = load_config("backtest", [*overrides, f"paths.data_dir={data_dir}"], environ={})
    run = run_backtest(cfg, data=data, store=False, trips=False)
    out[name] = {
        "metrics": json_safe(run.metrics),
        "curve": digest(run.result.curve.to_numpy()),
        "benchmark": digest(run.benchmark.to_numpy()),
    }
cfg = load_config("backtest", [f"paths.data_dir={data_dir}"], environ={})
book = run_book_backtest(cfg, load_book("config/books/core.yaml"), store=False)
out["book"] = {
    "metrics": json_safe(book.account.metrics),
    "curve": digest(book.account.result.curve.to_numpy()),
    "sleeves": digest(book.book.sleeves.to_numpy()),
}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar: Any) -> Path:
    root = tmp_path_factory.mktemp("blas")
    sync(SampleSource("sp500-2010"), Warehouse(root / "warehouse"), calendar, "sp500-2010")
    return root


def _run(data_dir: Path, threads: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env |= {k: str(threads) for k in THREAD_VARIABLES}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def test_one_or_two_blas_threads_give_the_same_bits(data_dir: Path) -> None:
    one, two = _run(data_dir, 1), _run(data_dir, 2)
    assert one.keys() == two.keys() == {"monthly", "yearly", "book"}
    for name in one:
        assert one[name]["curve"] == two[name]["curve"], name
        assert one[name].get("benchmark") == two[name].get("benchmark"), name
        assert one[name].get("sleeves") == two[name].get("sleeves"), name
        differ = {
            k: (v, two[name]["metrics"].get(k))
            for k, v in one[name]["metrics"].items()
            if two[name]["metrics"].get(k) != v
        }
        assert not differ, f"{name}: {differ}"
