"""A strategy whose weights break the contract ends run_backtest.py with exit code 4."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# The entry point as a user runs it, with one strategy registered first that asks for the whole
# of equity in every symbol (a long side far over 1).
SCRIPT = """
import sys

import pandas as pd

import run_backtest
from quant_core.strategies import Strategy, StrategyParams, register_strategy


@register_strategy("overweight")
class Overweight(Strategy[StrategyParams]):
    Params = StrategyParams
    warmup = 1

    def target_weights(self, context):
        return pd.Series(1.0, index=context.view.symbols)


sys.exit(run_backtest.main(sys.argv[1:]))
"""


def test_bad_weights_exit_with_the_strategy_error_code(tmp_path: Path) -> None:
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(tmp_path)}
    subprocess.run(
        [sys.executable, str(ROOT / "run_data_sync.py")],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )

    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, "--strategy", "overweight", "--end", "2009-12-31"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )

    assert result.returncode == 4, result.stderr
    assert "strategy overweight asked for" in result.stderr
    assert "the long side may not exceed 1" in result.stderr
