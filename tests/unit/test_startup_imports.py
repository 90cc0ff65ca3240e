"""What the worker and the backtest import at start: none of the heavy libraries they only
need for some configurations (each costs 0.3 to 1.8 s of every program's and every test
subprocess's start on this machine). They are imported where they are used: scikit-learn when a
fitted model is read or fitted, scipy's clustering by hrp, its optimiser by max-Sharpe, the
IB clients by the IB broker, the cockpit's libraries by the cockpit.

A fresh interpreter each time: the test process has imported them all already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "sklearn",
    "scipy.cluster",
    "scipy.optimize",
    "scipy.stats",
    "skfolio",
    "streamlit",
    "plotly",
    "dask",
    "optuna",
    "quantstats",
    "ib_async",
    "ib_insync",
)


@pytest.mark.parametrize("module", ["quant_core.live.run", "quant_core.backtest.run"])
def test_a_program_starts_without_the_libraries_only_some_configurations_use(
    module: str,
) -> None:
    probe = (
        f"import json, sys, {module}; "
        f"print(json.dumps([n for n in {list(HEAVY)!r} if n in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []


def test_the_probe_sees_a_library_that_is_imported() -> None:
    # The check above could pass by looking at the wrong names: one that is imported is seen.
    probe = (
        "import json, sys, quant_core.research.pipeline; "
        "print(json.dumps('sklearn' in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) is True
